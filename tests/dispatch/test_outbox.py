"""The outbox to the source systems (dispatch.outbox): rows written by the database in the change's
transaction, delivered to a real HTTP receiver, signed, in order per incident, retried, dead-lettered,
redelivered; and on a real Celery worker with the receiver killed and brought back."""
from __future__ import annotations

import hashlib
import hmac
import json
import socket
import threading
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.db import connection, transaction
from django.utils import timezone

from core.actors import Actor
from dispatch import outbox
from dispatch.models import OutboxMessage, Webhook
from dispatch.services import incident_escalate
from dispatch.tasks import deliver_outbox_task
from incidents import rules
from incidents.actions import incident_status_note
from incidents.lifecycle import incident_transition
from incidents.models import Incident, IncidentEvent
from tests.dispatch.test_sweep import Workers, ensure_redis, wait_until
from tests.incidents import factories as f

pytestmark = pytest.mark.django_db
D = OutboxMessage.State


class Receiver:
    """A source system's webhook receiver on a port of its own: answers 200, or 503 when failing;
    stopped and started again on the same port as a crashed and restarted receiver would be."""

    def __init__(self):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.received: list[tuple[dict, bytes]] = []
        self.failing = False
        self.reply = b""  # the body of a 200
        self.server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def start(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - the http.server API
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                if receiver.failing:
                    self.send_response(503)
                    self.end_headers()
                    self.wfile.write(b"busy")
                    return
                receiver.received.append((dict(self.headers), body))
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(receiver.reply)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None

    def bodies(self) -> list[dict]:
        return [json.loads(body) for _, body in self.received]


@pytest.fixture
def receiver():
    r = Receiver()
    r.start()
    yield r
    r.stop()


@pytest.fixture
def client_12345():
    """The 12345 system's account (an integration client granted hotline_12345)."""
    from incidents.grants import grant_sources

    user = f.user("integration", username="hotline12345")
    grant_sources(user, [Incident.Source.HOTLINE_12345])
    return Actor.of(user)


def hotline(actor: Actor, n: int = 1, **fields) -> Incident:
    fields.setdefault("external_id", f"12345-{n}")
    return f.report("other", at=f.interior_point(f.grid()), actor=actor, source=Incident.Source.HOTLINE_12345,
                    **fields)


def messages(incident: Incident | None = None) -> list[OutboxMessage]:
    rows = OutboxMessage.objects.order_by("id")
    return list(rows.filter(incident=incident) if incident else rows)


def actions(rows) -> list[str]:
    return [m.action for m in rows]


# --- written in the change's transaction --------------------------------------------------------------

def test_the_database_runs_the_trigger_the_rules_render_today():
    with connection.cursor() as cursor:
        cursor.execute("SELECT prosrc FROM pg_proc WHERE proname = 'dispatch_outbox_on_event'")
        (source,) = cursor.fetchone()
        cursor.execute("SELECT count(*) FROM pg_trigger WHERE tgname = 'incidents_incidentevent_outbox'")
        assert cursor.fetchone()[0] == 1
    assert f"RETURNS trigger LANGUAGE plpgsql AS $outbox${source}$outbox$" in outbox.trigger_sql()


def test_every_public_change_of_a_clients_incident_and_nothing_else(client_12345, receiver):
    webhook = Webhook.objects.create(client=client_12345.user, url=receiver.url)
    incident = hotline(client_12345)
    assert actions(messages(incident)) == ["register", "dispatch"]  # written by the intake's transaction
    operator = f.operator()
    incident_escalate(incident_id=incident.pk, actor=operator, reason="internal routing")  # not public
    incident_status_note(incident_id=incident.pk, actor=operator, note="已联系村委 village committee called")
    for action in ["accept", "report_handled", "verify", "close"]:
        incident_transition(incident_id=incident.pk, action=action, actor=operator, note=f"{action} note")
    assert actions(messages(incident)) == ["register", "dispatch", "status_note", "accept", "report_handled",
                                           "close"]  # not the escalation, not the internal check (verify)
    assert {m.webhook_id for m in messages()} == {webhook.pk}
    assert all(rules.is_public(e.action, e.data) == (e.action in actions(messages(incident)))
               for e in IncidentEvent.objects.filter(incident=incident))
    # the incidents of other senders are not this client's business
    f.located("other")
    f.report("other", at=f.interior_point(f.grid()), actor=f.operator(), source=Incident.Source.HOTLINE_12345)
    assert {m.incident_id for m in messages()} == {incident.pk}


def test_rolled_back_changes_write_nothing(client_12345, receiver):
    Webhook.objects.create(client=client_12345.user, url=receiver.url)
    incident = hotline(client_12345)
    before = len(messages())
    with pytest.raises(RuntimeError), transaction.atomic():
        incident_status_note(incident_id=incident.pk, actor=f.operator(), note="never committed")
        assert len(messages()) == before + 1
        raise RuntimeError
    assert len(messages()) == before


def test_events_wanted_inactive_webhooks_and_history(client_12345, receiver):
    webhook = Webhook.objects.create(client=client_12345.user, url=receiver.url, events=["close", "status_note"])
    incident = hotline(client_12345)
    incident_status_note(incident_id=incident.pk, actor=f.operator(), note="在办 in hand")
    assert actions(messages(incident)) == ["status_note"]  # register and dispatch were not wanted
    Webhook.objects.filter(pk=webhook.pk).update(active=False)
    incident_status_note(incident_id=incident.pk, actor=f.operator(), note="not sent: inactive")
    assert actions(messages(incident)) == ["status_note"]
    Webhook.objects.filter(pk=webhook.pk).update(active=True, events=[])
    history = IncidentEvent(incident=incident, action="close", from_state="dispatched", to_state="closed",
                            level=1, actor_label="history import", data=rules.HISTORY_EVENT_DATA,
                            created_at=timezone.now())
    history.save()
    assert actions(messages(incident)) == ["status_note"]  # imported history is never told


def test_a_webhook_names_only_public_actions(client_12345):
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError, match="not public changes: escalate"):
        Webhook(client=client_12345.user, url="https://example.org/h", events=["close", "escalate"]).full_clean()
    Webhook(client=client_12345.user, url="https://example.org/h", events=["close"]).full_clean()


# --- delivered: signed, in order, retried, dead, redelivered -----------------------------------------

def test_delivered_signed_with_the_change(client_12345, receiver):
    webhook = Webhook.objects.create(client=client_12345.user, url=receiver.url)
    incident = hotline(client_12345, external_id="GD-2026-0001")
    assert outbox.deliver_due() == {"delivered": 2, "pending": 0, "dead": 0}
    assert outbox.deliver_due() == {"delivered": 0, "pending": 0, "dead": 0}  # once
    (h1, b1), (h2, b2) = receiver.received
    for headers, body in receiver.received:
        expected = hmac.new(webhook.secret.encode(), headers["X-Gridops-Timestamp"].encode() + b"." + body,
                            hashlib.sha256).hexdigest()
        assert headers["X-Gridops-Signature"] == f"sha256={expected}"
    first, second = json.loads(b1), json.loads(b2)
    assert (first["event"], second["event"]) == ("register", "dispatch")
    assert (h1["X-Gridops-Event"], h2["X-Gridops-Delivery"]) == ("register", second["delivery_id"])
    assert second["service_request_id"] == str(incident.pk) and second["external_id"] == "GD-2026-0001"
    assert (second["state"], second["status"], second["fixmystreet_status"]) == ("dispatched", "open",
                                                                                  "action_scheduled")
    assert second["expected_datetime"] is not None and second["agency_responsible"]
    assert all(m.state == D.DELIVERED and m.attempts == 1 and m.last_status == 200 for m in messages())


def test_receiver_down_then_back_in_order_with_backoff(client_12345, receiver, settings):
    settings.OUTBOX_RETRY_DELAYS_S = [10, 60]
    Webhook.objects.create(client=client_12345.user, url=receiver.url)
    one, other = hotline(client_12345, 1), hotline(client_12345, 2)
    receiver.failing = True
    t0 = timezone.now()
    # one message per incident is due at a time: the receiver hears each incident's changes in order
    assert outbox.deliver_due(now=t0) == {"delivered": 0, "pending": 2, "dead": 0}
    first = messages(one)[0]
    assert (first.attempts, first.last_status, first.next_attempt_at) == (1, 503, t0 + timedelta(seconds=10))
    assert "HTTP 503" in first.last_error and messages(one)[1].attempts == 0  # waits behind the first
    assert outbox.deliver_due(now=t0 + timedelta(seconds=5)) == {"delivered": 0, "pending": 0, "dead": 0}
    receiver.failing = False
    assert outbox.deliver_due(now=t0 + timedelta(seconds=11)) == {"delivered": 4, "pending": 0, "dead": 0}
    heard = [(b["service_request_id"], b["event"]) for b in receiver.bodies()]
    for incident in (one, other):
        assert [e for i, e in heard if i == str(incident.pk)] == ["register", "dispatch"]


def test_dead_after_the_last_try_and_redelivered(client_12345, receiver, settings):
    settings.OUTBOX_RETRY_DELAYS_S = [1]
    Webhook.objects.create(client=client_12345.user, url=receiver.url, events=["register"])
    hotline(client_12345)
    receiver.stop()  # connection refused
    t0 = timezone.now()
    assert outbox.deliver_due(now=t0)["pending"] == 1
    assert outbox.deliver_due(now=t0 + timedelta(seconds=2))["dead"] == 1
    (message,) = messages()
    assert (message.state, message.attempts, message.last_status) == (D.DEAD, 2, None)
    assert "ConnectionError" in message.last_error
    assert outbox.deliver_due(now=t0 + timedelta(hours=1)) == {"delivered": 0, "pending": 0, "dead": 0}
    receiver.start()
    assert outbox.redeliver(OutboxMessage.objects.filter(state=D.DEAD)) == 1
    assert outbox.deliver_due()["delivered"] == 1
    assert [b["delivery_id"] for b in receiver.bodies()] == [str(message.pk)]  # the same id: a repeat is seen


def test_two_workers_never_claim_one_row(client_12345, receiver):
    Webhook.objects.create(client=client_12345.user, url=receiver.url)
    for n in range(5):
        hotline(client_12345, n)
    now = timezone.now()
    first, _ = outbox.claim(now=now, limit=3)
    second, _ = outbox.claim(now=now, limit=10)
    assert len(first) == 3 and len(second) == 2 and not set(first) & set(second)
    assert outbox.claim(now=now)[0] == []  # leased, and the second change of each waits for the first
    later, _ = outbox.claim(now=now + outbox.LEASE + timedelta(seconds=1))
    assert sorted(later) == sorted(first + second)  # a dead worker's lease runs out


def test_deliveries_on_the_timeline_for_the_command_centre_only(client_12345, receiver):
    Webhook.objects.create(client=client_12345.user, url=receiver.url)
    incident = hotline(client_12345)
    outbox.deliver_due()
    operator = f.api_client("operator")
    rows = operator.get(f"/api/incidents/{incident.pk}/deliveries/").json()
    assert [(r["action"], r["state"], r["client"]) for r in rows] == [
        ("register", "delivered", "hotline12345"), ("dispatch", "delivered", "hotline12345")]
    events = {e["id"]: e for e in operator.get(f"/api/incidents/{incident.pk}/events/").json()}
    assert all(events[r["event"]]["public"] for r in rows)
    leader = f.api_client(person=f.team_of(incident.handling_grid).leader)
    assert leader.get(f"/api/incidents/{incident.pk}/deliveries/").status_code == 403
    assert f.api_client("operator").get("/api/incidents/999999999/deliveries/").status_code == 404


# --- a real worker: the receiver killed and brought back ---------------------------------------------

@pytest.fixture
def workers(demo_data, settings, tmp_path):
    from gridops.celery import app as celery_app

    settings.LIVE_PUSH_IN_BACKGROUND = False
    eager, celery_app.conf.task_always_eager = celery_app.conf.task_always_eager, False
    ensure_redis(celery_app.conf.broker_url)
    pool = Workers(tmp_path)
    settings.OUTBOX_TASK_QUEUE = pool.queue  # the kick after each change reaches this run's worker
    try:
        yield pool
    finally:
        pool.close()
        celery_app.conf.task_always_eager = eager


@pytest.mark.django_db(transaction=True)
def test_receiver_killed_and_brought_back_on_a_real_worker(workers, client_12345):
    receiver = Receiver()  # not started: the receiver is down when the changes happen
    Webhook.objects.create(client=client_12345.user, url=receiver.url)
    proc = workers.start(OUTBOX_RETRY_DELAYS_S="0.2,0.2,0.2,0.2,0.2,0.2,0.2,0.2,0.2,0.2")
    incident = hotline(client_12345)  # the kick after commit reaches the worker, which finds nobody
    wait_until(lambda: OutboxMessage.objects.filter(attempts__gt=0).exists(), "a first try", proc, workers)
    operator = f.operator()
    incident_status_note(incident_id=incident.pk, actor=operator, note="处理中 being handled")
    incident_transition(incident_id=incident.pk, action="accept", actor=operator)
    assert all(m.state == D.PENDING for m in messages())
    receiver.start()
    try:
        def all_delivered() -> bool:
            if OutboxMessage.objects.exclude(state=D.DELIVERED).exists():
                deliver_outbox_task.apply_async(queue=workers.queue)  # what beat does every 10 s
                return False
            return True

        wait_until(all_delivered, "every message delivered", proc, workers)
    finally:
        receiver.stop()
    assert [b["event"] for b in receiver.bodies()] == ["register", "dispatch", "status_note", "accept"]
    assert messages()[0].attempts >= 2

