"""Search indexes for tickets: FTS5 trigram tables with sync triggers on SQLite, pg_trgm GIN
indexes on PostgreSQL (see ``postdesk.search``)."""

from django.db import migrations

from postdesk.search import schema


class Migration(migrations.Migration):
    dependencies = [("tickets", "0001_initial")]

    operations = [migrations.RunPython(schema.create, schema.drop, elidable=False)]
