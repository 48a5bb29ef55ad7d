"""Postdesk: a self-hosted help desk email channel."""

__version__ = "0.1.0"
