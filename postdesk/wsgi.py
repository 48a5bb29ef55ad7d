"""WSGI entry point for ``postdesk web`` and any other WSGI server."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "postdesk.settings")
application = get_wsgi_application()
