"""An exact change feed for catching up: each incident row carries the id of the transaction that
last wrote it (``changed_xid``, a 64-bit xid8 that never wraps).

A client keeps the snapshot taken before its last read (``pg_current_snapshot()``, served as the
``X-Changes-Cursor`` header); the changes it has not seen are exactly the rows whose writing
transaction that snapshot does not see. Unlike a time stamp or a sequence number, this does not
miss a transaction that wrote early and committed late (a batch of 100,000 writes its rows tens of
seconds before it commits).

The column is the database's alone (the Django model does not know it, so no save, COPY or INSERT
writes it): its default stamps an insert, a trigger every update.
"""
from django.db import migrations

SQL = """
ALTER TABLE incidents_incident ADD COLUMN changed_xid xid8 NOT NULL DEFAULT pg_current_xact_id();
CREATE INDEX incidents_incident_changed_xid ON incidents_incident (changed_xid);
CREATE FUNCTION incidents_incident_stamp_change() RETURNS trigger AS $$
BEGIN
  NEW.changed_xid := pg_current_xact_id();
  RETURN NEW;
END $$ LANGUAGE plpgsql;
CREATE TRIGGER incidents_incident_stamp_change
  BEFORE UPDATE ON incidents_incident
  FOR EACH ROW EXECUTE FUNCTION incidents_incident_stamp_change();
"""

REVERSE_SQL = """
DROP TRIGGER incidents_incident_stamp_change ON incidents_incident;
DROP FUNCTION incidents_incident_stamp_change();
ALTER TABLE incidents_incident DROP COLUMN changed_xid;
"""


class Migration(migrations.Migration):
    dependencies = [("incidents", "0004_lean_intake_indexes")]

    operations = [migrations.RunSQL(sql=SQL, reverse_sql=REVERSE_SQL)]
