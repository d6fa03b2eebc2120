"""The whole loop in the browser, on the real server, as issue 13 tells it: the 12345 hotline posts an
incident it cannot place (no point); the operator places it in the command centre, which registers and
dispatches it to the grid's team; the grid leader, on the phone, accepts it, takes a before and an
after photo, reports it handled and verifies it; the operator closes it; the return visit finds the
reporter dissatisfied and the incident goes back to the same grid as rework; and the hotline's webhook
(a real HTTP receiver) hears every public step, in order. The deliveries are made by
``dispatch.outbox.deliver_due`` in this process (what the Celery beat task runs)."""
from __future__ import annotations

import json
import time

import pytest
from django.contrib.auth.models import User

from dispatch import outbox
from dispatch.models import Webhook
from grids.models import Grid
from incidents.models import Incident, Photo
from tests.browser.test_command_centre import api_post, open_command_centre, point_in, wait_state
from tests.browser.test_evidence import accepted_on_the_phone, jpeg_bytes
from tests.browser.test_workspace import act
from tests.dispatch.test_outbox import Receiver

pytestmark = pytest.mark.django_db(transaction=True)
TIMEOUT = 15_000


def eventually(check, timeout_s: float = 15) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, "not in time"
        time.sleep(0.1)


def test_hotline_to_return_visit_in_the_browser_and_the_source_hears_every_step(demo_data, asgi_server, new_page):
    receiver = Receiver()
    receiver.start()
    try:
        Webhook.objects.create(client=User.objects.get(username="hotline"), url=receiver.url)
        own = Grid.objects.active().filter(kind="comprehensive").order_by("code").first()  # the gridleader's

        # 12345 posts: an address nobody can place, so it waits in triage for the operator
        status, posted = api_post(asgi_server, "/api/incidents/", {
            "source": "hotline_12345", "external_id": "12345-2026-120501", "category": "environment_sanitation",
            "title": "垃圾堆放 rubbish dumped", "description": "村口垃圾堆放多日", "address": ""})
        assert status == 201, posted
        incident_id = posted["id"]
        assert Incident.objects.get(pk=incident_id).state == "reported"

        # the operator places it by hand in the command centre: registered and dispatched to the grid
        command = open_command_centre(new_page, asgi_server)
        command.click("[data-tab=triage]")
        command.click(f"#triage [data-incident-id='{incident_id}']")
        detail = command.locator(f"#detail[data-incident-id='{incident_id}']")
        detail.locator("[data-action=relocate]").click()
        command.get_by_label("事件 incidents").uncheck()  # so that the click reaches the ground, not a marker
        lon, lat = point_in(own)
        xy = command.evaluate("([lat, lon]) => { const m = window.gridops.map; m.setView([lat, lon], 17, "
                              "{animate: false}); const p = m.latLngToContainerPoint([lat, lon]); return [p.x, p.y]; }",
                              [lat, lon])
        box = command.locator("#map").bounding_box()
        command.mouse.click(box["x"] + xy[0], box["y"] + xy[1])
        wait_state(command, incident_id, "dispatched")
        assert Incident.objects.get(pk=incident_id).handling_grid_id == own.pk

        # the grid leader on the phone: accept, before and after photos, handled, verified
        phone, card = accepted_on_the_phone(new_page, asgi_server, incident_id, "马上到 on my way")
        for n, stage in enumerate(("before", "after"), start=1):
            chooser = card.locator(f"input[type=file][data-photo-stage={stage}]")
            chooser.wait_for(state="attached", timeout=TIMEOUT)
            chooser.set_input_files({"name": f"{stage}.jpg", "mimeType": "image/jpeg", "buffer": jpeg_bytes()})
            eventually(lambda n=n: Photo.objects.filter(incident_id=incident_id).count() == n)
        card.locator(".d-actions [data-action=report_handled]").wait_for(timeout=TIMEOUT)
        act(card, "report_handled", "已清运完毕 cleared")
        wait_state(phone, incident_id, "handled")
        card.locator(".d-actions [data-action=verify]").wait_for(timeout=TIMEOUT)
        act(card, "verify", "已核查 checked")
        wait_state(phone, incident_id, "verified")

        # the operator closes it
        command.evaluate(f"window.gridops.select({incident_id})")
        detail.locator(".d-actions [data-action=close]").wait_for(timeout=TIMEOUT)
        detail.locator("[data-action=close]").click()
        detail.locator(".action-form textarea").fill("经核查已处置到位 done")
        detail.locator(".action-form [type=submit]").click()
        eventually(lambda: Incident.objects.get(pk=incident_id).state == "closed")

        # the return visit: dissatisfied, so it goes back to the same grid as rework
        command.click("[data-tab=visits]")
        row = command.locator(f"#visits [data-incident-id='{incident_id}']")
        row.wait_for(timeout=TIMEOUT)
        row.click()
        detail.locator(".d-actions [data-action=return_visit]").wait_for(timeout=TIMEOUT)
        detail.locator("[data-action=return_visit]").click()
        detail.locator(".action-form select[name=outcome]").select_option("dissatisfied")
        detail.locator(".action-form textarea").fill("又有人倒垃圾了 dumped again")
        detail.locator(".action-form [type=submit]").click()
        eventually(lambda: Incident.objects.get(pk=incident_id).state == "in_progress")
        incident = Incident.objects.get(pk=incident_id)
        assert (incident.reworks, incident.handling_grid_id) == (1, own.pk)
        card.locator(".d-actions [data-action=report_handled]").wait_for(timeout=TIMEOUT)  # back on the phone

        # the source heard every public step, in order, with what was said
        assert outbox.deliver_due()["dead"] == 0
        heard = [json.loads(body) for _, body in receiver.received]
        assert [h["event"] for h in heard] == ["register", "dispatch", "accept", "report_handled", "close", "reopen"]
        assert [h["status"] for h in heard] == ["open", "open", "open", "open", "closed", "open"]
        assert heard[3]["status_notes"] == "已清运完毕 cleared"
        assert heard[5]["status_notes"] == "又有人倒垃圾了 dumped again"
        assert {h["external_id"] for h in heard} == {"12345-2026-120501"}
        assert phone.console_errors == [] and command.console_errors == []
    finally:
        receiver.stop()
