"""Shared fixtures: the Gongdao demo data set is loaded once into the test database; small
literal towns are built per test with explicit SRIDs."""
from __future__ import annotations

import pytest
from django.contrib.gis.geos import MultiPolygon, Polygon
from django.core.management import call_command
from django.utils import timezone

from grids.models import BoundaryGeneration, Grid, Town, Village


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker):
    """Load the committed Gongdao data set once; every test sees it and rolls back its own writes."""
    with django_db_blocker.unblock():
        call_command("load_demo_data", verbosity=0)


@pytest.fixture
def demo_data(transactional_db):
    """Make sure the demo data set is there for a transactional test (the flush after an earlier one
    empties every table; pytest-django runs transactional tests after the others)."""
    call_command("load_demo_data", verbosity=0)


@pytest.fixture(autouse=True)
def live_push_drained(request):
    """For a test that uses the database: at teardown, wait until the live-push thread has published
    what the test committed and let go of its connection, before pytest-django flushes the database
    (a push still querying while TRUNCATE runs deadlocks, and a late one can leave rows behind)."""
    uses_db = request.node.get_closest_marker("django_db") is not None or "_django_db_helper" in request.fixturenames
    if uses_db:
        request.getfixturevalue("_django_db_helper")  # set up before this fixture: torn down after it
    yield
    if uses_db:
        from dispatch import live

        assert live.wait_idle(10), "the live push thread is still busy 10 s after the test"


@pytest.fixture
def redis_layer(settings):
    """The live push over the test Redis (channels_redis), as in production, for the socket tests."""
    from channels.layers import channel_layers

    from tests.servers import TEST_REDIS_URL

    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels_redis.core.RedisChannelLayer",
                                           "CONFIG": {"hosts": [TEST_REDIS_URL]}}}
    channel_layers.backends.clear()
    yield
    channel_layers.backends.clear()


def box(x0: float, y0: float, x1: float, y1: float) -> MultiPolygon:
    """Return an EPSG:4326 rectangle as a MultiPolygon."""
    return MultiPolygon(Polygon.from_bbox((x0, y0, x1, y1)), srid=4326)


# A literal test town far from Gongdao (lon 120.00-120.03, lat 31.00-31.01):
#   village 001 = grids A1 [120.00,120.01] and A2 [120.01,120.02], dedicated D1 (a market) across both;
#   village 002 = grid B1 [120.02,120.03].
A1, A2, B1, D1 = "999999100001001", "999999100001002", "999999100002001", "999999100001901"


@pytest.fixture
def square_town(db):
    """Return the active generation of the literal square town."""
    town = Town.objects.create(code="999999100", name="方格镇", boundary=box(120.00, 31.00, 120.03, 31.01))
    va = Village.objects.create(town=town, code="999999100001", name="甲村", kind="village",
                                boundary=box(120.00, 31.00, 120.02, 31.01))
    vb = Village.objects.create(town=town, code="999999100002", name="乙社区", kind="community",
                                boundary=box(120.02, 31.00, 120.03, 31.01))
    gen = BoundaryGeneration.objects.create(town=town, status="active", activated_at=timezone.now())
    rows = [
        (A1, va, "comprehensive", "", box(120.00, 31.00, 120.01, 31.01)),
        (A2, va, "comprehensive", "", box(120.01, 31.00, 120.02, 31.01)),
        (B1, vb, "comprehensive", "", box(120.02, 31.00, 120.03, 31.01)),
        (D1, va, "dedicated", "market", box(120.005, 31.002, 120.015, 31.004)),
    ]
    for code, village, kind, purpose, geom in rows:
        Grid.objects.create(generation=gen, village=village, code=code, name=code[-3:], kind=kind,
                            purpose=purpose, boundary=geom)
    return gen


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(items):
    """Run the browser tests last: Playwright's sync API keeps an event loop in the main thread for
    the rest of the session, where Channels tests need ``async_to_sync``."""
    items.sort(key=lambda item: item.nodeid.startswith("tests/browser/"))
