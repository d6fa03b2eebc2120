"""Start real servers for tests (the platform's own server, a Celery worker) against the test database."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import psycopg2
import requests
from django.db import connection
from websockets.sync.client import connect as ws_connect

from bench import serving
from bench.serving import free_port  # noqa: F401  (the tests' import of it)

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent
TEST_REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/8")


def server_env(**extra: str) -> dict[str, str]:
    """Return the environment of a child process that uses this test run's database and Redis."""
    env = dict(os.environ)
    settings_dict = connection.settings_dict
    env.update({
        "DJANGO_SETTINGS_MODULE": "gridops.settings.test",
        "GRIDOPS_DB_NAME": settings_dict["NAME"],
        "REDIS_URL": TEST_REDIS_URL,
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
        "PYTHONUNBUFFERED": "1",
    })
    if os.environ.get("DATABASE_URL"):
        base = os.environ["DATABASE_URL"].rsplit("/", 1)[0]
        env["DATABASE_URL"] = f"{base}/{settings_dict['NAME']}"
    env.update(extra)
    return env


@contextmanager
def app_server(log_path: Path, workers: int = 1, env: dict[str, str] | None = None):
    """Run the platform's server (`manage.py serve`: uvicorn, HTTP + WebSocket) on a free port; yield
    its base URL once it answers (after its warm-up). ``env`` overrides the child's environment."""
    port = free_port()
    cmd = [sys.executable, str(ROOT / "manage.py"), "serve", "--port", str(port), "--workers", str(workers)]
    with serving.process(cmd, port=port, cwd=ROOT, env=server_env(**(env or {})), log_path=log_path,
                         ready=serving.listening, timeout=60) as (base, _proc):
        yield base


# --------------------------------------------------------------------- past one machine (issue 12)

def _script(*args: str) -> str:
    """Run one of scripts/ and return its last line of output (they print what they started)."""
    done = subprocess.run([str(ROOT / "scripts" / args[0]), *args[1:]], cwd=ROOT, capture_output=True, text=True,
                          timeout=120)
    if done.returncode != 0:
        raise RuntimeError(f"scripts/{args[0]} {' '.join(args[1:])} failed: {done.stderr or done.stdout}")
    return done.stdout.strip().splitlines()[-1] if done.stdout.strip() else ""


def local_cluster_only() -> None:
    """Skip a test that starts a standby or a pooler beside the project-local cluster when the tests run
    against another server (DATABASE_URL): these helpers copy and front var/pg's cluster."""
    import pytest

    if os.environ.get("DATABASE_URL"):
        pytest.skip("needs the project-local cluster (scripts/pg.sh), not DATABASE_URL")


@contextmanager
def hot_standby():
    """Run a streaming hot standby of the project-local cluster (scripts/pg-standby.sh: pg_basebackup -R
    into a temporary directory, its own socket); yield the socket directory. It holds every database of
    the cluster as of the copy, this test run's included, and replays the primary's WAL from then on."""
    import tempfile

    local_cluster_only()
    tmp = Path(tempfile.mkdtemp(prefix="gridops-standby-"))  # under /tmp: the postgres user can reach it
    try:
        sock = _script("pg-standby.sh", "start", str(tmp))
        yield sock
    finally:
        _script("pg-standby.sh", "stop", str(tmp))
        shutil.rmtree(tmp, ignore_errors=True)


@contextmanager
def pgbouncer(mode: str = "session", pool_size: int = 20):
    """Run pgbouncer (scripts/pgbouncer.sh) in front of the project-local cluster in ``mode`` (session or
    transaction) with ``pool_size`` server connections; yield the DATABASE_URL of this test run's
    database through it (its socket directory is the URL's ``host``, the port 6432)."""
    import tempfile

    local_cluster_only()
    tmp = Path(tempfile.mkdtemp(prefix="gridops-pgbouncer-"))
    try:
        os.environ["POOL_SIZE"] = str(pool_size)
        try:
            _script("pgbouncer.sh", "start", str(tmp), mode)
        finally:
            del os.environ["POOL_SIZE"]
        yield _script("pgbouncer.sh", "url", str(tmp), connection.settings_dict["NAME"])
    finally:
        _script("pgbouncer.sh", "stop", str(tmp))
        shutil.rmtree(tmp, ignore_errors=True)


def stop_standby(sock: str) -> None:
    """Stop the standby whose socket directory is ``sock`` before its ``hot_standby`` block ends (a
    replica going down); the block's end is then a no-op for it."""
    _script("pg-standby.sh", "stop", str(Path(sock).parent))


def standby_url(sock: str) -> str:
    """Return the REPLICA_DATABASE_URL of this test run's database on the standby at ``sock``."""
    return f"postgis://postgres@/{connection.settings_dict['NAME']}?host={sock}"


# ------------------------------------------ clients of a running server, and a standby's own connection

GONGDAO_POINT = (119.343908, 32.588310)  # inside Gongdao (a village seat of the demo data)


def make_user(name: str, group: str):
    """Create a user in one of the roles' groups (core.actors.GROUPS)."""
    from django.contrib.auth.models import Group, User

    user = User.objects.create_user(name, password="pw-" + name)
    user.groups.add(Group.objects.get_or_create(name=group)[0])
    return user


def session_cookie(user) -> str:
    """Return a logged-in session's cookie for ``user`` (the browser's credential on a server)."""
    from django.test import Client

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
    """Return the primary's current WAL position."""
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
    return ws_connect(base.replace("http://", "ws://") + "/ws/incidents/", open_timeout=10,
                   additional_headers={"Cookie": f"sessionid={cookie}", "Origin": base})


def pushed(sock, incident_id: int, timeout: float = 15.0, state: str | None = None,
           seen: set[int] | None = None) -> dict | None:
    """Return the feature of ``incident_id`` pushed to ``sock`` within ``timeout`` (in ``state`` if
    given), or None; other messages may come first (their incident ids are added to ``seen``)."""
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
