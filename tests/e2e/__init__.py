"""End-to-end tests against real outside servers (Postfix, dnsmasq, Dovecot, Chromium).

They run only with ``POSTDESK_E2E=1``; ``conftest.py`` holds the fixtures and the skip rule,
``servers/`` the classes that start and stop each server.
"""
