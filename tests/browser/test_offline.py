"""The phone offline (issue 14), in a real browser: the page and what it last read come from its
service worker with no network; two actions and a report with a photo made offline are queued and,
back online, reach the server exactly once each and show on the command centre; a change that
conflicts (the incident was cancelled meanwhile) is refused with the server's reason on the phone."""
from __future__ import annotations

import io
import re

import pytest
from django.test import Client
from PIL import Image

from grids.models import Grid, GridTeam
from incidents.models import Incident, IncidentEvent
from tests.browser.conftest import login
from tests.browser.test_workspace import report
from tests.incidents import factories as f
from web.views import PHONE_STATIC

pytestmark = pytest.mark.django_db(transaction=True)
TIMEOUT = 15_000


def accept_offline(page, incident_id: int) -> None:
    card = page.locator(f"#inbox li.card[data-incident-id='{incident_id}']")
    card.locator(".d-actions [data-action=accept]").click()
    card.locator(".action-form textarea").fill("马上到 on my way")
    card.locator(".action-form [type=submit]").click()
    card.locator(".d-error", has_text="已排队").wait_for(timeout=TIMEOUT)


def test_the_phone_works_offline_and_sends_each_change_once(demo_data, asgi_server, browser, tmp_path):
    own = Grid.objects.active().filter(kind="comprehensive").order_by("code").first()
    assert GridTeam.objects.get(grid=own).leader.user.username == "gridleader"
    ids = [report(asgi_server, own, f"离线测试 {n}") for n in range(3)]
    point = own.boundary.point_on_surface
    context = browser.new_context(viewport={"width": 390, "height": 844}, permissions=["geolocation"],
                                  geolocation={"longitude": point.x, "latitude": point.y, "accuracy": 10})
    page = context.new_page()
    loaded = []
    page.on("request", lambda r: loaded.append(r.url))
    login(page, asgi_server, "gridleader", "gongdao-gridleader", next_url="/my/")
    page.wait_for_selector("body[data-offline-ready=true]", timeout=TIMEOUT)
    page.reload()  # now under the service worker: what the page reads is kept
    for incident_id in ids:
        page.locator(f"#inbox li.card[data-incident-id='{incident_id}'] .d-actions [data-action=accept]").wait_for(
            timeout=TIMEOUT)
    # every file the page loads is one the worker keeps at install
    statics = {re.sub(r"^.*/static/", "", u) for u in loaded if "/static/" in u and "/noto-sans-sc/files/" not in u}
    assert statics <= set(PHONE_STATIC), statics - set(PHONE_STATIC)

    context.set_offline(True)
    page.reload()
    page.wait_for_selector("#offline .offline-state:has-text('离线')", timeout=TIMEOUT)
    accept_offline(page, ids[0])
    accept_offline(page, ids[1])
    accept_offline(page, ids[2])
    (tmp_path / "scene.jpg").write_bytes(jpeg())
    page.click("#patrol summary")
    form = page.locator("form.patrol-report")
    form.locator("select[name=category]").select_option("other")
    form.locator("input[name=title]").fill("垃圾堆放 rubbish dumped")
    form.locator("input[name=photos]").set_input_files(str(tmp_path / "scene.jpg"))
    form.locator("button[type=submit]").click()
    page.wait_for_function("document.querySelector('form.patrol-report').dataset.queued", timeout=TIMEOUT)
    page.wait_for_function("window.gridopsOffline.queued === 4", timeout=TIMEOUT)
    key = form.get_attribute("data-queued")
    assert all(Incident.objects.get(pk=i).state == "dispatched" for i in ids)  # nothing reached the server

    # meanwhile the command centre cancels the third
    f.drive(Incident.objects.get(pk=ids[2]), ["cancel"], f.operator())
    context.set_offline(False)
    page.evaluate("window.dispatchEvent(new Event('online'))")
    page.wait_for_function("window.gridopsOffline.queued === 0", timeout=TIMEOUT)
    assert [Incident.objects.get(pk=i).state for i in ids] == ["in_progress", "in_progress", "cancelled"]
    assert IncidentEvent.objects.filter(incident_id__in=ids, action="accept").count() == 2
    reported = Incident.objects.get(external_id=key, source="patrol")
    assert reported.photos.filter(stage="intake").count() == 1
    refused = page.locator("#offline .offline-refused li")
    assert refused.count() == 1 and "412" in refused.inner_text() and "cancel by" in refused.inner_text()
    # sending again changes nothing: each change was done once
    page.evaluate("window.dispatchEvent(new Event('online'))")
    page.wait_for_timeout(500)
    assert IncidentEvent.objects.filter(incident_id__in=ids, action="accept").count() == 2
    assert Incident.objects.filter(external_id=key).count() == 1

    # the command centre shows the changes
    operator = browser.new_context(viewport={"width": 1400, "height": 900})
    command = operator.new_page()
    login(command, asgi_server, "operator", "gongdao-operator", next_url="/command/")
    command.wait_for_function(
        f"window.gridops && window.gridops.incidents && window.gridops.incidents.get({ids[0]}) && "
        f"window.gridops.incidents.get({ids[0]}).properties.state === 'in_progress' && "
        f"window.gridops.incidents.has({reported.pk})", timeout=TIMEOUT)
    operator.close()
    context.close()


def test_the_worker_and_manifest_are_served_by_the_app(demo_data):
    client = Client()
    assert client.get("/my/sw.js").status_code == 302  # a login first
    client.force_login(f.user("grid_member"))
    worker = client.get("/my/sw.js")
    assert worker.status_code == 200 and worker["Content-Type"].startswith("text/javascript")
    assert worker["Cache-Control"] == "no-cache"
    body = worker.content.decode()
    assert "/static/vendor/workbox/workbox-sw.js" in body and "googleapis" not in body
    manifest = client.get("/my/manifest.webmanifest").json()
    assert manifest["start_url"] == "/my/" and manifest["display"] == "standalone"
    assert {i["sizes"] for i in manifest["icons"]} == {"192x192", "512x512"}


def jpeg() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (32, 24), (200, 120, 60)).save(out, "JPEG")
    return out.getvalue()
