"""Assessment figures (督查考核) per grid, village or person, aggregated in the database.

Definitions, for a period [start, end) and the incidents the actor may see
(``incidents.selectors.incidents_visible_to``); cancelled, duplicate and out-of-jurisdiction
incidents never count (``rules.NOT_COUNTED``):

- received: incidents created in the period;
- closed: incidents closed in the period;
- due_to_close: incidents whose handling deadline (``handle_due_at``) falls in the period and has
  passed at ``now``, or that were closed in the period (``rules.due_to_close_q``: so that
  closed <= due_to_close, and the month so far gives the command centre's 结案率);
- closure_rate (结案率) = closed / due_to_close;
- on_time_rate (按期结案率) = closed in the period with ``closed_at <= handle_due_at`` / due_to_close;
- avg_handling_min: mean of ``closed_at - registered_at`` in minutes over the incidents closed in
  the period;
- reworks: 返工 events recorded in the period (``rules.REWORK_ACTIONS``: rework, and the reopening
  after a dissatisfied return visit);
- overdue_now: incidents overdue at ``now`` (``rules.overdue_q``: a running handling or acceptance
  clock past its deadline), whatever the period.

Rates are fractions, ``None`` when the denominator is 0. Grouping uses the incident as it stands:
``grid`` is the comprehensive grid it was located in (rows keyed by the 15-digit code, which stays
stable across boundary generations), ``village`` its village, ``person`` its current assignee
(a rework is counted for whoever holds the incident now). Incidents with no grid (triage), no
village or no person (town command centre, bureau) form one row with ``code`` None.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime

from django.db.models import Count, DurationField, ExpressionWrapper, F, Max, Q, Sum
from django.utils import timezone

from core.actors import Actor
from incidents import rollups, rules
from incidents.models import IncidentEvent
from incidents.selectors import incidents_visible_to, scoped

# group -> (the incident field path of the row key, of the row name)
GROUPS: dict[str, tuple[str, str]] = {
    "grid": ("grid__code", "grid__name"),
    "village": ("village__code", "village__name"),
    "person": ("assignee__external_id", "assignee__name"),
}
UNGROUPED_NAME = {"grid": "未定位 not located", "village": "未定位 not located",
                  "person": "未指派个人 no person (command centre or bureau)"}


@dataclass
class AssessmentRow:
    code: str | None
    name: str
    received: int = 0
    closed: int = 0
    due_to_close: int = 0
    closed_on_time: int = 0
    closure_rate: float | None = None
    on_time_rate: float | None = None
    avg_handling_min: float | None = None
    reworks: int = 0
    overdue_now: int = 0
    handling_total_min: float = 0.0  # to combine rows into totals; not part of the API rows
    handling_count: int = 0

    def finish(self) -> AssessmentRow:
        """Fill in the rates and the average from the counts."""
        self.closure_rate = rules.rate(self.closed, self.due_to_close)
        self.on_time_rate = rules.rate(self.closed_on_time, self.due_to_close)
        self.avg_handling_min = (round(self.handling_total_min / self.handling_count, 1)
                                 if self.handling_count else None)
        return self

    def as_dict(self) -> dict:
        row = asdict(self)
        del row["handling_total_min"], row["handling_count"]
        return row


@dataclass
class Assessment:
    group: str
    start: datetime
    end: datetime
    now: datetime
    rows: list[AssessmentRow]
    totals: AssessmentRow


def _figure_filters(start: datetime, end: datetime, now: datetime) -> dict[str, Q]:
    closed = rules.closed_in_q(start, end)
    return {
        "received": Q(created_at__gte=start, created_at__lt=end),
        "closed": closed,
        "due": rules.due_to_close_q(start, end, now),
        "on_time": closed & Q(closed_at__lte=F("handle_due_at")),
        "handling": closed & Q(registered_at__isnull=False),
        "overdue": rules.overdue_q(now),
    }


def _incident_figures(qs, group: str, *periods: tuple[datetime, datetime, datetime]) -> list[list[dict]]:
    """Return per period (start, end, now) and group key the incident counts, in one aggregate query."""
    key, name = GROUPS[group]
    handling = ExpressionWrapper(F("closed_at") - F("registered_at"), output_field=DurationField())
    annotations, where = {}, Q(pk__in=[])
    for n, (start, end, now) in enumerate(periods):
        f = _figure_filters(start, end, now)
        where |= f["received"] | f["due"] | f["overdue"]
        annotations |= {
            f"received_{n}": Count("id", filter=f["received"]),
            f"closed_{n}": Count("id", filter=f["closed"]),
            f"due_to_close_{n}": Count("id", filter=f["due"]),
            f"closed_on_time_{n}": Count("id", filter=f["on_time"]),
            f"handling_total_{n}": Sum(handling, filter=f["handling"]),
            f"handling_count_{n}": Count("id", filter=f["handling"]),
            f"overdue_now_{n}": Count("id", filter=f["overdue"]),
        }
    rows = list(qs.filter(rules.counted_q()).filter(where).values(code=F(key))
                .annotate(name=Max(name), **annotations).order_by("code"))
    return [[{"code": r["code"], "name": r["name"],
              **{k.removesuffix(f"_{n}"): v for k, v in r.items() if k.endswith(f"_{n}")}} for r in rows]
            for n in range(len(periods))]


Reworks = dict[str | None, tuple[int, str | None]]  # group key -> (rework events, a name)


def _rework_counts(qs, group: str, *periods: tuple[datetime, datetime]) -> list[Reworks]:
    """Return per period [start, end) and group key the number of rework events, in one query."""
    key, name = GROUPS[group]
    where = Q(pk__in=[])
    counts = {}
    for n, (start, end) in enumerate(periods):
        where |= Q(created_at__gte=start, created_at__lt=end)
        counts[f"n_{n}"] = Count("id", filter=Q(created_at__gte=start, created_at__lt=end))
    rows = (
        IncidentEvent.objects.filter(where, action__in=rules.REWORK_ACTIONS, incident__in=qs.values("pk"))
        .values(code=F(f"incident__{key}"))
        .annotate(name=Max(f"incident__{name}"), **counts)
        .order_by()
    )
    return [{r["code"]: (r[f"n_{n}"], r["name"]) for r in rows} for n in range(len(periods))]


FIGURES = ["received", "closed", "due_to_close", "closed_on_time", "handling_total_min", "handling_count",
           "overdue_now"]


def _direct_figures(qs, group: str, *periods: tuple[datetime, datetime, datetime]) -> list[dict]:
    """Return per period {group key: {name, figures}} aggregated on the incidents of ``qs`` (the
    ordinary path), in one query."""
    out = []
    for rows in _incident_figures(qs, group, *periods):
        figures = {}
        for r in rows:
            total = r.pop("handling_total")
            r["handling_total_min"] = total.total_seconds() / 60 if total else 0.0
            figures[r.pop("code")] = r
        out.append(figures)
    return out


def _rollup_figures(actor: Actor, group: str, window: rollups.Window) -> dict:
    """Return {group key: {name, figures}} summed from the rollups for the window's whole days, at t0."""
    key, name = GROUPS[group]
    first, last = window.days
    today = window.today
    due_end = min(last, today)
    K = rollups.Kind
    in_period = Q(day__gte=first, day__lt=last)
    closed = Q(kind=K.CLOSED) & in_period
    rows = (scoped(actor, rollups.Rollup.objects.filter(
                Q(kind__in=[K.RECEIVED, K.CLOSED, K.DUE]) & in_period | Q(kind=K.OPEN, day__lt=today)))
            .values(code=F(key))
            .annotate(name=Max(name), received=Sum("n", filter=Q(kind=K.RECEIVED)),
                      closed=Sum("n", filter=closed), closed_on_time=Sum("n2", filter=closed),
                      handling_total=Sum("secs", filter=closed), handling_count=Sum("secs_n", filter=closed),
                      due=Sum("n", filter=Q(kind=K.DUE, day__lt=due_end)),
                      closed_due=Sum("n", filter=closed & Q(day2__gte=first, day2__lt=due_end)),
                      overdue_now=Sum("n", filter=Q(kind=K.OPEN)))
            .order_by())
    out = {}
    for r in rows:
        r = {k: (v or 0) if k not in ("code", "name") else v for k, v in r.items()}
        r["due_to_close"] = r.pop("due") + r["closed"] - r.pop("closed_due")
        r["handling_total_min"] = r.pop("handling_total") / 60
        out[r.pop("code")] = r
    return out


def _rollup_reworks(actor: Actor, group: str, window: rollups.Window) -> dict[str | None, tuple[int, str | None]]:
    key, name = GROUPS[group]
    first, last = window.days
    rows = (scoped(actor, rollups.Rollup.objects.filter(kind=rollups.Kind.REWORK, day__gte=first, day__lt=last))
            .values(code=F(key)).annotate(n=Sum("n"), name=Max(name)).order_by())
    return {r["code"]: (r["n"], r["name"]) for r in rows}


def _combine(into: dict, rows: dict, sign: int) -> None:
    for code, r in rows.items():
        entry = into.setdefault(code, {"name": r.get("name"), **{f: 0 for f in FIGURES}})
        entry["name"] = entry["name"] or r.get("name")
        for f in FIGURES:
            entry[f] += sign * r[f]


def _assemble(group: str, start: datetime, end: datetime, now: datetime, figures: dict,
              reworks: dict[str | None, tuple[int, str | None]]) -> Assessment:
    rows: dict[str | None, AssessmentRow] = {}
    for code, r in figures.items():
        if not any(r[f] for f in FIGURES if f != "handling_total_min"):
            continue
        rows[code] = AssessmentRow(code=code, name=r["name"] or UNGROUPED_NAME[group],
                                   **{f: r[f] for f in FIGURES})
    for code, (n, name) in reworks.items():
        if n:
            row = rows.setdefault(code, AssessmentRow(code=code, name=name or UNGROUPED_NAME[group]))
            row.reworks = n
    ordered = sorted(rows.values(), key=lambda row: (row.code is None, row.code or ""))
    return Assessment(group=group, start=start, end=end, now=now,
                      rows=[row.finish() for row in ordered], totals=_totals(ordered))


def assessment_direct(*, actor: Actor, group: str, start: datetime, end: datetime,
                      now: datetime | None = None) -> Assessment:
    """Return the assessment aggregated on the incidents themselves (the reference path)."""
    if group not in GROUPS:
        raise ValueError(f"unknown group {group!r}")
    now = now or timezone.now()
    visible = incidents_visible_to(actor)
    return _assemble(group, start, end, now, _direct_figures(visible, group, (start, end, now))[0],
                     _rework_counts(visible, group, (start, end))[0])


def assessment(*, actor: Actor, group: str, start: datetime, end: datetime,
               now: datetime | None = None) -> Assessment:
    """Return the assessment figures of the incidents the actor may see, one row per group key, read
    from the rollups for the whole local days of the period and corrected by the ordinary path for
    the incidents in its part-days (``rollups.Window``): equal to ``assessment_direct``."""
    if group not in GROUPS:
        raise ValueError(f"unknown group {group!r}")
    now = now or timezone.now()
    window = rollups.Window.of(start, end, now)
    visible = incidents_visible_to(actor)
    figures = _rollup_figures(actor, group, window)
    if window.gaps():
        edge = visible.filter(window.edge_q())
        exact, rounded = _direct_figures(edge, group, (start, end, now), (window.d0, window.d1, window.t0))
        _combine(figures, exact, 1)
        _combine(figures, rounded, -1)
    reworks = _rollup_reworks(actor, group, window)
    if window.d1 < end or window.d0 < start:  # events in [d1, end) count, those in [d0, start) do not
        later, earlier = _rework_counts(visible, group, (window.d1, end), (window.d0, start))
        for sign, counts in ((1, later), (-1, earlier)):
            for code, (n, name) in counts.items():
                old, old_name = reworks.get(code, (0, None))
                reworks[code] = (old + sign * n, old_name or name)
    return _assemble(group, start, end, now, figures, reworks)


def _totals(rows: list[AssessmentRow]) -> AssessmentRow:
    total = AssessmentRow(code=None, name="合计 total")
    for field in ("received", "closed", "due_to_close", "closed_on_time", "reworks", "overdue_now",
                  "handling_total_min", "handling_count"):
        setattr(total, field, sum(getattr(row, field) for row in rows))
    return total.finish()
