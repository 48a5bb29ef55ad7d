"""Settings for the test suite: a throw-away data directory, then the real settings.

``POSTDESK_DATABASE_URL`` decides the database, as in production; ``make test`` runs the
suite a second time against PostgreSQL when ``POSTDESK_TEST_DATABASE_URL`` is set.
"""

import os
import tempfile

os.environ.setdefault("POSTDESK_DATA_DIR", tempfile.mkdtemp(prefix="postdesk-test-"))
os.environ.setdefault("POSTDESK_MAIL_DOMAIN", "desk.test")

from postdesk.settings import *  # noqa: F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # fast tests only

if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":  # noqa: F405
    # A database of its own per test run, so that runs side by side don't drop each other's.
    DATABASES["default"]["TEST"] = {"NAME": f"test_postdesk_{os.getpid()}"}  # noqa: F405
