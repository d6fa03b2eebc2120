# The heatmaps kept ahead (incidents.heat_ahead): the runs, their cells, and the late rows that the
# trigger on the RECEIVED partition appends for each change of a day row's count. The trigger as
# incidents.heat_ahead.late_trigger_sql() rendered it when this migration was written
# (tests/incidents/test_heat_ahead.py checks the database runs today's rendering).

import django.contrib.postgres.fields
import django.db.models.deletion
from django.db import migrations, models


LATE_TRIGGER = r"""CREATE OR REPLACE FUNCTION incidents_heat_late() RETURNS trigger LANGUAGE plpgsql AS $late$
BEGIN
  IF TG_OP = 'DELETE' THEN
    INSERT INTO incidents_heatlate (day, cell_x, cell_y, category_id, grid_id, n)
      VALUES (OLD.day, OLD.cell_x, OLD.cell_y, OLD.category_id, OLD.grid_id, -OLD.n);
  ELSIF TG_OP = 'UPDATE' THEN
    INSERT INTO incidents_heatlate (day, cell_x, cell_y, category_id, grid_id, n)
      VALUES (NEW.day, NEW.cell_x, NEW.cell_y, NEW.category_id, NEW.grid_id, NEW.n - OLD.n);
  ELSE
    INSERT INTO incidents_heatlate (day, cell_x, cell_y, category_id, grid_id, n)
      VALUES (NEW.day, NEW.cell_x, NEW.cell_y, NEW.category_id, NEW.grid_id, NEW.n);
  END IF;
  RETURN NULL;
END
$late$;
DROP TRIGGER IF EXISTS heat_late_insert ON incidents_rollup_k1;
CREATE TRIGGER heat_late_insert AFTER INSERT ON incidents_rollup_k1 FOR EACH ROW WHEN (NEW.cell_x IS NOT NULL AND NEW.n <> 0 AND current_setting('gridops.rollup_rebuild', true) IS DISTINCT FROM 'on') EXECUTE FUNCTION incidents_heat_late();
DROP TRIGGER IF EXISTS heat_late_update ON incidents_rollup_k1;
CREATE TRIGGER heat_late_update AFTER UPDATE ON incidents_rollup_k1 FOR EACH ROW WHEN (NEW.cell_x IS NOT NULL AND NEW.n <> OLD.n AND current_setting('gridops.rollup_rebuild', true) IS DISTINCT FROM 'on') EXECUTE FUNCTION incidents_heat_late();
DROP TRIGGER IF EXISTS heat_late_delete ON incidents_rollup_k1;
CREATE TRIGGER heat_late_delete AFTER DELETE ON incidents_rollup_k1 FOR EACH ROW WHEN (OLD.cell_x IS NOT NULL AND OLD.n <> 0 AND current_setting('gridops.rollup_rebuild', true) IS DISTINCT FROM 'on') EXECUTE FUNCTION incidents_heat_late();"""

DROP_LATE_TRIGGER = """DROP TRIGGER IF EXISTS heat_late_insert ON incidents_rollup_k1;
DROP TRIGGER IF EXISTS heat_late_update ON incidents_rollup_k1;
DROP TRIGGER IF EXISTS heat_late_delete ON incidents_rollup_k1;
DROP FUNCTION IF EXISTS incidents_heat_late();"""


class Migration(migrations.Migration):

    dependencies = [
        ('incidents', '0025_rollup_partitions'),
    ]

    operations = [
        migrations.CreateModel(
            name='HeatLate',
            fields=[
                ('id', models.BigAutoField(primary_key=True, serialize=False)),
                ('xid', models.BigIntegerField(db_default=models.Func(function='txid_current', output_field=models.BigIntegerField()))),
                ('day', models.DateField()),
                ('cell_x', models.IntegerField(help_text='floor(x / 50) in EPSG:4549')),
                ('cell_y', models.IntegerField()),
                ('category_id', models.IntegerField(null=True)),
                ('grid_id', models.IntegerField(null=True)),
                ('n', models.IntegerField()),
            ],
            options={
                'db_table': 'incidents_heatlate',
            },
        ),
        migrations.CreateModel(
            name='HeatRun',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('cell_m', models.PositiveIntegerField()),
                ('days', models.PositiveSmallIntegerField(help_text='last_day - first_day, one of AHEAD_DAYS')),
                ('first_day', models.DateField()),
                ('last_day', models.DateField(help_text='the day after the last day summed (the day it was summed)')),
                ('snapshot', models.TextField(help_text='txid_current_snapshot() of the transaction that summed it')),
                ('built_at', models.DateTimeField()),
                ('cells', models.PositiveIntegerField(default=0)),
            ],
            options={
                'db_table': 'incidents_heatrun',
                'indexes': [models.Index(fields=['cell_m', 'last_day'], name='heatrun_cell_day')],
            },
        ),
        migrations.CreateModel(
            name='HeatRunCell',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('i', models.IntegerField()),
                ('j', models.IntegerField()),
                ('total', models.IntegerField()),
                ('category_ids', django.contrib.postgres.fields.ArrayField(base_field=models.IntegerField(null=True), size=None)),
                ('category_ns', django.contrib.postgres.fields.ArrayField(base_field=models.IntegerField(), size=None)),
                ('grid_ids', django.contrib.postgres.fields.ArrayField(base_field=models.IntegerField(), size=None)),
                ('grid_ns', django.contrib.postgres.fields.ArrayField(base_field=models.IntegerField(), size=None)),
                ('main_grid_id', models.IntegerField(help_text='the grid with the most (a tie: the higher code)', null=True)),
                ('run', models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.DO_NOTHING, related_name='+', to='incidents.heatrun')),
            ],
            options={
                'db_table': 'incidents_heatruncell',
                'constraints': [models.UniqueConstraint(fields=('run', 'i', 'j'), name='heatruncell_run_cell')],
            },
        ),
        migrations.RunSQL(LATE_TRIGGER, reverse_sql=DROP_LATE_TRIGGER),
    ]
