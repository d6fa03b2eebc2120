"""The settings a deployment past one machine sets (REPLICA_DATABASE_URL, DB_POOLER), read as a server
process reads them: a fresh interpreter with that environment."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest
from django.db import DEFAULT_DB_ALIAS, connections

from core.routing_db import REPLICA, read_alias, replica_reads
from tests.servers import ROOT

PRINT = ("import json, django; django.setup(); from django.conf import settings as s; "
         "print(json.dumps({'dbs': s.DATABASES, 'routers': getattr(s, 'DATABASE_ROUTERS', []), "
         "'prepared': s.DB_PREPARED_STATEMENTS}, default=str))")


def settings_with(**env: str) -> subprocess.CompletedProcess:
    base = {"DJANGO_SETTINGS_MODULE": "gridops.settings.test", "PATH": "/usr/bin:/bin"}
    return subprocess.run([sys.executable, "-c", PRINT], cwd=ROOT, env={**base, **env}, capture_output=True,
                          text=True, timeout=60)


def test_without_a_replica_every_read_is_the_primarys():
    assert REPLICA not in connections.settings
    with replica_reads():
        assert read_alias() == DEFAULT_DB_ALIAS
    loaded = json.loads(settings_with().stdout)
    assert set(loaded["dbs"]) == {"default"} and loaded["routers"] == []


def test_a_replica_url_adds_the_alias_and_the_router():
    loaded = json.loads(settings_with(REPLICA_DATABASE_URL="postgis://reader@replica.lan:5432/gridops").stdout)
    replica = loaded["dbs"]["replica"]
    assert (replica["HOST"], replica["PORT"], replica["NAME"]) == ("replica.lan", 5432, "gridops")
    assert replica["TEST"]["MIRROR"] == "default"
    assert loaded["routers"] == ["core.routing_db.ReplicaRouter"]


def test_behind_a_transaction_pooler_no_session_state():
    loaded = json.loads(settings_with(DB_POOLER="transaction").stdout)
    assert loaded["prepared"] is False
    assert loaded["dbs"]["default"]["DISABLE_SERVER_SIDE_CURSORS"] is True
    assert "options" not in loaded["dbs"]["default"].get("OPTIONS", {})  # pgbouncer refuses the parameter


def test_behind_a_session_pooler_prepared_statements_stay():
    loaded = json.loads(settings_with(DB_POOLER="session").stdout)
    assert loaded["prepared"] is True
    assert "options" not in loaded["dbs"]["default"].get("OPTIONS", {})
    direct = json.loads(settings_with().stdout)
    assert direct["prepared"] is True and "plan_cache_mode" in direct["dbs"]["default"]["OPTIONS"]["options"]
    assert "-c jit=off" in direct["dbs"]["default"]["OPTIONS"]["options"]


@pytest.mark.parametrize("value", ["statement", "yes"])
def test_an_unknown_pooler_stops_start_up(value):
    done = settings_with(DB_POOLER=value)
    assert done.returncode != 0 and "DB_POOLER" in done.stderr
