# Written by hand on 2026-12-07 (from makemigrations' operations)
"""The foreign keys few incidents set (camera, possible_duplicate_of, merged_into) indexed over the rows that
set them; handling_grid's own index dropped (incident_handling_state_idx leads with it).

Concurrently, as a live city's table is not locked for the builds: the three partial indexes are each a
scan of the table (some seconds at 10M). The AlterFields are the state's only: Django would drop and add
each foreign key again, checking every row. The indexes Django made are named by its hash of the table
and column, the same in every database.
"""
import django.db.models.deletion
from django.conf import settings
from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models


DROPPED = ["incidents_incident_camera_id_aad8a431", "incidents_incident_handling_grid_id_ae401f94",
           "incidents_incident_merged_into_id_75509a6d", "incidents_incident_possible_duplicate_of_id_50d2b2b4"]
RESTORE = [("incidents_incident_camera_id_aad8a431", "camera_id"),
           ("incidents_incident_handling_grid_id_ae401f94", "handling_grid_id"),
           ("incidents_incident_merged_into_id_75509a6d", "merged_into_id"),
           ("incidents_incident_possible_duplicate_of_id_50d2b2b4", "possible_duplicate_of_id")]


class Migration(migrations.Migration):
    atomic = False  # CREATE / DROP INDEX CONCURRENTLY

    dependencies = [
        ('cameras', '0001_initial'),
        ('components', '0001_initial'),
        ('grids', '0004_grid_last_edit'),
        ('incidents', '0030_heat_run_total_extent'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name='incident',
                    name='camera',
                    field=models.ForeignKey(blank=True, db_index=False, null=True, on_delete=django.db.models.deletion.PROTECT, to='cameras.camera'),
                ),
                migrations.AlterField(
                    model_name='incident',
                    name='handling_grid',
                    field=models.ForeignKey(blank=True, db_index=False, help_text='the grid whose team handles it (a dedicated grid when it matches)', null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='grids.grid'),
                ),
                migrations.AlterField(
                    model_name='incident',
                    name='merged_into',
                    field=models.ForeignKey(blank=True, db_index=False, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='merged', to='incidents.incident'),
                ),
                migrations.AlterField(
                    model_name='incident',
                    name='possible_duplicate_of',
                    field=models.ForeignKey(blank=True, db_index=False, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='possible_duplicates', to='incidents.incident'),
                ),
            ],
            database_operations=[
                migrations.RunSQL([f"DROP INDEX CONCURRENTLY IF EXISTS {name}" for name in DROPPED],
                                  [f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {name} ON incidents_incident ({column})"
                                   for name, column in RESTORE]),
            ],
        ),
        AddIndexConcurrently(
            model_name='incident',
            index=models.Index(condition=models.Q(('camera__isnull', False)), fields=['camera'], name='incident_camera_idx'),
        ),
        AddIndexConcurrently(
            model_name='incident',
            index=models.Index(condition=models.Q(('possible_duplicate_of__isnull', False)), fields=['possible_duplicate_of'], name='incident_possible_dup_idx'),
        ),
        AddIndexConcurrently(
            model_name='incident',
            index=models.Index(condition=models.Q(('merged_into__isnull', False)), fields=['merged_into'], name='incident_merged_idx'),
        ),
    ]
