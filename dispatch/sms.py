"""Text messages to the people an incident is given to: the person dispatched is told.

Written by the database with the notification (a trigger on the notifications table, as the outbox
is on the events): one SMS for a notification of a kind in ``SMS_KINDS`` to a person with a phone,
at most one per person for one change of an incident (the notifications of one change share their
time: the most important kind wins, ``SMS_KINDS`` order), and only for news (a notification written
more than ``FRESH`` after its time, e.g. by an import of history or the demo's past, is not texted).

Sent by Celery (``dispatch.send_sms``) after the commit, never in the request: a worker claims due
rows (``core.leases``), sends each through the backend in ``settings.SMS_BACKEND`` and records the
outcome; a failure is retried after ``settings.SMS_RETRY_DELAYS_S`` and is dead after the last try.
In quiet hours (``settings.SMS_QUIET_HOURS``, local time) only the urgent categories' messages go;
the others wait for the morning.

Backends, as Django's email backends: ``LogBackend`` (the default, and the tests': the message is
logged with the phone masked) and ``HttpGatewayBackend`` (a provider's HTTP gateway: JSON POST to
``settings.SMS_GATEWAY_URL`` with a bearer token; the answer's ``id`` is kept as the provider's ref).
"""
from __future__ import annotations

import logging
import time
from datetime import datetime, timedelta
from datetime import time as clock

import requests
from django.conf import settings
from django.dispatch import receiver
from django.utils import timezone
from django.utils.module_loading import import_string

from core import background
from core.leases import after_failure, claim_due
from dispatch.models import Notification, SmsMessage
from grids.models import Person
from grids.privacy import mask_phone
from incidents.models import Category, Incident
from incidents.signals import incident_changed

log = logging.getLogger(__name__)

K = Notification.Kind
# The kinds a person is texted for, the most important first (one SMS per person per change).
SMS_KINDS: tuple[str, ...] = (K.REOPENED, K.ASSIGNED, K.ESCALATED, K.OVERDUE)
FRESH = timedelta(hours=1)
LEASE = timedelta(minutes=2)
BATCH = 100
SMS_TABLE = SmsMessage._meta.db_table
NOTIFICATIONS = Notification._meta.db_table
KIND_WORDS = {K.ASSIGNED: "派给您", K.ESCALATED: "升级给您", K.OVERDUE: "已超期", K.REOPENED: "群众不满意，重新办理"}


# --- written with the notification: the trigger --------------------------------------------------------
def trigger_sql() -> str:
    """Return the SQL that (re)creates the SMS trigger from ``SMS_KINDS`` and ``FRESH``."""
    kinds = ", ".join(f"'{k}'" for k in SMS_KINDS)
    return f"""CREATE OR REPLACE FUNCTION dispatch_sms_on_notification() RETURNS trigger LANGUAGE plpgsql AS $sms$
BEGIN
  INSERT INTO {SMS_TABLE} (notification_id, person_id, incident_id, kind, phone, urgent, state, attempts,
                           next_attempt_at, provider_ref, last_error, created_at)
  SELECT n.id, n.person_id, n.incident_id, n.kind, p.phone, c.urgent, 'pending', 0, now(), '', '', n.created_at
  FROM new_rows n
  JOIN {Person._meta.db_table} p ON p.id = n.person_id
  JOIN {Incident._meta.db_table} i ON i.id = n.incident_id
  JOIN {Category._meta.db_table} c ON c.id = i.category_id
  WHERE n.kind IN ({kinds}) AND p.phone <> ''
    AND n.created_at > now() - interval '{int(FRESH.total_seconds())} seconds'
  ORDER BY array_position(ARRAY[{kinds}]::varchar[], n.kind), n.id
  ON CONFLICT DO NOTHING;
  RETURN NULL;
END
$sms$;
DROP TRIGGER IF EXISTS {NOTIFICATIONS}_sms ON {NOTIFICATIONS};
CREATE TRIGGER {NOTIFICATIONS}_sms AFTER INSERT ON {NOTIFICATIONS} REFERENCING NEW TABLE AS new_rows
FOR EACH STATEMENT EXECUTE FUNCTION dispatch_sms_on_notification();"""


DROP_SQL = f"""DROP TRIGGER IF EXISTS {NOTIFICATIONS}_sms ON {NOTIFICATIONS};
DROP FUNCTION IF EXISTS dispatch_sms_on_notification();"""


# --- backends ------------------------------------------------------------------------------------------
class SmsError(Exception):
    """The message was not accepted (the reason is recorded; it is tried again)."""


class LogBackend:
    """Write the message to the log (phone masked) instead of sending it: development and tests."""

    def send(self, phone: str, text: str, ref: str) -> str:
        log.info("SMS to %s: %s", mask_phone(phone), text)
        return f"log-{ref}"


class HttpGatewayBackend:
    """Send through a provider's HTTP gateway: POST {"phone", "text", "ref"} as JSON with
    ``Authorization: Bearer SMS_GATEWAY_TOKEN``; a 2xx answer is accepted (its JSON ``id`` kept)."""

    timeout = (3.05, 10)

    def send(self, phone: str, text: str, ref: str) -> str:
        try:
            response = requests.post(settings.SMS_GATEWAY_URL, json={"phone": phone, "text": text, "ref": ref},
                                     headers={"Authorization": f"Bearer {settings.SMS_GATEWAY_TOKEN}"},
                                     timeout=self.timeout, allow_redirects=False)
        except requests.RequestException as exc:
            raise SmsError(f"{type(exc).__name__}: {exc}") from exc
        if not 200 <= response.status_code < 300:
            raise SmsError(f"HTTP {response.status_code}: {response.text[:200]}")
        try:
            return str(response.json().get("id", ""))[:80]
        except (ValueError, AttributeError):
            return ""


def get_backend():
    return import_string(settings.SMS_BACKEND)()


# --- sending ---------------------------------------------------------------------------------------------
def in_quiet_hours(moment: datetime) -> bool:
    """Return whether ``moment`` falls in the quiet hours (local time; the span may cross midnight)."""
    if not settings.SMS_QUIET_HOURS:
        return False
    start, end = (clock.fromisoformat(t) for t in settings.SMS_QUIET_HOURS)
    now = timezone.localtime(moment).time()
    return start <= now < end if start < end else now >= start or now < end


def text_of(message: SmsMessage) -> str:
    """Return the words of one SMS: what happened, the incident, where and by when (no personal data)."""
    incident = message.incident
    due = incident.accept_due_at if incident.state == Incident.State.DISPATCHED else incident.handle_due_at
    where = incident.address or (incident.handling_grid.name if incident.handling_grid else "")
    return (f"【网格治理】{KIND_WORDS.get(message.kind, message.kind)}：{incident.reference} "
            f"{incident.category.name_zh}·{incident.title[:30]}" + (f"，{where[:30]}" if where else "")
            + (f"，请于{timezone.localtime(due):%m-%d %H:%M}前处理" if due else "") + "。")


def send_due(*, now: datetime | None = None, budget_s: float = 50.0) -> dict[str, int]:
    """Send what is due (in quiet hours: the urgent only), batch after batch, until nothing is or
    ``budget_s`` has passed; return the count of each outcome. Safe to run twice at once."""
    counts = {"sent": 0, "pending": 0, "dead": 0}
    backend, started = get_backend(), time.monotonic()
    while time.monotonic() - started < budget_s:
        moment = now or timezone.now()
        ids, lease = claim_due(SMS_TABLE, now=moment, limit=BATCH, lease_for=LEASE, due_column="next_attempt_at",
                               where="o.urgent" if in_quiet_hours(moment) else "")
        if not ids:
            break
        rows = SmsMessage.objects.filter(pk__in=ids).select_related(
            "incident__category", "incident__handling_grid").order_by("id")
        for message in rows:
            counts[_send_one(backend, message, lease=lease, now=now or timezone.now())] += 1
    return counts


def _send_one(backend, message: SmsMessage, *, lease: datetime, now: datetime) -> str:
    fields: dict = {"lease_until": None}
    try:
        fields.update(provider_ref=backend.send(message.phone, text_of(message), f"sms-{message.pk}"),
                      state=SmsMessage.State.SENT, sent_at=now, last_error="")
    except SmsError as exc:  # retried after settings.SMS_RETRY_DELAYS_S, dead after the last
        fields.update(after_failure(message.attempts, settings.SMS_RETRY_DELAYS_S, now), last_error=str(exc)[:300])
    SmsMessage.objects.filter(pk=message.pk, lease_until=lease).update(**fields)
    return fields.get("state", SmsMessage.State.PENDING)


_last_kick = [0.0]


@receiver(incident_changed)
def on_incidents_changed(sender, incident_ids: list[int], **kwargs) -> None:
    """After a change commits: have a worker send its messages now (at most once a second per process;
    beat sends what a kick missed). A broker that is down loses nothing: the rows wait."""
    if time.monotonic() - _last_kick[0] < 1.0:
        return
    _last_kick[0] = time.monotonic()
    from dispatch.tasks import send_sms_task

    background.send_task(send_sms_task, queue=settings.SMS_TASK_QUEUE)
