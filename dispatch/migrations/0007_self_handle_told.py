# 自行处置 (self_handle: found on patrol and fixed on the spot, closing the incident) is a public change:
# the outbox trigger as dispatch.outbox.trigger_sql() renders it now (the tests check the database runs
# what the code renders).
from django.db import migrations

OUTBOX = r"""
CREATE OR REPLACE FUNCTION dispatch_outbox_on_event() RETURNS trigger LANGUAGE plpgsql AS $outbox$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM dispatch_webhook WHERE active) THEN
    RETURN NULL;
  END IF;
  INSERT INTO dispatch_outboxmessage (webhook_id, incident_id, event_id, action, state, attempts, next_attempt_at, last_error,
                        created_at)
  SELECT w.id, e.incident_id, e.id, e.action, 'pending', 0, now(), '', now()
  FROM new_rows e
  JOIN incidents_incident i ON i.id = e.incident_id
  JOIN dispatch_webhook w ON w.client_id = i.submitted_by_id AND w.active
                    AND (cardinality(w.events) = 0 OR e.action = ANY (w.events))
  WHERE e.action IN ('accept', 'cancel', 'close', 'dispatch', 'mark_duplicate', 'out_of_jurisdiction', 'register', 'reopen', 'report_handled', 'rework', 'self_handle', 'status_note') AND NOT e.data @> '{"history": true}'::jsonb
  ORDER BY e.id, w.id
  ON CONFLICT DO NOTHING;
  RETURN NULL;
END
$outbox$;
DROP TRIGGER IF EXISTS incidents_incidentevent_outbox ON incidents_incidentevent;
CREATE TRIGGER incidents_incidentevent_outbox AFTER INSERT ON incidents_incidentevent REFERENCING NEW TABLE AS new_rows
FOR EACH STATEMENT EXECUTE FUNCTION dispatch_outbox_on_event();
"""


class Migration(migrations.Migration):

    dependencies = [
        ("dispatch", "0006_reopen_told"),
        ("incidents", "0015_standard_assessment"),
    ]

    # backwards: the function stays as it is (telling of one more action is harmless)
    operations = [migrations.RunSQL(OUTBOX, migrations.RunSQL.noop)]
