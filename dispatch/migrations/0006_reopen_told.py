# Reopening (回访 dissatisfied) is a public change and texts the person it goes back to: the outbox and SMS
# triggers as dispatch.outbox.trigger_sql() and dispatch.sms.trigger_sql() render them now (the tests
# check the database runs what the code renders).
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
  WHERE e.action IN ('accept', 'cancel', 'close', 'dispatch', 'mark_duplicate', 'out_of_jurisdiction', 'register', 'reopen', 'report_handled', 'rework', 'status_note') AND NOT e.data @> '{"history": true}'::jsonb
  ORDER BY e.id, w.id
  ON CONFLICT DO NOTHING;
  RETURN NULL;
END
$outbox$;
DROP TRIGGER IF EXISTS incidents_incidentevent_outbox ON incidents_incidentevent;
CREATE TRIGGER incidents_incidentevent_outbox AFTER INSERT ON incidents_incidentevent REFERENCING NEW TABLE AS new_rows
FOR EACH STATEMENT EXECUTE FUNCTION dispatch_outbox_on_event();
"""

SMS = r"""
CREATE OR REPLACE FUNCTION dispatch_sms_on_notification() RETURNS trigger LANGUAGE plpgsql AS $sms$
BEGIN
  INSERT INTO dispatch_smsmessage (notification_id, person_id, incident_id, kind, phone, urgent, state, attempts,
                           next_attempt_at, provider_ref, last_error, created_at)
  SELECT n.id, n.person_id, n.incident_id, n.kind, p.phone, c.urgent, 'pending', 0, now(), '', '', n.created_at
  FROM new_rows n
  JOIN grids_person p ON p.id = n.person_id
  JOIN incidents_incident i ON i.id = n.incident_id
  JOIN incidents_category c ON c.id = i.category_id
  WHERE n.kind IN ('reopened', 'assigned', 'escalated', 'overdue') AND p.phone <> ''
    AND n.created_at > now() - interval '3600 seconds'
  ORDER BY array_position(ARRAY['reopened', 'assigned', 'escalated', 'overdue']::varchar[], n.kind), n.id
  ON CONFLICT DO NOTHING;
  RETURN NULL;
END
$sms$;
DROP TRIGGER IF EXISTS dispatch_notification_sms ON dispatch_notification;
CREATE TRIGGER dispatch_notification_sms AFTER INSERT ON dispatch_notification REFERENCING NEW TABLE AS new_rows
FOR EACH STATEMENT EXECUTE FUNCTION dispatch_sms_on_notification();
"""


class Migration(migrations.Migration):

    dependencies = [
        ("dispatch", "0005_reopened_kind"),
        ("incidents", "0012_return_visits"),
    ]

    # backwards: the functions stay as they are (telling of one more action is harmless)
    operations = [migrations.RunSQL(OUTBOX, migrations.RunSQL.noop), migrations.RunSQL(SMS, migrations.RunSQL.noop)]
