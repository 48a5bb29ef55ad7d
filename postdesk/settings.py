"""Django settings, built from the ``POSTDESK_*`` environment (see ``postdesk.config``)."""

from __future__ import annotations

import os
from pathlib import Path

from postdesk import config as _config
from postdesk import logs

POSTDESK = _config.load()
BASE_DIR = Path(__file__).resolve().parent
DATA_DIR = POSTDESK.data_dir
DATA_DIR.mkdir(parents=True, exist_ok=True)

SECRET_KEY = POSTDESK.secret_key()
DEBUG = POSTDESK.debug
ALLOWED_HOSTS = ["*"]
CSRF_TRUSTED_ORIGINS = [POSTDESK.public_url] if POSTDESK.public_url.startswith("http") else []

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_tasks_db",
    "postdesk.jobs",
    "postdesk.tickets",
    "postdesk.channels",
    "postdesk.spool",
    "postdesk.web",
    "postdesk.suspension",
    "postdesk.outbound",
    "postdesk.mailboxes",
    # Serves the API docs page's Swagger UI from our own static files, not a CDN.
    "ninja",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "postdesk.nul_guard.RefuseNulInApi",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "postdesk.web.middleware.UserLanguageMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "postdesk.urls"
WSGI_APPLICATION = "postdesk.wsgi.application"
AUTH_USER_MODEL = "tickets.User"
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "django.template.context_processors.i18n",
            ],
        },
    },
]

DATABASES = {"default": POSTDESK.database()}
# Workers and smtpd are long-lived and run thousands of short transactions: keep their
# connections (opening one costs more than a mail's queries on SQLite), checked before reuse.
DATABASES["default"]["CONN_MAX_AGE"] = 600
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

TASKS = {
    "default": {
        "BACKEND": "django_tasks_db.DatabaseBackend",
        "QUEUES": ["default", "inbound", "outbound", "periodic"],
    }
}

PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]

LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English"), ("ko", "한국어")]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = DATA_DIR / "static"
STATIC_ROOT.mkdir(exist_ok=True)
WHITENOISE_USE_FINDERS = True
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}

SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_SECURE = POSTDESK.public_url.startswith("https://")
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"

ATTACHMENTS_DIR = DATA_DIR / "attachments"
# Raw mail posted to /inbound/mime may be as large as the message size limit.
DATA_UPLOAD_MAX_MEMORY_SIZE = POSTDESK.max_message_size + 1024 * 1024

LOGGING = logs.config(os.environ.get("POSTDESK_LOG_FORMAT", "plain"))
