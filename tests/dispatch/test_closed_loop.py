"""The whole loop over the API, as the issue tells it: the 12345 hotline posts, the incident is registered
and dispatched, the grid leader attaches before and after photos, reports it handled, it is verified
and closed, the return visit finds the reporter dissatisfied and it is reopened; the hotline's webhook
(a real HTTP receiver) hears every public step in order, the person it goes back to is texted, and
Open311 tells the same story."""
from __future__ import annotations

import json

import pytest
from rest_framework.test import APIClient

from dispatch import outbox, sms
from dispatch.models import Notification, SmsMessage, Webhook
from incidents.grants import grant_sources
from incidents.models import Incident, Photo
from tests.auth import token_for
from tests.dispatch.test_outbox import Receiver
from tests.incidents import factories as f
from tests.incidents.test_evidence import evidence_dir, jpeg, upload  # noqa: F401 - the photos' folder

pytestmark = pytest.mark.django_db


def test_the_loop_closes_and_the_source_hears_every_step_in_order():
    receiver = Receiver()
    receiver.start()
    try:
        hotline = f.user("integration", username="hotline-loop")
        grant_sources(hotline, ["hotline_12345"])
        Webhook.objects.create(client=hotline, url=receiver.url)
        api = APIClient()
        api.credentials(HTTP_AUTHORIZATION=f"Token {token_for(hotline)}")
        lon, lat = f.interior_point(f.grid())
        posted = api.post("/api/incidents/", {"source": "hotline_12345", "external_id": "12345-2026-120401",
                                              "category": "environment_sanitation", "title": "垃圾堆放 rubbish dumped",
                                              "lon": lon, "lat": lat}, format="json")
        assert posted.status_code == 201, posted.content
        incident = Incident.objects.get(pk=posted.json()["id"])
        assert incident.state == "dispatched"

        leader = f.api_client(person=f.team_of(incident.handling_grid).leader)
        operator = f.api_client("operator")

        def act(client, action: str, body: dict) -> None:
            response = client.post(f"/api/incidents/{incident.pk}/{action}/", body, format="json")
            assert response.status_code == 200, (action, response.content)

        act(leader, "accept", {"note": ""})
        for stage in ("before", "after"):
            photo = upload(f"{stage}.jpg", jpeg((lon, lat)))
            sent = leader.post(f"/api/incidents/{incident.pk}/photos/", {"stage": stage, "photos": [photo]},
                               format="multipart")
            assert sent.status_code == 201, sent.content
        act(leader, "report_handled", {"note": "已清运完毕 cleared"})
        act(leader, "verify", {"note": ""})
        act(operator, "close", {"note": "经核查已处置到位"})
        act(operator, "return_visit", {"outcome": "dissatisfied", "comment": "又有人倒垃圾了 dumped again"})
        incident.refresh_from_db()
        assert (incident.state, incident.reworks) == ("in_progress", 1)
        assert set(Photo.objects.filter(incident=incident).values_list("stage", flat=True)) == {"before", "after"}

        assert outbox.deliver_due()["dead"] == 0
        heard = [json.loads(body) for _, body in receiver.received]
        assert [h["event"] for h in heard] == ["register", "dispatch", "accept", "report_handled", "close", "reopen"]
        assert [h["status"] for h in heard] == ["open", "open", "open", "open", "closed", "open"]
        assert heard[3]["status_notes"] == "已清运完毕 cleared"
        assert heard[5]["status_notes"] == "又有人倒垃圾了 dumped again"
        assert {h["external_id"] for h in heard} == {"12345-2026-120401"}

        # the person it went back to is told in the inbox, and texted
        reopened = Notification.objects.get(incident=incident, kind=Notification.Kind.REOPENED)
        assert SmsMessage.objects.filter(notification=reopened).exists()
        assert sms.send_due()["dead"] == 0

        # Open311 tells the same story
        updates = api.get("/open311/v2/servicerequestupdates.json").json()
        assert [u["external_status_code"] for u in updates if u["service_request_id"] == str(incident.pk)] == [
            "register", "dispatch", "accept", "report_handled", "close", "reopen"]
        (request,) = api.get(f"/open311/v2/requests/{incident.pk}.json").json()
        assert (request["status"], request["status_notes"]) == ("open", "又有人倒垃圾了 dumped again")
    finally:
        receiver.stop()
