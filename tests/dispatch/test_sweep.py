"""The SLA sweep: dispatch.services.sweep_overdue in process, and dispatch.tasks.sweep_overdue_task on a
real Celery worker (Redis broker, the test database), including a worker killed in the middle of a sweep."""
from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
import redis
from django.db import connection, transaction
from django.utils import timezone

from dispatch.services import sweep_overdue
from dispatch.tasks import sweep_overdue_task
from gridops.celery import app as celery_app
from incidents import lifecycle
from incidents.models import Incident, IncidentEvent, Level
from tests.incidents import factories as f
from tests.servers import ROOT, VENV_BIN, server_env

pytestmark = pytest.mark.django_db
TIMEOUT_S = 30.0


def overdue(*incidents: Incident, by: timedelta = timedelta(hours=1)) -> None:
    Incident.objects.filter(pk__in=[i.pk for i in incidents]).update(escalate_at=timezone.now() - by)


def escalate_events(incident: Incident) -> list[IncidentEvent]:
    return list(IncidentEvent.objects.filter(incident=incident, action="escalate").order_by("id"))


def assert_escalated_once(incident: Incident) -> None:
    stored = f.reload(incident)
    assert (stored.level, stored.escalations) == (Level.VILLAGE, 1), stored.pk
    assert stored.escalate_at > timezone.now()  # the next period, not this one
    events = escalate_events(stored)
    assert len(events) == 1, stored.pk
    assert (events[0].actor_label, events[0].data["from_level"], events[0].data["to_level"]) == (
        "sla-sweep", Level.GRID, Level.VILLAGE)
    assert events[0].note.startswith("overdue by ")


# --- in process -----------------------------------------------------------------------------------

def test_overdue_escalate_one_level_and_a_second_run_does_nothing():
    late = [f.located("other") for _ in range(3)]
    on_time = f.located("other")
    overdue(*late)
    assert sweep_overdue() == 3
    for incident in late:
        assert_escalated_once(incident)
    assert sweep_overdue() == 0
    for incident in late:
        assert_escalated_once(incident)
    untouched = f.reload(on_time)
    assert (untouched.level, untouched.escalations, escalate_events(untouched)) == (Level.GRID, 0, [])


def test_one_level_per_overdue_period_up_to_the_bureau():
    t0 = timezone.now()
    incident = f.report("other", at=f.interior_point(f.grid()), now=t0)
    sla = incident.category
    assert sweep_overdue(now=t0 + timedelta(minutes=sla.sla_accept_min - 1)) == 0
    now = t0 + timedelta(minutes=sla.sla_accept_min + 1)  # not accepted in time
    counts, levels = [], []
    for _ in range(5):
        counts.append(sweep_overdue(now=now))
        assert sweep_overdue(now=now) == 0  # the same moment again: nothing more
        assert sweep_overdue(now=now + timedelta(minutes=sla.sla_handle_min - 1)) == 0  # period not over
        levels.append(f.reload(incident).level)
        now += timedelta(minutes=sla.sla_handle_min + 1)  # the next period runs out
    assert counts == [1, 1, 1, 0, 0]
    assert levels == [Level.VILLAGE, Level.TOWN, Level.BUREAU, Level.BUREAU, Level.BUREAU]
    stored = f.reload(incident)
    assert (stored.escalations, stored.escalate_at) == (3, None)
    assert len(escalate_events(stored)) == 3


def test_bureau_level_and_closed_clocks_are_never_escalated():
    top, handled, grid_level = f.located("other"), f.located("other"), f.located("other")
    Incident.objects.filter(pk=top.pk).update(level=Level.BUREAU)
    f.drive(handled, ["accept", "report_handled"], f.operator())
    overdue(top, handled)
    assert sweep_overdue() == 0
    assert sweep_overdue(now=timezone.now() + timedelta(days=365)) == 1  # only grid_level
    assert escalate_events(f.reload(top)) == escalate_events(f.reload(handled)) == []
    assert (f.reload(top).level, f.reload(handled).level, f.reload(grid_level).level) == (
        Level.BUREAU, Level.GRID, Level.VILLAGE)


def test_oldest_first_within_the_limit():
    a, b, c = (f.located("other") for _ in range(3))
    now = timezone.now()
    for incident, hours in ((a, 1), (b, 3), (c, 2)):
        Incident.objects.filter(pk=incident.pk).update(escalate_at=now - timedelta(hours=hours))
    assert sweep_overdue(limit=2) == 2
    assert [f.reload(i).level for i in (a, b, c)] == [Level.GRID, Level.VILLAGE, Level.VILLAGE]
    assert sweep_overdue(limit=2) == 1
    assert [f.reload(i).escalations for i in (a, b, c)] == [1, 1, 1]


@pytest.mark.django_db(transaction=True)
def test_a_row_another_sweep_holds_is_skipped(demo_data, settings):
    settings.LIVE_PUSH_IN_BACKGROUND = False  # the pool thread would keep a DB connection past the test
    held, free = f.located("other"), f.located("other")
    overdue(held, free)
    locked, release = threading.Event(), threading.Event()

    def hold() -> None:
        try:
            with transaction.atomic():
                lifecycle.locked(held.pk)  # what every action on an incident does first
                locked.set()
                release.wait(TIMEOUT_S)
        finally:
            connection.close()

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        assert locked.wait(TIMEOUT_S)
        assert sweep_overdue() == 1  # does not wait for the held row
    finally:
        release.set()
        holder.join(TIMEOUT_S)
    assert f.reload(held).level == Level.GRID
    assert_escalated_once(free)
    assert sweep_overdue() == 1
    assert_escalated_once(held)


# --- a real Celery worker -------------------------------------------------------------------------

class Workers:
    """Start Celery workers on a queue of their own; kill them all (and tidy Redis) at the end."""

    def __init__(self, log_dir: Path):
        self.token = uuid.uuid4().hex[:12]
        self.queue = f"gridops-test-sweep-{self.token}"
        self.broker, self.backend = celery_app.conf.broker_url, celery_app.conf.result_backend
        self.log_dir = log_dir
        self.procs: list[subprocess.Popen] = []

    def start(self, app: str = "gridops", **env: str) -> subprocess.Popen:
        n = len(self.procs)
        log = open(self.log_dir / f"worker{n}.log", "wb")  # noqa: SIM115 - closed when the worker ends
        proc = subprocess.Popen(
            [str(VENV_BIN / "celery"), "-A", app, "worker", "--pool=solo", "--concurrency=1",
             "-Q", self.queue, "-n", f"sweep{n}-{self.token}@%h", "--without-mingle", "--without-gossip",
             "--without-heartbeat", "--loglevel=INFO"],
            cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            env=server_env(CELERY_BROKER_URL=self.broker, CELERY_RESULT_BACKEND=self.backend,
                           CELERY_TASK_ALWAYS_EAGER="0", **env),
        )
        log.close()
        self.procs.append(proc)
        return proc

    def log(self) -> str:
        return "\n".join(p.read_text(errors="replace")[-3000:] for p in sorted(self.log_dir.glob("worker*.log")))

    def kill(self, proc: subprocess.Popen, sig: int = signal.SIGKILL) -> None:
        if proc.poll() is None:
            os.killpg(proc.pid, sig)  # the worker's own process group (start_new_session)
        try:
            proc.wait(timeout=TIMEOUT_S)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=TIMEOUT_S)

    def close(self) -> None:
        for proc in self.procs:
            self.kill(proc, signal.SIGTERM)
        self._tidy_redis()

    def _tidy_redis(self) -> None:
        """Drop this run's queue, bindings and the unacked message a killed worker left behind."""
        client = redis.Redis.from_url(self.broker)
        for key in client.scan_iter(match=f"*{self.token}*"):
            client.delete(key)
        for tag, payload in client.hgetall("unacked").items():
            if self.token.encode() in payload:
                client.hdel("unacked", tag)
                client.zrem("unacked_index", tag)
        for member in client.smembers("_kombu.binding.celery.pidbox"):
            if self.token.encode() in member:
                client.srem("_kombu.binding.celery.pidbox", member)


def ensure_redis(url: str) -> None:
    """Make sure the machine's Redis answers (start it when it does not)."""
    client = redis.Redis.from_url(url, socket_connect_timeout=2)
    try:
        client.ping()
        return
    except redis.ConnectionError:
        subprocess.run(["redis-server", "--daemonize", "yes", "--bind", "127.0.0.1", "--port", "6379",
                        "--save", "", "--appendonly", "no"], check=True)
    wait_until(lambda: _pings(client), "Redis to answer")


def _pings(client) -> bool:
    try:
        return bool(client.ping())
    except redis.ConnectionError:
        return False


def wait_until(condition, what: str, proc: subprocess.Popen | None = None, workers: Workers | None = None):
    deadline = time.monotonic() + TIMEOUT_S
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        if proc is not None and proc.poll() is not None:
            pytest.fail(f"the worker exited ({proc.returncode}) waiting for {what}:\n{workers.log()}")
        time.sleep(0.05)
    pytest.fail(f"timed out waiting for {what}" + (f":\n{workers.log()}" if workers else ""))


@pytest.fixture
def workers(demo_data, settings, tmp_path):
    settings.LIVE_PUSH_IN_BACKGROUND = False  # the pool thread would keep a DB connection past the test
    eager, celery_app.conf.task_always_eager = celery_app.conf.task_always_eager, False  # really send
    ensure_redis(celery_app.conf.broker_url)
    pool = Workers(tmp_path)
    try:
        yield pool
    finally:
        pool.close()
        celery_app.conf.task_always_eager = eager


def run_task(workers: Workers) -> int:
    result = sweep_overdue_task.apply_async(queue=workers.queue)
    try:
        return result.get(timeout=TIMEOUT_S)
    except Exception:
        print(workers.log())
        raise
    finally:
        result.forget()


@pytest.mark.django_db(transaction=True)
def test_sweep_task_on_a_real_worker(workers):
    late = [f.located("other") for _ in range(3)]
    on_time, top = f.located("other"), f.located("other")
    overdue(*late, top)
    Incident.objects.filter(pk=top.pk).update(level=Level.BUREAU)
    workers.start()
    assert run_task(workers) == 3
    for incident in late:
        assert_escalated_once(incident)
    assert run_task(workers) == 0  # the same worker, again: nothing more
    for incident in late:
        assert_escalated_once(incident)
    assert [(i.level, i.escalations) for i in map(f.reload, (on_time, top))] == [(Level.GRID, 0), (Level.BUREAU, 0)]


@pytest.mark.django_db(transaction=True)
def test_worker_killed_mid_sweep_then_swept_again(workers):
    late = [f.located("other") for _ in range(6)]
    on_time = f.located("other")
    overdue(*late)
    ids = [i.pk for i in late]

    def escalated() -> int:
        return Incident.objects.filter(pk__in=ids, escalations__gt=0).count()

    slow = workers.start(app="tests.dispatch.slow_celery")  # pauses 0.5 s between two escalations
    sweep_overdue_task.apply_async(queue=workers.queue)
    wait_until(lambda: escalated() >= 1, "the first escalation", slow, workers)
    workers.kill(slow)
    done = escalated()
    assert 1 <= done < len(late), "the worker finished before it was killed"
    assert slow.returncode == -signal.SIGKILL

    workers.start()
    assert run_task(workers) == len(late) - done  # only what the dead worker had not reached
    for incident in late:
        assert_escalated_once(incident)
    assert sweep_overdue() == 0
    untouched = f.reload(on_time)
    assert (untouched.level, untouched.escalations) == (Level.GRID, 0)

