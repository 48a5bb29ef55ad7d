"""Database backends of Postdesk's own."""
