"""django-helpdesk's side of ``bench/ingest.py``: run ``helpdesk.email.extract_email_metadata``
(parse, extract, create the ticket and its follow-up) on every ``.eml`` of a corpus.

Runs in django-helpdesk's own virtualenv (``bench/.venv-helpdesk``, made by ``make bench``),
never in Postdesk's: it brings its own Django. Its SQLite database gets the same durability
settings as Postdesk's (WAL, ``synchronous=FULL``). Mails are handed over as its IMAP and
local-mailbox readers do (``force_str(raw, errors="replace")``). Prints one JSON line:
``{"count": n, "seconds": s, "rate": msgs/s, "errors": n}``; a mail it raises on counts as an
error and the run goes on.

    bench/.venv-helpdesk/bin/python bench/helpdesk_extract.py CORPUS_DIR
"""

from __future__ import annotations

import json
import logging
import sys
import tempfile
import time
from pathlib import Path


def configure(directory: Path) -> None:
    import django
    from django.conf import settings

    settings.configure(
        DEBUG=False,
        SECRET_KEY="bench-only",
        USE_TZ=True,
        SITE_ID=1,
        DEFAULT_AUTO_FIELD="django.db.models.AutoField",
        MEDIA_ROOT=str(directory / "media"),
        INSTALLED_APPS=[
            "django.contrib.auth",
            "django.contrib.contenttypes",
            "django.contrib.sessions",
            "django.contrib.sites",
            "django.contrib.messages",
            "django.contrib.humanize",
            "rest_framework",
            # helpdesk's migrations depend on pinax-teams (and it on its own apps).
            "account",
            "pinax.invitations",
            "pinax.teams",
            "helpdesk",
        ],
        DATABASES={
            "default": {
                "ENGINE": "django.db.backends.sqlite3",
                "NAME": str(directory / "helpdesk.sqlite3"),
                "OPTIONS": {"init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"},
            }
        },
        TEMPLATES=[
            {
                "BACKEND": "django.template.backends.django.DjangoTemplates",
                "APP_DIRS": True,
                "OPTIONS": {"context_processors": []},
            }
        ],
        EMAIL_BACKEND="django.core.mail.backends.locmem.EmailBackend",
        HELPDESK_ENABLE_ATTACHMENTS=True,
    )
    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def main() -> None:
    corpus = Path(sys.argv[1])
    mails = [path.read_bytes() for path in sorted(corpus.iterdir()) if path.suffix == ".eml"]
    with tempfile.TemporaryDirectory(prefix="helpdesk-bench-") as tmp:
        configure(Path(tmp))
        from django.utils.encoding import force_str
        from helpdesk.email import extract_email_metadata
        from helpdesk.models import Queue

        queue = Queue.objects.create(title="Support", slug="support", allow_email_submission=True)
        logger = logging.getLogger("helpdesk-bench")
        logger.disabled = True
        logging.disable(logging.CRITICAL)
        errors = 0
        started = time.perf_counter()
        for raw in mails:
            try:
                extract_email_metadata(
                    message=force_str(raw, errors="replace"), queue=queue, logger=logger
                )
            except Exception:
                errors += 1
        seconds = time.perf_counter() - started
    print(
        json.dumps(
            {
                "count": len(mails),
                "seconds": seconds,
                "rate": len(mails) / seconds,
                "errors": errors,
            }
        )
    )


if __name__ == "__main__":
    main()
