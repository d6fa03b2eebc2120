"""Start a server for a benchmark (or a test) and stop it afterwards: the platform's own `manage.py serve` (as
`make run` serves it, DEBUG off) or another program (MapIt under gunicorn), ready once a path answers.

The one place servers are started and stopped: the benchmarks call ``platform``, the tests'
``tests.servers.app_server`` calls ``process`` with the test database's environment.
"""
from __future__ import annotations

import http.client
import os
import socket
import subprocess
import sys
import time
import urllib.parse
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# what a benchmark measures is the server, not its limits
NO_LIMIT = "100000000/min"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def reachable_redis(url: str) -> str:
    """Return ``url`` when a Redis answers there, else "" (the server then uses its in-memory layer)."""
    parts = urllib.parse.urlsplit(url)
    with socket.socket() as s:
        s.settimeout(2)
        return url if s.connect_ex((parts.hostname or "127.0.0.1", parts.port or 6379)) == 0 else ""


def platform_env(**overrides: str) -> dict[str, str]:
    """Return the environment of `manage.py serve` for a benchmark: the development settings with
    DEBUG off (no SQL log: production-like timings), Redis when one answers (as scripts/run.sh), the
    API limits out of the way; ``overrides`` last."""
    env = dict(os.environ, DJANGO_SETTINGS_MODULE="gridops.settings.dev", DJANGO_DEBUG="0")
    env["REDIS_URL"] = reachable_redis(env.get("REDIS_URL") or "redis://127.0.0.1:6379/0")
    for scope in ("API_RATE_USER", "API_RATE_INTAKE"):
        env.setdefault(scope, NO_LIMIT)
    env.update(overrides)
    return env


def answers(path: str) -> Callable[[str], bool]:
    """Return a readiness check: GET ``path`` answers (any status: the process serves HTTP)."""
    def check(base: str) -> bool:
        conn = http.client.HTTPConnection("127.0.0.1", urllib.parse.urlsplit(base).port, timeout=5)
        try:
            conn.request("GET", path)
            conn.getresponse().read()
            return True
        finally:
            conn.close()
    return check


def listening(base: str) -> bool:
    """A readiness check: something accepts connections on ``base``'s port."""
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", urllib.parse.urlsplit(base).port)) == 0


@contextmanager
def process(cmd: list[str], *, port: int, cwd: Path, env: dict[str, str], log_path: Path,
            ready: Callable[[str], bool], timeout: float = 120) -> Iterator[tuple[str, subprocess.Popen]]:
    """Run ``cmd`` (which listens on ``port``); yield (base URL, process) once ``ready(base)`` is true;
    stop it on the way out, killed if it does not stop in 20 s. ``ready`` may raise OSError (not up
    yet) or RuntimeError (up, but wrong: given up at once)."""
    base = f"http://127.0.0.1:{port}"
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"the server exited with {proc.returncode} (log: {log_path})")
            try:
                if ready(base):
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"{base} did not answer in {timeout} s (log: {log_path})")
            time.sleep(0.3)
        yield base, proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()


@contextmanager
def platform(*, log_path: Path, workers: int = 2, code: Path = ROOT, env: dict[str, str] | None = None,
             ready: Callable[[str], bool] | None = None,
             timeout: float = 120) -> Iterator[tuple[str, subprocess.Popen]]:
    """Run `manage.py serve` from the tree ``code`` with ``workers`` processes and ``platform_env``
    (plus ``env``); yield (base URL, process) once ``ready`` (default: /healthz answers)."""
    node_modules = code / "frontend" / "node_modules"
    if code != ROOT and not node_modules.exists():  # another checkout (a baseline) serves this tree's packages
        node_modules.symlink_to(ROOT / "frontend" / "node_modules")
    port = free_port()
    cmd = [sys.executable, str(code / "manage.py"), "serve", "--port", str(port), "--workers", str(workers)]
    with process(cmd, port=port, cwd=code, env=platform_env(**(env or {})), log_path=log_path,
                 ready=ready or answers("/healthz"), timeout=timeout) as served:
        yield served


def described(env: dict[str, str], workers: int) -> str:
    """Return how a benchmark's platform server was run, for its report."""
    layer = "Redis" if env.get("REDIS_URL") else "in-memory"
    return (f"`manage.py serve` (uvicorn, {workers} processes x {env.get('HTTP_THREADS', '2')} threads), "
            f"DEBUG off, {layer} channel layer, live push on")
