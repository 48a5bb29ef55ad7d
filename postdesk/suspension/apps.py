from django.apps import AppConfig


class SuspensionConfig(AppConfig):
    name = "postdesk.suspension"
    label = "suspension"
    verbose_name = "Suspended mail"
