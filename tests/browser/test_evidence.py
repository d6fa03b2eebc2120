"""Evidence photos in the browser, on the real server: the grid leader takes an "after" photo on the phone
page (an input with capture), and the command centre's detail shows it: a placeholder until the
thumbnail is made, then the thumbnail, whose link opens the full-size photo (served by the app, scoped)."""
from __future__ import annotations

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


def test_after_photo_from_the_phone_shows_on_the_command_centre(demo_data, asgi_server, new_page):
    own = Grid.objects.active().filter(kind="comprehensive").order_by("code").first()
    incident_id = report(asgi_server, own, "垃圾堆放 rubbish dumped")

    phone = new_page(width=390, height=844)
    login(phone, asgi_server, "gridleader", "gongdao-gridleader", next_url="/")
    phone.wait_for_url("**/my/", timeout=TIMEOUT)
    card = phone.locator(f"#inbox li.card[data-incident-id='{incident_id}']")
    card.wait_for(timeout=TIMEOUT)
    card.locator(".d-actions [data-action=accept]").wait_for(timeout=TIMEOUT)
    act(card, "accept", "马上处理")
    wait_state(phone, incident_id, "in_progress")
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
    with command.expect_popup() as popup:
        img.click()
    full = popup.value
    full.wait_for_load_state()
    assert full.url.endswith(f"/api/photos/{photo.pk}/file/")
    assert full.evaluate("document.images[0].naturalWidth") == 640
    assert phone.console_errors == [] and command.console_errors == []
