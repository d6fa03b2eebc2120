# Written by hand on 2026-12-06

from django.db import migrations

# Django gives a text primary key a second index for LIKE 'prefix%' (text_pattern_ops). Nothing reads the
# rollups' key by a pattern (the triggers and the readers name whole keys, or read by kind, day, cell
# and scope), so that index only cost space and every new key's insert: on the 1M city 339 MB of the
# rollups' 2,584 MB (13 %). Dropped on the partitioned table, it goes from every partition; found by its
# definition, as its name is Django's hash.
TABLE = "incidents_rollup"


def _pattern_indexes(cursor) -> list[str]:
    cursor.execute("SELECT indexrelid::regclass::text FROM pg_index WHERE indrelid = %s::regclass "
                   "AND pg_get_indexdef(indexrelid) LIKE '%%text_pattern_ops%%'", [TABLE])
    return [name for (name,) in cursor.fetchall()]


def forwards(apps, schema_editor):
    with schema_editor.connection.cursor() as cursor:
        for name in _pattern_indexes(cursor):
            cursor.execute(f"DROP INDEX {name}")


def backwards(apps, schema_editor):
    with schema_editor.connection.cursor() as cursor:
        if not _pattern_indexes(cursor):
            cursor.execute(f"CREATE INDEX {TABLE}_key_083ee61f_like ON {TABLE} (key text_pattern_ops)")


class Migration(migrations.Migration):

    dependencies = [
        ("incidents", "0028_heat_run_top"),
    ]

    operations = [
        migrations.RunPython(forwards, backwards),
    ]
