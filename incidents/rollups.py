"""Rollups: the incident counts every analytical read sums, kept by the database as incidents change.

One table, ``incidents_rollup``: each incident contributes *facts*, each a row key and counts; a row
holds the sum of the facts with its key. The key is a kind, a local day (Asia/Shanghai, the
project's TIME_ZONE), for some kinds a second day or a heatmap cell, and the incident's
dimensions: category, source, town, village, grid, handling grid, assignee and client
(``submitted_by``). The dimensions carry the incident's own column names, so the scoping rule of
``incidents.selectors.scope_q`` filters rollup rows exactly as it filters incidents.

The facts of one incident (every condition is rendered from ``incidents.rules``):

- RECEIVED: counted (``rules.NOT_COUNTED`` excluded), on the day it was created, in its heatmap
  cell (``CELL_M`` wide in EPSG:4549, ``cell_index``) when its point may be projected; ``n2`` 1 when
  registered, ``n3`` when dispatched, ``n4`` when dispatched and never returned to the command centre,
  ``n5`` when registered and not fixed on the spot (the standard assessment's 立案, 派遣, 准确派遣 and
  应派遣 counts, ``rules.standard_figure_filters``);
- RECEIVED_UNCOUNTED: the same day and measures, for the incidents not counted (the command centre's
  "today" counts every report, the assessment's 受理数 too);
- CLOSED: counted and closed, on the day it closed; ``day2`` the day of its handling deadline;
  ``n2`` 1 when closed on time (``closed_at <= handle_due_at``); ``secs``/``secs_n`` the handling
  time ``closed_at - registered_at`` when registered; ``n3`` 1 when reworked before, ``n4`` when its
  deadline was extended, ``n5`` when fixed on the spot (自行处置);
- DUE: counted, on the day of its handling deadline (``handle_due_at``);
- REWORK: one per 返工 rework event (``rules.REWORK_ACTIONS``), on the event's day, under the
  incident's current dimensions;
- VISIT: one per 回访 return visit event (``rules.VISIT_ACTION``), the same way; ``n2`` 1 when the
  reporter was satisfied (``rules.SATISFIED_OUTCOMES``);
- OPEN: in ``rules.OPEN``; ``day`` is the day it becomes overdue (the earliest running clock of
  ``rules.OVERDUE_CLOCKS``; none when no clock runs);
- TRIAGE: a located-by-hand waiting incident (``TRIAGE_STATE`` with a triage flag).

Maintained in the same transaction as the change by statement-level triggers on the incidents
(INSERT, UPDATE, DELETE, with transition tables) and on the events (INSERT of rework events): the
facts of the new rows minus those of the old, grouped, applied as deltas (``INSERT ... ON CONFLICT
DO UPDATE SET n = n + excluded.n``), so concurrent writers never lose a count, COPY batches, the
lifecycle, the sweep and a history import all keep them without Python, and a statement costs one
grouped upsert whatever its row count. Rows that fall back to zero are deleted.

Periods and ``now``. The rollups answer whole local days, and "now" as its local midnight. A reader
rounds its period [start, end) down to local midnights [d0, d1) and ``now`` to today's midnight
t0, reads the rollups for those, and corrects with the ordinary path (the direct aggregation on the
incidents) on the few incidents the rounding can change, those with a time stamp in the gaps
(``Window.edge_q``): answer = rollup(d0, d1, t0) + direct(edge, exact) - direct(edge, rounded).
So "overdue now" is the OPEN facts of the days before today, plus the incidents whose clock ran
out since midnight; "due to close" is DUE up to today plus CLOSED minus CLOSED-and-DUE (its
``day2``), plus the same correction. The gaps are at most a day at each end and today so far.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from django.conf import settings
from django.db import connection, models, transaction
from django.db.models import Q
from django.utils import timezone

from gis_core.coords import metric_domain
from gis_core.srid import METRIC_SRID
from incidents import rules

TABLE = "incidents_rollup"
INCIDENTS = "incidents_incident"
EVENTS = "incidents_incidentevent"
# The finest heatmap cell, in metres (EPSG:4549); every offered cell size is a multiple of it, so a
# cell of any size is a whole block of these (``hotspots.cell_index``).
CELL_M = 50
TRIAGE_STATE = rules.State.REPORTED
DIMENSIONS = ["category_id", "source", "town_id", "village_id", "grid_id", "handling_grid_id", "assignee_id",
              "submitted_by_id"]


# Each fact but REWORK is kept in more than one *variant*, each a narrow copy for one family of reads:
# - full (offset 0): every dimension, day grain; read by the scoped readers (``scope_q`` filters it);
# - LEAN (offset 10): only LEAN_DIMENSIONS, day grain, no cell; read by the readers that see everything
#   and group by nothing else (trend, stats): a day has at most categories x sources of them;
# - HEAT (offset 20, RECEIVED only): HEAT_DIMENSIONS and a coarser cell (HEAT_CELL_M), by local *month*
#   (``day`` is the month's first day); read by the heatmap of a reader that sees everything, at a cell
#   size that is a multiple of HEAT_CELL_M, for the whole months of its period (the full rows answer the
#   part-months and the other sizes).
# - ASSESS (offset 30, the received, closed and due kinds): ASSESS_DIMENSIONS, no cell, by local month
#   (``day`` and ``day2`` a month's first day); read by the assessment of a reader who sees everything
#   for a period of whole months that have ended (the monthly, quarterly, yearly 考核), grouped by any of
#   them (``whole_past_months``): a city's month of received incidents is a few rows per grid, not one
#   per incident and cell.
# The variants are rendered from VARIANTS by one function (``_facts``), so every table of facts follows
# the one rule of which facts an incident contributes.
LEAN = 10
HEAT = 20
LEAN_DIMENSIONS = ["category_id", "source"]
# the dimensions ``incidents.selectors.scope_q`` filters on (each indexed on the full rows)
SCOPE_FIELDS = ["grid", "handling_grid", "village", "assignee", "submitted_by"]
HEAT_DIMENSIONS = ["category_id", "source", "grid_id"]
ASSESS = 30
ASSESS_DIMENSIONS = ["town_id", "village_id", "grid_id", "assignee_id"]
HEAT_CELL_M = 250  # the month rows' cell, in metres: every cell size the review page offers is a multiple


@dataclass(frozen=True)
class Variant:
    offset: int
    dimensions: tuple[str, ...]
    cell_m: int | None  # the width of its cells (a multiple of CELL_M), None: no cell
    month: bool
    kinds: tuple[int, ...] | None  # None: every kind


class Kind(models.IntegerChoices):
    RECEIVED = 1, "received (counted)"
    RECEIVED_UNCOUNTED = 2, "received (not counted)"
    CLOSED = 3, "closed"
    DUE = 4, "handling deadline"
    REWORK = 5, "rework event"
    OPEN = 6, "open (day it becomes overdue)"
    TRIAGE = 7, "waiting in triage"
    VISIT = 8, "return visit event"
    LEAN_RECEIVED = 11, "received (counted), lean"
    LEAN_RECEIVED_UNCOUNTED = 12, "received (not counted), lean"
    LEAN_CLOSED = 13, "closed, lean"
    LEAN_DUE = 14, "handling deadline, lean"
    LEAN_OPEN = 16, "open, lean"
    LEAN_TRIAGE = 17, "waiting in triage, lean"
    HEAT_RECEIVED = 21, "received (counted), by month and cell"
    ASSESS_RECEIVED = 31, "received (counted), by month"
    ASSESS_RECEIVED_UNCOUNTED = 32, "received (not counted), by month"
    ASSESS_CLOSED = 33, "closed, by month"
    ASSESS_DUE = 34, "handling deadline, by month"


VARIANTS = [
    Variant(0, tuple(DIMENSIONS), cell_m=CELL_M, month=False, kinds=None),
    Variant(LEAN, tuple(LEAN_DIMENSIONS), cell_m=None, month=False, kinds=None),
    Variant(HEAT, tuple(HEAT_DIMENSIONS), cell_m=HEAT_CELL_M, month=True, kinds=(Kind.RECEIVED,)),
    Variant(ASSESS, tuple(ASSESS_DIMENSIONS), cell_m=None, month=True,
            kinds=(Kind.RECEIVED, Kind.RECEIVED_UNCOUNTED, Kind.CLOSED, Kind.DUE)),
]


def _ref(model: str, **kwargs) -> models.ForeignKey:
    # no constraint: a rollup row is a count, never a reason to refuse deleting what it counts
    return models.ForeignKey(model, null=True, on_delete=models.DO_NOTHING, db_constraint=False,
                             related_name="+", db_index=False, **kwargs)


class Rollup(models.Model):
    """The sum of the facts with one key (see the module's docstring); written only by the triggers."""

    key = models.TextField(primary_key=True)
    kind = models.PositiveSmallIntegerField(choices=Kind.choices)
    day = models.DateField(null=True)
    day2 = models.DateField(null=True)
    cell_x = models.IntegerField(null=True, help_text=f"floor(x / {CELL_M}) in EPSG:4549 ({HEAT_CELL_M} on HEAT rows)")
    cell_y = models.IntegerField(null=True, help_text=f"floor(y / {CELL_M}) in EPSG:4549 ({HEAT_CELL_M} on HEAT rows)")
    category = _ref("incidents.Category")
    source = models.CharField(max_length=16, null=True)  # None: a variant that does not keep it
    town = _ref("grids.Town")
    village = _ref("grids.Village")
    grid = _ref("grids.Grid")
    handling_grid = _ref("grids.Grid")
    assignee = _ref("grids.Person")
    submitted_by = _ref(settings.AUTH_USER_MODEL)
    n = models.BigIntegerField(default=0)
    n2 = models.BigIntegerField(default=0)
    n3 = models.BigIntegerField(default=0)
    n4 = models.BigIntegerField(default=0)
    n5 = models.BigIntegerField(default=0)
    secs = models.FloatField(default=0.0)
    secs_n = models.BigIntegerField(default=0)

    class Meta:
        db_table = TABLE
        # kind and day for the readers that see everything; kind and the cells for a map's view of the
        # heatmap (a town's cells out of a city's: at 10M the view read every month row of the city's
        # year, 2.3 s); for a scoped reader one partial index per column of the scope's OR
        # (``selectors.scope_q`` names the ids), on the full rows only, so a grid leader's year reads
        # their rows, not the city's (a bitmap OR of these)
        indexes = [models.Index(fields=["kind", "day"], name="incidents_rollup_kind_day"),
                   models.Index(fields=["kind", "cell_x", "cell_y", "day"], condition=Q(cell_x__isnull=False),
                                name="rollup_cells"),
                   *[models.Index(fields=[field, "kind", "day"], condition=Q(kind__lt=LEAN),
                                  name=f"rollup_scope_{field[:8]}") for field in SCOPE_FIELDS]]

    def __str__(self) -> str:
        return self.key


# --- the facts, rendered as SQL from the rules ---------------------------------------------------
def _in(states) -> str:
    return "(" + ", ".join(f"'{s}'" for s in sorted(states)) + ")"


def _local(column: str) -> str:
    return f"(({column}) AT TIME ZONE '{settings.TIME_ZONE}')::date"


def _overdue_from(alias: str) -> str:
    """The instant an incident becomes overdue in its state: its earliest running clock."""
    clocks = [f"CASE WHEN {alias}.state IN {_in(states)} THEN {alias}.{column} END"
              for column, states in rules.OVERDUE_CLOCKS]
    return f"LEAST({', '.join(clocks)})"


def _facts(table: str, sign: int, variants: list[Variant] | None = None) -> str:
    """Return the SELECT of the facts of the incident rows in ``table`` (times ``sign``), in every
    variant (or in ``variants``)."""
    variants = VARIANTS if variants is None else variants
    counted = f"r.state NOT IN {_in(rules.NOT_COUNTED)}"
    closed = f"{counted} AND r.state = '{rules.State.CLOSED}'"
    registered = "r.registered_at IS NOT NULL"
    flag = "CASE WHEN {} THEN 1 ELSE 0 END".format
    # the received kinds' n2, n3, n4, n5: registered, dispatched, dispatched and never returned,
    # registered and not fixed on the spot
    intake = (f"{flag(registered)}, 0.0::float8, 0, {flag('r.dispatched_at IS NOT NULL')}, "
              f"{flag('r.dispatched_at IS NOT NULL AND r.returns = 0')}, "
              f"{flag(registered + ' AND NOT r.self_handled')}")
    west, south, east, north = metric_domain()
    k = Kind

    def where(test) -> str:
        offsets = [str(v.offset) for v in variants if test(v)]
        if len(offsets) == len(variants):
            return "true"
        return f"l.v IN ({', '.join(offsets)})" if offsets else "false"

    def kept(value: str, test) -> str:
        condition = where(test)
        return value if condition == "true" else f"CASE WHEN {condition} THEN {value} END"

    dims = ", ".join(kept(f"f.{d}", lambda v, d=d: d in v.dimensions) + f" AS {d}" for d in DIMENSIONS)
    wanted = " OR ".join(f"l.v = {v.offset}" if v.kinds is None else
                         f"(l.v = {v.offset} AND f.kind IN ({', '.join(str(int(x)) for x in v.kinds)}))"
                         for v in variants)
    def cell(axis: str) -> str:
        """The cell index on ``axis`` in each variant's width (the facts' are CELL_M wide)."""
        widths = sorted({v.cell_m for v in variants if v.cell_m})
        if not widths:
            return "NULL::int"
        if len(widths) == 1 and widths[0] == CELL_M:
            return kept(f"f.{axis}", lambda v: v.cell_m is not None)
        whens = " ".join(f"WHEN {where(lambda v, w=w: v.cell_m == w)} THEN "
                         + (f"f.{axis}" if w == CELL_M else f"floor(f.{axis} / {w // CELL_M}.0)::int")
                         for w in widths)
        return f"CASE {whens} END"

    month = where(lambda v: v.month)
    def by_month(column: str) -> str:
        if month == "false":
            return column
        return f"CASE WHEN {month} THEN date_trunc('month', {column})::date ELSE {column} END"

    return f"""
    SELECT f.kind + l.v AS kind, {by_month('f.day')} AS day, {by_month('f.day2')} AS day2,
           {cell('cell_x')} AS cell_x,
           {cell('cell_y')} AS cell_y, {dims},
           {sign} * f.n AS n, {sign} * f.n2 AS n2, {sign} * f.secs AS secs, {sign} * f.secs_n AS secs_n,
           {sign} * f.n3 AS n3, {sign} * f.n4 AS n4, {sign} * f.n5 AS n5
    FROM (
    -- each incident's facts once (its projection and local days), then a copy per variant: with the
    -- variants outermost the planner computed them once per variant
    WITH once AS MATERIALIZED (
    SELECT {', '.join('r.' + d for d in DIMENSIONS)}, f.*
    FROM {table} r
    CROSS JOIN LATERAL (
      -- CASE: only points of the metric domain are projected (elsewhere ST_Transform fails)
      SELECT floor(ST_X(p.m) / {CELL_M})::int AS cell_x, floor(ST_Y(p.m) / {CELL_M})::int AS cell_y
      FROM (SELECT CASE WHEN r.location IS NOT NULL AND {counted}
                         AND ST_CoveredBy(r.location, ST_MakeEnvelope({west}, {south}, {east}, {north}, 4326))
                        THEN ST_Transform(r.location, {METRIC_SRID}) END AS m) p
    ) c
    CROSS JOIN LATERAL (VALUES
      ({k.RECEIVED}, {_local('r.created_at')}, NULL::date, c.cell_x, c.cell_y,
       CASE WHEN {counted} THEN 1 END, {intake}),
      ({k.RECEIVED_UNCOUNTED}, {_local('r.created_at')}, NULL, NULL, NULL,
       CASE WHEN NOT ({counted}) THEN 1 END, {intake}),
      ({k.CLOSED}, {_local('r.closed_at')}, {_local('r.handle_due_at')}, NULL, NULL,
       CASE WHEN {closed} THEN 1 END,
       {flag('r.closed_at <= r.handle_due_at')},
       CASE WHEN {registered} THEN extract(epoch FROM r.closed_at - r.registered_at)::float8 ELSE 0.0 END,
       {flag(registered)}, {flag('r.reworks > 0')}, {flag('r.extensions > 0')}, {flag('r.self_handled')}),
      ({k.DUE}, {_local('r.handle_due_at')}, NULL, NULL, NULL,
       CASE WHEN {counted} AND r.handle_due_at IS NOT NULL THEN 1 END, 0, 0.0, 0, 0, 0, 0),
      ({k.OPEN}, {_local(_overdue_from('r'))}, NULL, NULL, NULL,
       CASE WHEN r.state IN {_in(rules.OPEN)} THEN 1 END, 0, 0.0, 0, 0, 0, 0),
      ({k.TRIAGE}, NULL, NULL, NULL, NULL,
       CASE WHEN r.state = '{TRIAGE_STATE}' AND r.triage <> '' THEN 1 END, 0, 0.0, 0, 0, 0, 0)
    ) f(kind, day, day2, cell_x, cell_y, n, n2, secs, secs_n, n3, n4, n5)
    WHERE f.n IS NOT NULL)
    SELECT * FROM once) f
    CROSS JOIN (VALUES {', '.join(f'({v.offset})' for v in variants)}) l(v)
    WHERE {wanted}"""


def _event_facts(events: str, incidents: str, sign: int, where: str = "") -> str:
    """Return the SELECT of the REWORK and VISIT facts: ``events`` joined to their incident rows in
    ``incidents``."""
    reworks = ", ".join(repr(a) for a in rules.REWORK_ACTIONS)
    satisfied = ", ".join(repr(o) for o in rules.SATISFIED_OUTCOMES)
    return f"""
    SELECT CASE WHEN e.action IN ({reworks}) THEN {Kind.REWORK} ELSE {Kind.VISIT} END AS kind,
           {_local('e.created_at')} AS day, NULL::date AS day2, NULL::int AS cell_x,
           NULL::int AS cell_y, {', '.join('r.' + d for d in DIMENSIONS)},
           {sign} AS n,
           CASE WHEN e.action = '{rules.VISIT_ACTION}' AND e.data ->> 'outcome' IN ({satisfied}) THEN {sign} ELSE 0 END
             AS n2,
           0.0::float8 AS secs, 0 AS secs_n, 0 AS n3, 0 AS n4, 0 AS n5
    FROM {events} e JOIN {incidents} r ON r.id = e.incident_id
    WHERE e.action IN ({reworks}, '{rules.VISIT_ACTION}') {where}"""


KEY_COLUMNS = ["kind", "day", "day2", "cell_x", "cell_y", *DIMENSIONS]
MEASURES = ["n", "n2", "secs", "secs_n", "n3", "n4", "n5"]
ROW_COLUMNS = ["key", *KEY_COLUMNS, *MEASURES]


def _grouped(facts: str, *, having: bool) -> str:
    """Return the SELECT that sums ``facts`` by key, with the key text first."""
    keys = ", ".join(KEY_COLUMNS)
    key_text = "format(" + "'" + "|".join(["%s"] * len(KEY_COLUMNS)) + "', " + keys + ")"
    condition = ("HAVING " + " OR ".join(f"sum({m}) <> 0" for m in MEASURES)) if having else ""
    return f"""
    SELECT {key_text} AS key, {keys}, {', '.join(f'sum({m}) AS {m}' for m in MEASURES)}
    FROM ({facts}) facts GROUP BY {keys} {condition}"""


_ZERO = "{t}n = 0 AND {t}n2 = 0 AND {t}secs_n = 0 AND {t}n3 = 0 AND {t}n4 = 0 AND {t}n5 = 0"


# Rows with a key already there are added to (a trigger's delta, a chunk of the rebuild).
_ADD = """ON CONFLICT (key, kind) DO UPDATE SET n = t.n + excluded.n, n2 = t.n2 + excluded.n2,
      secs = CASE WHEN t.secs_n + excluded.secs_n = 0 THEN 0 ELSE t.secs + excluded.secs END,
      secs_n = t.secs_n + excluded.secs_n, n3 = t.n3 + excluded.n3, n4 = t.n4 + excluded.n4,
      n5 = t.n5 + excluded.n5"""


def _apply(facts: str) -> str:
    """Return the PL/pgSQL that applies the facts as deltas, then drops the rows left at zero."""
    columns = ", ".join(ROW_COLUMNS)
    return f"""
  WITH delta AS ({_grouped(facts, having=True)}),
  applied AS (
    INSERT INTO {TABLE} AS t ({columns}) SELECT {columns} FROM delta ORDER BY key
    {_ADD}
    RETURNING t.key, t.kind, t.n, t.n2, t.secs_n, t.n3, t.n4, t.n5)
  SELECT array_agg(key), array_agg(DISTINCT kind) INTO zeros, zero_kinds FROM applied WHERE {_ZERO.format(t='')};
  IF zeros IS NOT NULL THEN
    DELETE FROM {TABLE} WHERE kind = ANY(zero_kinds) AND key = ANY(zeros) AND {_ZERO.format(t='')};
  END IF;"""


def _function(name: str, body: str) -> str:
    return f"""CREATE OR REPLACE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $rollup$
DECLARE zeros text[]; zero_kinds int[];
BEGIN{body}
  RETURN NULL;
END $rollup$;"""


def _changed_dimensions() -> str:
    new = ", ".join("n." + d for d in DIMENSIONS)
    old = ", ".join("o." + d for d in DIMENSIONS)
    return (f"AND r.id IN (SELECT n.id FROM new_rows n JOIN old_rows o ON o.id = n.id "
            f"WHERE ({new}) IS DISTINCT FROM ({old}))")


def trigger_sql() -> str:
    """Return the SQL that (re)creates the rollup functions and triggers from the current rules."""
    moved = _changed_dimensions()
    functions = [
        _function("incidents_rollup_on_insert", _apply(_facts("new_rows", 1))),
        _function("incidents_rollup_on_delete", _apply(_facts("old_rows", -1))),
        _function("incidents_rollup_on_update", _apply(
            _facts("new_rows", 1) + " UNION ALL " + _facts("old_rows", -1)
            + " UNION ALL " + _event_facts(EVENTS, "new_rows", 1, moved)
            + " UNION ALL " + _event_facts(EVENTS, "old_rows", -1, moved))),
        _function("incidents_rollup_on_event", _apply(_event_facts("new_rows", INCIDENTS, 1))),
    ]
    triggers = []
    for op, table, rows in [("INSERT", INCIDENTS, "NEW TABLE AS new_rows"),
                            ("DELETE", INCIDENTS, "OLD TABLE AS old_rows"),
                            ("UPDATE", INCIDENTS, "NEW TABLE AS new_rows OLD TABLE AS old_rows"),
                            ("INSERT", EVENTS, "NEW TABLE AS new_rows")]:
        name = f"{table}_rollup_{op.lower()}"
        function = "incidents_rollup_on_event" if table == EVENTS else f"incidents_rollup_on_{op.lower()}"
        triggers.append(f"DROP TRIGGER IF EXISTS {name} ON {table};\n"
                        f"CREATE TRIGGER {name} AFTER {op} ON {table} REFERENCING {rows} "
                        f"FOR EACH STATEMENT EXECUTE FUNCTION {function}();")
    return "\n".join(functions + triggers)


DROP_SQL = "\n".join(
    [f"DROP TRIGGER IF EXISTS {t}_rollup_{op} ON {t};" for t, op in
     [(INCIDENTS, "insert"), (INCIDENTS, "delete"), (INCIDENTS, "update"), (EVENTS, "insert")]]
    + [f"DROP FUNCTION IF EXISTS incidents_rollup_on_{op}();" for op in ("insert", "delete", "update", "event")])


def _all_facts() -> str:
    return _grouped(_facts(INCIDENTS, 1) + " UNION ALL " + _event_facts(EVENTS, INCIDENTS, 1), having=True)


REBUILD_CHUNK = 250_000  # incident ids per statement of a rebuild
# Set (SET LOCAL, 'on') by a rebuild: the triggers that follow the rollups' changes one by one
# (``heat_ahead.late_trigger_sql``) leave a rebuild's rows alone.
REBUILDING = "gridops.rollup_rebuild"


def rebuild_rollups(*, chunk: int = REBUILD_CHUNK, progress=None, offline: bool = False) -> int:
    """Recompute the rollups from the incidents and their events; return the number of rows.

    In chunks of ``chunk`` incident ids, each one statement that adds its facts (those of its incidents
    and of their events) to the rows already made, so a city's rebuild says how far it is:
    ``progress(ids done, ids in all)`` after each. Safe to run twice, and while intake runs: the
    incidents and events are locked against writes (SHARE) for the transaction, so no trigger adds a
    delta to rows being replaced; writers wait.

    ``offline`` (a bulk build's, nobody reading): the table's indexes but its key are dropped for the
    rebuild and made again at its end, each in one sorted pass instead of row by row; readers of the
    rollups wait for the whole rebuild (the drop locks the table), so never on a live database. After
    the commit the rows are put in the key's order (``cluster_rollups``), which also leaves behind the
    row versions the chunks' upserts replaced: a row every chunk adds to (a day's lean counts, a month's)
    has a version per chunk. Clustered inside the rebuild's own transaction those versions were still
    its own, not yet dead, and were copied: at the 10M city the lean "closed" rows (157,000) took 654 MB,
    about two rows a page, and a year's trend read 26,000 pages from disk (1.9 s cold).

    The heatmaps kept ahead (``heat_ahead``) are forgotten: the job sums them again from these rows."""
    from incidents.heat_ahead import forget_runs  # its models sit on this module's table

    columns = ", ".join(ROW_COLUMNS)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"LOCK TABLE {INCIDENTS}, {EVENTS} IN SHARE MODE")
        cursor.execute(f"SET LOCAL {REBUILDING} = 'on'")
        forget_runs(cursor)
        cursor.execute(f"DELETE FROM {TABLE}")
        dropped = _drop_secondary_indexes(cursor) if offline else []
        cursor.execute(f"SELECT min(id), max(id) FROM {INCIDENTS}")
        first, last = cursor.fetchone()
        if progress and first is not None:
            progress(0, last + 1 - first)  # the clock of a progress bar starts here
        for lo in range(first, last + 1, chunk) if first is not None else ():
            part = f"(SELECT * FROM {INCIDENTS} WHERE id >= {int(lo)} AND id < {int(lo + chunk)})"
            facts = _grouped(_facts(part, 1) + " UNION ALL " + _event_facts(EVENTS, part, 1), having=True)
            cursor.execute(f"INSERT INTO {TABLE} AS t ({columns}) SELECT {columns} FROM ({facts}) f {_ADD}")
            if progress:
                progress(min(lo + chunk, last + 1) - first, last + 1 - first)
        for definition in dropped:
            cursor.execute(definition)
        cursor.execute(f"SELECT count(*) FROM {TABLE}")
        count = cursor.fetchone()[0]
    if offline:
        cluster_rollups()
    return count


def partitions(cursor) -> list[str]:
    """Return the names of the rollup table's partitions."""
    cursor.execute("SELECT inhrelid::regclass::text FROM pg_inherits WHERE inhparent = %s::regclass ORDER BY 1",
                   [TABLE])
    return [name for (name,) in cursor.fetchall()]


def _cluster(cursor, partition: str) -> None:
    """Rewrite one partition in the order of its key (CLUSTER on the primary key), its indexes made again."""
    cursor.execute("SELECT indexrelid::regclass::text FROM pg_index WHERE indrelid = %s::regclass AND indisprimary",
                   [partition])
    cursor.execute(f"CLUSTER {partition} USING {cursor.fetchone()[0]}")


def cluster_rollups(progress=None) -> list[str]:
    """Put each partition's rows in the order of their key, one partition a transaction; return the
    partitions. The key begins with the kind and the day (``_grouped``'s ``format``), so a period's rows
    then lie together: after a rebuild at the 1M city, last month's assessment per person read 29,700
    pages (493 ms from disk); in key order 1,900 (151 ms). Rows written later go where there is room, so
    the order wears off as the rollups change: run it in a quiet hour (each partition is locked for its
    rewrite: intake's triggers and the readers of that partition wait; the 20 partitions at 1M took 82 s
    in all), or use pg_repack, which does the same without the lock (docs/deploy.md)."""
    with connection.cursor() as cursor:
        names = partitions(cursor)
    for n, partition in enumerate(names):
        with transaction.atomic(), connection.cursor() as cursor:
            _cluster(cursor, partition)
        if progress:
            progress(n + 1, len(names))
    return names


def _drop_secondary_indexes(cursor) -> list[str]:
    """Drop the rollup table's indexes other than its key's; return their definitions (CREATE INDEX)."""
    cursor.execute("SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid) FROM pg_index i "
                   "WHERE i.indrelid = %s::regclass AND NOT i.indisprimary ORDER BY 1", [TABLE])
    indexes = cursor.fetchall()
    for name, _ in indexes:
        cursor.execute(f"DROP INDEX {name}")
    # a partitioned table's index reads "ON ONLY" (the parent alone); made again, it is for every partition
    return [definition.replace(" ON ONLY ", " ON ", 1) for _, definition in indexes]


def drift() -> list[tuple]:
    """Return the rollup rows that differ from a recomputation (key, stored counts, recomputed counts):
    empty when the triggers kept them exact."""
    measures = "n, n2, secs_n, n3, n4, n5, round(secs::numeric, 3) AS secs"
    with connection.cursor() as cursor:
        cursor.execute(f"""
        WITH fresh AS (SELECT key, {measures} FROM ({_all_facts()}) a),
             kept AS (SELECT key, {measures} FROM {TABLE})
        SELECT coalesce(f.key, k.key), k.n, k.n2, k.secs_n, k.n3, k.n4, k.n5, k.secs,
               f.n, f.n2, f.secs_n, f.n3, f.n4, f.n5, f.secs
        FROM fresh f FULL JOIN kept k ON k.key = f.key
        WHERE (f.n, f.n2, f.secs_n, f.n3, f.n4, f.n5, f.secs)
              IS DISTINCT FROM (k.n, k.n2, k.secs_n, k.n3, k.n4, k.n5, k.secs)
        ORDER BY 1""")
        return cursor.fetchall()


# --- reading: whole local days, and the gaps the ordinary path fills ------------------------------
def local_midnight(moment: datetime) -> datetime:
    """Return the local midnight (TIME_ZONE) that starts the day of ``moment``."""
    local = timezone.localtime(moment)
    return timezone.make_aware(local.replace(tzinfo=None, hour=0, minute=0, second=0, microsecond=0))


def local_day(moment: datetime) -> date:
    return timezone.localtime(moment).date()


@dataclass(frozen=True)
class Window:
    """A period [start, end) seen at ``now``, and its rounding to local midnights: [d0, d1) and t0."""

    start: datetime
    end: datetime
    now: datetime
    d0: datetime
    d1: datetime
    t0: datetime

    @classmethod
    def of(cls, start: datetime, end: datetime, now: datetime, *, up: bool = False) -> Window:
        """The whole days from the midnight that begins ``start``'s day, or (``up``) the one after it when
        ``start`` is within a day (its part-day then added from the incidents, not taken away)."""
        d0, d1 = local_midnight(start), local_midnight(end)
        if up and d0 < start:
            d0 = local_midnight(d0 + timedelta(hours=36))
        return cls(start, end, now, d0, max(d0, d1), local_midnight(now))

    @property
    def days(self) -> tuple[date, date]:
        """The local days [first, last) the rollups answer for the period."""
        return local_day(self.d0), local_day(self.d1)

    @property
    def today(self) -> date:
        return local_day(self.t0)

    def gaps(self) -> list[tuple[datetime, datetime]]:
        """Return the intervals where the rounded and the exact bounds disagree (each shorter than a day)."""
        spans = [(self.d0, self.start), (self.d1, self.end), (self.t0, self.now)]
        return [(min(a, b), max(a, b)) for a, b in spans if a != b]

    def edge_q(self, columns=("created_at", "closed_at", "handle_due_at"), *, clocks: bool = True) -> Q:
        """Return the filter of the incidents whose contribution the rounding may change: a time stamp
        of ``columns`` in a gap, or (``clocks``) a running clock of ``rules.OVERDUE_CLOCKS`` that ran
        out since midnight (overdue now, not at t0)."""
        q = Q(pk__in=[])
        for a, b in self.gaps():
            for column in columns:
                q |= Q(**{f"{column}__gte": a, f"{column}__lt": b})
        if clocks and self.t0 < self.now:
            for column, states in rules.OVERDUE_CLOCKS:
                q |= Q(**{"state__in": sorted(states), f"{column}__gte": self.t0, f"{column}__lt": self.now})
        return q

    def rounded(self) -> dict:
        return {"start": self.d0, "end": self.d1, "now": self.t0}

    def exact(self) -> dict:
        return {"start": self.start, "end": self.end, "now": self.now}


def add_figures(into: dict, rows_: list[dict], key: str, fields: list[str], sign: int = 1) -> None:
    """Add (``sign`` 1) or subtract (-1) figure rows into ``into``, a dict of dicts keyed by ``key``."""
    for row in rows_:
        entry = into.setdefault(row[key], {f: 0 for f in fields})
        for f in fields:
            entry[f] = entry.get(f, 0) + sign * (row.get(f) or 0)


def whole_months(first: date, last: date) -> tuple[date, date] | None:
    """Return the whole local months [m0, m1) inside the days [first, last) (m0, m1 first days of a
    month), None when there is none: the month rows (``HEAT``) answer them, the day rows the rest."""
    m0 = first if first.day == 1 else (first.replace(day=1) + timedelta(days=32)).replace(day=1)
    m1 = last.replace(day=1)
    return (m0, m1) if m0 < m1 else None


def whole_past_months(first: date, last: date, today: date) -> bool:
    """Return whether the local days [first, last) are whole months that have ended by ``today``: the
    month rows (``ASSESS``) answer such a period exactly, a month's due days included."""
    return first.day == 1 and last.day == 1 and first < last <= today


def day_span(first: date, last: date):
    d = first
    while d < last:
        yield d
        d += timedelta(days=1)


def lean_offset(scope: Q | None) -> int:
    """Return what to add to a kind to read the lean rows when the reader sees everything (``scope`` is
    ``incidents.selectors.scope_q``'s None), 0 to read the full rows a scope filters."""
    return LEAN if scope is None else 0


def triage_q() -> Q:
    """Return the filter of the incidents waiting in triage (the command centre's count, the TRIAGE facts)."""
    return Q(state=TRIAGE_STATE) & ~Q(triage="")
