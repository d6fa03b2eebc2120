"""Demo incidents: a few weeks of history through the real intake service, lifecycle and SLA sweep.

``weeks * 7 * per_day`` reports, ``demo-0001``..., deterministic for the seed, recur at places derived
from the town's own data (building at village edges, straw burning in farmland villages - heavier in
the harvest seasons -, work safety in the industrial park, public security at the market and the town
centre, litter at the river sections), from mixed sources; a few cannot be located (triage). Each goes
through ``incidents.intake.intake`` with ``now=`` its historical time; its later steps (the real
``incidents.lifecycle.incident_transition`` and ``incidents.actions.incident_merge``) and an hourly
``dispatch.services.sweep_overdue`` run in time order at their own historical instants (their ``now``);
steps due after now do not happen. Reports whose id is stored already are skipped: a second run
creates nothing.
"""
from __future__ import annotations

import heapq
import math
import random
from contextlib import suppress
from dataclasses import dataclass
from datetime import datetime, timedelta

import shapely
from django.db import transaction
from django.db.models import Count
from django.utils import timezone

from cameras.models import Camera
from core.actors import Actor, Role
from dispatch.services import sweep_overdue
from gis_core.coords import BD09, EPSG_4326, GCJ02, from_wgs84, get_transformer
from gis_core.geometry import to_metric
from gis_core.srid import METRIC_SRID, STORAGE_SRID
from grids.models import Grid, Town, Village
from incidents import rules
from incidents.actions import incident_merge
from incidents.intake import IntakeItem, intake
from incidents.lifecycle import incident_transition
from incidents.models import Category, Incident, Severity
from incidents.rules import TransitionRefused
from incidents.selectors import with_overdue

PREFIX = "demo-"
OPERATOR = Actor(user=None, label="指挥中心 command centre (demo)", groups=frozenset({Role.OPERATOR}))
# The steps the assignee takes (the rules let the assignee take them); the command centre takes the rest.
TEAM_ACTIONS = {name for name, action in rules.TRANSITIONS.items() if Role.ASSIGNEE in action.roles}
NOTES = {"accept": "已接单", "report_handled": "已处置，现场照片已上传", "rework": "处置不到位，返工",
         "verify": "核查属实", "close": "结案", "cancel": "来电人撤回诉求",
         "out_of_jurisdiction": "非本镇辖区，已转交属地", "mark_duplicate": "重复上报，合并处理"}
WEIGHTS = {"environment_sanitation": 20, "public_security": 14, "illegal_construction": 12, "roads_facilities": 10,
           "neighbour_dispute": 10, "rental_housing": 8, "work_safety": 9, "straw_burning": 10, "other": 4}
SRC = Incident.Source
SOURCES = {  # category -> source -> weight
    "illegal_construction": {SRC.PATROL: 5, SRC.HOTLINE_12345: 3, SRC.MAYOR_MAILBOX: 2},
    "straw_burning": {SRC.CAMERA: 4, SRC.PATROL: 4, SRC.HOTLINE_12345: 2},
    "public_security": {SRC.HOTLINE_12345: 3, SRC.CITIZEN: 3, SRC.CAMERA: 2, SRC.PATROL: 2},
    "work_safety": {SRC.PATROL: 6, SRC.HOTLINE_12345: 2, SRC.CAMERA: 2},
    "environment_sanitation": {SRC.CITIZEN: 3, SRC.HOTLINE_12345: 3, SRC.PATROL: 2, SRC.CAMERA: 1,
                               SRC.MAYOR_MAILBOX: 1},
    "rental_housing": {SRC.PATROL: 7, SRC.HOTLINE_12345: 3}, "roads_facilities": {SRC.HOTLINE_12345: 4, SRC.CITIZEN: 4},
    "neighbour_dispute": {SRC.HOTLINE_12345: 5, SRC.CITIZEN: 5}, "other": {SRC.MAYOR_MAILBOX: 5, SRC.HOTLINE_12345: 5},
}
TITLES = {code: titles.split() for code, titles in {
    "illegal_construction": "疑似违章搭建 村民违规加盖二层 占用耕地建房 违规搭建彩钢棚",
    "straw_burning": "农田焚烧秸秆 田间冒烟疑似焚烧秸秆 秸秆堆起火",
    "public_security": "夜间有人聚集吵闹 电动车被盗 摊贩占道经营引发纠纷 有人打架",
    "rental_housing": "出租房未登记租客 群租房安全隐患 出租屋电线私拉乱接",
    "work_safety": "厂区消防通道堵塞 车间灭火器过期 工人未戴安全帽作业 危化品存放不规范",
    "environment_sanitation": "河面漂浮垃圾 垃圾桶满溢未清运 污水直排河道 乱倒建筑垃圾",
    "roads_facilities": "路灯不亮 窨井盖缺失 路面坑洼 交通标志牌倾倒",
    "neighbour_dispute": "宅基地边界纠纷 噪音扰民引发争吵 排水沟堵塞邻里矛盾",
    "other": "咨询补贴政策 流浪狗伤人隐患 小广告乱张贴",
}.items()}
LOST_ADDRESSES = ["老粮站后面那条小路", "北边菜场旁的巷子里", "桥头往南两百米左右", "原砖瓦厂附近"]
DETAILS = ["东头", "西头", "南边", "北侧", "路口", "附近"]
FATES = {"on_time": 72, "late": 10, "rework": 7, "stall_dispatched": 3, "stall_in_progress": 3,
         "stall_handled": 2, "cancelled": 3}
FORCED = ["on_time", "stall_dispatched", "stall_in_progress", "stall_handled"]  # the demo needs each state
HOURLY = [0.15] * 6 + [0.6] * 2 + [1.0] * 10 + [0.7] * 4 + [0.3] * 2  # reports by local hour


@dataclass(frozen=True)
class Spot:
    """A recurring place: a point in EPSG:4549 metres, how far reports scatter, the words people use."""

    x: float
    y: float
    address: str
    radius_m: float
    within: object | None = None  # a metric polygon the scatter stays in (a dedicated grid)
    camera: Camera | None = None


@dataclass
class Planned:
    n: int
    at: datetime
    category: Category
    source: str
    mode: str  # coordinates | address | camera | lost | outside
    spot: Spot
    fate: str
    key: str  # seeds the report's own random numbers
    forced: bool = False

    @property
    def external_id(self) -> str:
        return f"{PREFIX}{self.n:04d}"


def in_straw_season(moment: datetime) -> bool:
    """Return True in the harvest seasons (wheat: late May-June; rice: October-November)."""
    md = (moment.month, moment.day)
    return (5, 20) <= md <= (6, 30) or (10, 1) <= md <= (11, 30)


def _metric(geom) -> shapely.Geometry:
    return to_metric(shapely.from_wkb(bytes(geom.wkb)))


def _inner(poly, rng: random.Random, tries: int = 50) -> tuple[float, float]:
    """Return a random point inside a metric polygon (its point on surface if unlucky)."""
    x0, y0, x1, y1 = poly.bounds
    for _ in range(tries):
        p = shapely.Point(rng.uniform(x0, x1), rng.uniform(y0, y1))
        if poly.contains(p):
            return p.x, p.y
    p = poly.point_on_surface()
    return p.x, p.y


class _Places:
    """The town's villages, grids and online cameras, in EPSG:4549 metres, to pick recurring places from."""

    def __init__(self, town: Town, rng: random.Random):
        self.rng = rng
        grids = list(Grid.objects.active(town).select_related("village"))
        self.villages = list(Village.objects.filter(town=town).order_by("code"))
        self.farms = [v for v in self.villages if v.kind == Village.Kind.VILLAGE] or self.villages
        self.communities = [v for v in self.villages if v.kind == Village.Kind.COMMUNITY] or self.villages
        self.comp = [g for g in grids if g.kind == Grid.Kind.COMPREHENSIVE]
        self.dedicated = {g: _metric(g.boundary) for g in grids if g.kind == Grid.Kind.DEDICATED}
        self.cams = list(Camera.objects.filter(status=Camera.Status.ONLINE, location__coveredby=town.boundary))

    def landmark(self, purpose: str, per_grid: int, radius: float) -> list[Spot]:
        """Points inside the dedicated grids of a purpose, and the cameras standing in them."""
        spots = []
        for g, poly in self.dedicated.items():
            if g.purpose == purpose:
                name = g.name.removesuffix("专属网格")
                spots += [Spot(*_inner(poly, self.rng), name, radius, poly) for _ in range(per_grid)]
                spots += [_camera_spot(c) for c in self.cams if poly.covers(shapely.Point(*_cam_xy(c)))]
        return spots

    def grids(self, of: list[Village], k: int, radius: float, detail: str) -> list[Spot]:
        """A point in each of k comprehensive grids of these villages."""
        chosen = [g for g in self.comp if g.village in of]
        chosen = self.rng.sample(chosen, min(k, len(chosen)))
        return [Spot(*_inner(_metric(g.boundary), self.rng), f"{g.village.name}{detail}", radius) for g in chosen]

    def edges(self, k: int) -> list[Spot]:
        """A point in the outer 100 m of k farmland villages: new building goes up at the edges."""
        spots = []
        for v in self.rng.sample(self.farms, min(k, len(self.farms))):
            poly = _metric(v.boundary)
            core = poly.buffer(-100)
            band = poly if core.is_empty else poly.difference(core)
            spots.append(Spot(*_inner(band, self.rng), f"{v.name}边上", 40))
        return spots

    def plain_cameras(self, villages: list[Village]) -> list[Spot]:
        """Cameras standing in these villages, outside every dedicated grid."""
        return [_camera_spot(c) for c in self.cams if any(v.boundary.covers(c.location) for v in villages)
                and not any(p.covers(shapely.Point(*_cam_xy(c))) for p in self.dedicated.values())]


def hotspots(town: Town, rng: random.Random) -> dict[str, list[Spot]]:
    """Return recurring places per category code, derived from the town's villages, grids and cameras."""
    at = _Places(town, rng)
    spots = {
        "illegal_construction": at.edges(4),
        "straw_burning": at.grids(at.farms, 5, 250, "农田") + at.plain_cameras(at.farms),
        "work_safety": at.landmark(Grid.Purpose.INDUSTRIAL_PARK, 3, 40),
        "public_security": at.landmark(Grid.Purpose.MARKET, 2, 30) + at.plain_cameras(at.communities),
        "environment_sanitation": at.landmark(Grid.Purpose.RIVER, 3, 60) + at.landmark(Grid.Purpose.MARKET, 1, 30),
        "rental_housing": at.grids(at.communities, 4, 120, "出租房"),
        "roads_facilities": at.grids(at.villages, 6, 200, "道路"),
        "neighbour_dispute": at.grids(at.farms, 6, 150, "组里"),
        "other": at.grids(at.villages, 4, 200, ""),
    }
    fallback = at.grids(at.villages, 4, 200, "")
    return {code: found or fallback for code, found in spots.items()}


def _camera_spot(camera: Camera) -> Spot:
    return Spot(*_cam_xy(camera), camera.name, 40, None, camera)


def _cam_xy(camera: Camera) -> tuple[float, float]:
    return get_transformer(STORAGE_SRID, METRIC_SRID).transform(camera.location.x, camera.location.y)


def _to_wgs84(x: float, y: float) -> tuple[float, float]:
    return get_transformer(METRIC_SRID, STORAGE_SRID).transform(x, y)


def outside_spots(town: Town, rng: random.Random, k: int = 4) -> list[Spot]:
    """Return places 2-5 km beyond the town's bounding box (someone calling from next door)."""
    poly = _metric(town.boundary)
    x0, y0, x1, y1 = poly.bounds
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    reach = max(x1 - x0, y1 - y0) / 2
    angles = [(rng.uniform(0, 2 * math.pi), reach * 1.42 + rng.uniform(2000, 5000)) for _ in range(k)]
    return [Spot(cx + far * math.cos(a), cy + far * math.sin(a), "", 300) for a, far in angles]


def _pick(rng: random.Random, weights: dict[str, float]) -> str:
    keys = list(weights)
    return rng.choices(keys, weights=[weights[k] for k in keys])[0]


def _moment(rng: random.Random, start: datetime, now: datetime) -> datetime:
    """Return a time in [start, start + 1 day) before now, busier by day than by night."""
    end = min(start + timedelta(days=1), now)
    while True:
        t = start + (end - start) * rng.random()
        if rng.random() < HOURLY[timezone.localtime(t).hour]:
            return t


def _category_weights(at: datetime, available: set[str]) -> dict[str, float]:
    straw = 3.0 if in_straw_season(timezone.localtime(at)) else 0.15
    return {c: w * (straw if c == "straw_burning" else 1) for c, w in WEIGHTS.items() if c in available}


def make_plan(*, town: Town, weeks: int, per_day: int, seed: int, now: datetime) -> list[Planned]:
    """Return the reports to make, oldest first (deterministic for the arguments and ``now``)."""
    rng = random.Random(f"{seed}:places")
    places, outside = hotspots(town, rng), outside_spots(town, rng)
    categories = {c.code: c for c in Category.objects.filter(code__in=WEIGHTS, active=True)}
    days, plan = weeks * 7, []
    for n in range(1, days * per_day + 1):
        r = random.Random(f"{seed}:{n}")
        at = _moment(r, now - timedelta(days=days - (n - 1) // per_day), now)
        code = _pick(r, _category_weights(at, set(categories)))
        spot, source = r.choice(places[code]), _pick(r, SOURCES[code])
        if source == SRC.CAMERA and spot.camera is None:
            cams = [s for s in places[code] if s.camera is not None]
            spot, source = (r.choice(cams), source) if cams else (spot, SRC.PATROL)
        by_address = source == SRC.MAYOR_MAILBOX or (source == SRC.HOTLINE_12345 and r.random() < 0.55)
        mode = "camera" if source == SRC.CAMERA else "address" if by_address else "coordinates"
        if r.random() < 0.02:
            mode, spot, source = "outside", r.choice(outside), SRC.HOTLINE_12345
        elif mode == "address" and r.random() < 0.04:
            mode = "lost"
        fate = "triage" if mode in ("outside", "lost") else _pick(r, FATES)
        plan.append(Planned(n, at, categories[code], source, mode, spot, fate, key=f"{seed}:{n}"))
    plan.sort(key=lambda p: (p.at, p.n))
    _force_states(plan, now, outside[0])
    return plan


def _force_states(plan: list[Planned], now: datetime, outside: Spot) -> None:
    """Make sure even a small plan shows every state the demo needs (closed, stalled, triage)."""
    if len(plan) < 10:
        return
    located = [p for p in plan if p.mode in ("coordinates", "camera")]
    old = [p for p in located if p.at < now - timedelta(days=4)] or located
    for p, fate in zip(old[:: max(1, len(old) // len(FORCED))], FORCED, strict=False):
        p.fate, p.forced = fate, True
    free = [p for p in reversed(plan) if not p.forced]
    if not any(p.mode == "lost" for p in plan):
        free[0].mode, free[0].fate, free[0].forced = "lost", "triage", True
    if not any(p.mode == "outside" for p in plan):
        free[1].mode, free[1].spot, free[1].fate, free[1].forced = "outside", outside, "triage", True


def _scatter(spot: Spot, rng: random.Random) -> tuple[float, float]:
    """Return (lon, lat) within ``radius_m`` of the spot (and inside its polygon when it has one)."""
    for _ in range(10):
        dist, angle = spot.radius_m * math.sqrt(rng.random()), rng.uniform(0, 2 * math.pi)
        x, y = spot.x + dist * math.cos(angle), spot.y + dist * math.sin(angle)
        if spot.within is None or spot.within.contains(shapely.Point(x, y)):
            return _to_wgs84(x, y)
    return _to_wgs84(spot.x, spot.y)


def _item(p: Planned, rng: random.Random) -> IntakeItem:
    title = rng.choice(TITLES[p.category.code])
    severity = rng.choices([None, Severity.MAJOR, Severity.CRITICAL], weights=[92, 6, 2])[0]
    item = IntakeItem(source=p.source, category=p.category, external_id=p.external_id, severity=severity,
                      title=title, description=f"{title}（演示数据 demo data）")
    if p.source in (SRC.HOTLINE_12345, SRC.CITIZEN, SRC.MAYOR_MAILBOX):
        item.reporter_name = rng.choice("王李张刘陈杨赵黄周吴") + rng.choice(["先生", "女士"])
        item.reporter_phone = f"109{rng.randrange(10**8):08d}"
    if p.mode == "camera":
        item.camera, item.title = p.spot.camera, f"[智能识别] {title}"
    elif p.mode == "lost":
        item.address = rng.choice(LOST_ADDRESSES)
    elif p.mode == "address":
        item.address = p.spot.address + rng.choice(DETAILS)
    else:
        crs = {SRC.CITIZEN: rng.choice([GCJ02, BD09]), SRC.HOTLINE_12345: GCJ02}.get(p.source, EPSG_4326)
        item.x, item.y = from_wgs84(*_scatter(p.spot, rng), crs)
        item.crs, item.address = crs, p.spot.address
    return item


def _steps(p: Planned, rng: random.Random) -> list[tuple[str, float]]:
    """Return the planned later steps as (action, minutes after the report)."""
    u = rng.uniform
    if p.fate == "triage":
        if p.forced:
            return []
        if p.mode == "outside":
            return [("out_of_jurisdiction", u(20, 240))] if rng.random() < 0.6 else []
        return [("cancel", u(60, 600))] if rng.random() < 0.4 else []
    accept_min, handle_min = p.category.sla_accept_min, p.category.sla_handle_min
    late_accept = p.fate == "late" and rng.random() < 0.5
    accept = u(1.2, 3.0) * accept_min if late_accept else u(0.1, 0.9) * accept_min
    if p.fate == "cancelled":
        return [("accept", accept), ("cancel", accept + u(0.05, 0.3) * handle_min)]
    if p.fate == "stall_dispatched":
        return []
    steps = [("accept", accept)]
    handled = u(1.05, 2.0) * handle_min if p.fate == "late" else max(accept + 1, u(0.2, 0.6) * handle_min)
    if p.fate != "stall_in_progress":
        steps.append(("report_handled", handled))
    if p.fate == "rework":
        rework = handled + u(0.03, 0.1) * handle_min
        handled = rework + u(0.1, 0.3) * handle_min
        steps += [("rework", rework), ("report_handled", handled)]
    if p.fate in ("stall_in_progress", "stall_handled"):
        return steps
    verify = handled + u(0.05, 0.15) * handle_min
    return steps + [("verify", verify), ("close", verify + u(0.02, 0.08) * handle_min)]


def _actor_for(incident: Incident, action: str) -> Actor:
    """The assignee accepts and reports back; the command centre verifies, closes and triages."""
    person = incident.assignee
    if action not in TEAM_ACTIONS or person is None:
        return OPERATOR
    if person.user_id:
        return Actor.of(person.user)
    return Actor(user=None, label=f"{person.name} {person.external_id}", person_id=person.pk)


def _take_step(incident_id: int, action: str, other_id: int | None, *, now: datetime) -> None:
    """Take one planned step at its historical instant through the real lifecycle or merge service."""
    if action == "mark_duplicate":
        incident_merge(duplicate_id=incident_id, into_id=other_id, actor=OPERATOR, note=NOTES[action], now=now)
        return
    incident = Incident.objects.select_related("assignee").get(pk=incident_id)
    incident_transition(incident_id=incident_id, action=action, actor=_actor_for(incident, action),
                        note=NOTES.get(action, ""), now=now)


def _report(p: Planned, at: datetime) -> tuple[int | None, list[tuple[str, float, int | None]]]:
    """Send one report through intake; return its id (None: already stored) and its later steps."""
    rng = random.Random(f"{p.key}:run")
    outcome = intake([_item(p, rng)], actor=Actor.system(f"{p.source} (demo)"), now=at)[0]
    if not outcome.created:
        return None, []
    pk = outcome.incident.pk
    duplicate_of = Incident.objects.filter(pk=pk).values_list("possible_duplicate_of_id", flat=True)[0]
    if duplicate_of and not p.forced and rng.random() < 0.6:
        return pk, [("mark_duplicate", rng.uniform(15, 120), duplicate_of)]
    return pk, [(action, minutes, None) for action, minutes in _steps(p, rng)]


def _simulate(plan: list[Planned], now: datetime) -> tuple[list[int], int]:
    """Replay reports, steps and hourly sweeps in time order; return (ids created, escalations)."""
    order = iter(range(10**9))
    queue = [(p.at, next(order), "report", p) for p in plan]
    if plan:
        hour = plan[0].at.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
        while hour <= now:
            queue.append((hour, next(order), "sweep", None))
            hour += timedelta(hours=1)
    heapq.heapify(queue)
    created, escalations = [], 0
    while queue:
        at, _, kind, payload = heapq.heappop(queue)
        if kind == "sweep":
            escalations += sweep_overdue(now=at)
        elif kind == "report":
            pk, steps = _report(payload, at)
            created += [pk] if pk is not None else []
            for action, minutes, other in steps:
                when = at + timedelta(minutes=minutes)
                if when <= now:
                    heapq.heappush(queue, (when, next(order), action, (pk, other)))
        else:
            incident_id, other_id = payload
            # the incident moved on (merged, cancelled), or the one it duplicates did: the step lapses
            with suppress(TransitionRefused):
                _take_step(incident_id, kind, other_id, now=at)
    return created, escalations


def seed_demo_incidents(*, weeks: int = 4, per_day: int = 12, seed: int = 7, town: Town | None = None,
                        now: datetime | None = None) -> dict:
    """Create the demo history (what is stored already is skipped); return counts: planned and created
    by this run, escalations by its sweeps, then over every demo incident: per state, in triage,
    overdue now, reworked, escalated."""
    now = now or timezone.now()
    town = town or Town.objects.filter(generations__status="active").order_by("code").first()
    if town is None:
        raise ValueError("no town with an active boundary generation: load the demo data first")
    plan = make_plan(town=town, weeks=weeks, per_day=per_day, seed=seed, now=now)
    stored = set(Incident.objects.filter(external_id__in=[p.external_id for p in plan])
                 .values_list("external_id", flat=True))
    # One transaction: the history appears at once, and the live notices of its changes, all sent at
    # the commit, are gathered by the live push into a few runs (a 'refresh' for a large run).
    with transaction.atomic():
        created, escalations = _simulate([p for p in plan if p.external_id not in stored], now)
    demo = Incident.objects.filter(external_id__startswith=PREFIX)
    return {
        "planned": len(plan), "created": len(created), "escalations": escalations,
        "by_state": dict(demo.values_list("state").annotate(n=Count("id")).order_by("state")),
        "triage": demo.exclude(triage=Incident.Triage.NONE).filter(state=Incident.State.REPORTED).count(),
        "overdue": with_overdue(demo, now).count(), "reworked": demo.filter(reworks__gt=0).count(),
        "escalated": demo.filter(escalations__gt=0).count(),
    }
