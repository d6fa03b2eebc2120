"""Fixtures of the scale-out tests: users and their credentials, a standby's own connection."""
from __future__ import annotations

import time
from contextlib import contextmanager

import psycopg2
import requests
from django.contrib.auth.models import Group, User
from django.db import connection
from django.test import Client

GONGDAO_POINT = (119.343908, 32.588310)  # inside Gongdao (a village seat of the demo data)


def make_user(name: str, group: str) -> User:
    user = User.objects.create_user(name, password="pw-" + name)
    user.groups.add(Group.objects.get_or_create(name=group)[0])
    return user


def session_cookie(user: User) -> str:
    client = Client()
    client.force_login(user)
    return client.cookies["sessionid"].value


def report(base: str, token: str, external_id: str, title: str, lon: float = GONGDAO_POINT[0],
           lat: float = GONGDAO_POINT[1]) -> requests.Response:
    """POST one incident from the 12345 hotline through the server at ``base``."""
    return requests.post(f"{base}/api/incidents/", timeout=30, headers={"Authorization": f"Token {token}"}, json={
        "source": "hotline_12345", "external_id": external_id, "category": "straw_burning",
        "title": title, "lon": lon, "lat": lat})


@contextmanager
def standby_connection(sock: str):
    """An autocommit psycopg2 connection to this test run's database on the standby at ``sock``."""
    conn = psycopg2.connect(host=sock, dbname=connection.settings_dict["NAME"], user="postgres")
    conn.autocommit = True
    try:
        yield conn
    finally:
        conn.close()


def primary_lsn() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_current_wal_lsn()::text")
        return cursor.fetchone()[0]


def wait_replayed(standby, lsn: str, timeout: float = 30.0) -> None:
    """Wait until the standby has replayed the primary's WAL up to ``lsn``."""
    deadline = time.monotonic() + timeout
    with standby.cursor() as cursor:
        while time.monotonic() < deadline:
            cursor.execute("SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn", [lsn])
            if cursor.fetchone()[0]:
                return
            time.sleep(0.05)
    raise TimeoutError(f"the standby has not replayed up to {lsn} after {timeout} s")


def live_socket(base: str, cookie: str):
    """Open the live socket (/ws/incidents/) of the server at ``base`` with a session cookie."""
    from websockets.sync.client import connect

    return connect(base.replace("http://", "ws://") + "/ws/incidents/", open_timeout=10,
                   additional_headers={"Cookie": f"sessionid={cookie}", "Origin": base})


def pushed(sock, incident_id: int, timeout: float = 15.0, state: str | None = None,
           seen: set[int] | None = None) -> dict | None:
    """Return the feature of ``incident_id`` pushed to ``sock`` within ``timeout`` (in ``state`` if
    given), or None; other messages may come first (their incident ids are added to ``seen``)."""
    import json

    deadline = time.monotonic() + timeout
    while (remaining := deadline - time.monotonic()) > 0:
        try:
            msg = json.loads(sock.recv(timeout=remaining))
        except TimeoutError:
            return None
        if msg.get("type") != "incident":
            continue
        if seen is not None:
            seen.add(msg["feature"]["id"])
        if msg["feature"]["id"] != incident_id:
            continue
        if state is None or msg["feature"]["properties"]["state"] == state:
            return msg["feature"]
    return None
