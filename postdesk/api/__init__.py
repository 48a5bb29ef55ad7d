"""Postdesk's Zendesk-compatible REST API (``/api/v2``); see ``postdesk.api.app``."""
