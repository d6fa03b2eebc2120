"""Evidence photos in the browser, on the real server: the grid leader takes an "after" photo on the phone
page (an input with capture), and the command centre's detail shows it: a placeholder until the
thumbnail is made, then the thumbnail, whose link opens the full-size photo (served by the app, scoped)."""
from __future__ import annotations

import base64
import io

import pytest
from PIL import Image

from grids.models import Grid
from incidents import tasks
from incidents.models import Photo
from tests.browser.conftest import login
from tests.browser.test_command_centre import open_command_centre
from tests.browser.test_workspace import act, report, wait_state

pytestmark = pytest.mark.django_db(transaction=True)
TIMEOUT = 10_000


def jpeg_bytes() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (640, 480), (30, 160, 60)).save(out, format="JPEG")
    return out.getvalue()


def accepted_on_the_phone(new_page, base: str, incident_id: int, note: str = "马上处理"):
    """The grid leader's phone page with the incident accepted from its card; return (page, card)."""
    phone = new_page(width=390, height=844)
    login(phone, base, "gridleader", "gongdao-gridleader", next_url="/")
    phone.wait_for_url("**/my/", timeout=TIMEOUT)
    card = phone.locator(f"#inbox li.card[data-incident-id='{incident_id}']")
    card.locator(".d-actions [data-action=accept]").wait_for(timeout=TIMEOUT)
    act(card, "accept", note)
    wait_state(phone, incident_id, "in_progress")
    return phone, card


def test_after_photo_from_the_phone_shows_on_the_command_centre(demo_data, asgi_server, new_page):
    own = Grid.objects.active().filter(kind="comprehensive").order_by("code").first()
    incident_id = report(asgi_server, own, "垃圾堆放 rubbish dumped")

    phone, card = accepted_on_the_phone(new_page, asgi_server, incident_id)
    after = card.locator("input[type=file][data-photo-stage=after]")
    after.wait_for(state="attached", timeout=TIMEOUT)
    assert after.get_attribute("capture") == "environment" and after.get_attribute("accept") == "image/*"
    after.set_input_files({"name": "after.jpg", "mimeType": "image/jpeg", "buffer": jpeg_bytes()})
    card.locator(".photo-status[data-ok='1']").wait_for(timeout=TIMEOUT)
    photo = Photo.objects.get(incident_id=incident_id)
    assert photo.stage == "after" and photo.uploaded_by_label == "gridleader"

    command = open_command_centre(new_page, asgi_server)
    command.evaluate(f"window.gridops.select({incident_id})")
    shown = command.locator(f"#detail .d-photos li.photo[data-photo-id='{photo.pk}'][data-stage=after]")
    shown.wait_for(timeout=TIMEOUT)
    assert shown.locator(".photo-wait").count() == 1  # no thumbnail yet: the placeholder

    # what the Celery worker does after the commit (tests/incidents/test_evidence_worker.py), here in process
    assert tasks.make_thumbnail(photo.pk) is True
    command.evaluate(f"window.gridops.select({incident_id})")  # loads the detail again
    img = command.locator(f"#detail li.photo[data-photo-id='{photo.pk}'] img")
    img.wait_for(timeout=TIMEOUT)
    command.wait_for_function("el => el.complete && el.naturalWidth === 320", arg=img.element_handle(), timeout=TIMEOUT)
    img.click()  # the viewer over the page, the full size in it; the original a link away
    viewer = command.locator(".photo-viewer:not([hidden])")
    viewer.wait_for(timeout=TIMEOUT)
    command.wait_for_function("document.querySelector('.photo-viewer .pv-img').naturalWidth === 640", timeout=TIMEOUT)
    with command.expect_popup() as popup:
        viewer.locator(".pv-full").click()
    full = popup.value
    full.wait_for_load_state()
    assert full.url.endswith(f"/api/photos/{photo.pk}/file/")
    assert full.evaluate("document.images[0].naturalWidth") == 640
    assert phone.console_errors == [] and command.console_errors == []


def test_the_phone_shows_the_photos_by_stage_and_the_viewer_steps_through_them(demo_data, asgi_server, new_page):
    """On the grid leader's card the photos are grouped by stage (before, after); a tap opens the viewer
    on that photo, which steps to the next and closes with Escape; the command centre opens the same
    viewer, in the same order."""
    own = Grid.objects.active().filter(kind="comprehensive").order_by("code").first()
    incident_id = report(asgi_server, own, "井盖破损 broken manhole cover")
    phone, card = accepted_on_the_phone(new_page, asgi_server, incident_id)
    card.locator("[data-photos-toggle]").click()  # the card's photos: none yet
    card.locator(".card-photos .muted").wait_for(timeout=TIMEOUT)
    for stage, count in (("before", 1), ("before", 2), ("after", 1)):  # one at a time, as a camera takes them
        chooser = card.locator(f"input[type=file][data-photo-stage={stage}]")
        chooser.set_input_files({"name": f"{stage}{count}.jpg", "mimeType": "image/jpeg", "buffer": jpeg_bytes()})
        card.locator(f".card-photos .photo-group[data-stage={stage}] li.photo").nth(count - 1).wait_for(timeout=TIMEOUT)
    groups = card.locator(".card-photos .photo-group").evaluate_all("gs => gs.map(g => [g.dataset.stage, "
                                                                     "g.querySelectorAll('li.photo').length])")
    assert groups == [["before", 2], ["after", 1]]
    ids = [p.pk for p in Photo.objects.filter(incident_id=incident_id).order_by("stage", "created_at", "id")]
    before = [p.pk for p in Photo.objects.filter(incident_id=incident_id, stage="before").order_by("created_at", "id")]
    after = Photo.objects.get(incident_id=incident_id, stage="after").pk
    assert sorted(ids) == sorted([*before, after])

    card.locator(f"li.photo[data-photo-id='{before[1]}'] .photo-open").click()
    viewer = phone.locator(".photo-viewer:not([hidden])")
    viewer.wait_for(timeout=TIMEOUT)
    assert viewer.get_attribute("data-photo-id") == str(before[1])
    assert viewer.locator(".pv-count").inner_text() == "2 / 3"
    assert "处置前 before" in viewer.locator(".pv-caption").inner_text()
    assert viewer.locator(".pv-img").get_attribute("src").endswith(f"/api/photos/{before[1]}/file/")
    viewer.locator(".pv-next").click()
    assert viewer.get_attribute("data-photo-id") == str(after) and viewer.locator(".pv-next").is_disabled()
    assert "处置后 after" in viewer.locator(".pv-caption").inner_text()
    phone.wait_for_function("document.querySelector('.photo-viewer .pv-img').naturalWidth === 640", timeout=TIMEOUT)
    phone.keyboard.press("ArrowLeft")
    assert viewer.get_attribute("data-photo-id") == str(before[1])
    phone.keyboard.press("Escape")
    phone.locator(".photo-viewer[hidden]").wait_for(state="attached", timeout=TIMEOUT)
    assert phone.evaluate("document.documentElement.scrollWidth") <= 390

    command = open_command_centre(new_page, asgi_server)
    command.evaluate(f"window.gridops.select({incident_id})")
    first = command.locator(f"#detail li.photo[data-photo-id='{before[0]}'] .photo-open")
    first.wait_for(timeout=TIMEOUT)
    first.click()
    shown = command.locator(".photo-viewer:not([hidden])")
    shown.wait_for(timeout=TIMEOUT)
    assert shown.locator(".pv-count").inner_text() == "1 / 3" and shown.locator(".pv-prev").is_disabled()
    shown.locator(".pv-close").click()
    command.locator(".photo-viewer[hidden]").wait_for(state="attached", timeout=TIMEOUT)
    assert phone.console_errors == [] and command.console_errors == []


def test_a_photo_chosen_while_the_card_is_drawn_again_is_uploaded(demo_data, asgi_server, new_page):
    """The camera app can take a while; if the incident changes meanwhile (here another photo attached
    elsewhere), the card is drawn again, and the photo chosen on the input the user tapped still goes up."""
    own = Grid.objects.active().filter(kind="comprehensive").order_by("code").first()
    incident_id = report(asgi_server, own, "占道经营 street stall")
    phone, card = accepted_on_the_phone(new_page, asgi_server, incident_id)
    card.locator(".d-actions [data-action=report_handled]").wait_for(timeout=TIMEOUT)  # drawn with its context
    tapped = card.locator("input[type=file][data-photo-stage=after]").element_handle(timeout=TIMEOUT)
    key = card.get_attribute("data-key")

    # another photo arrives meanwhile (taken in another tab, the same user): the incident changes on the server
    status = phone.evaluate("""async ([id, b64]) => {
        const body = new FormData(), bytes = Uint8Array.from(atob(b64), c => c.charCodeAt(0));
        body.append("stage", "before");
        body.append("photos", new Blob([bytes], {type: "image/jpeg"}), "before.jpg");
        const meta = document.querySelector('meta[name="csrf-token"]');
        const cookie = document.cookie.match(/(?:^|;\\s*)csrftoken=([^;]+)/);
        const token = cookie ? decodeURIComponent(cookie[1]) : meta.content;
        const r = await fetch(`/api/incidents/${id}/photos/`, {method: "POST", body, credentials: "same-origin",
            headers: {"X-CSRFToken": token, Accept: "application/json"}});
        return r.status; }""", [incident_id, base64.b64encode(jpeg_bytes()).decode()])
    assert status == 201
    # drawn again for the change and once more with the changed incident's context (the key's parts 0 and 3)
    phone.wait_for_function("([id, key]) => { const k = document.querySelector(`#inbox li.card[data-incident-id="
                            "'${id}']`).dataset.key, p = k.split('|'); return k !== key && p[0] === p[3]; }",
                            arg=[incident_id, key], timeout=TIMEOUT)

    assert tapped.evaluate("input => input.isConnected")
    tapped.set_input_files({"name": "after.jpg", "mimeType": "image/jpeg", "buffer": jpeg_bytes()})
    card.locator(".photo-status[data-ok='1']").wait_for(timeout=TIMEOUT)
    assert sorted(Photo.objects.filter(incident_id=incident_id).values_list("stage", flat=True)) == ["after", "before"]
