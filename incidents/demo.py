"""Demo incidents: a few weeks of history through the real intake service, lifecycle and SLA sweep.

The plan is deterministic for (weeks, per_day, seed): ``weeks * 7 * per_day`` reports numbered
``demo-0001``... Reports recur at fixed places derived from the town's own data (illegal building at
village edges, straw burning in farmland villages - heavier in the harvest seasons, late May-June
and October-November - work safety in the industrial park, public security at the market and the
town centre, litter at the river sections, ...), from mixed sources (12345 with an address or GCJ-02
coordinates, the mayor's mailbox by address, patrols by GPS, cameras by their code, citizens by
GCJ-02/BD-09), a few by an address nobody can find or from outside the town (both go to triage).

Every report goes through ``incidents.intake.intake`` with ``now=`` set to its historical time;
its later steps (accept, handle, rework, verify, close, cancel, merge) and an hourly
``dispatch.services.sweep_overdue`` run in time order, each at its own historical instant, so the
clocks, escalations and events are the ones production would have produced. Steps due after now
do not happen: recent incidents are still open. Reports whose id is already stored are skipped,
so a second run creates nothing.
"""
from __future__ import annotations

import heapq
import math
import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import shapely
from django.db import transaction
from django.db.models import Count
from django.utils import timezone

from cameras.models import Camera
from dispatch.services import sweep_overdue
from gis_core.coords import from_wgs84, get_transformer
from gis_core.geometry import to_metric
from gis_core.srid import METRIC_SRID, STORAGE_SRID
from grids.models import Grid, Town, Village
from incidents.intake import IntakeItem, intake
from incidents.lifecycle import TransitionRefused, apply_transition, locked, new_event, notify_changed
from incidents.models import Category, Incident, Severity
from incidents.permissions import Actor
from incidents.selectors import with_overdue

PREFIX = "demo-"
OPERATOR = Actor(user=None, label="指挥中心 command centre (demo)", groups=frozenset({"operator"}))
TEAM_ACTIONS = {"accept", "report_handled"}
NOTES = {"accept": "已接单", "report_handled": "已处置，现场照片已上传", "rework": "处置不到位，返工",
         "verify": "核查属实", "close": "结案", "cancel": "来电人撤回诉求",
         "out_of_jurisdiction": "非本镇辖区，已转交属地", "mark_duplicate": "重复上报，合并处理"}
WEIGHTS = {"environment_sanitation": 20, "public_security": 14, "illegal_construction": 12, "roads_facilities": 10,
           "neighbour_dispute": 10, "rental_housing": 8, "work_safety": 9, "straw_burning": 10, "other": 4}
SOURCES = {
    "illegal_construction": {"patrol": 5, "hotline_12345": 3, "mayor_mailbox": 2},
    "straw_burning": {"camera": 4, "patrol": 4, "hotline_12345": 2},
    "public_security": {"hotline_12345": 3, "citizen": 3, "camera": 2, "patrol": 2},
    "work_safety": {"patrol": 6, "hotline_12345": 2, "camera": 2},
    "environment_sanitation": {"citizen": 3, "hotline_12345": 3, "patrol": 2, "camera": 1, "mayor_mailbox": 1},
    "rental_housing": {"patrol": 7, "hotline_12345": 3},
    "roads_facilities": {"hotline_12345": 4, "citizen": 4, "mayor_mailbox": 2},
    "neighbour_dispute": {"hotline_12345": 5, "citizen": 5},
    "other": {"mayor_mailbox": 5, "hotline_12345": 5},
}
TITLES = {
    "illegal_construction": ["疑似违章搭建", "村民违规加盖二层", "占用耕地建房", "违规搭建彩钢棚"],
    "straw_burning": ["农田焚烧秸秆", "田间冒烟疑似焚烧秸秆", "秸秆堆起火"],
    "public_security": ["夜间有人聚集吵闹", "电动车被盗", "摊贩占道经营引发纠纷", "有人打架"],
    "rental_housing": ["出租房未登记租客", "群租房安全隐患", "出租屋电线私拉乱接"],
    "work_safety": ["厂区消防通道堵塞", "车间灭火器过期", "工人未戴安全帽作业", "危化品存放不规范"],
    "environment_sanitation": ["河面漂浮垃圾", "垃圾桶满溢未清运", "污水直排河道", "乱倒建筑垃圾"],
    "roads_facilities": ["路灯不亮", "窨井盖缺失", "路面坑洼", "交通标志牌倾倒"],
    "neighbour_dispute": ["宅基地边界纠纷", "噪音扰民引发争吵", "排水沟堵塞邻里矛盾"],
    "other": ["咨询补贴政策", "流浪狗伤人隐患", "小广告乱张贴"],
}
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
    forced: bool = False

    @property
    def external_id(self) -> str:
        return f"{PREFIX}{self.n:04d}"


@dataclass
class SeedSummary:
    planned: int
    created: int
    escalations: int
    by_state: dict[str, int] = field(default_factory=dict)
    triage: int = 0
    overdue: int = 0
    reworked: int = 0
    escalated: int = 0


def in_straw_season(moment: datetime) -> bool:
    """Return True in the harvest seasons (wheat: late May-June; rice: October-November)."""
    md = (moment.month, moment.day)
    return (5, 20) <= md <= (6, 30) or (10, 1) <= md <= (11, 30)


# ---- places ------------------------------------------------------------------------------------

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


def _edge_point(poly, rng: random.Random, inset_m: float = 60.0) -> tuple[float, float]:
    """Return a point about ``inset_m`` inside a polygon's outline (village edges: new building)."""
    core = poly.buffer(-inset_m)
    ring = (core if not core.is_empty else poly).boundary
    p = ring.interpolate(rng.random(), normalized=True)
    return p.x, p.y


def hotspots(town: Town, rng: random.Random) -> dict[str, list[Spot]]:
    """Return recurring places per category code, derived from the town's villages, grids and cameras."""
    grids = list(Grid.objects.active(town).select_related("village"))
    villages = list(Village.objects.filter(town=town).order_by("code"))
    farms = [v for v in villages if v.kind == Village.Kind.VILLAGE] or villages
    towns_ = [v for v in villages if v.kind == Village.Kind.COMMUNITY] or villages
    comp = [g for g in grids if g.kind == Grid.Kind.COMPREHENSIVE]
    dedicated = {g: _metric(g.boundary) for g in grids if g.kind == Grid.Kind.DEDICATED}
    cams = [c for c in Camera.objects.filter(status="online", location__coveredby=town.boundary)]

    def landmark(purpose: str, per_grid: int, radius: float) -> list[Spot]:
        spots = []
        for g, poly in dedicated.items():
            if g.purpose == purpose:
                name = g.name.removesuffix("专属网格")
                spots += [Spot(*_inner(poly, rng), name, radius, poly) for _ in range(per_grid)]
                spots += [Spot(*_cam_xy(c), c.name, 0, None, c) for c in cams if _covers(poly, c)]
        return spots

    def grid_spots(of: list[Village], k: int, radius: float, detail: str) -> list[Spot]:
        chosen = [g for g in comp if g.village in of]
        chosen = rng.sample(chosen, min(k, len(chosen)))
        return [Spot(*_inner(_metric(g.boundary), rng), f"{g.village.name}{detail}", radius) for g in chosen]

    plain_cams = [c for c in cams if not any(_covers(p, c) for p in dedicated.values())]
    spots = {
        "illegal_construction": [Spot(*_edge_point(_metric(v.boundary), rng), f"{v.name}边上", 40)
                                 for v in rng.sample(farms, min(4, len(farms)))],
        "straw_burning": grid_spots(farms, 5, 250, "农田")
        + [Spot(*_cam_xy(c), c.name, 0, None, c) for c in plain_cams if _village_of(c, farms)],
        "work_safety": landmark("industrial_park", 3, 40),
        "public_security": landmark("market", 2, 30)
        + [Spot(*_cam_xy(c), c.name, 0, None, c) for c in plain_cams if _village_of(c, towns_)],
        "environment_sanitation": landmark("river", 3, 60) + landmark("market", 1, 30),
        "rental_housing": grid_spots(towns_, 4, 120, "出租房"),
        "roads_facilities": grid_spots(villages, 6, 200, "道路"),
        "neighbour_dispute": grid_spots(farms, 6, 150, "组里"),
        "other": grid_spots(villages, 4, 200, ""),
    }
    fallback = grid_spots(villages, 4, 200, "")
    return {code: found or fallback for code, found in spots.items()}


def _cam_xy(camera: Camera) -> tuple[float, float]:
    return _to_metric(camera.location.x, camera.location.y)


def _covers(poly, camera: Camera) -> bool:
    return poly.covers(shapely.Point(*_cam_xy(camera)))


def _village_of(camera: Camera, villages: list[Village]) -> bool:
    return any(v.boundary.covers(camera.location) for v in villages)


def _to_metric(lon: float, lat: float) -> tuple[float, float]:
    return get_transformer(STORAGE_SRID, METRIC_SRID).transform(lon, lat)


def _to_wgs84(x: float, y: float) -> tuple[float, float]:
    return get_transformer(METRIC_SRID, STORAGE_SRID).transform(x, y)


def outside_spots(town: Town, rng: random.Random, k: int = 4) -> list[Spot]:
    """Return places 2-5 km beyond the town's bounding box (someone calling from next door)."""
    poly = _metric(town.boundary)
    x0, y0, x1, y1 = poly.bounds
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    reach = max(x1 - x0, y1 - y0) / 2
    spots = []
    for _ in range(k):
        angle, far = rng.uniform(0, 6.2832), reach * 1.42 + rng.uniform(2000, 5000)
        spots.append(Spot(cx + far * math.cos(angle), cy + far * math.sin(angle), "", 300))
    return spots


# ---- the plan ----------------------------------------------------------------------------------

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


def make_plan(*, town: Town, weeks: int, per_day: int, seed: int, now: datetime) -> list[Planned]:
    """Return the reports to make, oldest first (deterministic for the arguments and ``now``)."""
    rng = random.Random(f"{seed}:places")
    places, outside = hotspots(town, rng), outside_spots(town, rng)
    categories = {c.code: c for c in Category.objects.filter(code__in=WEIGHTS, active=True)}
    days, plan = weeks * 7, []
    for n in range(1, days * per_day + 1):
        r = random.Random(f"{seed}:{n}")
        at = _moment(r, now - timedelta(days=days - (n - 1) // per_day), now)
        weights = {c: w * (3 if c == "straw_burning" and in_straw_season(timezone.localtime(at)) else 1)
                   * (0.15 if c == "straw_burning" and not in_straw_season(timezone.localtime(at)) else 1)
                   for c, w in WEIGHTS.items() if c in categories}
        code = _pick(r, weights)
        spot = r.choice(places[code])
        source = _pick(r, SOURCES[code])
        if source == "camera" and spot.camera is None:
            cams = [s for s in places[code] if s.camera is not None]
            spot, source = (r.choice(cams), source) if cams else (spot, "patrol")
        mode = "camera" if source == "camera" else _mode(r, source)
        if r.random() < 0.02:
            mode, spot, source = "outside", r.choice(outside), "hotline_12345"
        elif mode == "address" and r.random() < 0.04:
            mode = "lost"
        fate = _pick(r, FATES) if mode not in ("outside", "lost") else "triage"
        plan.append(Planned(n, at, categories[code], source, mode, spot, fate))
    plan.sort(key=lambda p: (p.at, p.n))
    _force_states(plan, now)
    return plan


def _mode(rng: random.Random, source: str) -> str:
    if source == "mayor_mailbox" or (source == "hotline_12345" and rng.random() < 0.55):
        return "address"
    return "coordinates"


def _force_states(plan: list[Planned], now: datetime) -> None:
    """Make sure a small plan still shows every state the demo needs (closed, stalled, triage)."""
    if len(plan) < 10:
        return
    old = [p for p in plan if p.mode in ("coordinates", "camera") and p.at < now - timedelta(days=4)]
    old = old or [p for p in plan if p.mode in ("coordinates", "camera")]
    step = max(1, len(old) // len(FORCED))
    for p, fate in zip(old[::step], FORCED, strict=False):
        p.fate, p.forced = fate, True
    if not any(p.mode == "lost" for p in plan):
        lost = next(p for p in reversed(plan) if p.mode == "address" or not p.forced)
        lost.mode, lost.fate, lost.forced = "lost", "triage", True
    if not any(p.mode == "outside" for p in plan):
        far = next(p for p in reversed(plan) if not p.forced)
        rng = random.Random(f"outside:{far.n}")
        far.mode, far.fate, far.forced, far.spot = "outside", "triage", True, outside_spots_cached(rng)


def outside_spots_cached(rng: random.Random) -> Spot:
    town = Town.objects.filter(generations__status="active").order_by("code").first()
    return outside_spots(town, rng, k=1)[0]
