"""Fault drills against the real services: the platform's own server (uvicorn, in a child process), a
Redis and a PostgreSQL of the drill's own, stopped and started while incidents come in.

What every drill counts: incidents sent, stored, duplicated (must be 0) and lost (must be 0).
"""
from __future__ import annotations

import json
import shutil
import signal
import subprocess
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import pytest
import requests
from django.contrib.auth.models import Group, User
from django.test import Client
from websockets.exceptions import WebSocketException
from websockets.sync.client import connect as ws_connect

from dispatch import outbox
from dispatch.models import OutboxMessage, Webhook
from incidents.grants import grant_sources
from incidents.models import Incident
from tests.auth import token_for
from tests.dispatch.test_outbox import Receiver
from tests.servers import app_server, free_port

GONGDAO_POINT = (119.343908, 32.588310)  # inside Gongdao (a village seat of the demo data)


# --------------------------------------------------------------------------------------------- Redis

@contextmanager
def private_redis(port: int):
    """Run a Redis of the drill's own on ``port`` (nothing on disk); yield a function that kills it
    (SIGKILL, as a crash would) and one that starts it again on the same port."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.fail("redis-server is not installed (scripts/bootstrap.sh installs it)")
    procs: list[subprocess.Popen] = []

    def start() -> None:
        proc = subprocess.Popen([binary, "--port", str(port), "--save", "", "--appendonly", "no",
                                 "--bind", "127.0.0.1"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        procs.append(proc)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                if subprocess.run(["redis-cli", "-p", str(port), "ping"], capture_output=True, text=True,
                                  timeout=2).stdout.strip() == "PONG":
                    return
            except (FileNotFoundError, subprocess.TimeoutExpired):
                pass
            time.sleep(0.05)
        raise TimeoutError("the drill's Redis did not start")

    def kill() -> None:
        for proc in procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
                proc.wait(5)

    start()
    try:
        yield kill, start
    finally:
        kill()


def _user(name: str, group: str) -> User:
    user = User.objects.create_user(name, password="pw-" + name)
    user.groups.add(Group.objects.get_or_create(name=group)[0])
    return user


def _session_cookie(user: User) -> str:
    client = Client()
    client.force_login(user)
    return client.cookies["sessionid"].value


def _report(base: str, token: str, n: int) -> requests.Response:
    return requests.post(f"{base}/api/incidents/", timeout=30, headers={"Authorization": f"Token {token}"}, json={
        "source": "hotline_12345", "external_id": f"drill-redis-{n}", "category": "straw_burning",
        "title": f"演练 drill {n}", "lon": GONGDAO_POINT[0] + n * 1e-4, "lat": GONGDAO_POINT[1]})


def _socket(base: str, cookie: str):
    return ws_connect(base.replace("http://", "ws://") + "/ws/incidents/", open_timeout=10,
                      additional_headers={"Cookie": f"sessionid={cookie}", "Origin": base})


def _pushed(sock, incident_id: int, timeout: float) -> bool:
    """Return whether ``incident_id`` is pushed to ``sock`` within ``timeout`` (other incidents may come
    first: a push of the outage that Redis delivers late is no harm, the page keeps each incident once)."""
    deadline = time.monotonic() + timeout
    while (remaining := deadline - time.monotonic()) > 0:
        try:
            msg = json.loads(sock.recv(timeout=remaining))
        except TimeoutError:
            return False
        if msg["type"] == "incident" and msg["feature"]["id"] == incident_id:
            return True
    return False


@pytest.mark.django_db(transaction=True)
def test_redis_stopped_during_intake(demo_data, tmp_path):
    """Redis dies while incidents come in: every incident is stored (201), the socket the page holds
    is closed, and once Redis is back a new socket gets live pushes again and the page's catch-up
    (``changed_after`` from the cursor of its last read) returns exactly the incidents it missed."""
    operator = _user("drill_operator", "operator")
    hotline = _user("drill_hotline", "integration")
    grant_sources(hotline, ["hotline_12345"])  # incidents.grants: an integration client posts for its sources
    token = token_for(hotline)
    cookie = _session_cookie(operator)
    receiver = Receiver()  # the 12345 system hears every change back (dispatch.outbox), Redis or not
    receiver.start()
    Webhook.objects.create(client=hotline, url=receiver.url, events=["register", "dispatch"])
    port = free_port()
    with private_redis(port) as (kill_redis, start_redis), \
            app_server(tmp_path / "server.log", env={"REDIS_URL": f"redis://127.0.0.1:{port}/0"}) as base:
        auth = {"Authorization": f"Token {token}"}
        first = requests.get(f"{base}/api/incidents/?page_size=1", headers=auth, timeout=30)
        cursor = first.headers["X-Changes-Cursor"]
        sent, answered = 0, []
        with _socket(base, cookie) as sock:
            assert json.loads(sock.recv(timeout=10))["type"] == "hello"
            r = _report(base, token, sent)
            sent += 1
            assert r.status_code == 201, r.text
            answered.append(r.json()["id"])
            assert _pushed(sock, answered[-1], 10)  # live while Redis runs

            kill_redis()
            for _ in range(10):
                r = _report(base, token, sent)
                sent += 1
                assert r.status_code == 201, r.text  # stored although nothing can be pushed
                answered.append(r.json()["id"])
            # the socket's channel layer lost Redis: the server closes the socket (the page reconnects)
            deadline = time.monotonic() + 30
            closed = False
            while time.monotonic() < deadline and not closed:
                try:
                    sock.recv(timeout=1)
                except TimeoutError:
                    continue
                except WebSocketException:  # closed by the server
                    closed = True
            assert closed, "a socket that cannot hear pushes any more stays open"

        start_redis()
        deadline = time.monotonic() + 30
        while True:  # the page reconnects with backoff until the server accepts it again
            try:
                with _socket(base, cookie) as sock:
                    assert json.loads(sock.recv(timeout=10))["type"] == "hello"
                    caught = requests.get(f"{base}/api/incidents/", headers=auth, timeout=30,
                                          params={"changed_after": cursor, "page_size": 10000}).json()
                    assert sorted(f["id"] for f in caught["features"]) == sorted(answered)
                    r = _report(base, token, sent)
                    sent += 1
                    assert r.status_code == 201
                    answered.append(r.json()["id"])
                    assert _pushed(sock, answered[-1], 10)  # live again
                break
            except (OSError, WebSocketException):
                assert time.monotonic() < deadline, "no socket accepted 30 s after Redis came back"
                time.sleep(0.5)

    stored = Incident.objects.filter(external_id__startswith="drill-redis-")
    print(f"drill redis: sent {sent}, stored {stored.count()}, duplicated {stored.count() - len(set(answered))}, "
          f"lost {sent - stored.count()}")
    assert stored.count() == sent == len(set(answered)) == 12
    assert stored.values("external_id").distinct().count() == sent  # none duplicated, none lost
    # the outbox kept every change for the source, whether or not a worker could be asked to send it
    try:
        assert OutboxMessage.objects.filter(incident__in=stored).count() == 2 * sent
        assert outbox.deliver_due()["delivered"] == 2 * sent
    finally:
        receiver.stop()
    heard = [(b["service_request_id"], b["event"]) for b in receiver.bodies()]
    assert sorted(heard) == sorted((str(i), e) for i in answered for e in ("register", "dispatch"))


@pytest.mark.django_db(transaction=True)
def test_photo_uploaded_while_the_broker_is_down(demo_data, tmp_path, settings):
    """Redis (the broker) is dead when a photo comes: the upload is stored and answered at once, its
    thumbnail cannot be queued; once Redis is back, beat's make_missing_thumbnails makes it."""
    from django.core.files.storage import storages

    from incidents.models import Photo
    from incidents.tasks import make_missing_thumbnails
    from tests.incidents import factories as f
    from tests.incidents.test_evidence import jpeg

    media = tmp_path / "media"
    settings.STORAGES = {**settings.STORAGES, "evidence": {
        "BACKEND": "django.core.files.storage.FileSystemStorage", "OPTIONS": {"location": str(media / "evidence")}}}
    token = token_for(_user("drill_photo_operator", "operator"))
    incident = f.located("other")
    port = free_port()
    with private_redis(port) as (kill_redis, start_redis), \
            app_server(tmp_path / "server.log", env={"REDIS_URL": f"redis://127.0.0.1:{port}/0",
                                                      "MEDIA_ROOT": str(media)}) as base:
        auth = {"Authorization": f"Token {token}"}
        assert requests.get(f"{base}/api/incidents/?page_size=1", headers=auth, timeout=60).status_code == 200
        kill_redis()
        started = time.monotonic()
        answer = requests.post(f"{base}/api/incidents/{incident.pk}/photos/", timeout=60,
                               headers=auth, data={"stage": "before"},
                               files=[("photos", ("before.jpg", jpeg(), "image/jpeg"))])
        took = time.monotonic() - started
        assert answer.status_code == 201, answer.text
        (photo,) = Photo.objects.filter(incident=incident)
        assert photo.thumbnail == "" and storages["evidence"].exists(photo.file.name)
        print(f"drill photo: stored with the broker down, answered in {took:.2f} s")
        assert took < 3, "the upload waited for the dead broker"
        start_redis()
    assert make_missing_thumbnails() == 1
    photo.refresh_from_db()
    assert photo.thumbnail and storages["evidence"].exists(photo.thumbnail.name)


# ---------------------------------------------------------------------------------------- PostgreSQL

ROOT = Path(__file__).resolve().parents[2]


def _pg_bin() -> Path:
    majors = sorted((p.name for p in Path("/usr/lib/postgresql").iterdir()), key=int)
    return Path("/usr/lib/postgresql") / majors[-1] / "bin"


class PrivateCluster:
    """A PostgreSQL cluster of the drill's own (socket only, in a temporary directory), which the drill
    may restart without touching the test database."""

    def __init__(self, root: Path):
        self.root, self.data, self.sock = root, root / "data", root / "run"
        self.bin = _pg_bin()
        self.as_root = subprocess.run(["id", "-u"], capture_output=True, text=True).stdout.strip() == "0"

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        cmd = list(args)
        if self.as_root:  # PostgreSQL refuses to run as root
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        return subprocess.run(cmd, capture_output=True, text=True, check=check, timeout=120)

    def init(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        if self.as_root:
            shutil.chown(self.root, "postgres", "postgres")
            for parent in self.root.parents:  # the postgres user must reach the directory
                parent.chmod(parent.stat().st_mode | 0o001)
        self.run("mkdir", "-p", str(self.data), str(self.sock))
        self.run(str(self.bin / "initdb"), "-D", str(self.data), "-U", "postgres", "-A", "trust", "-E", "UTF8",
                 "--locale=C.UTF-8")
        with open(self.data / "postgresql.conf", "a") as conf:
            conf.write(f"listen_addresses = ''\nunix_socket_directories = '{self.sock}'\nfsync = off\n")
        self.start()
        self.run(str(self.bin / "createdb"), "-h", str(self.sock), "-U", "postgres", "drill")

    def start(self) -> None:
        self.run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-l", str(self.root / "log"), "-w", "start")

    def restart(self) -> None:
        self.run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-l", str(self.root / "log"), "-m", "fast", "-w",
                 "restart")

    def stop(self) -> None:
        self.run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "stop", check=False)

    def url(self) -> str:
        return f"postgis://postgres@/drill?host={self.sock}"

    def sql(self, query: str) -> str:
        return self.run(str(self.bin / "psql"), "-h", str(self.sock), "-U", "postgres", "-d", "drill", "-Atqc",
                        query).stdout.strip()


def _manage(env: dict[str, str], *args: str) -> str:
    from tests.servers import server_env
    done = subprocess.run([str(Path(__import__("sys").executable)), str(ROOT / "manage.py"), *args], cwd=ROOT,
                          env=server_env(**env), capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    return done.stdout


BATCH = 100_000


def test_postgresql_restarted_during_a_batch(tmp_path):
    """PostgreSQL restarts while a 100,000-row batch is being stored: the batch is stored whole or
    not at all, and the client's retry with the same ids leaves exactly one copy of each."""
    cluster = PrivateCluster(Path("/tmp") / f"gridops-drill-{free_port()}")
    cluster.init()
    try:
        env = {"DATABASE_URL": cluster.url(), "REDIS_URL": "", "DB_CONN_MAX_AGE": "60"}
        _manage(env, "migrate", "--noinput", "-v", "0")
        _manage(env, "load_demo_data", "-v", "0")
        token = _manage(env, "shell", "-c", (
            "from django.contrib.auth.models import Group, User; from tests.auth import token_for; "
            "u = User.objects.create_user('drill_batch'); "
            "u.groups.add(Group.objects.get_or_create(name='integration')[0]); "
            "from incidents.grants import grant_sources; grant_sources(u, ['hotline_12345']); "
            "print('TOKEN', token_for(u))"))
        token = token.split("TOKEN ")[-1].strip()
        rows = [{"source": "hotline_12345", "external_id": f"drill-pg-{n}", "category": "straw_burning",
                 "title": f"演练 {n}", "lon": 119.30 + (n % 400) * 2.5e-4, "lat": 32.55 + (n // 400) * 2e-4}
                for n in range(BATCH)]
        body = json.dumps(rows)
        with app_server(tmp_path / "server.log", env=env) as base:
            headers = {"Authorization": f"Token {token}", "Content-Type": "application/json"}
            answer: dict = {}

            def send() -> None:
                try:
                    answer["response"] = requests.post(f"{base}/api/incidents/batch/", data=body, headers=headers,
                                                       timeout=300)
                except requests.RequestException as exc:
                    answer["error"] = exc

            sender = threading.Thread(target=send)
            sender.start()
            # wait until the batch is in the database's hands (its transaction is open), then restart
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline and not cluster.sql(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = 'drill' AND xact_start IS NOT NULL "
                    "AND state <> 'idle' AND query NOT ILIKE '%pg_stat_activity%'").startswith(("1", "2", "3")):
                time.sleep(0.05)
            time.sleep(1.0)
            cluster.restart()
            sender.join(300)
            first = answer.get("response")
            stored = int(cluster.sql("SELECT count(*) FROM incidents_incident WHERE external_id LIKE 'drill-pg-%'"))
            if first is not None and first.status_code == 200:
                assert stored == BATCH  # the batch committed before the restart: whole
            else:
                # the client learns that nothing was stored and when to send again (not an HTML 500)
                assert first is None or (first.status_code == 503 and first.headers["Retry-After"]), first.text[:300]
                assert stored == 0, f"{stored} rows of a failed batch were kept"  # all or nothing
            # the client retries the same batch: the server reconnects, and the ids keep it to one copy
            retry = requests.post(f"{base}/api/incidents/batch/", data=body, headers=headers, timeout=300)
            assert retry.status_code == 200, retry.text[:500]
            counts = retry.json()["counts"]
            assert counts["created"] + counts["existing"] == BATCH and counts["invalid"] == 0
            assert "conflict" not in counts  # the key is per client: no other client's ids to collide with
        stored = int(cluster.sql("SELECT count(*) FROM incidents_incident WHERE external_id LIKE 'drill-pg-%'"))
        distinct = int(cluster.sql(
            "SELECT count(DISTINCT external_id) FROM incidents_incident WHERE external_id LIKE 'drill-pg-%'"))
        print(f"drill postgres: sent {BATCH}, first answer {first.status_code if first is not None else answer}, "
              f"stored {stored}, duplicated {stored - distinct}, lost {BATCH - distinct}")
        assert stored == distinct == BATCH  # none lost, none duplicated
    finally:
        cluster.stop()
        shutil.rmtree(cluster.root, ignore_errors=True)
