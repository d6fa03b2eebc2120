"""Patrol tracks on the leaders' map (the review page): a grid leader sees the day's patrols of their own
team only and the chosen one's track, its flagged points marked and the worker's day figures; the town
leader sees every worker's. The scope is the server's (patrols.selectors); the page shows what it gets."""
from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.gis.geos import Point
from django.utils import timezone

from core.actors import Actor
from gis_core.srid import METRIC_SRID
from grids.models import Grid, Person
from patrols import services
from patrols.figures import own_grids_q
from tests.browser.conftest import login
from tests.incidents import factories as f

pytestmark = pytest.mark.django_db(transaction=True)
TIMEOUT = 15_000
LISTED, IDS = "#tracks .tr-list li[data-patrol-id]", "els => els.map(e => +e.dataset.patrolId)"


def walked(person: Person, grid: Grid, key: str, start, *, flagged_at: int | None = None) -> int:
    """A patrol of ``person`` from ``start``: 12 points 5 m apart every 10 s in ``grid``; the one at
    ``flagged_at`` jumps 2 km (too fast: flagged by the server)."""
    actor = Actor.of(person.user) if person.user_id else Actor.of(f.user("grid_member", person=person))
    patrol, _ = services.start_patrol(actor=actor, key=key, now=start)
    origin = Point(*f.interior_point(grid), srid=4326).transform(METRIC_SRID, clone=True)
    points = []
    for n in range(12):
        east = n * 5.0 + (2000.0 if n == flagged_at else 0.0)
        p = Point(origin.x + east, origin.y, srid=METRIC_SRID).transform(4326, clone=True)
        points.append(services.SentPoint(p.x, p.y, start + timedelta(seconds=10 * n), 8.0))
    services.add_points(actor=actor, patrol_id=patrol.pk, points=points, now=start + timedelta(minutes=5))
    services.end_patrol(actor=actor, patrol_id=patrol.pk, now=start + timedelta(minutes=5))
    return patrol.pk


def open_tracks(new_page, base: str, username: str, password: str, day):
    page = new_page(width=1600, height=900)
    login(page, base, username, password, next_url="/review/")
    page.wait_for_url("**/review/", timeout=TIMEOUT)
    page.wait_for_selector("body[data-review=ready]", timeout=TIMEOUT)
    page.fill("#tracks input[name=day]", day.isoformat())  # the server's day, whatever the browser's
    page.dispatch_event("#tracks input[name=day]", "change")
    page.wait_for_selector("#tracks .tr-list li", timeout=TIMEOUT)
    return page


def test_leaders_see_the_tracks_of_their_scope_with_flagged_points(demo_data, asgi_server, new_page):
    worker = Person.objects.get(user__username="gridworker")
    own = Grid.objects.active().filter(own_grids_q(worker.pk)).first()
    others = Grid.objects.active().filter(kind="comprehensive").exclude(own_grids_q(worker.pk))
    stranger_grid = others.order_by("code").last()
    stranger = f.team_of(stranger_grid).memberships.exclude(person=worker).first().person
    # an hour ago, and the page asked for that day: between midnight and one o'clock that is yesterday
    start = timezone.now() - timedelta(hours=1)
    day = timezone.localtime(start).date()
    mine = walked(worker, own, "browser-patrol-own", start, flagged_at=6)
    theirs = walked(stranger, stranger_grid, "browser-patrol-other", start)

    page = open_tracks(new_page, asgi_server, "gridleader", "gongdao-gridleader", day)
    listed = page.eval_on_selector_all(LISTED, IDS)
    assert listed == [mine]  # their own team's worker, not the stranger
    assert worker.name in page.inner_text("#tracks .tr-list")
    page.click(f"#tracks li[data-patrol-id='{mine}']")
    page.wait_for_function("window.gridops.tracks.state.figures !== null", timeout=TIMEOUT)
    state = page.evaluate("window.gridops.tracks.state")
    assert (state["shown"], state["points"], state["flagged"]) == (mine, 12, 1)
    assert page.locator("path.tr-flagged").count() == 1  # the jump, in orange
    figures = page.inner_text("#tracks .tr-figures")
    assert worker.name in figures and "在岗率" in figures and "存疑 flagged 1" in figures
    assert page.console_errors == []

    # the stranger's track is not for this leader, however it is asked for
    answer = page.evaluate(f"fetch('/api/patrols/{theirs}/track/').then(r => r.status)")
    assert answer == 404

    town = open_tracks(new_page, asgi_server, "leader", "gongdao-leader", day)
    listed = town.eval_on_selector_all(LISTED, IDS)
    assert sorted(listed) == sorted([mine, theirs])
