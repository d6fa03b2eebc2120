"""Issue 11: API tokens moved from rest_framework.authtoken (keys stored in plain text) to knox
(digests only). The old keys are not carried over: they are deleted with their table, so every old
token is simply invalid; issue new ones with ``manage.py api_tokens issue USER``."""
from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("knox", "0009_extend_authtoken_field")]

    operations = [
        migrations.RunSQL(
            "DROP TABLE IF EXISTS authtoken_token CASCADE; DELETE FROM django_migrations WHERE app = 'authtoken';",
            reverse_sql=migrations.RunSQL.noop,
        ),
    ]
