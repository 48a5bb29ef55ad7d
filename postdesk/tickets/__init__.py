"""Tickets, their comments and attachments, and the people on them (users, identities, groups)."""
