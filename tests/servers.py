"""Start real servers for tests (the platform's own server, a Celery worker) against the test database."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

from django.db import connection

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent
TEST_REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/8")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


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


def wait_for_port(port: int, proc: subprocess.Popen, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise TimeoutError(f"nothing listens on port {port} after {timeout} s")


@contextmanager
def app_server(log_path: Path, workers: int = 1, env: dict[str, str] | None = None):
    """Run the platform's server (`manage.py serve`: uvicorn, HTTP + WebSocket) on a free port; yield
    its base URL once it answers (after its warm-up). ``env`` overrides the child's environment."""
    port = free_port()
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [sys.executable, str(ROOT / "manage.py"), "serve", "--port", str(port), "--workers", str(workers)],
            cwd=ROOT, env=server_env(**(env or {})), stdout=log, stderr=subprocess.STDOUT,
        )
        try:
            wait_for_port(port, proc, timeout=60)
            yield f"http://127.0.0.1:{port}"
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
