"""Who else has it open, in two browsers: two operators open the same incident in the command centre and
each sees the other's name in the panel; when one closes it, the other's panel drops the name."""
from __future__ import annotations

import pytest
from django.contrib.auth.models import Group, User

from tests.browser.conftest import login
from tests.incidents import factories as f

pytestmark = pytest.mark.django_db(transaction=True)
TIMEOUT = 15_000


def test_two_operators_see_each_other_on_one_incident(demo_data, asgi_server, browser):
    incident = f.located("other")
    second = User.objects.create_user("operator-li", password="gongdao-li-2026")
    second.groups.add(Group.objects.get(name="operator"))
    pages = []
    for username, password in (("operator", "gongdao-operator"), ("operator-li", "gongdao-li-2026")):
        context = browser.new_context(viewport={"width": 1400, "height": 900})
        page = context.new_page()
        page.clock.install()
        login(page, asgi_server, username, password, next_url="/command/")
        page.wait_for_function("window.gridops && window.gridops.select", timeout=TIMEOUT)
        page.evaluate(f"window.gridops.select({incident.pk})")
        page.locator(f"#detail[data-incident-id='{incident.pk}']").wait_for(timeout=TIMEOUT)
        pages.append(page)
    first, later = pages
    later.locator(".d-viewers", has_text="operator").wait_for(timeout=TIMEOUT)  # the first was there already
    first.clock.run_for(16_000)  # the first's next heartbeat brings the second
    first.locator(".d-viewers", has_text="operator-li").wait_for(timeout=TIMEOUT)
    with later.expect_response(lambda r: r.request.method == "DELETE" and "/viewing/" in r.url) as left:
        later.click("#detail [data-close]")
    assert left.value.status == 204
    first.clock.run_for(16_000)
    first.wait_for_function("document.querySelector('#detail .d-viewers').hidden", timeout=TIMEOUT)
    for page in pages:
        page.context.close()
