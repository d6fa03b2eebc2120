# Written by hand on 2026-12-05

from django.db import migrations

# The rollup rows are counters the triggers update in place (n = n + delta): with room left on each
# page (fillfactor 70), an update that changes only the counts is a heap-only tuple (HOT) update and
# writes none of the table's eight indexes. Measured on the 1M city (bench/README.md, "Rollup writes"):
# the upsert of the 118,996 rollup rows of 20,000 incidents 9.0-9.3 s -> 6.9-7.2 s. Pages written before
# keep their fill until `manage.py rebuild_rollups` (or VACUUM FULL) rewrites them.
ROLLUP_FILLFACTOR = 70


class Migration(migrations.Migration):

    dependencies = [
        ('incidents', '0020_rollup_facts_once'),
    ]

    operations = [
        migrations.RunSQL(f"ALTER TABLE incidents_rollup SET (fillfactor = {ROLLUP_FILLFACTOR})",
                          reverse_sql="ALTER TABLE incidents_rollup RESET (fillfactor)"),
    ]
