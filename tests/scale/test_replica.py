"""Read replicas on a real streaming hot standby of the project-local cluster (scripts/pg-standby.sh).

The standby's WAL replay is paused while the primary takes a write: what a request then answers shows
which server read it (the standby has not got the row yet, the primary has).
"""
from __future__ import annotations

import time
import uuid

import pytest
import requests
from django.db import DEFAULT_DB_ALIAS, connections, router, transaction

from core.routing_db import REPLICA, ReplicaRouter, read_alias, read_connection, replica_reads
from incidents.grants import grant_sources
from incidents.models import Incident
from tests.auth import token_for
from tests.servers import (
    GONGDAO_POINT,
    app_server,
    hot_standby,
    make_user,
    primary_lsn,
    report,
    session_cookie,
    standby_connection,
    standby_url,
    stop_standby,
    wait_replayed,
)

PIN_SECONDS = 5


@pytest.fixture(scope="module")
def standby(django_db_setup):
    """A hot standby for this module (the copy holds the test database, demo data included)."""
    with hot_standby() as sock:
        yield sock


def _get(base: str, path: str, token: str | None = None, cookie: str | None = None) -> requests.Response:
    headers = {"Authorization": f"Token {token}"} if token else {}
    cookies = {"sessionid": cookie} if cookie else {}
    return requests.get(base + path, headers=headers, cookies=cookies, timeout=30)


@pytest.mark.django_db(transaction=True)
def test_stale_reads_go_to_the_standby_writes_to_the_primary_and_the_writer_reads_its_own(
        demo_data, standby, tmp_path):
    hotline = make_user("rep_hotline", "integration")
    grant_sources(hotline, ["hotline_12345"])
    writer, other = token_for(hotline), token_for(hotline)  # two credentials of one client
    cookie = session_cookie(make_user("rep_operator", "operator"))
    env = {"REPLICA_DATABASE_URL": standby_url(standby), "REPLICA_PIN_SECONDS": str(PIN_SECONDS)}
    with standby_connection(standby) as replica, \
            app_server(tmp_path / "server.log", env=env) as base:
        wait_replayed(replica, primary_lsn())  # the users above have reached the standby
        with replica.cursor() as cursor:
            cursor.execute("SELECT pg_is_in_recovery()")
            assert cursor.fetchone()[0] is True
            cursor.execute("SELECT pg_wal_replay_pause()")
        open_before = _get(base, "/api/incidents/stats/", cookie=cookie).json()["open"]

        posted = report(base, other, f"rep-{uuid.uuid4().hex}", "副本 replica")
        assert posted.status_code == 201, posted.text  # written by the primary (the standby is read-only)
        incident_id = posted.json()["id"]
        assert Incident.objects.filter(pk=incident_id).exists()
        writer_post = report(base, writer, f"rep-{uuid.uuid4().hex}", "副本 replica 2")
        assert writer_post.status_code == 201, writer_post.text
        writers_id = writer_post.json()["id"]

        # the writer's credential reads the primary: its own incident is there at once
        assert _get(base, f"/api/incidents/{writers_id}/", token=writer).status_code == 200
        # the operator, who wrote nothing, reads the paused standby: not there yet, nor in the counts
        assert _get(base, f"/api/incidents/{writers_id}/", cookie=cookie).status_code == 404
        assert _get(base, "/api/incidents/stats/", cookie=cookie).json()["open"] == open_before
        # the stale-tolerant analytical reads answer from the standby too
        assert _get(base, "/api/review/heatmap/", cookie=cookie).status_code == 200

        time.sleep(PIN_SECONDS + 0.5)  # the writer's mark has expired: it reads the standby like anyone
        assert _get(base, f"/api/incidents/{writers_id}/", token=writer).status_code == 404
        # the live list and the map view read the standby too, and their changes cursor is the
        # standby's snapshot: the catch-up from it brings what the standby had not applied yet
        listed = _get(base, "/api/incidents/?source=hotline_12345", cookie=cookie)
        assert writers_id not in {f["id"] for f in listed.json()["features"]}
        cursor = listed.headers["X-Changes-Cursor"]
        lon, lat = GONGDAO_POINT
        box = f"{lon - 0.0005},{lat - 0.0005},{lon + 0.0005},{lat + 0.0005}"
        view = _get(base, f"/api/incidents/view/?bbox={box}&zoom=18&limit=500", cookie=cookie)
        assert view.status_code == 200, view.text
        assert view.json()["kind"] == "incidents"
        assert writers_id not in {f["id"] for f in view.json()["features"]}

        with replica.cursor() as cursor_:
            cursor_.execute("SELECT pg_wal_replay_resume()")
        wait_replayed(replica, primary_lsn())
        caught_up = _get(base, f"/api/incidents/?changed_after={cursor}", cookie=cookie)
        assert caught_up.status_code == 200, caught_up.text
        assert {incident_id, writers_id} <= {f["id"] for f in caught_up.json()["features"]}
        assert _get(base, f"/api/incidents/{writers_id}/", cookie=cookie).status_code == 200
        assert _get(base, "/api/incidents/stats/", cookie=cookie).json()["open"] == open_before + 2


@pytest.fixture(scope="module")
def replica_alias(standby):
    """This process's connections with a "replica" alias on the standby, as REPLICA_DATABASE_URL makes
    it; a test mirror of "default", so that the test's flush leaves the read-only standby alone."""
    connections.settings[REPLICA] = {**connections.settings[DEFAULT_DB_ALIAS], "HOST": standby, "OPTIONS": {},
                                     "TEST": {"MIRROR": DEFAULT_DB_ALIAS}}
    yield
    connections[REPLICA].close()
    del connections[REPLICA]
    del connections.settings[REPLICA]


@pytest.fixture
def replica_router(replica_alias):
    """The router installed (ConnectionRouter reads DATABASE_ROUTERS once, so set on the live object)."""
    before = router.routers
    router.routers = [ReplicaRouter()]
    yield router.routers[0]
    router.routers = before


def _in_recovery(alias: str) -> bool:
    with connections[alias].cursor() as cursor:
        cursor.execute("SELECT pg_is_in_recovery()")
        return cursor.fetchone()[0]


@pytest.mark.django_db(transaction=True, databases=[DEFAULT_DB_ALIAS, REPLICA])
def test_the_router_sends_to_the_standby_only_what_accepts_a_stale_answer(replica_router):
    # no opt-in: the primary
    assert replica_router.db_for_read(Incident) == DEFAULT_DB_ALIAS
    assert read_alias() == DEFAULT_DB_ALIAS
    with replica_reads():
        assert replica_router.db_for_read(Incident) == REPLICA
        assert Incident.objects.all().db == REPLICA
        assert _in_recovery(read_alias()) is True  # the connection used is the standby's
        assert read_connection().alias == REPLICA
        Incident.objects.exists()  # an ORM read on the standby works
        # sessions, users, tokens: always the primary
        from django.contrib.auth.models import User
        from django.contrib.sessions.models import Session
        from knox.models import AuthToken
        assert {replica_router.db_for_read(m) for m in (User, Session, AuthToken)} == {DEFAULT_DB_ALIAS}
        # in a transaction: the primary (what it reads may decide what it writes)
        with transaction.atomic():
            assert replica_router.db_for_read(Incident) == DEFAULT_DB_ALIAS
            assert _in_recovery(read_alias()) is False
        assert replica_router.db_for_write(Incident) == DEFAULT_DB_ALIAS
        assert replica_router.allow_migrate(REPLICA, "incidents") is False
    assert read_alias() == DEFAULT_DB_ALIAS  # the opt-in ends with the block


@pytest.mark.django_db(transaction=True)
def test_a_replica_that_goes_down_leaves_its_reads_to_the_primary(demo_data, tmp_path):
    hotline = make_user("rep_hotline_down", "integration")
    grant_sources(hotline, ["hotline_12345"])
    writer, reader = token_for(hotline), token_for(hotline)
    cookie = session_cookie(make_user("rep_operator_down", "operator"))
    log = tmp_path / "server.log"
    with hot_standby() as own_standby:
        env = {"REPLICA_DATABASE_URL": standby_url(own_standby), "REPLICA_PIN_SECONDS": "1"}
        with app_server(log, env=env) as base:
            assert _get(base, "/api/incidents/stats/", cookie=cookie).status_code == 200  # on the standby
            stop_standby(own_standby)
            posted = report(base, writer, f"rep-{uuid.uuid4().hex}", "副本停了 replica down")
            assert posted.status_code == 201, posted.text
            # another credential (not pinned) reads what only the primary can answer: the new incident
            assert _get(base, f"/api/incidents/{posted.json()['id']}/", token=reader).status_code == 200
            assert _get(base, "/api/review/heatmap/", cookie=cookie).status_code == 200
    assert "replica unreachable" in log.read_text()
