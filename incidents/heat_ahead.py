"""Heatmaps kept ahead: the whole city's cells of the long periods the review page offers, summed by a job.

A reader who sees everything and asks for the whole city's year at 250 m would otherwise sum every
month row of that year at each request (1.5 million at 10M incidents, 2.7-3.6 s). The job
(``hotspots.refresh_heat_ahead``, under beat) sums, once a day and for each of ``AHEAD_LENGTHS`` and
``AHEAD_CELLS``, the whole local days [first_day, last_day) (last_day today) into a *run*: one row a
cell with its total and its counts per category and per grid (``HeatRunCell``). A request whose
whole days are within ``AHEAD_DRIFT_DAYS`` of a run's reads the run, the day rows between the two
(added or taken away), the late changes, and the part-days' correction, all of them few; the answer
is the one the rollups give (tests compare).

Each of the review page's N days is kept twice, as N and N - 1 whole days ending yesterday. What a read
sums besides the run is a day's incidents at most, but it sums each cell they touch again (its
categories and main grid): some 4,000 cells of a city's day at 250 m, most of a read's time. The N days
ending now start in the first of the N: read in the morning, the part of that day before the period
starts is taken away; in the afternoon, the N - 1 and the part after it added are fewer
(``hotspots._ahead_window`` takes the cheaper). A calendar's period ending tonight (the days from a
date to today) is the N - 1 and today's rows, with no part-day.

Runs kept live. Between two days the N days ending now still start within a day, and in service today's
reports are cells to sum again too: at midday at 10M, half a day's cells either way. So the job also
keeps, for each N and size, two *live* runs (``HeatRun.part_start`` set) with today so far: the N days
ending when it was summed (its first day from that moment, ``part_start``), and the N days to tonight
(from a midnight, as a calendar asks; the daily N - 1 and today), made from the nearer daily run
and the parts that bring it there (the daily run's cells a part touches summed again, the others
copied). They are summed again every few minutes (``refresh_heat_live``), so a read of the N days
ending now sums again only the reports of those minutes at either end, and the late rows since. A live
run that starts within a day holds part of its first day, so a late row of that day cannot be told
inside or outside it: while one it did not see exists, reads take another run (a change of a report N
days old, rare).

Late changes. A run is exact for the rollups it read (its transaction's snapshot, kept as
``txid_current_snapshot()``). A later change of a counted incident that falls in the run's days (a
report marked a duplicate, recategorised or moved, deleted, history imported with its own dates)
changes the RECEIVED day rows (partition ``PARTITION``): a row trigger there appends the change of
each row's count to ``HeatLate``, stamped with its transaction's id. A reader adds the late rows of
the run's days that the run's snapshot did not see (``txid_visible_in_snapshot``), so no change is
missed however the transactions overlap, and no lock is shared by the writers. Every change is
logged, today's too (a change written just before midnight and committed after a run was summed
would otherwise slip between the two); the job deletes the rows every run has seen or none will
read. A rebuild of the rollups (``rollups.rebuild_rollups``) sets ``rollups.REBUILDING`` so its
millions of rows are not logged, and forgets the runs.
"""
from __future__ import annotations

from datetime import date, timedelta

from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.db.models import BigIntegerField, Func

from incidents import rollups

# The review page's N-day periods and cell sizes (web/templates/web/review.html), and the API's
# coarsest (5 km): the runs the job keeps, each period as its N whole days and its last N - 1 (above).
AHEAD_DAYS = (30, 90, 365)
AHEAD_LENGTHS = tuple(sorted({n - k for n in AHEAD_DAYS for k in (0, 1)}))
AHEAD_CELLS = (250, 500, 1000, 5000)
# How many whole days a request may differ from a run (at its start and end together) and still be
# answered from it; the days between are read from the day rows (some 9,000 rows a day in a city of
# 3.3 million reports a year).
AHEAD_DRIFT_DAYS = 7
# A run is summed again (before the day changes) once this many late rows fall in its days: a
# history import of old reports, say.
LATE_REBUILD = 50_000
# A run keeps how many of its cells hold each total up to this (``HeatRun.small_totals``): the cells a
# heatmap with a minimum count up to SMALL_TOTALS + 1 shows are its cells less those, not a count of its index.
SMALL_TOTALS = 20

PARTITION = f"{rollups.TABLE}_k{int(rollups.Kind.RECEIVED)}"
LATE_TABLE = "incidents_heatlate"


class HeatRun(models.Model):
    """The whole city's heatmap cells ``cell_m`` wide for the local days [first_day, last_day)."""

    cell_m = models.PositiveIntegerField()
    days = models.PositiveSmallIntegerField(help_text="last_day - first_day, one of AHEAD_LENGTHS")
    first_day = models.DateField()
    last_day = models.DateField(help_text="the day after the last day summed (the day it was summed; a live run's: "
                                          "tomorrow, today summed so far)")
    part_start = models.DateTimeField(null=True, help_text="a live run's: where it starts (the N days ending when it "
                                                           "was summed, or a midnight); None: a daily run")
    snapshot = models.TextField(help_text="txid_current_snapshot() of the transaction that summed it")
    built_at = models.DateTimeField()
    cells = models.PositiveIntegerField(default=0)
    total = models.BigIntegerField(null=True, help_text="the incidents of its cells (None: a run summed before it "
                                                        "was kept)")
    extent = ArrayField(models.IntegerField(), size=4, null=True,
                        help_text="the cells' least and greatest indexes i0, i1, j0, j1 (None: no cell, or a run "
                                  "summed before it was kept)")
    small_totals = ArrayField(models.BigIntegerField(), null=True,
                              help_text="how many of its cells hold 1, 2, ... SMALL_TOTALS incidents (None: a run "
                                        "summed before it was kept): the cells a minimum count shows, uncounted")
    category_codes = ArrayField(models.TextField(null=True), default=list,
                                help_text="the categories' codes by id (1, 2, ...) when it was summed: its cells' "
                                          "props hold them")

    class Meta:
        db_table = "incidents_heatrun"
        indexes = [models.Index(fields=["cell_m", "last_day"], name="heatrun_cell_day")]

    def __str__(self) -> str:
        return f"{self.cell_m} m, {self.part_start or self.first_day}..{self.last_day}"

    @property
    def holds_part_day(self) -> bool:
        """Whether it holds part of its first day only (a live run started within a day)."""
        return self.part_start is not None and self.part_start != rollups.local_midnight(self.part_start)

    @property
    def first_whole_day(self) -> date:
        """The first of its days it holds whole."""
        return self.first_day + timedelta(days=1) if self.holds_part_day else self.first_day


class HeatRunCell(models.Model):
    """One cell of a run: (i, j) as ``hotspots.cell_index``, its total, its counts per category (None:
    uncategorised) and per grid (incidents outside every grid count in the total only)."""

    # no cascade: the job deletes a run's cells in one statement, then the run
    run = models.ForeignKey(HeatRun, on_delete=models.DO_NOTHING, related_name="+", db_index=False)
    i = models.IntegerField()
    j = models.IntegerField()
    total = models.IntegerField()
    category_ids = ArrayField(models.IntegerField(null=True))
    category_ns = ArrayField(models.IntegerField())
    grid_ids = ArrayField(models.IntegerField())
    grid_ns = ArrayField(models.IntegerField())
    main_grid_id = models.IntegerField(null=True, help_text="the grid with the most (a tie: the higher code)")
    props = models.TextField(null=True, help_text="its counts per category and top category as the heatmap "
                                                  "API's JSON (hotspots._CATEGORIES_PROPS)")

    class Meta:
        db_table = "incidents_heatruncell"
        constraints = [models.UniqueConstraint(fields=["run", "i", "j"], name="heatruncell_run_cell")]
        # a run's fullest cells in the order a heatmap shows them (hotspots._HEAT_AHEAD_TOP_SQL), and its
        # sums read from the index alone
        indexes = [models.Index("run", models.F("total").desc(), "i", "j", name="heatruncell_run_top")]

    def __str__(self) -> str:
        return f"({self.i}, {self.j}) {self.total}"


class HeatLate(models.Model):
    """A change of a RECEIVED day row's count (written by the trigger of ``late_trigger_sql`` only)."""

    id = models.BigAutoField(primary_key=True)
    xid = models.BigIntegerField(db_default=Func(function="txid_current", output_field=BigIntegerField()))
    day = models.DateField()
    cell_x = models.IntegerField(help_text=f"floor(x / {rollups.CELL_M}) in EPSG:4549")
    cell_y = models.IntegerField()
    category_id = models.IntegerField(null=True)
    grid_id = models.IntegerField(null=True)
    n = models.IntegerField()

    class Meta:
        db_table = LATE_TABLE

    def __str__(self) -> str:
        return f"{self.day} ({self.cell_x}, {self.cell_y}) {self.n:+d}"


def late_trigger_sql() -> str:
    """Return the SQL that makes the late rows' trigger on the RECEIVED partition (a migration freezes
    what this rendered; a test checks the database runs today's rendering)."""
    columns = "day, cell_x, cell_y, category_id, grid_id, n"
    not_rebuilding = f"current_setting('{rollups.REBUILDING}', true) IS DISTINCT FROM 'on'"
    whens = {
        "INSERT": f"NEW.cell_x IS NOT NULL AND NEW.n <> 0 AND {not_rebuilding}",
        "UPDATE": f"NEW.cell_x IS NOT NULL AND NEW.n <> OLD.n AND {not_rebuilding}",
        "DELETE": f"OLD.cell_x IS NOT NULL AND OLD.n <> 0 AND {not_rebuilding}",
    }
    def insert(row: str, n: str) -> str:
        return (f"INSERT INTO {LATE_TABLE} ({columns})\n"
                f"      VALUES ({row}.day, {row}.cell_x, {row}.cell_y, {row}.category_id, {row}.grid_id, {n});")

    sql = [f"""CREATE OR REPLACE FUNCTION incidents_heat_late() RETURNS trigger LANGUAGE plpgsql AS $late$
BEGIN
  IF TG_OP = 'DELETE' THEN
    {insert("OLD", "-OLD.n")}
  ELSIF TG_OP = 'UPDATE' THEN
    {insert("NEW", "NEW.n - OLD.n")}
  ELSE
    {insert("NEW", "NEW.n")}
  END IF;
  RETURN NULL;
END
$late$;"""]
    for op, when in whens.items():
        name = f"heat_late_{op.lower()}"
        sql.append(f"DROP TRIGGER IF EXISTS {name} ON {PARTITION};\n"
                   f"CREATE TRIGGER {name} AFTER {op} ON {PARTITION} FOR EACH ROW WHEN ({when}) "
                   "EXECUTE FUNCTION incidents_heat_late();")
    return "\n".join(sql)


def forget_runs(cursor) -> None:
    """Delete every run and late row (the rollups were rebuilt: the job sums the runs again)."""
    cursor.execute(f"DELETE FROM {HeatRunCell._meta.db_table}")
    cursor.execute(f"DELETE FROM {HeatRun._meta.db_table}")
    cursor.execute(f"DELETE FROM {LATE_TABLE}")

