"""The exact change feed: a list answer's X-Changes-Cursor, sent back as ``changed_after``, returns
exactly the incidents changed since that read, including a transaction that wrote before the read
and committed after it (which a time stamp misses), scoped like every read, and a bad cursor is a 400."""
from __future__ import annotations

import threading

import pytest
from django.db import connection, transaction
from django.utils import timezone
from rest_framework.test import APIClient

from grids.models import GridTeam
from incidents.lifecycle import incident_transition
from incidents.models import Incident
from tests.incidents import factories as f

pytestmark = pytest.mark.django_db(transaction=True)
HEADER = "X-Changes-Cursor"


_client = f.api_client


def _ids(response) -> set[int]:
    assert response.status_code == 200, response.content
    return {feature["id"] for feature in response.json()["features"]}


def _changed_after(client: APIClient, cursor: str):
    return client.get("/api/incidents/", {"changed_after": cursor, "page_size": 10000})


def test_changes_after_a_cursor_are_exactly_the_later_writes(demo_data):
    operator = _client("operator")
    before = f.located("other")
    answer = operator.get("/api/incidents/")
    cursor = answer[HEADER]
    assert before.pk in _ids(answer)
    assert _ids(_changed_after(operator, cursor)) == set()  # nothing since

    new = f.located("other")
    incident_transition(incident_id=before.pk, action="cancel", actor=f.operator())  # closed: still a change
    later = _changed_after(operator, cursor)
    assert _ids(later) == {new.pk, before.pk}
    assert {f_["id"]: f_["properties"]["state"] for f_ in later.json()["features"]}[before.pk] == "cancelled"
    assert _ids(_changed_after(operator, later[HEADER])) == set()  # the newer cursor has seen them


def test_a_transaction_that_wrote_before_the_read_and_committed_after_it_is_not_missed(demo_data):
    """A batch writes its rows (and their updated_at) long before it commits. Its rows are in the
    change feed of a cursor read in between, though a time filter at that read misses them."""
    operator = _client("operator")
    written, release, done = threading.Event(), threading.Event(), threading.Event()
    stored: list[int] = []

    def late_batch() -> None:
        try:
            with transaction.atomic():
                stored.append(f.located("other").pk)
                written.set()
                release.wait(timeout=30)
        finally:
            connection.close()
            done.set()

    thread = threading.Thread(target=late_batch)
    thread.start()
    assert written.wait(timeout=30)
    read_at = timezone.now()
    cursor = operator.get("/api/incidents/")[HEADER]  # the batch is not committed: not seen
    release.set()
    assert done.wait(timeout=30)
    thread.join(timeout=30)
    (late,) = stored
    assert Incident.objects.get(pk=late).updated_at < read_at
    assert late not in _ids(operator.get("/api/incidents/", {"changed_since": read_at.isoformat()}))
    assert late in _ids(_changed_after(operator, cursor))


def test_the_feed_is_scoped_like_every_read(demo_data):
    comprehensive = list(f.Grid.objects.active().filter(kind="comprehensive").order_by("code"))
    own, other = comprehensive[0], comprehensive[-1]
    leader = _client(person=GridTeam.objects.get(grid=own).leader)
    cursor = leader.get("/api/incidents/")[HEADER]
    mine = f.report("other", at=f.interior_point(own))
    theirs = f.report("other", at=f.interior_point(other))
    assert mine.handling_grid == own and theirs.handling_grid == other
    assert _ids(_changed_after(leader, cursor)) == {mine.pk}


@pytest.mark.parametrize("cursor", ["abc", "10:5:", "5:10:12", "5:10:8,6", "0:10:", "5:10:6,", "-1:3:",
                                    "1:99999999999999999999:", "5:10:7 OR 1=1"])
def test_a_bad_cursor_is_a_400_with_a_field_message(demo_data, cursor):
    response = _changed_after(_client("operator"), cursor)
    assert response.status_code == 400
    assert "changed_after" in response.json()


def test_a_cursor_from_the_server_is_accepted_as_it_is(demo_data):
    operator = _client("operator")
    with connection.cursor() as db:  # a snapshot with transactions in progress (xip) parses too
        db.execute("SELECT pg_current_snapshot()::text")
        assert _changed_after(operator, db.fetchone()[0]).status_code == 200
    assert _changed_after(operator, "5:10:6,6,7").status_code == 200  # as PostgreSQL writes repeats


def test_keyset_pages_by_id(demo_data):
    operator = _client("operator")
    ids = sorted(f.located("other").pk for _ in range(5))
    first = operator.get("/api/incidents/", {"before": 2**53 - 1, "page_size": 2}).json()["features"]
    assert [x["id"] for x in first] == ids[:-3:-1]  # the newest ids first
    second = operator.get("/api/incidents/", {"before": first[-1]["id"], "page_size": 2}).json()["features"]
    assert [x["id"] for x in second] == [ids[2], ids[1]]
    assert operator.get("/api/incidents/", {"before": 0}).status_code == 400
    assert "before" in operator.get("/api/incidents/", {"before": "x"}).json()
