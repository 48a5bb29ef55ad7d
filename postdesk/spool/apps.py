from django.apps import AppConfig


class SpoolConfig(AppConfig):
    name = "postdesk.spool"
    label = "spool"
    verbose_name = "Inbound spool"
