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

from dataclasses import dataclass, field
from datetime import datetime

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
# What a row may be ranked by (``ranked``): its key and name, every count and rate, the mean handling time, 在岗率
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
        self.avg_handling_min = (round(self.handling_total_min / self.handling_count, 1)
                                 if self.handling_count else None)
        return self

    def as_dict(self) -> dict:
        return {"code": self.code, "name": self.name, **self.counts, **self.rates,
                "avg_handling_min": self.avg_handling_min, "presence": self.presence}


@dataclass
class Assessment:
    group: str
    start: datetime
    end: datetime
    now: datetime
    rows: list[AssessmentRow]
    totals: AssessmentRow


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


def _raw_rows(qs) -> list[dict]:
    """Return the rows of a ``values()`` queryset as dicts read straight from the cursor: no per-value
    converters (a city's 10,000 person rows of 20 figures spent 0.08 s in Django's), the sums being
    integers in SQL (``_isum``) and the handling time a float."""
    query = db.compiled(qs)
    if query is None:
        return []
    with connections[qs.db].cursor() as cursor:
        cursor.execute(*query)
        names = [column.name for column in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def _rollup_figures(actor: Actor, group: str, window: rollups.Window) -> dict:
    """Return {group key: {name, figures}} summed from the rollups for the window's whole days, at t0."""
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
    out = {}
    for r in _raw_rows(rows):
        r = {k: (v or 0) if k not in ("code", "name") else v for k, v in r.items()}
        r["due_to_close"] = r.pop("due") + r["closed"] - r.pop("closed_due")
        r["handling_total_min"] = r.pop("handling_total") / 60
        out[r.pop("code")] = r
    return out


def _combine(into: dict, rows: dict, sign: int) -> None:
    for code, r in rows.items():
        entry = into.setdefault(code, {"name": r.get("name"), **dict.fromkeys(FIGURES, 0)})
        entry["name"] = entry["name"] or r.get("name")
        for f in FIGURES:
            entry[f] = entry.get(f, 0) + sign * r.get(f, 0)


def _assemble(actor: Actor, group: str, start: datetime, end: datetime, now: datetime,
              figures: dict) -> Assessment:
    rows: list[AssessmentRow] = []
    for code, r in figures.items():
        if not any(r.get(f) for f in FIGURES if f != "handling_total_min"):
            continue
        rows.append(AssessmentRow(code=code, name=r["name"] or UNGROUPED_NAME[group],
                                  counts={f: r.get(f, 0) for f in INCIDENT_COUNTS + EVENT_COUNTS},
                                  handling_total_min=r.get("handling_total_min", 0.0),
                                  handling_count=r.get("handling_count", 0)))
    if group == "person":
        _add_presence(rows, actor, start, end)
    rows.sort(key=lambda row: (row.code is None, row.code or ""))
    return Assessment(group=group, start=start, end=end, now=now,
                      rows=[row.finish() for row in rows], totals=_totals(rows))


def _add_presence(rows: list[AssessmentRow], actor: Actor, start: datetime, end: datetime) -> None:
    """Give each person row its 在岗率 over the period (``patrols.figures``: the recorded days of the
    persons the actor may see, ``patrols.selectors``), adding a row for a worker on patrol who had no
    incident: presence is assessed whether or not anything happened in their grid."""
    presence = presence_by_person(persons_visible_q(actor), start, end)
    if not presence:
        return
    people = {pk: (external_id, name) for pk, external_id, name in
              Person.objects.filter(pk__in=presence).values_list("pk", "external_id", "name")}
    by_code = {row.code: row for row in rows}
    for pk, rate in presence.items():
        code, name = people[pk]
        row = by_code.get(code)
        if row is None:
            row = by_code[code] = AssessmentRow(code=code, name=name)
            rows.append(row)
        row.presence = round(rate, 4)


def _check_group(group: str) -> None:
    if group not in GROUPS:
        raise ValueError(f"unknown group {group!r}")


def assessment_direct(*, actor: Actor, group: str, start: datetime, end: datetime,
                      now: datetime | None = None) -> Assessment:
    """Return the assessment aggregated on the incidents and events themselves (the reference path)."""
    _check_group(group)
    now = now or timezone.now()
    visible = incidents_visible_to(actor)
    figures: dict = {}
    _combine(figures, _incident_figures(visible, group, (start, end, now))[0], 1)
    _combine(figures, _event_figures(visible, group, (start, end))[0], 1)
    return _assemble(actor, group, start, end, now, figures)


def assessment(*, actor: Actor, group: str, start: datetime, end: datetime,
               now: datetime | None = None) -> Assessment:
    """Return the assessment figures of the incidents the actor may see, one row per group key, read
    from the rollups for the whole local days of the period and corrected by the ordinary path for
    the incidents and events in its part-days (``rollups.Window``): equal to ``assessment_direct``."""
    _check_group(group)
    now = now or timezone.now()
    window = rollups.Window.of(start, end, now)
    visible = incidents_visible_to(actor)
    figures = _rollup_figures(actor, group, window)
    if window.gaps():
        edge = visible.filter(window.edge_q())
        exact, rounded = _incident_figures(edge, group, (start, end, now), (window.d0, window.d1, window.t0))
        _combine(figures, exact, 1)
        _combine(figures, rounded, -1)
    if window.d1 < end or window.d0 < start:  # events in [d1, end) count, those in [d0, start) do not
        later, earlier = _event_figures(visible, group, (window.d1, end), (window.d0, start))
        _combine(figures, later, 1)
        _combine(figures, earlier, -1)
    return _assemble(actor, group, start, end, now, figures)


def _totals(rows: list[AssessmentRow]) -> AssessmentRow:
    total = AssessmentRow(code=None, name="合计 total")
    for row in rows:
        for f, v in row.counts.items():
            total.counts[f] += v
        total.handling_total_min += row.handling_total_min
        total.handling_count += row.handling_count
    rated = [row.presence for row in rows if row.presence is not None]
    total.presence = round(sum(rated) / len(rated), 4) if rated else None
    return total.finish()


def ranked(rows: list[AssessmentRow], order: str) -> list[AssessmentRow]:
    """Return the rows ranked by one of ``ORDER_KEYS`` (``-key``: the most first): rows with no value
    (a rate of nothing, no one's presence) last either way, ties in the rows' order (by code)."""
    key = order.removeprefix("-")
    if key not in ORDER_KEYS:
        raise ValueError(f"unknown order {order!r}")
    valued = [row for row in rows if getattr(row, key) is not None]
    empty = [row for row in rows if getattr(row, key) is None]
    # a stable sort keeps equal rows in their order, reversed or not
    return sorted(valued, key=lambda row: getattr(row, key), reverse=order.startswith("-")) + empty
