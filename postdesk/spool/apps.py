from django.apps import AppConfig


class SpoolConfig(AppConfig):
    name = "postdesk.spool"
    label = "spool"
    verbose_name = "Inbound spool"

    def ready(self) -> None:
        # Registers the inbound task's group runner before a worker claims its first task.
        from postdesk.spool import tasks  # noqa: F401
