"""The database keeps the incident record (issue 11): TRUNCATE of incidents and events is refused (only a
maintenance session, i.e. `manage.py flush`, may), events are never updated or deleted, and the app can
run as a role that has rows only: no DDL, no TRUNCATE, not the owner (`manage.py create_app_role`)."""
from __future__ import annotations

import io
import os
import secrets
import subprocess
import sys
from contextlib import closing
from pathlib import Path
from urllib.parse import quote

import psycopg2
import pytest
from django.core.management import CommandError, call_command
from django.db import DatabaseError, connection, transaction
from psycopg2 import errors

from incidents.models import Incident, IncidentEvent
from tests.incidents import factories as f
from tests.servers import server_env

ROOT = Path(__file__).resolve().parents[2]


def refused(sql: str, params=None) -> str:
    """Run ``sql`` in a savepoint; return the database's refusal (fail when it is accepted). The foreign
    keys' checks run now (else TRUNCATE meets the test transaction's pending ones, a refusal of its own)."""
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
    with pytest.raises(DatabaseError) as caught, transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql, params)
    return str(caught.value)


# --- the triggers ------------------------------------------------------------------------------------------

@pytest.mark.django_db
@pytest.mark.parametrize("table", ["incidents_incidentevent", "incidents_incident"])
def test_truncate_refused(table):
    f.located("other")
    message = refused(f"TRUNCATE {table} CASCADE")
    assert "TRUNCATE" in message and "refused" in message
    assert Incident.objects.exists() and IncidentEvent.objects.exists()


@pytest.mark.django_db
def test_truncate_through_a_table_that_cascades_to_incidents_refused():
    f.located("other")
    assert "refused" in refused("TRUNCATE grids_grid CASCADE")


@pytest.mark.django_db
@pytest.mark.parametrize("sql", [
    "UPDATE incidents_incidentevent SET note = 'rewritten'",
    "DELETE FROM incidents_incidentevent",
])
def test_events_update_and_delete_refused_even_in_a_maintenance_session(sql):
    f.located("other")
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL gridops.maintenance = on")
    assert "append-only" in refused(sql)


@pytest.mark.django_db
def test_a_maintenance_session_may_truncate():
    f.located("other")
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE; SET LOCAL gridops.maintenance = on")
        cursor.execute("TRUNCATE incidents_incidentevent, incidents_incident CASCADE")
        cursor.execute("SELECT count(*) FROM incidents_incident")
        assert cursor.fetchone()[0] == 0
        transaction.set_rollback(True)
    assert Incident.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_flush_lifts_the_guard_for_its_session_only(demo_data):
    f.located("other")
    call_command("flush", interactive=False, verbosity=0)
    assert not Incident.objects.exists() and not IncidentEvent.objects.exists()
    with connection.cursor() as cursor:
        cursor.execute("SELECT coalesce(current_setting('gridops.maintenance', true), '')")
        assert cursor.fetchone()[0] == ""
    call_command("load_demo_data", verbosity=0)
    f.located("other")
    assert "refused" in refused("TRUNCATE incidents_incident CASCADE")


# --- the app's role ----------------------------------------------------------------------------------------

@pytest.fixture
def app_role(demo_data, monkeypatch):
    """Create a role for the app with create_app_role; yield (name, password); drop it afterwards."""
    name, password = f"gridops_app_{os.getpid()}", secrets.token_urlsafe(16)
    monkeypatch.setenv("GRIDOPS_APP_DB_PASSWORD", password)
    call_command("create_app_role", name, interactive=False, stdout=io.StringIO())
    yield name, password
    with connection.cursor() as cursor:
        cursor.execute(f'DROP OWNED BY "{name}"; DROP ROLE "{name}"')


def connect_as(name: str, password: str):
    """Connect to the test database as ``name`` (where and how the app's own connection does)."""
    params = {k: v for k, v in connection.get_connection_params().items() if k not in ("cursor_factory", "options")}
    conn = psycopg2.connect(**{**params, "user": name, "password": password})
    conn.autocommit = True
    return conn


def role_database_url(name: str, password: str) -> str:
    params = connection.get_connection_params()
    host, port, db = params.get("host") or "", params.get("port") or 5432, connection.settings_dict["NAME"]
    if not host or host.startswith("/"):
        return f"postgis://{name}:{quote(password)}@/{db}" + (f"?host={host}" if host else "")
    return f"postgis://{name}:{quote(password)}@{host}:{port}/{db}"


REFUSED_TO_THE_APP = [
    "CREATE TABLE intruder (id int)",
    "ALTER TABLE incidents_incident ADD COLUMN intruder int",
    "DROP TRIGGER incidents_event_append_only ON incidents_incidentevent",
    "DROP TABLE incidents_incidentevent",
    "TRUNCATE incidents_incidentevent",
    "SET gridops.maintenance = on; TRUNCATE incidents_incident CASCADE",
    "TRUNCATE grids_grid CASCADE",
    "UPDATE incidents_incidentevent SET note = 'rewritten'",
    "DELETE FROM incidents_incidentevent",
    "CREATE ROLE intruder",
]


@pytest.mark.django_db(transaction=True)
def test_the_app_role_has_no_ddl_and_no_truncate(app_role):
    f.located("other")
    events = IncidentEvent.objects.count()
    for sql in REFUSED_TO_THE_APP:
        with closing(connect_as(*app_role)) as conn, conn.cursor() as cursor, \
                pytest.raises(errors.InsufficientPrivilege, match="denied|must be owner"):
            cursor.execute(sql)
            pytest.fail(f"the app's role was allowed: {sql}")
    assert IncidentEvent.objects.count() == events


@pytest.mark.django_db(transaction=True)
def test_the_app_role_reads_and_writes_rows(app_role):
    with closing(connect_as(*app_role)) as conn, conn.cursor() as cursor:
        cursor.execute("SELECT rolsuper, rolcreatedb, rolcreaterole FROM pg_roles WHERE rolname = current_user")
        assert cursor.fetchone() == (False, False, False)
        cursor.execute("SELECT count(*) FROM pg_class c JOIN pg_roles r ON r.oid = c.relowner "
                       "WHERE r.rolname = current_user")
        assert cursor.fetchone()[0] == 0  # owner of nothing
        cursor.execute("SELECT count(*) FROM grids_grid")
        assert cursor.fetchone()[0] > 0
        cursor.execute("UPDATE grids_person SET phone = phone WHERE id = (SELECT min(id) FROM grids_person)")
        assert cursor.rowcount == 1


@pytest.mark.django_db(transaction=True)
def test_intake_works_as_the_app_role(app_role):
    """The platform itself, connected as the role, takes an incident in: the INSERT or COPY of the incident
    and its events, ids from the sequences, the prepared statements, routing and the event rows."""
    code = ("from tests.incidents import factories as f; incident = f.located('other'); "
            "print('INTAKE', incident.pk, incident.state, incident.events.count())")
    env = server_env(DJANGO_ENV="test", DATABASE_URL=role_database_url(*app_role))
    result = subprocess.run([sys.executable, "manage.py", "shell", "-c", code], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    line = next(line for line in result.stdout.splitlines() if line.startswith("INTAKE "))
    pk, state, events = line.split()[1:]
    incident = Incident.objects.get(pk=int(pk))
    assert incident.state == state and IncidentEvent.objects.filter(incident=incident).count() == int(events) > 0
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_user")
        assert cursor.fetchone()[0] != app_role[0]  # the test itself is the owner


@pytest.mark.django_db(transaction=True)
def test_clustering_the_rollups_as_the_app_role_is_refused_with_a_message(app_role):
    """CLUSTER is the tables' owner's: ``rebuild_rollups --cluster`` run as the app's role says so and
    exits non-zero (no traceback), and the rollups are as they were."""
    f.located("other")
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*), sum(n) FROM incidents_rollup")
        before = cursor.fetchone()
    env = server_env(DJANGO_ENV="test", DATABASE_URL=role_database_url(*app_role))
    result = subprocess.run([sys.executable, "manage.py", "rebuild_rollups", "--cluster"], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode != 0
    assert "--cluster must run as the tables' owner" in result.stderr and "Traceback" not in result.stderr
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*), sum(n) FROM incidents_rollup")
        assert cursor.fetchone() == before


@pytest.mark.django_db
def test_create_app_role_refuses_the_owner_and_odd_names():
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_user")
        owner = cursor.fetchone()[0]
    with pytest.raises(CommandError, match="the owner"):
        call_command("create_app_role", owner, no_password=True)
    with pytest.raises(CommandError, match="plain role name"):
        call_command("create_app_role", 'x"; DROP TABLE grids_grid; --', no_password=True)
    with pytest.raises(CommandError, match="no password"):
        call_command("create_app_role", "gridops_nobody", interactive=False, password_env="GRIDOPS_UNSET_VARIABLE")


# --- backup and restore ------------------------------------------------------------------------------------

CHECKSUMS = {
    "incidents": "SELECT count(*), md5(string_agg(t::text, '|' ORDER BY t.id)) FROM incidents_incident t",
    "events": "SELECT count(*), md5(string_agg(t::text, '|' ORDER BY t.id)) FROM incidents_incidentevent t",
    "generations": "SELECT count(*), md5(string_agg(t::text, '|' ORDER BY t.id)) FROM grids_boundarygeneration t",
    "grids": "SELECT count(*), md5(string_agg(g.generation_id || ' ' || g.code || ' ' || "
             "encode(ST_AsBinary(g.boundary), 'hex'), '|' ORDER BY g.id)) FROM grids_grid g",
    "users": "SELECT count(*), md5(string_agg(t::text, '|' ORDER BY t.id)) FROM auth_user t",
}


def checksums(cursor) -> dict[str, tuple]:
    result = {}
    for name, sql in CHECKSUMS.items():
        cursor.execute(sql)
        result[name] = cursor.fetchone()
    return result


@pytest.mark.django_db(transaction=True)
def test_backup_and_restore_into_a_fresh_database(demo_data, tmp_path):
    from django.contrib.gis.geos import MultiPolygon

    from grids.models import BoundaryGeneration, Grid

    # incidents with events (one taken further), and a second boundary generation (a draft, one grid moved)
    for _ in range(3):
        f.located("other")
    f.report("other", at=(119.0, 31.0))  # outside the town: the triage queue
    f.drive(f.report("other"), ["register"], f.operator())
    active = BoundaryGeneration.objects.get(status="active")
    draft = BoundaryGeneration.objects.create(town=active.town, description="redrawn")
    for grid in Grid.objects.filter(generation=active).order_by("code")[:3]:
        boundary = MultiPolygon([p.buffer(0.0001) for p in grid.boundary], srid=4326) if grid.code.endswith("1") \
            else grid.boundary
        Grid.objects.create(generation=draft, village=grid.village, kind=grid.kind, code=grid.code, name=grid.name,
                            purpose=grid.purpose, boundary=boundary)
    with connection.cursor() as cursor:
        before = checksums(cursor)
    assert before["generations"][0] == 2 and before["incidents"][0] == 5 and before["events"][0] > 4

    dump, target = tmp_path / "gridops.dump", f"test_gridops_restored_{os.getpid()}"
    env = server_env(DJANGO_ENV="test")
    backup = subprocess.run(["make", "-s", "backup", f"BACKUP={dump}"], cwd=ROOT, env=env, capture_output=True,
                            text=True, timeout=300)
    assert backup.returncode == 0, backup.stderr
    assert dump.stat().st_size > 0
    try:
        restore = subprocess.run(["make", "-s", "restore", f"BACKUP={dump}", f"RESTORE_DB={target}"], cwd=ROOT,
                                 env=env, capture_output=True, text=True, timeout=300)
        assert restore.returncode == 0, restore.stderr
        params = {k: v for k, v in connection.get_connection_params().items() if k not in ("cursor_factory",)}
        with closing(psycopg2.connect(**{**params, "dbname": target})) as restored, restored.cursor() as cursor:
            after = checksums(cursor)
            cursor.execute("SELECT count(*) FROM pg_trigger WHERE tgname IN "
                           "('incidents_event_append_only', 'incidents_event_no_truncate', "
                           "'incidents_incident_no_truncate')")
            assert cursor.fetchone()[0] == 3  # the guards came back with the data
        assert after == before
        again = subprocess.run(["make", "-s", "restore", f"BACKUP={dump}", f"RESTORE_DB={target}"], cwd=ROOT,
                               env=env, capture_output=True, text=True, timeout=300)
        assert again.returncode != 0 and "exists" in again.stderr  # never over an existing database
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{target}"')
