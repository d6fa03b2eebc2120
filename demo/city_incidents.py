"""The simulated city's incidents: M reports over three years, streamed into PostgreSQL with COPY.

Structure: 60% of the reports come from recurring hotspots (per town ``HOTSPOTS_PER_TOWN`` places,
each with its own category, weighted like a Zipf law, scattered around a point inside one grid),
the rest anywhere; categories and sources in the demo's shares (``demo.incidents``); a summer peak,
slightly more reports each year, fewer at weekends, straw burning only in the harvest seasons, the
demo's daily rhythm. Each report is located by the real locator (``grids.locator.locate_many``:
grid, village, near-edge, a dedicated grid whose purpose takes the category) and routed to the
A holder of its category's role in that grid's team. Its life follows the rules' transitions
(report, register, dispatch at intake, then accept, report_handled, [rework, report_handled],
verify, close; or cancel, or mark_duplicate), each step at its own time, each an event row as the
lifecycle writes it; steps after ``until`` have not happened, so recent reports are still open, a
few stall and run overdue. One assignment per report, notifications for the open ones.

Rows are generated per chunk of ``CHUNK`` reports (numpy, seeded by (seed, chunk)) and sent with
COPY as they are formatted, one transaction per chunk: memory stays flat, a build stopped half-way
resumes at the next chunk (external ids ``city-000000001``... are the chunk's), and the same seed and
``until`` give the same rows. Triggers on the tables run as for any COPY.
"""
from __future__ import annotations

import zoneinfo
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from types import SimpleNamespace

import numpy as np
import shapely
from django.conf import settings
from django.db import connection, transaction

from core import bulk
from demo.incidents import HOURLY, SOURCES, TITLES, WEIGHTS
from dispatch.models import Assignment, Notification
from dispatch.routing import handling_grid
from grids import locator
from grids.models import Grid, TeamMembership, Town
from incidents import rollups, rules
from incidents.models import Category, Incident, IncidentEvent, Severity

PREFIX = "city-"
CHUNK = 50_000
YEARS = 3
HOTSPOTS_PER_TOWN = 30
HOT_SHARE = 0.6
S = rules.State
INCIDENT_COLUMNS = ["id", "source", "external_id", "category_id", "severity", "title", "description", "address",
                    "reporter_name", "reporter_phone", "reporter_email", "media_url", "location", "original_x",
                    "original_y", "original_crs", "location_source", "location_note", "town_id", "generation_id",
                    "village_id", "grid_id", "handling_grid_id", "near_edge", "triage", "state", "level",
                    "assignee_id", "created_at", "registered_at", "dispatched_at", "accepted_at", "handled_at",
                    "verified_at", "closed_at", "accept_due_at", "handle_due_at", "level_due_at", "escalate_at",
                    "escalations", "reworks", "updated_at"]
EVENT_COLUMNS = ["incident_id", "action", "from_state", "to_state", "level", "actor_label", "note", "data",
                 "created_at"]
ASSIGNMENT_COLUMNS = ["incident_id", "level", "grid_id", "person_id", "role", "slot", "unit", "reason", "active",
                      "assigned_at", "ended_at"]
NOTIFICATION_COLUMNS = ["person_id", "incident_id", "kind", "message", "created_at"]
# (action, from, to, who): the steps in the order they happen; the times are columns of a chunk.
STEPS = [("report", "", S.REPORTED, "client"), ("register", S.REPORTED, S.REGISTERED, "system"),
         ("dispatch", S.REGISTERED, S.DISPATCHED, "system"), ("accept", S.DISPATCHED, S.IN_PROGRESS, "assignee"),
         ("report_handled", S.IN_PROGRESS, S.HANDLED, "assignee"), ("rework", S.HANDLED, S.IN_PROGRESS, "checker"),
         ("report_handled", S.IN_PROGRESS, S.HANDLED, "assignee"), ("verify", S.HANDLED, S.VERIFIED, "checker"),
         ("close", S.VERIFIED, S.CLOSED, "operator"), ("cancel", None, S.CANCELLED, "operator"),
         ("mark_duplicate", None, S.DUPLICATE, "operator")]
LABELS = {"client": "12345热线 (history)", "system": "system", "assignee": "网格员 (simulated)",
          "checker": "网格长 (simulated)", "operator": "指挥中心 command centre (simulated)"}


@dataclass
class City:
    """What the incidents are drawn from: the city's comprehensive grids and hotspots, the categories."""

    grid_ids: np.ndarray
    quads: np.ndarray  # (G, 4, 2) corner lon/lat: south-west, south-east, north-east, north-west
    village_names: list[str]
    holders: dict[tuple[int, str], int]  # (grid id, role) -> person id of the on-duty holder (A, else B)
    hot_grid: np.ndarray
    hot_uv: np.ndarray
    hot_cat: np.ndarray
    hot_p: np.ndarray
    categories: list[Category]
    cat_p: np.ndarray
    dedicated: dict[int, Grid]


def load_city(towns: list[Town], seed: int) -> City:
    grids = list(Grid.objects.active().filter(generation__town__in=towns).select_related("village").order_by("code"))
    comp = [g for g in grids if g.kind == Grid.Kind.COMPREHENSIVE]
    quads = np.array([shapely.from_wkb(bytes(g.boundary.wkb)).geoms[0].exterior.coords[:4] for g in comp])
    holders: dict[tuple[int, str], int] = {}
    for m in TeamMembership.objects.filter(team__grid__in=comp).order_by("slot").values(
            "team__grid_id", "role", "person_id", "on_duty"):
        key = (m["team__grid_id"], m["role"])
        if key not in holders or (m["on_duty"] and holders[key] < 0):
            holders[key] = m["person_id"] if m["on_duty"] else -m["person_id"]
    holders = {k: abs(v) for k, v in holders.items()}
    categories = list(Category.objects.filter(code__in=WEIGHTS).order_by("code"))
    cat_p = np.array([WEIGHTS[c.code] for c in categories], dtype=float)
    cat_p /= cat_p.sum()
    rng = np.random.default_rng([seed, 4])
    h = HOTSPOTS_PER_TOWN * len(towns)
    hot_p = 1.0 / np.arange(1, h + 1) ** 0.8
    rng.shuffle(hot_p)
    return City(
        grid_ids=np.array([g.pk for g in comp]), quads=quads, village_names=[g.village.name for g in comp],
        holders=holders, hot_grid=rng.integers(0, len(comp), h), hot_uv=rng.uniform(0.15, 0.85, (h, 2)),
        hot_cat=rng.choice(len(categories), h, p=cat_p), hot_p=hot_p / hot_p.sum(), categories=categories,
        cat_p=cat_p, dedicated={g.pk: g for g in grids if g.kind == Grid.Kind.DEDICATED})


def day_weights(start: datetime, days: int) -> tuple[np.ndarray, np.ndarray]:
    """Return (every category, straw burning) weights of each local day from ``start``."""
    dates = [start + timedelta(days=d) for d in range(days)]
    doy = np.array([d.timetuple().tm_yday for d in dates], dtype=float)
    weekday = np.array([d.weekday() for d in dates])
    base = (1 + 0.25 * np.sin(2 * np.pi * (doy - 105) / 365)) * np.linspace(0.85, 1.15, days)
    base *= np.where(weekday >= 5, 0.8, 1.0)
    md = np.array([(d.month, d.day) for d in dates])
    season = [((5, 20) <= (m, dd) <= (6, 30)) or ((10, 1) <= (m, dd) <= (11, 30)) for m, dd in md]
    straw = base * np.array(season, dtype=float)
    return base / base.sum(), straw / straw.sum()


def _bilinear(quads: np.ndarray, uv: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return points at (u, v) in [0, 1]^2 of each quadrilateral (inside it: they are convex)."""
    u, v = uv[:, 0:1], uv[:, 1:2]
    p = (quads[:, 0] * (1 - u) * (1 - v) + quads[:, 1] * u * (1 - v) + quads[:, 2] * u * v
         + quads[:, 3] * (1 - u) * v)
    return p[:, 0], p[:, 1]


class Chunk:
    """One chunk of reports: columns as numpy arrays, times in seconds since the epoch (NaN: not yet)."""

    def __init__(self, city: City, index: int, size: int, seed: int, until: datetime, start: datetime,
                 weights: tuple[np.ndarray, np.ndarray]):
        rng = np.random.default_rng([seed, 3, index])
        self.first_n, self.size = index * CHUNK + 1, size
        hot = rng.random(size) < HOT_SHARE
        which = rng.choice(len(city.hot_p), size, p=city.hot_p)
        grid = np.where(hot, city.hot_grid[which], rng.integers(0, len(city.grid_ids), size))
        uv = np.where(hot[:, None], city.hot_uv[which] + rng.normal(0, 0.05, (size, 2)), rng.uniform(0, 1, (size, 2)))
        self.lon, self.lat = _bilinear(city.quads[grid], np.clip(uv, 0.02, 0.98))
        self.planned_grid = grid
        self.cat = np.where(hot, city.hot_cat[which], rng.choice(len(city.categories), size, p=city.cat_p))
        straw = np.array([c.code == "straw_burning" for c in city.categories])[self.cat]
        days = len(weights[0])
        day = np.where(straw, rng.choice(days, size, p=weights[1]), rng.choice(days, size, p=weights[0]))
        hours = np.array(HOURLY) / sum(HOURLY)
        t0 = start.timestamp()
        self.created = t0 + day * 86400.0 + rng.choice(24, size, p=hours) * 3600.0 + rng.uniform(0, 3600, size)
        self.created = np.minimum(self.created, until.timestamp() - rng.uniform(60, 7200, size))
        self.rng, self.city = rng, city
        self._clocks(until.timestamp())

    def _clocks(self, now: float) -> None:
        rng, n, c = self.rng, self.size, self.city
        accept_s = np.array([x.sla_accept_min * 60.0 for x in c.categories])[self.cat]
        handle_s = np.array([x.sla_handle_min * 60.0 for x in c.categories])[self.cat]
        fate = rng.random(n)
        late = rng.random(n) < 0.08
        rework = (rng.random(n) < 0.07)
        t = {}
        t["report"] = t["register"] = t["dispatch"] = self.created
        t["accept"] = self.created + accept_s * np.where(rng.random(n) < 0.05, rng.uniform(1.1, 3, n),
                                                         rng.uniform(0.05, 0.9, n))
        first = t["accept"] + handle_s * np.where(late, 1 + rng.exponential(0.5, n), rng.beta(2, 3, n))
        t["report_handled"] = first
        t["rework"] = np.where(rework, first + rng.uniform(3600, 43200, n), np.nan)
        t["report_handled2"] = np.where(rework, t["rework"] + handle_s * rng.beta(2, 5, n), np.nan)
        last = np.where(rework, t["report_handled2"], first)
        t["verify"] = last + rng.uniform(1800, 86400, n)
        t["close"] = t["verify"] + rng.uniform(600, 28800, n)
        cancel, duplicate, stall = fate < 0.03, (fate >= 0.03) & (fate < 0.045), (fate >= 0.045) & (fate < 0.055)
        # a cancel comes before the report of handling, a duplicate is marked before anyone accepts it
        t["cancel"] = np.where(cancel, self.created + np.minimum(rng.uniform(1800, 86400, n),
                                                                 0.9 * (first - self.created)), np.nan)
        t["mark_duplicate"] = np.where(duplicate, self.created + np.minimum(rng.uniform(300, 10800, n),
                                                                            0.9 * (t["accept"] - self.created)), np.nan)
        stop = np.where(cancel, t["cancel"], np.where(duplicate, t["mark_duplicate"], np.inf))
        stall_at = rng.choice(["accept", "report_handled", "verify"], n)  # the first step that never comes
        for name in ("accept", "report_handled", "rework", "report_handled2", "verify", "close"):
            stalled = stall & (_order(name) >= np.vectorize(_order)(stall_at))
            t[name] = np.where((t[name] > stop) | stalled, np.nan, t[name])
        self.cancel_from = np.where(np.isnan(t["accept"]) | (t["accept"] > stop), S.DISPATCHED, S.IN_PROGRESS)
        for times in t.values():
            times[times > now] = np.nan
        self.t, self.accept_s, self.handle_s = t, accept_s, handle_s


ORDER = ["accept", "report_handled", "rework", "report_handled2", "verify", "close"]


def _order(name: str) -> int:
    return ORDER.index(name)


def _stamps(seconds: np.ndarray) -> list[str]:
    """Format epoch seconds (NaN: NULL) as COPY timestamps with time zone (UTC)."""
    text = np.datetime_as_string((np.nan_to_num(seconds) * 1e6).astype("datetime64[us]"), unit="us")
    return [bulk.NULL if np.isnan(s) else f"{x}+00" for s, x in zip(seconds.tolist(), text.tolist(), strict=True)]


def _states(t: dict[str, np.ndarray]) -> np.ndarray:
    """Return each report's state after the steps that happened (in their order)."""
    state = np.full(len(t["report"]), S.DISPATCHED.value, dtype=object)
    for name, target in [("accept", S.IN_PROGRESS), ("report_handled", S.HANDLED), ("rework", S.IN_PROGRESS),
                         ("report_handled2", S.HANDLED), ("verify", S.VERIFIED), ("close", S.CLOSED),
                         ("cancel", S.CANCELLED), ("mark_duplicate", S.DUPLICATE)]:
        state[~np.isnan(t[name])] = target.value
    return state


def _located(chunk: Chunk) -> tuple[list[int], list[bool], list[int]]:
    """Locate the chunk's points with the real locator: comprehensive grid, near edge, handling grid."""
    found = locator.locate_many(chunk.lon, chunk.lat).found
    city = chunk.city
    grid = found.grid_id.astype(np.int64)
    missing = grid < 0  # never on these interior points; kept on the planned grid should it happen
    grid[missing] = city.grid_ids[chunk.planned_grid[missing]]
    handling = grid.tolist()
    for k in np.flatnonzero(found.dedicated_offsets[1:] > found.dedicated_offsets[:-1]).tolist():
        # the router's own rule (a dedicated grid whose purpose takes the category, else the grid)
        report = SimpleNamespace(category=city.categories[int(chunk.cat[k])], grid=None,
                                 located_dedicated=[city.dedicated[g] for g in found.dedicated_for(k)])
        chosen = handling_grid(report)
        if chosen is not None:
            handling[k] = chosen.pk
    return grid.tolist(), found.near_edge.tolist(), handling


def chunk_rows(chunk: Chunk, ids: list[int], grid_meta: dict[int, tuple[int, int, int]]) -> dict[str, list[str]]:
    """Return the COPY lines of one chunk: incidents, events, assignments, notifications."""
    city, rng, t, n = chunk.city, chunk.rng, chunk.t, chunk.size
    grids, near_edge, handling = _located(chunk)
    state = _states(t).tolist()
    stamps = {name: _stamps(times) for name, times in t.items()}
    handled = np.where(np.isnan(t["report_handled2"]), t["report_handled"], t["report_handled2"])
    updated = np.nanmax(np.stack([t[name] for name in t]), axis=0)
    due = {"accept": chunk.created + chunk.accept_s, "handle": chunk.created + chunk.handle_s}
    due_stamps = {k: _stamps(v) for k, v in due.items()}
    handled_s, updated_s, created_s = _stamps(handled), _stamps(updated), stamps["report"]
    cats = city.categories
    sources = {k: (list(SOURCES[c.code]), np.array(list(SOURCES[c.code].values()), float)) for k, c in enumerate(cats)}
    cat = chunk.cat.tolist()
    source = [None] * n
    for k, (names, w) in sources.items():
        rows = np.flatnonzero(chunk.cat == k)
        for r, s in zip(rows.tolist(), rng.choice(len(names), len(rows), p=w / w.sum()).tolist(), strict=True):
            source[r] = str(names[s])
    bump = (rng.random(n) < 0.1).tolist()
    pick = rng.integers(0, 1000, n).tolist()
    ewkb = shapely.to_wkb(shapely.set_srid(shapely.points(chunk.lon, chunk.lat), 4326), hex=True,
                          include_srid=True).tolist()
    lons, lats = chunk.lon.tolist(), chunk.lat.tolist()
    out = {"incidents": [], "events": [], "assignments": [], "notifications": []}
    for k in range(n):
        c, iid, g = cats[cat[k]], ids[k], grids[k]
        town_id, generation_id, village_id = grid_meta[g]
        village = city.village_names[int(chunk.planned_grid[k])]
        titles = TITLES[c.code]
        title = titles[pick[k] % len(titles)]
        person = city.holders.get((handling[k], c.responsible_role)) or city.holders.get((g, c.responsible_role))
        st = state[k]
        is_open = st in rules.OPEN
        escalate = bulk.NULL
        if is_open:
            at = rules.escalation_time(state=st, level=1, level_due_at=due["handle"][k],
                                       handle_due_at=due["handle"][k], accept_due_at=due["accept"][k])
            escalate = _stamps(np.array([at]))[0] if at is not None else bulk.NULL
        out["incidents"].append("\t".join([
            str(iid), source[k], f"{PREFIX}{chunk.first_n + k:09d}", str(c.pk),
            str(min(c.default_severity + bump[k], Severity.NORMAL)),  # MAJOR and above start above the grid
            bulk.text(title), "", bulk.text(f"{village}{title[:2]}附近"), "", "", "", "", ewkb[k], repr(lons[k]),
            repr(lats[k]), "EPSG:4326", "coordinates", "", str(town_id), str(generation_id), str(village_id), str(g),
            str(handling[k]), "t" if near_edge[k] else "f", "", st, "1", _id(person), created_s[k], created_s[k],
            created_s[k], stamps["accept"][k], handled_s[k], stamps["verify"][k], stamps["close"][k],
            due_stamps["accept"][k], due_stamps["handle"][k], due_stamps["handle"][k], escalate, "0",
            "1" if not np.isnan(t["rework"][k]) else "0", updated_s[k]]) + "\n")
        if person is not None:
            ended = bulk.NULL if is_open else updated_s[k]
            out["assignments"].append(f"{iid}\t1\t{handling[k]}\t{person}\t{c.responsible_role}\tA\t\t"
                                      f"dispatched\t{'t' if is_open else 'f'}\t{created_s[k]}\t{ended}\n")
            if is_open:
                out["notifications"].append(f"{person}\t{iid}\tassigned\t{bulk.text('dispatched: ' + title)}"
                                            f"\t{created_s[k]}\n")
    _events(out["events"], ids, stamps, chunk.cancel_from)
    return out


def _id(value: int | None) -> str:
    return bulk.NULL if value is None else str(value)


def _events(lines: list[str], ids: list[int], stamps: dict[str, list[str]], cancel_from: np.ndarray) -> None:
    """Append one event line per step that happened, as ``incidents.lifecycle.new_event`` writes it."""
    names = ["report", "register", "dispatch", "accept", "report_handled", "rework", "report_handled2", "verify",
             "close", "cancel", "mark_duplicate"]
    for name, (action, from_state, to_state, who) in zip(names, STEPS, strict=True):
        label, column = bulk.text(LABELS[who]), stamps[name]
        for k, at in enumerate(column):
            if at is bulk.NULL or at == bulk.NULL:
                continue
            source = from_state if from_state is not None else (S.DISPATCHED if name == "mark_duplicate"
                                                                 else cancel_from[k])
            lines.append(f"{ids[k]}\t{action}\t{source}\t{to_state}\t1\t{label}\t\t{{}}\t{at}\n")


def existing_count() -> int:
    """Return how many simulated incidents are stored (whole chunks: each chunk is one transaction)."""
    with connection.cursor() as cursor:
        # the idempotency index (submitted_by, source, external_id) has no prefix for a LIKE on external_id alone
        cursor.execute("SELECT count(*) FROM incidents_incident WHERE submitted_by_id IS NULL "
                       "AND external_id LIKE %s", [PREFIX + "%"])
        return cursor.fetchone()[0]


def frame(towns: list[Town], seed: int, until: datetime) -> tuple[City, datetime, tuple[np.ndarray, np.ndarray]]:
    """Return what every chunk is drawn from: the city, the first local midnight of the three years
    ending with the day of ``until``, and the day weights."""
    tz = zoneinfo.ZoneInfo(settings.TIME_ZONE)
    end = until.astimezone(tz).replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1)
    start = end.replace(year=end.year - YEARS)
    return load_city(towns, seed), start, day_weights(start, (end - start).days)


def bulk_allowed() -> bool:
    """Return whether the database role may load with the triggers off (a superuser's
    ``session_replication_role``)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
        return bool(cursor.fetchone()[0])


def load_incidents(towns: list[Town], total: int, seed: int, until: datetime,
                   progress: Callable[[int, int], None] | None = None, *, bulk_load: bool = False,
                   rollup_progress: Callable[[int, int], None] | None = None) -> dict[str, int]:
    """Stream ``total`` simulated incidents (and their events, assignments, notifications) with COPY.

    ``bulk_load``: COPY with the triggers off (``session_replication_role = replica``: no rollup,
    outbox or SMS trigger, no foreign-key check; the rows are the generator's own, their references
    made from stored ids), then recompute the rollups once (``rollups.rebuild_rollups``): a chunk's COPY
    took 5-7 s instead of 24-27 s (bench/README.md, "Rollup writes"). Past reports are told to nobody:
    no outbox row, no text. An interrupted bulk build is finished by running it again with the flag
    (the rollups are made at its end)."""
    city, start, weights = frame(towns, seed, until)
    grid_meta = {g: (t, gen, v) for g, t, gen, v in Grid.objects.filter(pk__in=city.grid_ids.tolist()).values_list(
        "pk", "generation__town_id", "generation_id", "village_id")}
    counts = dict.fromkeys(("incidents", "events", "assignments", "notifications"), 0)
    done = existing_count()
    if done >= total:
        if bulk_load:  # a bulk build stopped after its last chunk: its rollups are still to be made
            rollups.rebuild_rollups(progress=rollup_progress, offline=True)
        return counts
    if done % CHUNK:
        raise ValueError(f"{done} simulated incidents stored, not a whole number of chunks of {CHUNK}: "
                         "build the rest into a fresh database")
    tables = {"incidents": (Incident, INCIDENT_COLUMNS), "events": (IncidentEvent, EVENT_COLUMNS),
              "assignments": (Assignment, ASSIGNMENT_COLUMNS), "notifications": (Notification, NOTIFICATION_COLUMNS)}
    for index in range(done // CHUNK, -(-total // CHUNK)):
        size = min(CHUNK, total - index * CHUNK)
        chunk = Chunk(city, index, size, seed, until, start, weights)
        with transaction.atomic():
            if bulk_load:
                with connection.cursor() as cursor:
                    cursor.execute("SET LOCAL session_replication_role = replica")
            rows = chunk_rows(chunk, bulk.allocate_ids(Incident, size), grid_meta)
            for name, (model, columns) in tables.items():
                counts[name] += bulk.copy_lines(model._meta.db_table, bulk.quoted_columns(model, columns), rows[name])
        if progress:
            progress(index * CHUNK + size, total)
    if bulk_load:
        rollups.rebuild_rollups(progress=rollup_progress, offline=True)
    return counts
