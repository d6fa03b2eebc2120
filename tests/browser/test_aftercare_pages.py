"""The pages offer the new actions where the server allows them and send their forms as the API reads
them: on the grid team's phone page 延期 an extension request (a new deadline and a reason) and 退单
returning a dispatched incident to the command centre (a reason); in the command centre the queue of
return visits due and 回访 itself (an outcome and what the reporter said)."""
from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.utils import timezone

from grids.models import Grid
from incidents.models import ExtensionRequest, Incident, IncidentEvent, ReturnVisit
from tests.browser.conftest import login
from tests.browser.test_command_centre import open_command_centre
from tests.browser.test_workspace import TIMEOUT, report
from tests.dispatch.test_aftercare import close
from tests.incidents import factories as f

pytestmark = pytest.mark.django_db(transaction=True)


def eventually(check, timeout_s: float = 10) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, "not in time"
        time.sleep(0.1)


def test_grid_leader_requests_an_extension_and_returns_an_incident_from_the_inbox(demo_data, asgi_server, new_page):
    own = Grid.objects.active().filter(kind="comprehensive").order_by("code").first()
    page = new_page(width=390, height=844)
    login(page, asgi_server, "gridleader", "gongdao-gridleader", next_url="/")
    page.wait_for_url("**/my/", timeout=TIMEOUT)
    page.wait_for_selector("body[data-live=open]", timeout=TIMEOUT)
    own_id = report(asgi_server, own, "井盖松动 loose manhole cover")
    card = page.locator(f"#inbox li.card[data-incident-id='{own_id}']")
    card.locator(".d-actions [data-action=request_extension]").wait_for(timeout=TIMEOUT)
    assert card.locator(".d-actions [data-action=return_to_centre]").count() == 1

    # 延期: a deadline a day after the current one (in the browser's time zone) and a reason
    due = Incident.objects.get(pk=own_id).handle_due_at + timedelta(days=1)
    card.locator(".d-actions [data-action=request_extension]").click()
    card.locator(".action-form input[name=due]").fill(timezone.localtime(due).strftime("%Y-%m-%dT%H:%M"))
    card.locator(".action-form textarea").fill("等待配件 waiting for a part")
    card.locator(".action-form [type=submit]").click()
    eventually(lambda: ExtensionRequest.objects.filter(incident_id=own_id).exists())
    request = ExtensionRequest.objects.get(incident_id=own_id)
    assert (request.state, request.reason) == ("pending", "等待配件 waiting for a part")
    assert request.requested_due > request.previous_due
    # one request at a time: the page asks for the allowed actions again and the button goes
    card.locator(".d-actions [data-action=request_extension]").wait_for(state="detached", timeout=TIMEOUT)

    # 退单: back to the command centre with a reason
    card.locator(".d-actions [data-action=return_to_centre]").click()
    card.locator(".action-form textarea").fill("不属于本网格 not this grid")
    card.locator(".action-form [type=submit]").click()
    eventually(lambda: Incident.objects.get(pk=own_id).level == 3)
    event = IncidentEvent.objects.filter(incident_id=own_id).latest("id")
    assert (event.action, event.note) == ("return_to_centre", "不属于本网格 not this grid")
    assert page.console_errors == []


def test_operator_visits_a_closed_incident_from_the_queue_and_reopens_it(demo_data, asgi_server, new_page):
    closed = close(f.located("other", title="路灯不亮 street light out"))
    page = open_command_centre(new_page, asgi_server)
    page.click("[data-tab=visits]")
    row = page.locator(f"#visits [data-incident-id='{closed.pk}']")
    row.wait_for(timeout=TIMEOUT)
    row.click()
    detail = page.locator(f"#detail[data-incident-id='{closed.pk}']")
    detail.locator(".d-actions [data-action=return_visit]").wait_for(timeout=TIMEOUT)
    detail.locator("[data-action=return_visit]").click()
    detail.locator(".action-form select[name=outcome]").select_option("dissatisfied")
    detail.locator(".action-form textarea").fill("还是不亮 still dark")
    detail.locator(".action-form [type=submit]").click()
    eventually(lambda: Incident.objects.get(pk=closed.pk).state == "in_progress")
    visit = ReturnVisit.objects.get(incident=closed)
    assert (visit.outcome, visit.comment) == ("dissatisfied", "还是不亮 still dark")
    detail.locator(".d-timeline li[data-action=reopen]").wait_for(timeout=TIMEOUT)
    assert "不满意 dissatisfied" in detail.locator(".d-timeline li[data-action=return_visit]").inner_text()
    assert page.console_errors == []
