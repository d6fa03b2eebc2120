"""The incident record cannot be wiped in one statement: TRUNCATE on the incidents and their events is
refused (a row trigger does not fire on TRUNCATE, so 0002's append-only trigger never saw it).

UPDATE and DELETE of events stay refused without exception (0002). TRUNCATE passes only in a session
that said ``SET gridops.maintenance = on``: `manage.py flush` does (incidents/management/commands/flush.py),
and so does pytest-django between transactional tests, which flushes. The app's own database role
(`manage.py create_app_role`) has no TRUNCATE privilege at all.
"""
from django.db import migrations

SQL = """
CREATE FUNCTION incidents_refuse_truncate() RETURNS trigger AS $$
BEGIN
  IF coalesce(current_setting('gridops.maintenance', true), '') = 'on' THEN
    RETURN NULL;
  END IF;
  RAISE EXCEPTION 'TRUNCATE % refused: the incident record is kept (maintenance only: SET gridops.maintenance = on)',
    TG_TABLE_NAME USING ERRCODE = 'insufficient_privilege';
END $$ LANGUAGE plpgsql;
CREATE TRIGGER incidents_event_no_truncate
  BEFORE TRUNCATE ON incidents_incidentevent
  FOR EACH STATEMENT EXECUTE FUNCTION incidents_refuse_truncate();
CREATE TRIGGER incidents_incident_no_truncate
  BEFORE TRUNCATE ON incidents_incident
  FOR EACH STATEMENT EXECUTE FUNCTION incidents_refuse_truncate();
"""

REVERSE_SQL = """
DROP TRIGGER incidents_incident_no_truncate ON incidents_incident;
DROP TRIGGER incidents_event_no_truncate ON incidents_incidentevent;
DROP FUNCTION incidents_refuse_truncate();
"""


class Migration(migrations.Migration):
    dependencies = [("incidents", "0005_change_feed")]

    operations = [migrations.RunSQL(sql=SQL, reverse_sql=REVERSE_SQL)]
