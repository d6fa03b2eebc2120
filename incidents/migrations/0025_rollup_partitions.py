# Written by hand on 2026-12-06

from django.db import migrations

# The rollup table partitioned by kind (LIST, one partition per kind of incidents.rollups.Kind, and a
# default one for a kind added later): every reader asks for one kind or a few, and the rows of a kind
# were spread thinly over the whole table, written as incidents came in. On the 1M city a year of the
# whole city's month heat rows (225,007 rows) sat on 116,958 pages, two rows a page, so the heatmap's read
# touched most of a table of every kind; in its own partition a kind's rows share their pages.
# The key stays the row's identity (it begins with the kind); a partitioned table's unique key must
# hold the partition column, so the primary key is (key, kind) (back to one table it stays so) and the
# triggers' upserts name both; their deletes name the kinds, so only those partitions are searched.
# Each partition keeps fillfactor 70 (0021: the counters' updates stay heap-only). Existing rows are
# copied in kind and day order; on a city's database (30 million rows) that is minutes, like a rebuild.
KINDS = [1, 2, 3, 4, 5, 6, 7, 8, 11, 12, 13, 14, 16, 17, 21, 31, 32, 33, 34]
FILLFACTOR = 70
TABLE = "incidents_rollup"


def _secondary_indexes(cursor, table: str) -> list[tuple[str, str]]:
    cursor.execute("SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid) FROM pg_index i "
                   "WHERE i.indrelid = %s::regclass AND NOT i.indisprimary ORDER BY 1", [table])
    return [(name, definition.replace(" ON ONLY ", " ON ", 1)) for name, definition in cursor.fetchall()]


def _rebuild(schema_editor, *, partitioned: bool) -> None:
    with schema_editor.connection.cursor() as cursor:
        indexes = _secondary_indexes(cursor, TABLE)
        for name, _ in indexes:
            cursor.execute(f"DROP INDEX {name}")
        cursor.execute(f"ALTER TABLE {TABLE} RENAME TO {TABLE}_old")
        cursor.execute(f"ALTER TABLE {TABLE}_old DROP CONSTRAINT {TABLE}_pkey")
        if partitioned:
            cursor.execute(f"CREATE TABLE {TABLE} (LIKE {TABLE}_old INCLUDING DEFAULTS INCLUDING CONSTRAINTS) "
                           "PARTITION BY LIST (kind)")
            for kind in KINDS:
                cursor.execute(f"CREATE TABLE {TABLE}_k{kind} PARTITION OF {TABLE} FOR VALUES IN ({kind}) "
                               f"WITH (fillfactor = {FILLFACTOR})")
            cursor.execute(f"CREATE TABLE {TABLE}_other PARTITION OF {TABLE} DEFAULT WITH (fillfactor = {FILLFACTOR})")
        else:
            cursor.execute(f"CREATE TABLE {TABLE} (LIKE {TABLE}_old INCLUDING DEFAULTS INCLUDING CONSTRAINTS) "
                           f"WITH (fillfactor = {FILLFACTOR})")
        cursor.execute(f"INSERT INTO {TABLE} SELECT * FROM {TABLE}_old ORDER BY kind, day, cell_x, cell_y")
        cursor.execute(f"DROP TABLE {TABLE}_old")
        cursor.execute(f"ALTER TABLE {TABLE} ADD CONSTRAINT {TABLE}_pkey PRIMARY KEY (key, kind)")
        for _, definition in indexes:
            cursor.execute(definition)
        cursor.execute(f"ANALYZE {TABLE}")


def forwards(apps, schema_editor):
    _rebuild(schema_editor, partitioned=True)


def backwards(apps, schema_editor):
    _rebuild(schema_editor, partitioned=False)


# The triggers as incidents.rollups.trigger_sql() rendered them when this migration was written: their
# upserts name the new key (key, kind), their deletes the kinds (tests/incidents/test_rollups.py checks
# the database runs what the rules render today).
TRIGGERS = r"""CREATE OR REPLACE FUNCTION incidents_rollup_on_insert() RETURNS trigger LANGUAGE plpgsql AS $rollup$
DECLARE zeros text[]; zero_kinds int[];
BEGIN
  WITH delta AS (
    SELECT format('%s|%s|%s|%s|%s|%s|%s|%s|%s|%s|%s|%s|%s', kind, day, day2, cell_x, cell_y, category_id, source, town_id, village_id, grid_id, handling_grid_id, assignee_id, submitted_by_id) AS key, kind, day, day2, cell_x, cell_y, category_id, source, town_id, village_id, grid_id, handling_grid_id, assignee_id, submitted_by_id, sum(n) AS n, sum(n2) AS n2, sum(secs) AS secs, sum(secs_n) AS secs_n, sum(n3) AS n3, sum(n4) AS n4, sum(n5) AS n5
    FROM (
    SELECT f.kind + l.v AS kind, CASE WHEN l.v IN (20, 30) THEN date_trunc('month', f.day)::date ELSE f.day END AS day, CASE WHEN l.v IN (20, 30) THEN date_trunc('month', f.day2)::date ELSE f.day2 END AS day2,
           CASE WHEN l.v IN (0) THEN f.cell_x WHEN l.v IN (20) THEN floor(f.cell_x / 5.0)::int END AS cell_x,
           CASE WHEN l.v IN (0) THEN f.cell_y WHEN l.v IN (20) THEN floor(f.cell_y / 5.0)::int END AS cell_y, CASE WHEN l.v IN (0, 10, 20) THEN f.category_id END AS category_id, CASE WHEN l.v IN (0, 10, 20) THEN f.source END AS source, CASE WHEN l.v IN (0, 30) THEN f.town_id END AS town_id, CASE WHEN l.v IN (0, 30) THEN f.village_id END AS village_id, CASE WHEN l.v IN (0, 20, 30) THEN f.grid_id END AS grid_id, CASE WHEN l.v IN (0) THEN f.handling_grid_id END AS handling_grid_id, CASE WHEN l.v IN (0, 30) THEN f.assignee_id END AS assignee_id, CASE WHEN l.v IN (0) THEN f.submitted_by_id END AS submitted_by_id,
           1 * f.n AS n, 1 * f.n2 AS n2, 1 * f.secs AS secs, 1 * f.secs_n AS secs_n,
           1 * f.n3 AS n3, 1 * f.n4 AS n4, 1 * f.n5 AS n5
    FROM (
    -- each incident's facts once (its projection and local days), then a copy per variant: with the
    -- variants outermost the planner computed them once per variant
    WITH once AS MATERIALIZED (
    SELECT r.category_id, r.source, r.town_id, r.village_id, r.grid_id, r.handling_grid_id, r.assignee_id, r.submitted_by_id, f.*
    FROM new_rows r
    CROSS JOIN LATERAL (
      -- CASE: only points of the metric domain are projected (elsewhere ST_Transform fails)
      SELECT floor(ST_X(p.m) / 50)::int AS cell_x, floor(ST_Y(p.m) / 50)::int AS cell_y
      FROM (SELECT CASE WHEN r.location IS NOT NULL AND r.state NOT IN ('cancelled', 'duplicate', 'out_of_jurisdiction')
                         AND ST_CoveredBy(r.location, ST_MakeEnvelope(68.62, 11.7, 139.77, 58.56, 4326))
                        THEN ST_Transform(r.location, 4549) END AS m) p
    ) c
    CROSS JOIN LATERAL (VALUES
      (1, ((r.created_at) AT TIME ZONE 'Asia/Shanghai')::date, NULL::date, c.cell_x, c.cell_y,
       CASE WHEN r.state NOT IN ('cancelled', 'duplicate', 'out_of_jurisdiction') THEN 1 END, CASE WHEN r.registered_at IS NOT NULL THEN 1 ELSE 0 END, 0.0::float8, 0, CASE WHEN r.dispatched_at IS NOT NULL THEN 1 ELSE 0 END, CASE WHEN r.dispatched_at IS NOT NULL AND r.returns = 0 THEN 1 ELSE 0 END, CASE WHEN r.registered_at IS NOT NULL AND NOT r.self_handled THEN 1 ELSE 0 END),
      (2, ((r.created_at) AT TIME ZONE 'Asia/Shanghai')::date, NULL, NULL, NULL,
       CASE WHEN NOT (r.state NOT IN ('cancelled', 'duplicate', 'out_of_jurisdiction')) THEN 1 END, CASE WHEN r.registered_at IS NOT NULL THEN 1 ELSE 0 END, 0.0::float8, 0, CASE WHEN r.dispatched_at IS NOT NULL THEN 1 ELSE 0 END, CASE WHEN r.dispatched_at IS NOT NULL AND r.returns = 0 THEN 1 ELSE 0 END, CASE WHEN r.registered_at IS NOT NULL AND NOT r.self_handled THEN 1 ELSE 0 END),
      (3, ((r.closed_at) AT TIME ZONE 'Asia/Shanghai')::date, ((r.handle_due_at) AT TIME ZONE 'Asia/Shanghai')::date, NULL, NULL,
       CASE WHEN r.state NOT IN ('cancelled', 'duplicate', 'out_of_jurisdiction') AND r.state = 'closed' THEN 1 END,
       CASE WHEN r.closed_at <= r.handle_due_at THEN 1 ELSE 0 END,
       CASE WHEN r.registered_at IS NOT NULL THEN extract(epoch FROM r.closed_at - r.registered_at)::float8 ELSE 0.0 END,
       CASE WHEN r.registered_at IS NOT NULL THEN 1 ELSE 0 END, CASE WHEN r.reworks > 0 THEN 1 ELSE 0 END, CASE WHEN r.extensions > 0 THEN 1 ELSE 0 END, CASE WHEN r.self_handled THEN 1 ELSE 0 END),
      (4, ((r.handle_due_at) AT TIME ZONE 'Asia/Shanghai')::date, NULL, NULL, NULL,
       CASE WHEN r.state NOT IN ('cancelled', 'duplicate', 'out_of_jurisdiction') AND r.handle_due_at IS NOT NULL THEN 1 END, 0, 0.0, 0, 0, 0, 0),
      (6, ((LEAST(CASE WHEN r.state IN ('dispatched', 'in_progress', 'registered') THEN r.handle_due_at END, CASE WHEN r.state IN ('dispatched') THEN r.accept_due_at END)) AT TIME ZONE 'Asia/Shanghai')::date, NULL, NULL, NULL,
       CASE WHEN r.state IN ('dispatched', 'handled', 'in_progress', 'registered', 'reported', 'verified') THEN 1 END, 0, 0.0, 0, 0, 0, 0),
      (7, NULL, NULL, NULL, NULL,
       CASE WHEN r.state = 'reported' AND r.triage <> '' THEN 1 END, 0, 0.0, 0, 0, 0, 0)
    ) f(kind, day, day2, cell_x, cell_y, n, n2, secs, secs_n, n3, n4, n5)
    WHERE f.n IS NOT NULL)
    SELECT * FROM once) f
    CROSS JOIN (VALUES (0), (10), (20), (30)) l(v)
    WHERE l.v = 0 OR l.v = 10 OR (l.v = 20 AND f.kind IN (1)) OR (l.v = 30 AND f.kind IN (1, 2, 3, 4))) facts GROUP BY kind, day, day2, cell_x, cell_y, category_id, source, town_id, village_id, grid_id, handling_grid_id, assignee_id, submitted_by_id HAVING sum(n) <> 0 OR sum(n2) <> 0 OR sum(secs) <> 0 OR sum(secs_n) <> 0 OR sum(n3) <> 0 OR sum(n4) <> 0 OR sum(n5) <> 0),
  applied AS (
    INSERT INTO incidents_rollup AS t (key, kind, day, day2, cell_x, cell_y, category_id, source, town_id, village_id, grid_id, handling_grid_id, assignee_id, submitted_by_id, n, n2, secs, secs_n, n3, n4, n5) SELECT key, kind, day, day2, cell_x, cell_y, category_id, source, town_id, village_id, grid_id, handling_grid_id, assignee_id, submitted_by_id, n, n2, secs, secs_n, n3, n4, n5 FROM delta ORDER BY key
    ON CONFLICT (key, kind) DO UPDATE SET n = t.n + excluded.n, n2 = t.n2 + excluded.n2,
      secs = CASE WHEN t.secs_n + excluded.secs_n = 0 THEN 0 ELSE t.secs + excluded.secs END,
      secs_n = t.secs_n + excluded.secs_n, n3 = t.n3 + excluded.n3, n4 = t.n4 + excluded.n4,
      n5 = t.n5 + excluded.n5
    RETURNING t.key, t.kind, t.n, t.n2, t.secs_n, t.n3, t.n4, t.n5)
  SELECT array_agg(key), array_agg(DISTINCT kind) INTO zeros, zero_kinds FROM applied WHERE n = 0 AND n2 = 0 AND secs_n = 0 AND n3 = 0 AND n4 = 0 AND n5 = 0;
  IF zeros IS NOT NULL THEN
    DELETE FROM incidents_rollup WHERE kind = ANY(zero_kinds) AND key = ANY(zeros) AND n = 0 AND n2 = 0 AND secs_n = 0 AND n3 = 0 AND n4 = 0 AND n5 = 0;
  END IF;
  RETURN NULL;
END $rollup$;
CREATE OR REPLACE FUNCTION incidents_rollup_on_delete() RETURNS trigger LANGUAGE plpgsql AS $rollup$
DECLARE zeros text[]; zero_kinds int[];
BEGIN
  WITH delta AS (
    SELECT format('%s|%s|%s|%s|%s|%s|%s|%s|%s|%s|%s|%s|%s', kind, day, day2, cell_x, cell_y, category_id, source, town_id, village_id, grid_id, handling_grid_id, assignee_id, submitted_by_id) AS key, kind, day, day2, cell_x, cell_y, category_id, source, town_id, village_id, grid_id, handling_grid_id, assignee_id, submitted_by_id, sum(n) AS n, sum(n2) AS n2, sum(secs) AS secs, sum(secs_n) AS secs_n, sum(n3) AS n3, sum(n4) AS n4, sum(n5) AS n5
    FROM (
    SELECT f.kind + l.v AS kind, CASE WHEN l.v IN (20, 30) THEN date_trunc('month', f.day)::date ELSE f.day END AS day, CASE WHEN l.v IN (20, 30) THEN date_trunc('month', f.day2)::date ELSE f.day2 END AS day2,
           CASE WHEN l.v IN (0) THEN f.cell_x WHEN l.v IN (20) THEN floor(f.cell_x / 5.0)::int END AS cell_x,
           CASE WHEN l.v IN (0) THEN f.cell_y WHEN l.v IN (20) THEN floor(f.cell_y / 5.0)::int END AS cell_y, CASE WHEN l.v IN (0, 10, 20) THEN f.category_id END AS category_id, CASE WHEN l.v IN (0, 10, 20) THEN f.source END AS source, CASE WHEN l.v IN (0, 30) THEN f.town_id END AS town_id, CASE WHEN l.v IN (0, 30) THEN f.village_id END AS village_id, CASE WHEN l.v IN (0, 20, 30) THEN f.grid_id END AS grid_id, CASE WHEN l.v IN (0) THEN f.handling_grid_id END AS handling_grid_id, CASE WHEN l.v IN (0, 30) THEN f.assignee_id END AS assignee_id, CASE WHEN l.v IN (0) THEN f.submitted_by_id END AS submitted_by_id,
           -1 * f.n AS n, -1 * f.n2 AS n2, -1 * f.secs AS secs, -1 * f.secs_n AS secs_n,
           -1 * f.n3 AS n3, -1 * f.n4 AS n4, -1 * f.n5 AS n5
    FROM (
    -- each incident's facts once (its projection and local days), then a copy per variant: with the
    -- variants outermost the planner computed them once per variant
    WITH once AS MATERIALIZED (
    SELECT r.category_id, r.source, r.town_id, r.village_id, r.grid_id, r.handling_grid_id, r.assignee_id, r.submitted_by_id, f.*
    FROM old_rows r
    CROSS JOIN LATERAL (
      -- CASE: only points of the metric domain are projected (elsewhere ST_Transform fails)
      SELECT floor(ST_X(p.m) / 50)::int AS cell_x, floor(ST_Y(p.m) / 50)::int AS cell_y
      FROM (SELECT CASE WHEN r.location IS NOT NULL AND r.state NOT IN ('cancelled', 'duplicate', 'out_of_jurisdiction')
                         AND ST_CoveredBy(r.location, ST_MakeEnvelope(68.62, 11.7, 139.77, 58.56, 4326))
                        THEN ST_Transform(r.location, 4549) END AS m) p
    ) c
    CROSS JOIN LATERAL (VALUES
      (1, ((r.created_at) AT TIME ZONE 'Asia/Shanghai')::date, NULL::date, c.cell_x, c.cell_y,
       CASE WHEN r.state NOT IN ('cancelled', 'duplicate', 'out_of_jurisdiction') THEN 1 END, CASE WHEN r.registered_at IS NOT NULL THEN 1 ELSE 0 END, 0.0::float8, 0, CASE WHEN r.dispatched_at IS NOT NULL THEN 1 ELSE 0 END, CASE WHEN r.dispatched_at IS NOT NULL AND r.returns = 0 THEN 1 ELSE 0 END, CASE WHEN r.registered_at IS NOT NULL AND NOT r.self_handled THEN 1 ELSE 0 END),
      (2, ((r.created_at) AT TIME ZONE 'Asia/Shanghai')::date, NULL, NULL, NULL,
       CASE WHEN NOT (r.state NOT IN ('cancelled', 'duplicate', 'out_of_jurisdiction')) THEN 1 END, CASE WHEN r.registered_at IS NOT NULL THEN 1 ELSE 0 END, 0.0::float8, 0, CASE WHEN r.dispatched_at IS NOT NULL THEN 1 ELSE 0 END, CASE WHEN r.dispatched_at IS NOT NULL AND r.returns = 0 THEN 1 ELSE 0 END, CASE WHEN r.registered_at IS NOT NULL AND NOT r.self_handled THEN 1 ELSE 0 END),
      (3, ((r.closed_at) AT TIME ZONE 'Asia/Shanghai')::date, ((r.handle_due_at) AT TIME ZONE 'Asia/Shanghai')::date, NULL, NULL,
       CASE WHEN r.state NOT IN ('cancelled', 'duplicate', 'out_of_jurisdiction') AND r.state = 'closed' THEN 1 END,
       CASE WHEN r.closed_at <= r.handle_due_at THEN 1 ELSE 0 END,
       CASE WHEN r.registered_at IS NOT NULL THEN extract(epoch FROM r.closed_at - r.registered_at)::float8 ELSE 0.0 END,
       CASE WHEN r.registered_at IS NOT NULL THEN 1 ELSE 0 END, CASE WHEN r.reworks > 0 THEN 1 ELSE 0 END, CASE WHEN r.extensions > 0 THEN 1 ELSE 0 END, CASE WHEN r.self_handled THEN 1 ELSE 0 END),
      (4, ((r.handle_due_at) AT TIME ZONE 'Asia/Shanghai')::date, NULL, NULL, NULL,
       CASE WHEN r.state NOT IN ('cancelled', 'duplicate', 'out_of_jurisdiction') AND r.handle_due_at IS NOT NULL THEN 1 END, 0, 0.0, 0, 0, 0, 0),
      (6, ((LEAST(CASE WHEN r.state IN ('dispatched', 'in_progress', 'registered') THEN r.handle_due_at END, CASE WHEN r.state IN ('dispatched') THEN r.accept_due_at END)) AT TIME ZONE 'Asia/Shanghai')::date, NULL, NULL, NULL,
       CASE WHEN r.state IN ('dispatched', 'handled', 'in_progress', 'registered', 'reported', 'verified') THEN 1 END, 0, 0.0, 0, 0, 0, 0),
      (7, NULL, NULL, NULL, NULL,
       CASE WHEN r.state = 'reported' AND r.triage <> '' THEN 1 END, 0, 0.0, 0, 0, 0, 0)
    ) f(kind, day, day2, cell_x, cell_y, n, n2, secs, secs_n, n3, n4, n5)
    WHERE f.n IS NOT NULL)
    SELECT * FROM once) f
    CROSS JOIN (VALUES (0), (10), (20), (30)) l(v)
    WHERE l.v = 0 OR l.v = 10 OR (l.v = 20 AND f.kind IN (1)) OR (l.v = 30 AND f.kind IN (1, 2, 3, 4))) facts GROUP BY kind, day, day2, cell_x, cell_y, category_id, source, town_id, village_id, grid_id, handling_grid_id, assignee_id, submitted_by_id HAVING sum(n) <> 0 OR sum(n2) <> 0 OR sum(secs) <> 0 OR sum(secs_n) <> 0 OR sum(n3) <> 0 OR sum(n4) <> 0 OR sum(n5) <> 0),
  applied AS (
    INSERT INTO incidents_rollup AS t (key, kind, day, day2, cell_x, cell_y, category_id, source, town_id, village_id, grid_id, handling_grid_id, assignee_id, submitted_by_id, n, n2, secs, secs_n, n3, n4, n5) SELECT key, kind, day, day2, cell_x, cell_y, category_id, source, town_id, village_id, grid_id, handling_grid_id, assignee_id, submitted_by_id, n, n2, secs, secs_n, n3, n4, n5 FROM delta ORDER BY key
    ON CONFLICT (key, kind) DO UPDATE SET n = t.n + excluded.n, n2 = t.n2 + excluded.n2,
      secs = CASE WHEN t.secs_n + excluded.secs_n = 0 THEN 0 ELSE t.secs + excluded.secs END,
      secs_n = t.secs_n + excluded.secs_n, n3 = t.n3 + excluded.n3, n4 = t.n4 + excluded.n4,
      n5 = t.n5 + excluded.n5
    RETURNING t.key, t.kind, t.n, t.n2, t.secs_n, t.n3, t.n4, t.n5)
  SELECT array_agg(key), array_agg(DISTINCT kind) INTO zeros, zero_kinds FROM applied WHERE n = 0 AND n2 = 0 AND secs_n = 0 AND n3 = 0 AND n4 = 0 AND n5 = 0;
  IF zeros IS NOT NULL THEN
    DELETE FROM incidents_rollup WHERE kind = ANY(zero_kinds) AND key = ANY(zeros) AND n = 0 AND n2 = 0 AND secs_n = 0 AND n3 = 0 AND n4 = 0 AND n5 = 0;
  END IF;
  RETURN NULL;
END $rollup$;
CREATE OR REPLACE FUNCTION incidents_rollup_on_update() RETURNS trigger LANGUAGE plpgsql AS $rollup$
DECLARE zeros text[]; zero_kinds int[];
BEGIN
  WITH delta AS (
    SELECT format('%s|%s|%s|%s|%s|%s|%s|%s|%s|%s|%s|%s|%s', kind, day, day2, cell_x, cell_y, category_id, source, town_id, village_id, grid_id, handling_grid_id, assignee_id, submitted_by_id) AS key, kind, day, day2, cell_x, cell_y, category_id, source, town_id, village_id, grid_id, handling_grid_id, assignee_id, submitted_by_id, sum(n) AS n, sum(n2) AS n2, sum(secs) AS secs, sum(secs_n) AS secs_n, sum(n3) AS n3, sum(n4) AS n4, sum(n5) AS n5
    FROM (
    SELECT f.kind + l.v AS kind, CASE WHEN l.v IN (20, 30) THEN date_trunc('month', f.day)::date ELSE f.day END AS day, CASE WHEN l.v IN (20, 30) THEN date_trunc('month', f.day2)::date ELSE f.day2 END AS day2,
           CASE WHEN l.v IN (0) THEN f.cell_x WHEN l.v IN (20) THEN floor(f.cell_x / 5.0)::int END AS cell_x,
           CASE WHEN l.v IN (0) THEN f.cell_y WHEN l.v IN (20) THEN floor(f.cell_y / 5.0)::int END AS cell_y, CASE WHEN l.v IN (0, 10, 20) THEN f.category_id END AS category_id, CASE WHEN l.v IN (0, 10, 20) THEN f.source END AS source, CASE WHEN l.v IN (0, 30) THEN f.town_id END AS town_id, CASE WHEN l.v IN (0, 30) THEN f.village_id END AS village_id, CASE WHEN l.v IN (0, 20, 30) THEN f.grid_id END AS grid_id, CASE WHEN l.v IN (0) THEN f.handling_grid_id END AS handling_grid_id, CASE WHEN l.v IN (0, 30) THEN f.assignee_id END AS assignee_id, CASE WHEN l.v IN (0) THEN f.submitted_by_id END AS submitted_by_id,
           1 * f.n AS n, 1 * f.n2 AS n2, 1 * f.secs AS secs, 1 * f.secs_n AS secs_n,
           1 * f.n3 AS n3, 1 * f.n4 AS n4, 1 * f.n5 AS n5
    FROM (
    -- each incident's facts once (its projection and local days), then a copy per variant: with the
    -- variants outermost the planner computed them once per variant
    WITH once AS MATERIALIZED (
    SELECT r.category_id, r.source, r.town_id, r.village_id, r.grid_id, r.handling_grid_id, r.assignee_id, r.submitted_by_id, f.*
    FROM new_rows r
    CROSS JOIN LATERAL (
      -- CASE: only points of the metric domain are projected (elsewhere ST_Transform fails)
      SELECT floor(ST_X(p.m) / 50)::int AS cell_x, floor(ST_Y(p.m) / 50)::int AS cell_y
      FROM (SELECT CASE WHEN r.location IS NOT NULL AND r.state NOT IN ('cancelled', 'duplicate', 'out_of_jurisdiction')
                         AND ST_CoveredBy(r.location, ST_MakeEnvelope(68.62, 11.7, 139.77, 58.56, 4326))
                        THEN ST_Transform(r.location, 4549) END AS m) p
    ) c
    CROSS JOIN LATERAL (VALUES
      (1, ((r.created_at) AT TIME ZONE 'Asia/Shanghai')::date, NULL::date, c.cell_x, c.cell_y,
       CASE WHEN r.state NOT IN ('cancelled', 'duplicate', 'out_of_jurisdiction') THEN 1 END, CASE WHEN r.registered_at IS NOT NULL THEN 1 ELSE 0 END, 0.0::float8, 0, CASE WHEN r.dispatched_at IS NOT NULL THEN 1 ELSE 0 END, CASE WHEN r.dispatched_at IS NOT NULL AND r.returns = 0 THEN 1 ELSE 0 END, CASE WHEN r.registered_at IS NOT NULL AND NOT r.self_handled THEN 1 ELSE 0 END),
      (2, ((r.created_at) AT TIME ZONE 'Asia/Shanghai')::date, NULL, NULL, NULL,
       CASE WHEN NOT (r.state NOT IN ('cancelled', 'duplicate', 'out_of_jurisdiction')) THEN 1 END, CASE WHEN r.registered_at IS NOT NULL THEN 1 ELSE 0 END, 0.0::float8, 0, CASE WHEN r.dispatched_at IS NOT NULL THEN 1 ELSE 0 END, CASE WHEN r.dispatched_at IS NOT NULL AND r.returns = 0 THEN 1 ELSE 0 END, CASE WHEN r.registered_at IS NOT NULL AND NOT r.self_handled THEN 1 ELSE 0 END),
      (3, ((r.closed_at) AT TIME ZONE 'Asia/Shanghai')::date, ((r.handle_due_at) AT TIME ZONE 'Asia/Shanghai')::date, NULL, NULL,
       CASE WHEN r.state NOT IN ('cancelled', 'duplicate', 'out_of_jurisdiction') AND r.state = 'closed' THEN 1 END,
       CASE WHEN r.closed_at <= r.handle_due_at THEN 1 ELSE 0 END,
       CASE WHEN r.registered_at IS NOT NULL THEN extract(epoch FROM r.closed_at - r.registered_at)::float8 ELSE 0.0 END,
       CASE WHEN r.registered_at IS NOT NULL THEN 1 ELSE 0 END, CASE WHEN r.reworks > 0 THEN 1 ELSE 0 END, CASE WHEN r.extensions > 0 THEN 1 ELSE 0 END, CASE WHEN r.self_handled THEN 1 ELSE 0 END),
      (4, ((r.handle_due_at) AT TIME ZONE 'Asia/Shanghai')::date, NULL, NULL, NULL,
       CASE WHEN r.state NOT IN ('cancelled', 'duplicate', 'out_of_jurisdiction') AND r.handle_due_at IS NOT NULL THEN 1 END, 0, 0.0, 0, 0, 0, 0),
      (6, ((LEAST(CASE WHEN r.state IN ('dispatched', 'in_progress', 'registered') THEN r.handle_due_at END, CASE WHEN r.state IN ('dispatched') THEN r.accept_due_at END)) AT TIME ZONE 'Asia/Shanghai')::date, NULL, NULL, NULL,
       CASE WHEN r.state IN ('dispatched', 'handled', 'in_progress', 'registered', 'reported', 'verified') THEN 1 END, 0, 0.0, 0, 0, 0, 0),
      (7, NULL, NULL, NULL, NULL,
       CASE WHEN r.state = 'reported' AND r.triage <> '' THEN 1 END, 0, 0.0, 0, 0, 0, 0)
    ) f(kind, day, day2, cell_x, cell_y, n, n2, secs, secs_n, n3, n4, n5)
    WHERE f.n IS NOT NULL)
    SELECT * FROM once) f
    CROSS JOIN (VALUES (0), (10), (20), (30)) l(v)
    WHERE l.v = 0 OR l.v = 10 OR (l.v = 20 AND f.kind IN (1)) OR (l.v = 30 AND f.kind IN (1, 2, 3, 4)) UNION ALL 
    SELECT f.kind + l.v AS kind, CASE WHEN l.v IN (20, 30) THEN date_trunc('month', f.day)::date ELSE f.day END AS day, CASE WHEN l.v IN (20, 30) THEN date_trunc('month', f.day2)::date ELSE f.day2 END AS day2,
           CASE WHEN l.v IN (0) THEN f.cell_x WHEN l.v IN (20) THEN floor(f.cell_x / 5.0)::int END AS cell_x,
           CASE WHEN l.v IN (0) THEN f.cell_y WHEN l.v IN (20) THEN floor(f.cell_y / 5.0)::int END AS cell_y, CASE WHEN l.v IN (0, 10, 20) THEN f.category_id END AS category_id, CASE WHEN l.v IN (0, 10, 20) THEN f.source END AS source, CASE WHEN l.v IN (0, 30) THEN f.town_id END AS town_id, CASE WHEN l.v IN (0, 30) THEN f.village_id END AS village_id, CASE WHEN l.v IN (0, 20, 30) THEN f.grid_id END AS grid_id, CASE WHEN l.v IN (0) THEN f.handling_grid_id END AS handling_grid_id, CASE WHEN l.v IN (0, 30) THEN f.assignee_id END AS assignee_id, CASE WHEN l.v IN (0) THEN f.submitted_by_id END AS submitted_by_id,
           -1 * f.n AS n, -1 * f.n2 AS n2, -1 * f.secs AS secs, -1 * f.secs_n AS secs_n,
           -1 * f.n3 AS n3, -1 * f.n4 AS n4, -1 * f.n5 AS n5
    FROM (
    -- each incident's facts once (its projection and local days), then a copy per variant: with the
    -- variants outermost the planner computed them once per variant
    WITH once AS MATERIALIZED (
    SELECT r.category_id, r.source, r.town_id, r.village_id, r.grid_id, r.handling_grid_id, r.assignee_id, r.submitted_by_id, f.*
    FROM old_rows r
    CROSS JOIN LATERAL (
      -- CASE: only points of the metric domain are projected (elsewhere ST_Transform fails)
      SELECT floor(ST_X(p.m) / 50)::int AS cell_x, floor(ST_Y(p.m) / 50)::int AS cell_y
      FROM (SELECT CASE WHEN r.location IS NOT NULL AND r.state NOT IN ('cancelled', 'duplicate', 'out_of_jurisdiction')
                         AND ST_CoveredBy(r.location, ST_MakeEnvelope(68.62, 11.7, 139.77, 58.56, 4326))
                        THEN ST_Transform(r.location, 4549) END AS m) p
    ) c
    CROSS JOIN LATERAL (VALUES
      (1, ((r.created_at) AT TIME ZONE 'Asia/Shanghai')::date, NULL::date, c.cell_x, c.cell_y,
       CASE WHEN r.state NOT IN ('cancelled', 'duplicate', 'out_of_jurisdiction') THEN 1 END, CASE WHEN r.registered_at IS NOT NULL THEN 1 ELSE 0 END, 0.0::float8, 0, CASE WHEN r.dispatched_at IS NOT NULL THEN 1 ELSE 0 END, CASE WHEN r.dispatched_at IS NOT NULL AND r.returns = 0 THEN 1 ELSE 0 END, CASE WHEN r.registered_at IS NOT NULL AND NOT r.self_handled THEN 1 ELSE 0 END),
      (2, ((r.created_at) AT TIME ZONE 'Asia/Shanghai')::date, NULL, NULL, NULL,
       CASE WHEN NOT (r.state NOT IN ('cancelled', 'duplicate', 'out_of_jurisdiction')) THEN 1 END, CASE WHEN r.registered_at IS NOT NULL THEN 1 ELSE 0 END, 0.0::float8, 0, CASE WHEN r.dispatched_at IS NOT NULL THEN 1 ELSE 0 END, CASE WHEN r.dispatched_at IS NOT NULL AND r.returns = 0 THEN 1 ELSE 0 END, CASE WHEN r.registered_at IS NOT NULL AND NOT r.self_handled THEN 1 ELSE 0 END),
      (3, ((r.closed_at) AT TIME ZONE 'Asia/Shanghai')::date, ((r.handle_due_at) AT TIME ZONE 'Asia/Shanghai')::date, NULL, NULL,
       CASE WHEN r.state NOT IN ('cancelled', 'duplicate', 'out_of_jurisdiction') AND r.state = 'closed' THEN 1 END,
       CASE WHEN r.closed_at <= r.handle_due_at THEN 1 ELSE 0 END,
       CASE WHEN r.registered_at IS NOT NULL THEN extract(epoch FROM r.closed_at - r.registered_at)::float8 ELSE 0.0 END,
       CASE WHEN r.registered_at IS NOT NULL THEN 1 ELSE 0 END, CASE WHEN r.reworks > 0 THEN 1 ELSE 0 END, CASE WHEN r.extensions > 0 THEN 1 ELSE 0 END, CASE WHEN r.self_handled THEN 1 ELSE 0 END),
      (4, ((r.handle_due_at) AT TIME ZONE 'Asia/Shanghai')::date, NULL, NULL, NULL,
       CASE WHEN r.state NOT IN ('cancelled', 'duplicate', 'out_of_jurisdiction') AND r.handle_due_at IS NOT NULL THEN 1 END, 0, 0.0, 0, 0, 0, 0),
      (6, ((LEAST(CASE WHEN r.state IN ('dispatched', 'in_progress', 'registered') THEN r.handle_due_at END, CASE WHEN r.state IN ('dispatched') THEN r.accept_due_at END)) AT TIME ZONE 'Asia/Shanghai')::date, NULL, NULL, NULL,
       CASE WHEN r.state IN ('dispatched', 'handled', 'in_progress', 'registered', 'reported', 'verified') THEN 1 END, 0, 0.0, 0, 0, 0, 0),
      (7, NULL, NULL, NULL, NULL,
       CASE WHEN r.state = 'reported' AND r.triage <> '' THEN 1 END, 0, 0.0, 0, 0, 0, 0)
    ) f(kind, day, day2, cell_x, cell_y, n, n2, secs, secs_n, n3, n4, n5)
    WHERE f.n IS NOT NULL)
    SELECT * FROM once) f
    CROSS JOIN (VALUES (0), (10), (20), (30)) l(v)
    WHERE l.v = 0 OR l.v = 10 OR (l.v = 20 AND f.kind IN (1)) OR (l.v = 30 AND f.kind IN (1, 2, 3, 4)) UNION ALL 
    SELECT CASE WHEN e.action IN ('rework', 'reopen') THEN 5 ELSE 8 END AS kind,
           ((e.created_at) AT TIME ZONE 'Asia/Shanghai')::date AS day, NULL::date AS day2, NULL::int AS cell_x,
           NULL::int AS cell_y, r.category_id, r.source, r.town_id, r.village_id, r.grid_id, r.handling_grid_id, r.assignee_id, r.submitted_by_id,
           1 AS n,
           CASE WHEN e.action = 'return_visit' AND e.data ->> 'outcome' IN ('satisfied', 'basically_satisfied') THEN 1 ELSE 0 END
             AS n2,
           0.0::float8 AS secs, 0 AS secs_n, 0 AS n3, 0 AS n4, 0 AS n5
    FROM incidents_incidentevent e JOIN new_rows r ON r.id = e.incident_id
    WHERE e.action IN ('rework', 'reopen', 'return_visit') AND r.id IN (SELECT n.id FROM new_rows n JOIN old_rows o ON o.id = n.id WHERE (n.category_id, n.source, n.town_id, n.village_id, n.grid_id, n.handling_grid_id, n.assignee_id, n.submitted_by_id) IS DISTINCT FROM (o.category_id, o.source, o.town_id, o.village_id, o.grid_id, o.handling_grid_id, o.assignee_id, o.submitted_by_id)) UNION ALL 
    SELECT CASE WHEN e.action IN ('rework', 'reopen') THEN 5 ELSE 8 END AS kind,
           ((e.created_at) AT TIME ZONE 'Asia/Shanghai')::date AS day, NULL::date AS day2, NULL::int AS cell_x,
           NULL::int AS cell_y, r.category_id, r.source, r.town_id, r.village_id, r.grid_id, r.handling_grid_id, r.assignee_id, r.submitted_by_id,
           -1 AS n,
           CASE WHEN e.action = 'return_visit' AND e.data ->> 'outcome' IN ('satisfied', 'basically_satisfied') THEN -1 ELSE 0 END
             AS n2,
           0.0::float8 AS secs, 0 AS secs_n, 0 AS n3, 0 AS n4, 0 AS n5
    FROM incidents_incidentevent e JOIN old_rows r ON r.id = e.incident_id
    WHERE e.action IN ('rework', 'reopen', 'return_visit') AND r.id IN (SELECT n.id FROM new_rows n JOIN old_rows o ON o.id = n.id WHERE (n.category_id, n.source, n.town_id, n.village_id, n.grid_id, n.handling_grid_id, n.assignee_id, n.submitted_by_id) IS DISTINCT FROM (o.category_id, o.source, o.town_id, o.village_id, o.grid_id, o.handling_grid_id, o.assignee_id, o.submitted_by_id))) facts GROUP BY kind, day, day2, cell_x, cell_y, category_id, source, town_id, village_id, grid_id, handling_grid_id, assignee_id, submitted_by_id HAVING sum(n) <> 0 OR sum(n2) <> 0 OR sum(secs) <> 0 OR sum(secs_n) <> 0 OR sum(n3) <> 0 OR sum(n4) <> 0 OR sum(n5) <> 0),
  applied AS (
    INSERT INTO incidents_rollup AS t (key, kind, day, day2, cell_x, cell_y, category_id, source, town_id, village_id, grid_id, handling_grid_id, assignee_id, submitted_by_id, n, n2, secs, secs_n, n3, n4, n5) SELECT key, kind, day, day2, cell_x, cell_y, category_id, source, town_id, village_id, grid_id, handling_grid_id, assignee_id, submitted_by_id, n, n2, secs, secs_n, n3, n4, n5 FROM delta ORDER BY key
    ON CONFLICT (key, kind) DO UPDATE SET n = t.n + excluded.n, n2 = t.n2 + excluded.n2,
      secs = CASE WHEN t.secs_n + excluded.secs_n = 0 THEN 0 ELSE t.secs + excluded.secs END,
      secs_n = t.secs_n + excluded.secs_n, n3 = t.n3 + excluded.n3, n4 = t.n4 + excluded.n4,
      n5 = t.n5 + excluded.n5
    RETURNING t.key, t.kind, t.n, t.n2, t.secs_n, t.n3, t.n4, t.n5)
  SELECT array_agg(key), array_agg(DISTINCT kind) INTO zeros, zero_kinds FROM applied WHERE n = 0 AND n2 = 0 AND secs_n = 0 AND n3 = 0 AND n4 = 0 AND n5 = 0;
  IF zeros IS NOT NULL THEN
    DELETE FROM incidents_rollup WHERE kind = ANY(zero_kinds) AND key = ANY(zeros) AND n = 0 AND n2 = 0 AND secs_n = 0 AND n3 = 0 AND n4 = 0 AND n5 = 0;
  END IF;
  RETURN NULL;
END $rollup$;
CREATE OR REPLACE FUNCTION incidents_rollup_on_event() RETURNS trigger LANGUAGE plpgsql AS $rollup$
DECLARE zeros text[]; zero_kinds int[];
BEGIN
  WITH delta AS (
    SELECT format('%s|%s|%s|%s|%s|%s|%s|%s|%s|%s|%s|%s|%s', kind, day, day2, cell_x, cell_y, category_id, source, town_id, village_id, grid_id, handling_grid_id, assignee_id, submitted_by_id) AS key, kind, day, day2, cell_x, cell_y, category_id, source, town_id, village_id, grid_id, handling_grid_id, assignee_id, submitted_by_id, sum(n) AS n, sum(n2) AS n2, sum(secs) AS secs, sum(secs_n) AS secs_n, sum(n3) AS n3, sum(n4) AS n4, sum(n5) AS n5
    FROM (
    SELECT CASE WHEN e.action IN ('rework', 'reopen') THEN 5 ELSE 8 END AS kind,
           ((e.created_at) AT TIME ZONE 'Asia/Shanghai')::date AS day, NULL::date AS day2, NULL::int AS cell_x,
           NULL::int AS cell_y, r.category_id, r.source, r.town_id, r.village_id, r.grid_id, r.handling_grid_id, r.assignee_id, r.submitted_by_id,
           1 AS n,
           CASE WHEN e.action = 'return_visit' AND e.data ->> 'outcome' IN ('satisfied', 'basically_satisfied') THEN 1 ELSE 0 END
             AS n2,
           0.0::float8 AS secs, 0 AS secs_n, 0 AS n3, 0 AS n4, 0 AS n5
    FROM new_rows e JOIN incidents_incident r ON r.id = e.incident_id
    WHERE e.action IN ('rework', 'reopen', 'return_visit') ) facts GROUP BY kind, day, day2, cell_x, cell_y, category_id, source, town_id, village_id, grid_id, handling_grid_id, assignee_id, submitted_by_id HAVING sum(n) <> 0 OR sum(n2) <> 0 OR sum(secs) <> 0 OR sum(secs_n) <> 0 OR sum(n3) <> 0 OR sum(n4) <> 0 OR sum(n5) <> 0),
  applied AS (
    INSERT INTO incidents_rollup AS t (key, kind, day, day2, cell_x, cell_y, category_id, source, town_id, village_id, grid_id, handling_grid_id, assignee_id, submitted_by_id, n, n2, secs, secs_n, n3, n4, n5) SELECT key, kind, day, day2, cell_x, cell_y, category_id, source, town_id, village_id, grid_id, handling_grid_id, assignee_id, submitted_by_id, n, n2, secs, secs_n, n3, n4, n5 FROM delta ORDER BY key
    ON CONFLICT (key, kind) DO UPDATE SET n = t.n + excluded.n, n2 = t.n2 + excluded.n2,
      secs = CASE WHEN t.secs_n + excluded.secs_n = 0 THEN 0 ELSE t.secs + excluded.secs END,
      secs_n = t.secs_n + excluded.secs_n, n3 = t.n3 + excluded.n3, n4 = t.n4 + excluded.n4,
      n5 = t.n5 + excluded.n5
    RETURNING t.key, t.kind, t.n, t.n2, t.secs_n, t.n3, t.n4, t.n5)
  SELECT array_agg(key), array_agg(DISTINCT kind) INTO zeros, zero_kinds FROM applied WHERE n = 0 AND n2 = 0 AND secs_n = 0 AND n3 = 0 AND n4 = 0 AND n5 = 0;
  IF zeros IS NOT NULL THEN
    DELETE FROM incidents_rollup WHERE kind = ANY(zero_kinds) AND key = ANY(zeros) AND n = 0 AND n2 = 0 AND secs_n = 0 AND n3 = 0 AND n4 = 0 AND n5 = 0;
  END IF;
  RETURN NULL;
END $rollup$;
DROP TRIGGER IF EXISTS incidents_incident_rollup_insert ON incidents_incident;
CREATE TRIGGER incidents_incident_rollup_insert AFTER INSERT ON incidents_incident REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION incidents_rollup_on_insert();
DROP TRIGGER IF EXISTS incidents_incident_rollup_delete ON incidents_incident;
CREATE TRIGGER incidents_incident_rollup_delete AFTER DELETE ON incidents_incident REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION incidents_rollup_on_delete();
DROP TRIGGER IF EXISTS incidents_incident_rollup_update ON incidents_incident;
CREATE TRIGGER incidents_incident_rollup_update AFTER UPDATE ON incidents_incident REFERENCING NEW TABLE AS new_rows OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION incidents_rollup_on_update();
DROP TRIGGER IF EXISTS incidents_incidentevent_rollup_insert ON incidents_incidentevent;
CREATE TRIGGER incidents_incidentevent_rollup_insert AFTER INSERT ON incidents_incidentevent REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION incidents_rollup_on_event();
"""


class Migration(migrations.Migration):
    atomic = True

    dependencies = [
        ('incidents', '0024_incident_open_location'),
    ]

    operations = [
        migrations.RunPython(forwards, backwards),
        migrations.RunSQL(TRIGGERS, reverse_sql=migrations.RunSQL.noop),
    ]

