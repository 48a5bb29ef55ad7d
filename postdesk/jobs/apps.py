from django.apps import AppConfig


class JobsConfig(AppConfig):
    name = "postdesk.jobs"
    label = "jobs"
    verbose_name = "Background jobs"
