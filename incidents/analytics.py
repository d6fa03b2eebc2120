"""The standard assessment (督查考核, GB/T 30428.4) per grid, village, town, category or person,
aggregated in the database.

The counts and the rates are defined once, in ``incidents.rules`` (``standard_figure_filters``,
``STANDARD_RATES``): 受理数, 立案数 and 立案率, 应派遣数, 派遣数 and 派遣率, 准确派遣率 (never returned to the command
centre), 应结案数, 结案数 and 结案率, 按期结案率, 返工率, 延期率, 回访 and 满意率, fixed on the spot
(自行处置), the average handling time and what is overdue now (and per person 在岗率, from the patrols'
recorded days), for a period [start, end) seen at ``now``, over
the incidents the actor may see (``incidents.selectors.incidents_visible_to``). Each figure counts
incidents by one of their own time stamps (received, closed, due), or events by theirs (返工, 回访), so
imported history counts by its own dates.

Two paths give the same answer (a test keeps them equal): ``assessment_direct`` aggregates the
incidents and events themselves; ``assessment`` reads the rollups (``incidents.rollups``) for the
whole local days of the period and corrects the part-days with the direct path, so a year of a city
costs one indexed read of day rows, or of month rows (``rollups.ASSESS``) when the period is whole
months that have ended and the reader sees everything.

Rates are fractions, ``None`` when the denominator is 0. Grouping uses the incident as it stands:
``grid`` is the comprehensive grid it was located in (rows keyed by the 15-digit code, which stays
stable across boundary generations), ``village``, ``town`` and ``category`` its own, ``person`` its
current assignee (a rework is counted for whoever holds the incident now). Incidents with no grid
(triage), no village or no person (town command centre, bureau) form one row with ``code`` None.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from functools import cached_property

import numpy as np
from django.db import connections
from django.db.models import Count, DurationField, ExpressionWrapper, F, IntegerField, Max, Q, Sum
from django.db.models.functions import Cast
from django.utils import timezone

from core import db
from core.actors import Actor
from grids.models import Person
from incidents import rollups, rules
from incidents.models import IncidentEvent
from incidents.selectors import incidents_visible_to, scope_q, scoped
from patrols.figures import presence_by_person
from patrols.selectors import persons_visible_q

# group -> (the incident field path of the row key, of the row name)
GROUPS: dict[str, tuple[str, str]] = {
    "grid": ("grid__code", "grid__name"),
    "village": ("village__code", "village__name"),
    "person": ("assignee__external_id", "assignee__name"),
    "town": ("town__code", "town__name"),
    "category": ("category__code", "category__name_zh"),
}
UNGROUPED_NAME = {"grid": "未定位 not located", "village": "未定位 not located", "town": "未定位 not located",
                  "category": "-", "person": "未指派个人 no person (command centre or bureau)"}

# The counts summed from incidents, from events, and the handling time's sum and count (for the mean).
INCIDENT_COUNTS = ["accepted", "registered", "to_dispatch", "dispatched", "dispatched_accurately", "received", "closed",
                   "due_to_close", "closed_on_time", "closed_reworked", "closed_extended", "found_and_fixed",
                   "overdue_now"]
EVENT_COUNTS = ["reworks", "visits", "satisfied"]
FIGURES = [*INCIDENT_COUNTS, *EVENT_COUNTS, "handling_total_min", "handling_count"]
RATES = [r.name for r in rules.STANDARD_RATES]
# What a row may be ranked by (``Assessment.ranked``): its key and name, every count and rate, the mean
# handling time, 在岗率
ORDER_KEYS = ["code", "name", *INCIDENT_COUNTS, *EVENT_COUNTS, *RATES, "avg_handling_min", "presence"]


@dataclass
class AssessmentRow:
    code: str | None
    name: str
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(INCIDENT_COUNTS + EVENT_COUNTS, 0))
    rates: dict[str, float | None] = field(default_factory=dict)
    avg_handling_min: float | None = None
    presence: float | None = None  # 在岗率 (patrols.figures): person rows only, and their mean in the totals
    handling_total_min: float = 0.0  # to combine rows into totals; not part of the API rows
    handling_count: int = 0

    def __getattr__(self, name: str):
        # row.closed, row.closure_rate: the counts and the rates read as attributes
        for part in ("counts", "rates"):
            values = self.__dict__.get(part)
            if values is not None and name in values:
                return values[name]
        raise AttributeError(name)

    def finish(self) -> AssessmentRow:
        """Fill in the rates and the average from the counts."""
        self.rates = rules.standard_rates(self.counts)
        self.avg_handling_min = _average(self.handling_total_min, self.handling_count)
        return self

    def as_dict(self) -> dict:
        return {"code": self.code, "name": self.name, **self.counts, **self.rates,
                "avg_handling_min": self.avg_handling_min, "presence": self.presence}


def _average(total_min: float, count: int) -> float | None:
    """The mean handling time in minutes (one decimal), None when nothing was handled."""
    return round(total_min / count, 1) if count else None


COUNTS = INCIDENT_COUNTS + EVENT_COUNTS
_HANDLING_TOTAL, _HANDLING_COUNT = FIGURES.index("handling_total_min"), FIGURES.index("handling_count")


@dataclass
class Assessment:
    """The rows of an assessment as columns: a key, a name and the ``FIGURES`` per row (``figures``, a
    row each, in ``FIGURES``' order) and the 在岗率 of person rows. A city's thousands of rows are summed,
    totalled and ranked as arrays; an ``AssessmentRow`` (with its rates) is made only for a row that is
    read: ``rows`` makes them all (the files, the printed report), ``page`` only a page's (the API)."""

    group: str
    start: datetime
    end: datetime
    now: datetime
    codes: list[str | None]
    names: list[str]
    figures: np.ndarray
    presence: list[float | None]
    totals: AssessmentRow
    order: list[int] = field(default_factory=list)  # the rows' order (``ranked``), by key when made

    @property
    def count(self) -> int:
        return len(self.order)

    def row(self, i: int) -> AssessmentRow:
        """Return row ``i`` (of ``codes``) with its counts, rates and averages."""
        values = self.figures[i]
        return AssessmentRow(code=self.codes[i], name=self.names[i],
                             counts=dict(zip(COUNTS, map(int, values[:len(COUNTS)].tolist()), strict=True)),
                             presence=self.presence[i], handling_total_min=float(values[_HANDLING_TOTAL]),
                             handling_count=int(values[_HANDLING_COUNT])).finish()

    @cached_property
    def rows(self) -> list[AssessmentRow]:
        """Every row, in ``order``."""
        return [self.row(i) for i in self.order]

    def page(self, offset: int, limit: int) -> list[AssessmentRow]:
        """Return the rows ``offset`` .. ``offset + limit`` of ``order``."""
        return [self.row(i) for i in self.order[offset:offset + limit]]

    def ranked(self, order: str) -> Assessment:
        """Return this assessment with its rows ranked by one of ``ORDER_KEYS`` (``-key``: the most first):
        rows with no value (a rate of nothing, no one's presence) last either way, ties in the rows' order
        (by code). An unknown key is a ValueError."""
        key = order.removeprefix("-")
        if key not in ORDER_KEYS:
            raise ValueError(f"unknown order {order!r}")
        values = self._values(key)
        valued = [i for i in self.order if values[i] is not None]
        # a stable sort keeps equal rows in their order, reversed or not
        valued.sort(key=values.__getitem__, reverse=order.startswith("-"))
        return replace(self, order=valued + [i for i in self.order if values[i] is None])

    def _values(self, key: str) -> list:
        """Return every row's value of ``key`` (None: no value), by row."""
        if key in ("code", "name", "presence"):
            return {"code": self.codes, "name": self.names, "presence": self.presence}[key]
        if key in COUNTS:
            return self.figures[:, FIGURES.index(key)].tolist()
        def column(n: int) -> list:
            return self.figures[:, n].tolist()
        if key == "avg_handling_min":
            return list(map(_average, column(_HANDLING_TOTAL), column(_HANDLING_COUNT)))
        rule = next(r for r in rules.STANDARD_RATES if r.name == key)
        return list(map(rules.rate, column(FIGURES.index(rule.numerator)), column(FIGURES.index(rule.denominator))))


def _incident_figures(qs, group: str, *periods: tuple[datetime, datetime, datetime]) -> list[dict]:
    """Return per period (start, end, now) {group key: {name, incident counts, handling time}}, in one
    aggregate query on the incidents of ``qs``."""
    key, name = GROUPS[group]
    handling = ExpressionWrapper(F("closed_at") - F("registered_at"), output_field=DurationField())
    annotations, where = {}, Q(pk__in=[])
    for n, (start, end, now) in enumerate(periods):
        f = rules.standard_figure_filters(start, end, now)
        where |= f["accepted"] | f["due_to_close"] | f["overdue_now"]
        annotations |= {f"{figure}_{n}": Count("id", filter=f[figure]) for figure in INCIDENT_COUNTS}
        annotations |= {f"handling_total_{n}": Sum(handling, filter=f["handling"]),
                        f"handling_count_{n}": Count("id", filter=f["handling"])}
    rows = list(qs.filter(where).values(code=F(key)).annotate(name=Max(name), **annotations).order_by())
    out = []
    for n in range(len(periods)):
        figures = {}
        for r in rows:
            entry = {k.removesuffix(f"_{n}"): v for k, v in r.items() if k.endswith(f"_{n}")}
            total = entry.pop("handling_total")
            entry["handling_total_min"] = total.total_seconds() / 60 if total else 0.0
            figures[r["code"]] = {"name": r["name"], **entry}
        out.append(figures)
    return out


def _event_figures(qs, group: str, *periods: tuple[datetime, datetime]) -> list[dict]:
    """Return per period [start, end) {group key: {name, event counts}} of the events of the incidents
    of ``qs`` (返工 events, return visits and the satisfied ones), in one query."""
    key, name = GROUPS[group]
    where, counts = Q(pk__in=[]), {}
    rework = Q(action__in=rules.REWORK_ACTIONS)
    visit = Q(action=rules.VISIT_ACTION)
    satisfied = visit & Q(data__outcome__in=rules.SATISFIED_OUTCOMES)
    for n, (start, end) in enumerate(periods):
        when = Q(created_at__gte=start, created_at__lt=end)
        where |= when
        counts |= {f"reworks_{n}": Count("id", filter=when & rework), f"visits_{n}": Count("id", filter=when & visit),
                   f"satisfied_{n}": Count("id", filter=when & satisfied)}
    rows = (IncidentEvent.objects.filter(where, rework | visit, incident__in=qs.values("pk"))
            .values(code=F(f"incident__{key}")).annotate(name=Max(f"incident__{name}"), **counts).order_by())
    return [{r["code"]: {"name": r["name"], **{f: r[f"{f}_{n}"] for f in EVENT_COUNTS}} for r in rows}
            for n in range(len(periods))]


def _isum(column: str, **kwargs) -> Sum:
    """SUM of an integer column as an integer (sum of a bigint is a numeric in PostgreSQL)."""
    return Sum(Cast(column, IntegerField()), **kwargs)


def _raw_rows(qs) -> tuple[list[str], list[tuple]]:
    """Return the column names and the rows (tuples) of a ``values()`` queryset read straight from the
    cursor: no per-value converters (a city's 10,000 person rows of 20 figures spent 0.08 s in Django's),
    the sums being integers in SQL (``_isum``) and the handling time a float."""
    query = db.compiled(qs)
    if query is None:
        return [], []
    with connections[qs.db].cursor() as cursor:
        cursor.execute(*query)
        return [column.name for column in cursor.description], cursor.fetchall()


class _Table:
    """The figures by group key while an assessment is summed: the keys, their names and a row of
    ``FIGURES`` each (``values``); ``add`` puts in the figures of a few keys (a correction)."""

    def __init__(self, codes: list, names: list, values: np.ndarray) -> None:
        self.codes, self.names, self.values = codes, names, values
        self.index = {code: i for i, code in enumerate(codes)}

    @classmethod
    def of(cls, figures: dict) -> _Table:
        """Make a table of {group key: {name, figure: value}}."""
        table = cls([], [], np.zeros((0, len(FIGURES))))
        table.add(figures, 1)
        return table

    def add(self, figures: dict, sign: int) -> None:
        """Add ``sign`` times the figures {group key: {name, figure: value}}; a key not here gets a row."""
        codes, names, rows = [], [], []
        for code, r in figures.items():
            values = [sign * (r.get(f) or 0) for f in FIGURES]
            i = self.index.get(code)
            if i is None:
                self.index[code] = len(self.codes) + len(codes)
                codes.append(code)
                names.append(r.get("name"))
                rows.append(values)
            else:
                self.values[i] += values
                self.names[i] = self.names[i] or r.get("name")
        if codes:
            self.codes += codes
            self.names += names
            self.values = np.vstack([self.values, np.array(rows, dtype=np.float64)])


def _rollup_figures(actor: Actor, group: str, window: rollups.Window) -> _Table:
    """Return the figures by group key summed from the rollups for the window's whole days, at t0."""
    key, name = GROUPS[group]
    first, last = window.days
    today = window.today
    due_end = min(last, today)
    K = rollups.Kind
    # the month rows for whole past months when nothing is filtered or grouped off them (``rollups.ASSESS``)
    month = (scope_q(actor) is None and key.split("__")[0] + "_id" in rollups.ASSESS_DIMENSIONS
             and rollups.whole_past_months(first, last, today))
    by = rollups.ASSESS if month else 0  # what to add to the received, closed and due kinds
    in_period = Q(day__gte=first, day__lt=last)
    closed = Q(kind=K.CLOSED + by) & in_period
    received = Q(kind__in=[K.RECEIVED + by, K.RECEIVED_UNCOUNTED + by])
    visits = Q(kind=K.VISIT)
    rows = (scoped(actor, rollups.Rollup.objects.filter(
                Q(kind__in=[K.RECEIVED + by, K.RECEIVED_UNCOUNTED + by, K.CLOSED + by, K.DUE + by, K.REWORK,
                            K.VISIT]) & in_period
                | Q(kind=K.OPEN, day__lt=today)))
            .values(code=F(key))
            .annotate(name=Max(name), accepted=_isum("n", filter=received), registered=_isum("n2", filter=received),
                      to_dispatch=_isum("n5", filter=received),
                      dispatched=_isum("n3", filter=received), dispatched_accurately=_isum("n4", filter=received),
                      received=_isum("n", filter=Q(kind=K.RECEIVED + by)),
                      closed=_isum("n", filter=closed), closed_on_time=_isum("n2", filter=closed),
                      closed_reworked=_isum("n3", filter=closed), closed_extended=_isum("n4", filter=closed),
                      found_and_fixed=_isum("n5", filter=closed),
                      handling_total=Sum("secs", filter=closed), handling_count=_isum("secs_n", filter=closed),
                      due=_isum("n", filter=Q(kind=K.DUE + by, day__lt=due_end)),
                      closed_due=_isum("n", filter=closed & Q(day2__gte=first, day2__lt=due_end)),
                      overdue_now=_isum("n", filter=Q(kind=K.OPEN)),
                      reworks=_isum("n", filter=Q(kind=K.REWORK)), visits=_isum("n", filter=visits),
                      satisfied=_isum("n2", filter=visits))
            .order_by())
    columns, found = _raw_rows(rows)
    if not found:
        return _Table([], [], np.zeros((0, len(FIGURES))))
    # the sums as a matrix (a sum of no row, NULL, as nan, then 0), a column per name after code and name
    sums = np.nan_to_num(np.array([r[2:] for r in found], dtype=np.float64))
    column = {name: sums[:, i] for i, name in enumerate(columns[2:])}
    column["due_to_close"] = column["due"] + column["closed"] - column["closed_due"]
    column["handling_total_min"] = column["handling_total"] / 60
    return _Table([r[0] for r in found], [r[1] for r in found], np.column_stack([column[f] for f in FIGURES]))


def _assemble(actor: Actor, group: str, start: datetime, end: datetime, now: datetime,
              table: _Table) -> Assessment:
    """Return the assessment of the keys with a figure (the handling time's sum aside), the persons with a
    presence too, by key (the keyless row last)."""
    figured = [j for j, f in enumerate(FIGURES) if f != "handling_total_min"]
    keep = np.flatnonzero((table.values[:, figured] != 0).any(axis=1)).tolist()
    codes = [table.codes[i] for i in keep]
    names = [table.names[i] or UNGROUPED_NAME[group] for i in keep]
    values = table.values[keep]
    presence: list[float | None] = [None] * len(codes)
    if group == "person":
        added = _add_presence(codes, names, presence, actor, start, end)
        values = np.vstack([values, np.zeros((added, len(FIGURES)))])
    order = sorted(range(len(codes)), key=lambda i: (codes[i] is None, codes[i] or ""))
    return Assessment(group=group, start=start, end=end, now=now, codes=codes, names=names, figures=values,
                      presence=presence, totals=_totals(values, presence), order=order)


def _add_presence(codes: list, names: list, presence: list, actor: Actor, start: datetime, end: datetime) -> int:
    """Give each person row its 在岗率 over the period (``patrols.figures``: the recorded days of the
    persons the actor may see, ``patrols.selectors``), adding a row for a worker on patrol who had no
    incident: presence is assessed whether or not anything happened in their grid. Return the number of
    rows added (at the end of the lists)."""
    by_person = presence_by_person(persons_visible_q(actor), start, end)
    if not by_person:
        return 0
    people = {pk: (external_id, name) for pk, external_id, name in
              Person.objects.filter(pk__in=by_person).values_list("pk", "external_id", "name")}
    by_code = {code: i for i, code in enumerate(codes)}
    added = 0
    for pk, rate in by_person.items():
        code, name = people[pk]
        i = by_code.get(code)
        if i is None:
            i = by_code[code] = len(codes)
            codes.append(code)
            names.append(name)
            presence.append(None)
            added += 1
        presence[i] = round(rate, 4)
    return added


def _check_group(group: str) -> None:
    if group not in GROUPS:
        raise ValueError(f"unknown group {group!r}")


def assessment_direct(*, actor: Actor, group: str, start: datetime, end: datetime,
                      now: datetime | None = None) -> Assessment:
    """Return the assessment aggregated on the incidents and events themselves (the reference path)."""
    _check_group(group)
    now = now or timezone.now()
    visible = incidents_visible_to(actor)
    table = _Table.of(_incident_figures(visible, group, (start, end, now))[0])
    table.add(_event_figures(visible, group, (start, end))[0], 1)
    return _assemble(actor, group, start, end, now, table)


def assessment(*, actor: Actor, group: str, start: datetime, end: datetime,
               now: datetime | None = None) -> Assessment:
    """Return the assessment figures of the incidents the actor may see, one row per group key, read
    from the rollups for the whole local days of the period and corrected by the ordinary path for
    the incidents and events in its part-days (``rollups.Window``): equal to ``assessment_direct``."""
    _check_group(group)
    now = now or timezone.now()
    window = rollups.Window.of(start, end, now)
    visible = incidents_visible_to(actor)
    table = _rollup_figures(actor, group, window)
    if window.gaps():
        edge = visible.filter(window.edge_q())
        exact, rounded = _incident_figures(edge, group, (start, end, now), (window.d0, window.d1, window.t0))
        table.add(exact, 1)
        table.add(rounded, -1)
    if window.d1 < end or window.d0 < start:  # events in [d1, end) count, those in [d0, start) do not
        later, earlier = _event_figures(visible, group, (window.d1, end), (window.d0, start))
        table.add(later, 1)
        table.add(earlier, -1)
    return _assemble(actor, group, start, end, now, table)


def _totals(values: np.ndarray, presence: list[float | None]) -> AssessmentRow:
    """The total row: every count and the handling time summed, 在岗率 the mean of the persons who have one."""
    sums = values.sum(axis=0).tolist()
    rated = [p for p in presence if p is not None]
    counts = dict(zip(COUNTS, map(int, sums[:len(COUNTS)]), strict=True))
    return AssessmentRow(code=None, name="合计 total", counts=counts,
                         handling_total_min=float(sums[_HANDLING_TOTAL]), handling_count=int(sums[_HANDLING_COUNT]),
                         presence=round(sum(rated) / len(rated), 4) if rated else None).finish()
