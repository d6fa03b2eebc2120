"""The OpenAPI schema is the contract (issue 11): schemathesis, with every check, against a real server
(``manage.py serve``) on the Gongdao demo data, as the operator, a grid leader and the 12345 hotline's
integration client. Zero failures is the bar; the run's configuration (``tests/contract/schemathesis.toml``)
names, per operation, the answers a schema cannot express and why."""
from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command

from cameras.models import Camera
from core.actors import Actor
from grids.models import BoundaryGeneration, Grid
from incidents.grants import grant_sources
from incidents.selectors import incidents_visible_to
from tests.auth import token_for
from tests.servers import VENV_BIN, app_server

HERE = Path(__file__).resolve().parent
# The three (the operator, a grid leader, the 12345 hotline's client) and the planner, whose
# operations (boundary drafts) the others may not reach.
ROLES = ["operator", "gridleader", "hotline", "planner"]


@pytest.fixture
def served_demo(demo_data, tmp_path):
    call_command("seed_demo_incidents", verbosity=0)
    with app_server(tmp_path / "server.log", workers=1) as base:
        yield base


def identifiers(user) -> dict[str, int | str]:
    """Real ids for the operations on one object (schemathesis.toml), of objects this user may see."""
    actor = Actor.of(user)
    incident = incidents_visible_to(actor).order_by("id").first()
    grid = Grid.objects.active().filter(kind=Grid.Kind.COMPREHENSIVE).order_by("code").first()
    if incident is not None and incident.grid_id:
        grid = incident.grid
    return {
        "CONTRACT_INCIDENT_ID": incident.pk if incident else 1,
        "CONTRACT_REQUEST_ID": str(incident.pk if incident else 1),
        "CONTRACT_GRID": grid.code,
        "CONTRACT_VILLAGE": grid.village.code,
        "CONTRACT_TOWN": grid.village.town.code,
        "CONTRACT_CAMERA": Camera.objects.order_by("code").first().code,
        "CONTRACT_GENERATION": BoundaryGeneration.objects.order_by("-id").first().pk,
    }


def config_with(ids: dict[str, int | str], path: Path) -> Path:
    """Write schemathesis.toml with the identifiers filled in, integers unquoted."""
    text = (HERE / "schemathesis.toml").read_text()
    for name, value in ids.items():
        text = text.replace(f'"${{{name}}}"', json.dumps(value))  # TOML writes these two kinds as JSON does
    assert "${" not in text, "an identifier of schemathesis.toml was not filled in"
    path.write_text(text)
    return path


def run_schemathesis(base: str, token: str, report: Path, ids: dict[str, int | str]) -> subprocess.CompletedProcess:
    config = config_with(ids, report.parent / "schemathesis.toml")
    cmd = [
        str(VENV_BIN / "st"), "--config-file", str(config), "--no-color", "run", f"{base}/api/schema/",
        # every check; deterministic generation, so a run is the same run in CI and here
        "--checks", "all", "--generation-deterministic", "--phases", "examples,coverage,fuzzing",
        "--max-examples", os.environ.get("CONTRACT_EXAMPLES", "10"), "--workers", "1",
        "-H", f"Authorization: Token {token}",
        "--report", "junit", "--report-junit-path", str(report),
    ]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=1200)


@pytest.mark.parametrize("username", ROLES)
def test_schemathesis_every_check(served_demo, username, tmp_path):
    user = User.objects.get(username=username)
    if username == "hotline":
        grant_sources(user, ["hotline_12345"])
    result = run_schemathesis(served_demo, token_for(user), tmp_path / "junit.xml", identifiers(user))
    print(result.stdout)  # the whole report: cases run and failures, shown by pytest -s or on failure
    assert result.returncode == 0, f"schemathesis as {username}:\n{result.stdout[-20000:]}\n{result.stderr[-2000:]}"
    generated = re.search(r"(\d+) generated", result.stdout)
    assert generated and int(generated[1]) >= 500, "schemathesis ran too few cases to mean anything"
