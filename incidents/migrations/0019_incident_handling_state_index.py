# Built concurrently: on a city's incidents table (millions of rows) intake goes on while it is made.

from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ('incidents', '0018_rollup_scope_indexes'),
    ]

    operations = [
        AddIndexConcurrently(
            model_name='incident',
            index=models.Index(fields=['handling_grid', 'state'], name='incident_handling_state_idx'),
        ),
    ]
