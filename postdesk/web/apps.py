from django.apps import AppConfig


class WebConfig(AppConfig):
    name = "postdesk.web"
    label = "web"
    verbose_name = "Web UI"
