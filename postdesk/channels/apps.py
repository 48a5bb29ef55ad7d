from django.apps import AppConfig
from django.db.models.signals import post_migrate


class ChannelsConfig(AppConfig):
    name = "postdesk.channels"
    label = "channels"
    verbose_name = "Channels"

    def ready(self) -> None:
        from postdesk.channels.addresses import ensure_system_address_after_migrate

        post_migrate.connect(ensure_system_address_after_migrate, sender=self)
