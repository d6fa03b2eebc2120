"""The platform through pgbouncer (scripts/pgbouncer.sh) in front of the project-local cluster, in the
two modes DB_POOLER names: intake (prepared statements in session mode), reads, the change feed and
the live socket; and why transaction mode goes without prepared statements."""
from __future__ import annotations

import urllib.parse
import uuid

import psycopg2
import pytest
import requests
from django.db import connection

from incidents.grants import grant_sources
from incidents.models import Incident
from tests.auth import token_for
from tests.servers import app_server, live_socket, make_user, pgbouncer, pushed, report, session_cookie


def _connect(url: str, dbname: str | None = None):
    query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(url).query))
    conn = psycopg2.connect(host=query["host"], port=query["port"], user="postgres",
                            dbname=dbname or connection.settings_dict["NAME"])
    conn.autocommit = True
    return conn


def _transactions_through(url: str) -> int:
    """Return how many transactions pgbouncer has passed to this test run's database (its SHOW STATS)."""
    admin = _connect(url, dbname="pgbouncer")
    try:
        with admin.cursor() as cursor:
            cursor.execute("SHOW STATS")
            names = [c.name for c in cursor.description]
            rows = [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
    finally:
        admin.close()
    return sum(int(r["total_xact_count"]) for r in rows if r["database"] == connection.settings_dict["NAME"])


@pytest.mark.parametrize("mode", ["session", "transaction"])
@pytest.mark.django_db(transaction=True)
def test_the_platform_through_pgbouncer(mode, demo_data, tmp_path):
    hotline = make_user(f"pool_hotline_{mode}", "integration")
    grant_sources(hotline, ["hotline_12345"])
    token = token_for(hotline)
    operator = make_user(f"pool_operator_{mode}", "operator")
    cookie = session_cookie(operator)
    headers = {"Authorization": f"Token {token_for(operator)}"}
    with pgbouncer(mode, pool_size=4) as url, \
            app_server(tmp_path / "server.log", env={"DATABASE_URL": url, "DB_POOLER": mode}) as base, \
            live_socket(base, cookie) as sock:
        before = _transactions_through(url)
        listed = requests.get(f"{base}/api/incidents/", headers=headers, timeout=30)
        assert listed.status_code == 200
        cursor = listed.headers["X-Changes-Cursor"]
        ids = []
        for n in range(5):  # the intake's prepared statements, prepared once, then executed again
            key = f"pool-{mode}-{uuid.uuid4().hex}"
            posted = report(base, token, key, f"连接池 pool {n}")
            assert posted.status_code == 201, posted.text
            ids.append(posted.json()["id"])
            again = report(base, token, key, f"连接池 pool {n}")  # idempotent on (client, source, id)
            assert (again.status_code, again.json()["id"]) == (200, ids[-1])
        assert Incident.objects.filter(pk__in=ids).count() == 5
        assert pushed(sock, ids[-1]) is not None
        caught_up = requests.get(f"{base}/api/incidents/", params={"changed_after": cursor}, headers=headers,
                                 timeout=30).json()
        assert {f["id"] for f in caught_up["features"]} >= set(ids)
        detail = requests.get(f"{base}/api/incidents/{ids[0]}/", headers=headers, timeout=30)
        assert detail.status_code == 200 and detail.json()["properties"]["title"] == "连接池 pool 0"
        assert requests.get(f"{base}/api/incidents/stats/", headers=headers, timeout=30).json()["open"] >= 5
        assert _transactions_through(url) > before  # all of it went through pgbouncer


def test_transaction_pooling_shares_session_state_between_clients(db):
    """Why DB_POOLER=transaction turns prepared statements off: a statement one client prepares stays on
    the server connection that the next client's transaction gets, and core.db (which remembers what it
    prepared per client connection) would prepare it again there and fail."""
    with pgbouncer("transaction", pool_size=1) as url:
        first, second = _connect(url), _connect(url)
        try:
            first.cursor().execute("PREPARE gridops_probe AS SELECT 1")
            with pytest.raises(psycopg2.errors.DuplicatePreparedStatement):
                second.cursor().execute("PREPARE gridops_probe AS SELECT 1")
        finally:
            first.close()
            second.close()


def test_session_pooling_keeps_each_clients_prepared_statements_its_own(db):
    """DB_POOLER=session keeps them: a client has its server connection to itself until it disconnects,
    and pgbouncer's DISCARD ALL clears them before the next client gets it."""
    with pgbouncer("session", pool_size=1) as url:
        first = _connect(url)
        with first.cursor() as cursor:
            cursor.execute("PREPARE gridops_probe AS SELECT 1")
            cursor.execute("EXECUTE gridops_probe")
            assert cursor.fetchone() == (1,)
            cursor.execute("SELECT pg_backend_pid()")
            backend = cursor.fetchone()[0]
        first.close()
        second = _connect(url)
        try:
            with second.cursor() as cursor:
                cursor.execute("SELECT pg_backend_pid()")
                assert cursor.fetchone()[0] == backend  # the same server connection, reused
                cursor.execute("PREPARE gridops_probe AS SELECT 2")
                cursor.execute("EXECUTE gridops_probe")
                assert cursor.fetchone() == (2,)
        finally:
            second.close()
