"""The outbox to the source systems: what became of the incidents a client posted, sent to its webhook.

Written in the transaction that made the change: a trigger on the events table adds one outbox row per
public event (``incidents.rules.PUBLIC_ACTIONS``) of an incident whose client has an active webhook
wanting it. Every path that records events (intake, batches, actions, the sweep) is covered without
calling anything, and nothing is written for imported history (``rules.HISTORY_EVENT_DATA``).

Delivered by Celery (``dispatch.deliver_outbox``), kicked after changes and every few seconds by beat:
- a worker claims due rows with a lease (``FOR UPDATE SKIP LOCKED``, short transaction), so two workers
  never send one row and a killed worker's rows come back when its lease runs out;
- per incident and webhook only the oldest pending row is due: a receiver hears an incident's changes in
  the order they happened, and a later change waits while an earlier one is being retried;
- a 2xx answer delivers; anything else is retried after ``settings.OUTBOX_RETRY_DELAYS_S`` (one delay per
  try), and after the last try the row is a dead letter (redelivered from the admin);
- the body is JSON, signed: ``X-Gridops-Signature: sha256=HEX`` where HEX is HMAC-SHA256 under the
  webhook's secret of ``"{X-Gridops-Timestamp}." + body``; ``X-Gridops-Delivery`` is the row's id, the
  same on every retry (the receiver's key to drop a repeat).

Redis or the receiver down loses nothing: the rows are in PostgreSQL until a 2xx answer.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

import requests
from django.conf import settings
from django.db import transaction
from django.db.models import QuerySet
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver
from django.utils import timezone

from core import background
from core.leases import after_failure, claim_due
from dispatch.models import OutboxMessage, Webhook
from incidents import rules
from incidents.models import Incident, IncidentEvent
from incidents.open311_serializers import agency_responsible, fixmystreet_status, iso, status_of_state, update_words
from incidents.signals import incident_changed

OUTBOX = OutboxMessage._meta.db_table
WEBHOOKS = Webhook._meta.db_table
EVENTS = IncidentEvent._meta.db_table
INCIDENTS = Incident._meta.db_table
LEASE = timedelta(minutes=2)  # longer than one delivery can take (connect 3 s + read 10 s) times a batch's share
TIMEOUT_S = (3.05, 10)
BATCH = 50
USER_AGENT = "gridops-outbox/1"


# --- written in the change's transaction: the trigger ------------------------------------------------
def trigger_sql() -> str:
    """Return the SQL that (re)creates the outbox trigger from the current rules."""
    public = ", ".join(f"'{a}'" for a in sorted(rules.PUBLIC_ACTIONS))
    history = json.dumps(rules.HISTORY_EVENT_DATA)
    return f"""CREATE OR REPLACE FUNCTION dispatch_outbox_on_event() RETURNS trigger LANGUAGE plpgsql AS $outbox$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM {WEBHOOKS} WHERE active) THEN
    RETURN NULL;
  END IF;
  INSERT INTO {OUTBOX} (webhook_id, incident_id, event_id, action, state, attempts, next_attempt_at, last_error,
                        created_at)
  SELECT w.id, e.incident_id, e.id, e.action, 'pending', 0, now(), '', now()
  FROM new_rows e
  JOIN {INCIDENTS} i ON i.id = e.incident_id
  JOIN {WEBHOOKS} w ON w.client_id = i.submitted_by_id AND w.active
                    AND (cardinality(w.events) = 0 OR e.action = ANY (w.events))
  WHERE e.action IN ({public}) AND NOT e.data @> '{history}'::jsonb
  ORDER BY e.id, w.id
  ON CONFLICT DO NOTHING;
  RETURN NULL;
END
$outbox$;
DROP TRIGGER IF EXISTS {EVENTS}_outbox ON {EVENTS};
CREATE TRIGGER {EVENTS}_outbox AFTER INSERT ON {EVENTS} REFERENCING NEW TABLE AS new_rows
FOR EACH STATEMENT EXECUTE FUNCTION dispatch_outbox_on_event();"""


DROP_SQL = f"""DROP TRIGGER IF EXISTS {EVENTS}_outbox ON {EVENTS};
DROP FUNCTION IF EXISTS dispatch_outbox_on_event();"""


# --- delivered by Celery ---------------------------------------------------------------------------
# Only the oldest pending row of an incident for a webhook is due: a receiver hears an incident's changes
# in order. Rows of an inactive webhook wait for it.
IN_ORDER = f"""NOT EXISTS (SELECT 1 FROM {OUTBOX} p WHERE p.webhook_id = o.webhook_id AND p.incident_id = o.incident_id
                              AND p.state = 'pending' AND p.id < o.id)"""


def claim(*, now: datetime, limit: int = BATCH) -> tuple[list[int], datetime]:
    """Claim up to ``limit`` due rows (the oldest pending one per incident and webhook); return their
    ids and the lease that marks them as this worker's (``core.leases``)."""
    return claim_due(OUTBOX, now=now, limit=limit, lease_for=LEASE, due_column="next_attempt_at",
                     join=f"JOIN {WEBHOOKS} w ON w.id = o.webhook_id AND w.active", where=IN_ORDER)


def payload(message: OutboxMessage) -> dict:
    """Return what the receiver is told of one change (the event as recorded; the incident's ids)."""
    event, incident = message.event, message.incident
    return {
        "delivery_id": str(message.pk),
        "event": event.action,
        "occurred_at": iso(event.created_at),
        "service_request_id": str(incident.pk),
        "external_id": incident.external_id,
        "source": incident.source,
        "state": event.to_state,
        "status": status_of_state(event.to_state),
        "fixmystreet_status": fixmystreet_status(event.to_state),
        "status_notes": update_words(event),
        "agency_responsible": agency_responsible(incident),
        "expected_datetime": iso(incident.handle_due_at),
    }


def signature(secret: str, timestamp: str, body: bytes) -> str:
    """Return the X-Gridops-Signature of ``body`` sent at ``timestamp`` (what a receiver recomputes)."""
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return f"sha256={mac.hexdigest()}"


@dataclass
class Attempt:
    status: int | None
    error: str

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


def send(message: OutboxMessage) -> Attempt:
    """POST one message to its webhook; return the answer (never raises for the receiver's faults)."""
    body = json.dumps(payload(message), ensure_ascii=False, separators=(",", ":")).encode()
    timestamp = str(int(time.time()))
    headers = {
        "Content-Type": "application/json; charset=utf-8",
        "User-Agent": USER_AGENT,
        "X-Gridops-Delivery": str(message.pk),
        "X-Gridops-Event": message.action,
        "X-Gridops-Timestamp": timestamp,
        "X-Gridops-Signature": signature(message.webhook.secret, timestamp, body),
    }
    try:
        response = requests.post(message.webhook.url, data=body, headers=headers, timeout=TIMEOUT_S,
                                 allow_redirects=False)
    except requests.RequestException as exc:
        return Attempt(None, f"{type(exc).__name__}: {exc}"[:300])
    ok = 200 <= response.status_code < 300
    return Attempt(response.status_code, "" if ok else f"HTTP {response.status_code}: {response.text[:200]}")


def record(message: OutboxMessage, attempt: Attempt, *, lease: datetime, now: datetime) -> str:
    """Store the outcome of one try (only while this worker's lease holds); return the row's state."""
    fields: dict = {"lease_until": None, "last_status": attempt.status, "last_error": attempt.error}
    if attempt.ok:
        fields.update(state=OutboxMessage.State.DELIVERED, delivered_at=now)
    else:  # retried after settings.OUTBOX_RETRY_DELAYS_S, dead after the last
        fields.update(after_failure(message.attempts, settings.OUTBOX_RETRY_DELAYS_S, now))
    OutboxMessage.objects.filter(pk=message.pk, lease_until=lease).update(**fields)
    return fields.get("state", OutboxMessage.State.PENDING)


def deliver_due(*, now: datetime | None = None, budget_s: float = 50.0) -> dict[str, int]:
    """Deliver what is due, batch after batch, until nothing is or ``budget_s`` has passed; return the
    count of each outcome. Safe to run twice at once and to kill (the leases decide)."""
    counts = {"delivered": 0, "pending": 0, "dead": 0}
    fixed_now, started = now, time.monotonic()
    while time.monotonic() - started < budget_s:
        ids, lease = claim(now=fixed_now or timezone.now())
        if not ids:
            break
        messages = OutboxMessage.objects.filter(pk__in=ids).select_related(
            "webhook", "event", "incident__handling_grid", "incident__village", "incident__town").order_by("id")
        for message in messages:
            attempt = send(message)
            counts[record(message, attempt, lease=lease, now=fixed_now or timezone.now())] += 1
    return counts


# --- kicking the worker, and redelivery --------------------------------------------------------------
_last_kick = 0.0


def kick() -> None:
    """Ask a worker to deliver now (at most once a second per process; beat is the safety net). A
    broker that is down loses nothing: the rows wait in the database for the next run."""
    global _last_kick
    if time.monotonic() - _last_kick < 1.0:
        return
    _last_kick = time.monotonic()
    from dispatch.tasks import deliver_outbox_task

    background.send_task(deliver_outbox_task, queue=settings.OUTBOX_TASK_QUEUE)


_webhooks_seen = [0.0, False]  # when this process last looked, and whether any webhook was active


def any_active_webhook() -> bool:
    """Return whether any webhook is active (looked up at most every 10 s, and again after a change)."""
    if time.monotonic() - _webhooks_seen[0] > 10.0:
        _webhooks_seen[:] = [time.monotonic(), Webhook.objects.filter(active=True).exists()]
    return _webhooks_seen[1]


@receiver([post_save, post_delete], sender=Webhook)
def _forget_webhooks(**kwargs) -> None:
    _webhooks_seen[0] = 0.0


@receiver(incident_changed)
def on_incidents_changed(sender, incident_ids: list[int], **kwargs) -> None:
    """After a change commits: when a webhook may want it, have a worker send it now."""
    if any_active_webhook():
        kick()


def redeliver(messages: QuerySet[OutboxMessage]) -> int:
    """Send these again from the first try (dead letters, or delivered ones a receiver lost)."""
    count = messages.update(state=OutboxMessage.State.PENDING, attempts=0, next_attempt_at=timezone.now(),
                            lease_until=None, last_error="")
    if count:
        transaction.on_commit(kick)
    return count

