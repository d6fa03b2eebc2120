"""Text messages to the person dispatched (dispatch.sms): written with the notification, one per person
per change, only news; sent through the log backend and a real HTTP gateway, retried, dead; quiet hours;
the overdue holder told; and a real Celery worker sending after the commit."""
from __future__ import annotations

import json
import logging
from datetime import datetime, timedelta

import pytest
from django.db import connection
from django.utils import timezone

from dispatch import sms
from dispatch.models import Notification, SmsMessage
from dispatch.services import sweep_overdue
from grids.models import Person
from grids.privacy import mask_phone
from incidents.models import Category, Incident
from tests.dispatch.test_outbox import Receiver, workers  # noqa: F401 - the real worker's fixture
from tests.dispatch.test_sweep import wait_until
from tests.incidents import factories as f

pytestmark = pytest.mark.django_db
K = Notification.Kind


def tomorrow_at(hhmm: str, days: int = 1) -> datetime:
    """Return a local time of day after now (messages are due from the moment they are written)."""
    day = timezone.localtime().date() + timedelta(days=days)
    return timezone.make_aware(datetime.combine(day, datetime.strptime(hhmm, "%H:%M").time()))


SHANGHAI_NOON = tomorrow_at("12:00")
SHANGHAI_NIGHT = tomorrow_at("23:30")


def texts(incident: Incident) -> list[SmsMessage]:
    return list(SmsMessage.objects.filter(incident=incident).order_by("id"))


@pytest.fixture
def phones():
    Person.objects.filter(phone="").update(phone="13800001111")


def test_the_database_runs_the_trigger_the_code_renders_today():
    with connection.cursor() as cursor:
        cursor.execute("SELECT prosrc FROM pg_proc WHERE proname = 'dispatch_sms_on_notification'")
        (source,) = cursor.fetchone()
    assert f"RETURNS trigger LANGUAGE plpgsql AS $sms${source}$sms$" in sms.trigger_sql()


def test_the_person_dispatched_is_texted_not_the_leader_informed(phones):
    incident = f.located("other")
    (message,) = texts(incident)
    assert (message.kind, message.person_id, message.state) == (K.ASSIGNED, incident.assignee_id, "pending")
    informed = Notification.objects.get(incident=incident, kind=K.INFORMED)
    assert informed.person_id != incident.assignee_id  # the leader is informed in the inbox only
    words = sms.text_of(message)
    assert incident.reference in words and "派给您" in words and message.phone not in words


def test_one_text_per_person_per_change_and_only_news(phones):
    incident = f.located("other")
    person = Person.objects.exclude(pk=incident.assignee_id).first()
    now = timezone.now()
    Notification.objects.bulk_create([  # one statement: the kinds of one change to one person
        Notification(person=person, incident=incident, kind=kind, message="m", created_at=now)
        for kind in (K.INFORMED, K.OVERDUE, K.ESCALATED)])
    assert [m.kind for m in texts(incident) if m.person_id == person.pk] == [K.ESCALATED]  # the most important
    Notification.objects.create(person=person, incident=incident, kind=K.ASSIGNED, message="again", created_at=now)
    assert len([m for m in texts(incident) if m.person_id == person.pk]) == 1  # the same change: no second text
    old = now - timedelta(hours=2)  # written long after it happened (an import, the demo's past): not news
    Notification.objects.create(person=person, incident=incident, kind=K.ASSIGNED, message="old", created_at=old)
    nobody = f.new_person()
    assert nobody.phone == ""
    Notification.objects.create(person=nobody, incident=incident, kind=K.ASSIGNED, message="m", created_at=now)
    assert len(texts(incident)) == 2  # the assignee's, and this person's one


def test_sent_through_the_log_backend_with_the_phone_masked(phones, caplog):
    incident = f.located("other")
    with caplog.at_level(logging.INFO, logger="dispatch.sms"):
        assert sms.send_due(now=SHANGHAI_NOON) == {"sent": 1, "pending": 0, "dead": 0}
    (message,) = texts(incident)
    assert (message.state, message.attempts, message.provider_ref) == ("sent", 1, f"log-sms-{message.pk}")
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert incident.reference in logged and message.phone not in logged and mask_phone(message.phone) in logged
    assert sms.send_due(now=SHANGHAI_NOON) == {"sent": 0, "pending": 0, "dead": 0}  # once


def test_quiet_hours_hold_all_but_the_urgent(phones, settings):
    settings.SMS_QUIET_HOURS = ["22:00", "07:00"]
    assert sms.in_quiet_hours(SHANGHAI_NIGHT) and not sms.in_quiet_hours(SHANGHAI_NOON)
    assert sms.in_quiet_hours(tomorrow_at("06:59", 2)) and not sms.in_quiet_hours(tomorrow_at("07:00", 2))
    ordinary = f.located("other")
    urgent_code = Category.objects.filter(urgent=True).values_list("code", flat=True).first()
    urgent = f.located(urgent_code)
    assert sms.send_due(now=SHANGHAI_NIGHT)["sent"] == 1
    assert [m.state for m in texts(urgent)] == ["sent"] and [m.state for m in texts(ordinary)] == ["pending"]
    assert texts(ordinary)[0].attempts == 0  # held, not tried
    assert sms.send_due(now=tomorrow_at("07:01", 2))["sent"] == 1
    settings.SMS_QUIET_HOURS = []
    assert not sms.in_quiet_hours(SHANGHAI_NIGHT)


def test_a_real_http_gateway_failing_then_accepting(phones, settings):
    receiver = Receiver()
    receiver.start()
    try:
        settings.SMS_BACKEND = "dispatch.sms.HttpGatewayBackend"
        settings.SMS_GATEWAY_URL, settings.SMS_GATEWAY_TOKEN = receiver.url, "gw-secret"
        settings.SMS_RETRY_DELAYS_S = [60]
        incident = f.located("other")
        receiver.failing = True
        assert sms.send_due(now=SHANGHAI_NOON) == {"sent": 0, "pending": 1, "dead": 0}
        (message,) = texts(incident)
        assert "HTTP 503" in message.last_error and message.next_attempt_at == SHANGHAI_NOON + timedelta(seconds=60)
        receiver.failing, receiver.reply = False, b'{"id": "gw-778"}'
        assert sms.send_due(now=SHANGHAI_NOON + timedelta(seconds=61))["sent"] == 1
        (message,) = texts(incident)
        assert (message.state, message.attempts, message.provider_ref) == ("sent", 2, "gw-778")
        ((headers, body),) = receiver.received
        assert headers["Authorization"] == "Bearer gw-secret"
        sent = json.loads(body)
        assert sent["phone"] == message.phone and incident.reference in sent["text"]
        assert sent["ref"] == f"sms-{message.pk}"
        # a gateway that stays down: dead after the last try
        other = f.located("other")
        receiver.stop()
        assert sms.send_due(now=SHANGHAI_NOON)["pending"] == 1
        assert sms.send_due(now=SHANGHAI_NOON + timedelta(seconds=61))["dead"] == 1
        assert texts(other)[0].state == "dead" and "ConnectionError" in texts(other)[0].last_error
    finally:
        receiver.stop()


def test_the_overdue_holder_is_told_and_the_next_level_texted(phones):
    incident = f.located("other")
    holder = incident.assignee_id
    Incident.objects.filter(pk=incident.pk).update(escalate_at=timezone.now() - timedelta(minutes=5))
    assert sweep_overdue() == 1
    kinds = {(n.person_id, n.kind) for n in Notification.objects.filter(incident=incident)}
    assert (holder, K.OVERDUE) in kinds
    escalated_to = f.reload(incident).assignee_id
    if escalated_to is not None:
        assert (escalated_to, K.ESCALATED) in kinds
    texted = {(m.person_id, m.kind) for m in texts(incident)}
    assert (holder, K.OVERDUE) in texted and (holder, K.ASSIGNED) in texted


@pytest.mark.django_db(transaction=True)
def test_sent_by_a_real_worker_after_the_commit(workers, phones, settings):  # noqa: F811
    settings.SMS_TASK_QUEUE = workers.queue
    proc = workers.start(SMS_QUIET_HOURS="")
    incident = f.located("other")  # the kick after the commit reaches the worker
    wait_until(lambda: texts(incident) and texts(incident)[0].state == "sent", "the text sent", proc, workers)
