"""The simulated city: towns around Yangzhou next to the real data, each through a boundary generation.

Each town is a jittered lattice of quadrilateral comprehensive grids (drawn in EPSG:4549 metres, its
vertices converted to EPSG:4326 once, so neighbouring grids share their vertices exactly and the
villages, blocks of the lattice, are partitioned with no gap and no overlap); a village's and the
town's outlines walk the same vertices. Towns sit in slots of a layout spiralling out from the city
centre; a slot that comes within ``TOWN_GAP_M`` of a town already stored (Gongdao, or any other) is
skipped, so nothing overlaps. Every town is written as a draft generation and published with
``grids.services.generation_activate`` (which validates the partition), as the Gongdao import does, so
the locator, routing and the planner see it. Codes: county (Yangzhou's six) + town 5xx + village
(communities 0xx, villages 2xx) + sequence (comprehensive 001.. numbered north to south, west to
east; dedicated 901..). Everything follows from ``--seed``; a town whose code is stored is kept.
"""
from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import shapely
from django.contrib.gis.geos import GEOSGeometry
from django.db import transaction

from cameras.models import Camera
from gis_core.coords import get_transformer
from gis_core.geometry import to_metric
from gis_core.srid import METRIC_SRID, STORAGE_SRID
from grids.models import BoundaryGeneration, Grid, GridTeam, Person, TeamMembership, Town, Village, VillageLeader
from grids.services import generation_activate

CITY_CENTRE = (119.4129, 32.3942)  # Yangzhou (扬州市) government seat, WGS84
COUNTIES = ["321002", "321003", "321012", "321023", "321081", "321084"]  # 广陵 邗江 江都 宝应 仪征 高邮
CELL_M = (1100.0, 1000.0)  # a comprehensive grid's lattice cell, west-east and south-north
COLS, ROWS = (9, 10, 11), 5  # lattice columns (one of these, by seed) and rows of a town
MAX_COLS = max(COLS)
TOWN_GAP_M = 600.0
JITTER = 0.22  # of a cell: below a half, so the quadrilaterals stay convex and the towns apart
CAMERAS_PER_TOWN = 20
PURPOSES = [p for p, _ in Grid.Purpose.choices]
SYLLABLES = list("安宝昌大丰福甘高广汉和红华黄吉嘉江金锦景康兰乐立良林龙芦鲁茂明宁平浦桥清仁瑞三沙山上邵胜石双顺泰塘天"
                  "田同湾万王文吴西仙香祥新兴秀扬阳杨永裕元运长真正中竹庄")
SURNAMES = list("王李张刘陈杨黄赵吴周徐孙马朱胡郭何林高罗郑梁谢宋唐许韩冯邓曹")
GIVEN = list("伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂华建文玉红斌宇浩")


@dataclass
class Lattice:
    """A town's lattice: vertex coordinates in EPSG:4326, ``lon[j, i]``, ``lat[j, i]`` (row j from the south)."""

    lon: np.ndarray
    lat: np.ndarray

    def ring(self, i0: int, i1: int, j0: int, j1: int) -> list[tuple[float, float]]:
        """Return the closed counter-clockwise outline of the cell block [i0, i1) x [j0, j1)."""
        path = [(i, j0) for i in range(i0, i1 + 1)] + [(i1, j) for j in range(j0 + 1, j1 + 1)]
        path += [(i, j1) for i in range(i1 - 1, i0 - 1, -1)] + [(i0, j) for j in range(j1 - 1, j0 - 1, -1)]
        return [(float(self.lon[j, i]), float(self.lat[j, i])) for i, j in path]

    def polygon(self, i0: int, i1: int, j0: int, j1: int) -> shapely.Polygon:
        return shapely.Polygon(self.ring(i0, i1, j0, j1))


@dataclass
class TownPlan:
    code: str
    name: str
    cols: int
    lattice: Lattice
    # villages: (segment, name, kind, i0, i1, j0, j1)
    villages: list[tuple[str, str, str, int, int, int, int]] = field(default_factory=list)


def _name(rng: np.random.Generator, suffix: str, taken: set[str]) -> str:
    for _ in range(100):
        name = "".join(rng.choice(SYLLABLES, 2, replace=False)) + suffix
        if name not in taken:
            taken.add(name)
            return name
    raise ValueError("ran out of names")


def slot_origins(n: int) -> list[tuple[float, float]]:
    """Return the south-west corners (EPSG:4549) of town slots, nearest the city centre first."""
    cx, cy = to_metric(shapely.Point(CITY_CENTRE)).coords[0]
    w, h = MAX_COLS * CELL_M[0] + TOWN_GAP_M, ROWS * CELL_M[1] + TOWN_GAP_M
    side = int(math.ceil(math.sqrt(n))) * 2 + 4
    slots = [(cx + (a - side / 2) * w, cy + (b - side / 2) * h) for a in range(side) for b in range(side)]
    return sorted(slots, key=lambda s: ((s[0] + w / 2 - cx) ** 2 + (s[1] + h / 2 - cy) ** 2, s))


def _lattice(origin: tuple[float, float], cols: int, rng: np.random.Generator) -> Lattice:
    """Return a jittered (cols+1) x (ROWS+1) vertex lattice in EPSG:4326 from a metric origin."""
    jj, ii = np.mgrid[0:ROWS + 1, 0:cols + 1]
    x = origin[0] + TOWN_GAP_M / 2 + ii * CELL_M[0] + rng.uniform(-JITTER, JITTER, ii.shape) * CELL_M[0]
    y = origin[1] + TOWN_GAP_M / 2 + jj * CELL_M[1] + rng.uniform(-JITTER, JITTER, jj.shape) * CELL_M[1]
    lon, lat = get_transformer(METRIC_SRID, STORAGE_SRID).transform(x, y)
    return Lattice(np.round(lon, 9), np.round(lat, 9))


def _splits(total: int, rng: np.random.Generator, sizes: tuple[int, ...]) -> list[tuple[int, int]]:
    """Cut [0, total) into consecutive runs whose lengths are drawn from ``sizes``."""
    cuts, at = [], 0
    while at < total:
        size = min(int(rng.choice(sizes)), total - at)
        if total - at - size == 1:  # never leave a run of one behind
            size += 1
        cuts.append((at, at + size))
        at += size
    return cuts


def plan_towns(n: int, seed: int, taken_m: shapely.Geometry | None) -> list[TownPlan]:
    """Return the plans of ``n`` towns in free slots (``taken_m``: stored towns in EPSG:4549)."""
    plans, names = [], set()
    rng = np.random.default_rng([seed, 1])
    w, h = MAX_COLS * CELL_M[0] + TOWN_GAP_M, ROWS * CELL_M[1] + TOWN_GAP_M
    for origin in slot_origins(n):
        if len(plans) == n:
            break
        slot = shapely.box(origin[0], origin[1], origin[0] + w, origin[1] + h)
        if taken_m is not None and slot.intersects(taken_m):
            continue
        k = len(plans)
        code = f"{COUNTIES[k % len(COUNTIES)]}{501 + k // len(COUNTIES):03d}"
        cols = int(rng.choice(COLS))
        plan = TownPlan(code, _name(rng, "镇", names), cols, _lattice(origin, cols, rng))
        village_names: set[str] = set()
        blocks = [(c, r) for r in _splits(ROWS, rng, (2, 3)) for c in _splits(cols, rng, (2, 3))]
        communities = 1 + int(rng.integers(0, 2))
        for v, ((i0, i1), (j0, j1)) in enumerate(blocks):
            community = v < communities
            segment = f"{v + 1:03d}" if community else f"{200 + v + 1:03d}"
            kind = Village.Kind.COMMUNITY if community else Village.Kind.VILLAGE
            plan.villages.append((segment, _name(rng, "社区" if community else "村", village_names), kind,
                                  i0, i1, j0, j1))
        plans.append(plan)
    if len(plans) < n:
        raise ValueError(f"only {len(plans)} free slots for {n} towns")
    return plans


def _multi(poly: shapely.Polygon) -> GEOSGeometry:
    return GEOSGeometry(memoryview(shapely.to_wkb(shapely.MultiPolygon([poly]))), srid=4326)


def _shrunk(poly: shapely.Polygon, factor: float) -> shapely.Polygon:
    c = poly.centroid
    return shapely.Polygon([(c.x + (x - c.x) * factor, c.y + (y - c.y) * factor) for x, y in poly.exterior.coords])


class _People:
    """Creates the people of one town (unsaved), numbered within the town."""

    def __init__(self, town_code: str, rng: np.random.Generator):
        self.town_code, self.rng, self.people = town_code, rng, []

    def new(self, role: str) -> Person:
        n = len(self.people) + 1
        person = Person(external_id=f"city-{self.town_code}-{n:04d}", role=role,
                        name=str(self.rng.choice(SURNAMES))
                        + "".join(self.rng.choice(GIVEN, int(self.rng.integers(1, 3)))),
                        phone=f"109{self.town_code[-4:]}{n:04d}")
        self.people.append(person)
        return person


@transaction.atomic
def build_town(plan: TownPlan, seed: int) -> BoundaryGeneration:
    """Store one planned town: villages, a generation of grids, teams, cameras; publish the generation."""
    rng = np.random.default_rng([seed, 2, int(plan.code)])
    lat = plan.lattice
    town = Town.objects.create(code=plan.code, name=plan.name, boundary=_multi(lat.polygon(0, plan.cols, 0, ROWS)))
    generation = BoundaryGeneration.objects.create(town=town, description="simulated city (build_city)")
    people = _People(plan.code, rng)
    grids, teams, posts, leaders = [], [], [], []
    town_leaders = [people.new(Person.Role.TOWN_LEADER) for _ in range(3)]
    enforcement = [people.new(Person.Role.ENFORCEMENT) for _ in range(2)]
    for segment, name, kind, i0, i1, j0, j1 in plan.villages:
        village = Village.objects.create(town=town, code=plan.code + segment, name=name, official_name=name + "委员会",
                                         kind=kind, boundary=_multi(lat.polygon(i0, i1, j0, j1)))
        leaders.append(VillageLeader(village=village, person=town_leaders[len(leaders) % len(town_leaders)]))
        police = [people.new(Person.Role.POLICE) for _ in range(2)]
        cells = [(i, j) for j in range(j1 - 1, j0 - 1, -1) for i in range(i0, i1)]  # north to south, west to east
        village_grids = []
        for seq, (i, j) in enumerate(cells, start=1):
            grid = Grid(generation=generation, village=village, kind=Grid.Kind.COMPREHENSIVE,
                        code=f"{village.code}{seq:03d}", name=f"{name}第{seq}网格",
                        boundary=_multi(lat.polygon(i, i + 1, j, j + 1)))
            village_grids.append((grid, people.new(Person.Role.CADRE), people.new(Person.Role.GRID_WORKER)))
        for k, (grid, cadre, worker) in enumerate(village_grids):
            other = village_grids[(k + 1) % len(village_grids)]
            holders = {Person.Role.GRID_WORKER: (worker, other[2]), Person.Role.POLICE: tuple(police),
                       Person.Role.ENFORCEMENT: tuple(enforcement), Person.Role.CADRE: (cadre, other[1])}
            grids.append(grid)
            teams.append((grid, cadre, holders))
        if rng.random() < 0.35 or len(grids) == len(village_grids):  # a dedicated grid in some villages
            host_grid, host_cadre, host_holders = teams[-1 - int(rng.integers(0, len(village_grids)))]
            shape = _shrunk(shapely.from_wkb(bytes(host_grid.boundary.wkb)).geoms[0], 0.45)
            purpose = PURPOSES[int(rng.integers(0, len(PURPOSES)))]
            grid = Grid(generation=generation, village=village, kind=Grid.Kind.DEDICATED, purpose=purpose,
                        code=f"{village.code}901", name=f"{name}{Grid.Purpose(purpose).label.split()[0]}专属网格",
                        boundary=_multi(shape))
            grids.append(grid)
            teams.append((grid, host_cadre, host_holders))
    Person.objects.bulk_create(people.people)
    Grid.objects.bulk_create(grids)
    for grid, leader, _holders in teams:
        team = GridTeam(grid=grid, leader=leader)
        posts.append(team)
    GridTeam.objects.bulk_create(posts)
    TeamMembership.objects.bulk_create([
        TeamMembership(team=team, person=person, role=role, slot=slot, on_duty=bool(rng.random() > 0.03))
        for team, (_, _, holders) in zip(posts, teams, strict=True)
        for role, pair in holders.items() for slot, person in zip("AB", pair, strict=True)
    ])
    VillageLeader.objects.bulk_create(leaders)
    _cameras(town, [g for g in grids if g.kind == Grid.Kind.COMPREHENSIVE], rng)
    return generation_activate(generation=generation)


def _cameras(town: Town, grids: list[Grid], rng: np.random.Generator) -> None:
    """Place cameras at points inside random grids (the generation's publication gives them their grid)."""
    start = Camera.objects.filter(code__startswith="Y").count()
    cameras = []
    for k in range(CAMERAS_PER_TOWN):
        poly = shapely.from_wkb(bytes(grids[int(rng.integers(0, len(grids)))].boundary.wkb))
        point = _shrunk(poly.geoms[0], 0.5).representative_point()
        cam = Camera(code=f"Y{start + k:05d}", name=f"{town.name}探头{k + 1:02d}",
                     location=GEOSGeometry(point.wkt, srid=4326), bearing_deg=float(rng.integers(0, 360)),
                     fov_deg=float(rng.integers(60, 120)), range_m=float(rng.integers(120, 400)),
                     status=Camera.Status.OFFLINE if rng.random() < 0.08 else Camera.Status.ONLINE)
        cam.compute_sector()
        cameras.append(cam)
    Camera.objects.bulk_create(cameras)


def taken_area_m() -> shapely.Geometry | None:
    """Return the stored towns' outlines in EPSG:4549, grown by the gap (None when there is none)."""
    outlines = [to_metric(shapely.from_wkb(bytes(t.boundary.wkb))) for t in Town.objects.all()]
    return shapely.union_all(outlines).buffer(TOWN_GAP_M / 2) if outlines else None


def build_places(towns: int, seed: int, progress: Callable[[int, int], None] | None = None) -> list[Town]:
    """Create the city's towns not stored yet (each published through its generation); return all of them."""
    codes = set(Town.objects.values_list("code", flat=True))
    simulated = [c for c in codes if c[6:7] == "5" and c[:6] in COUNTIES]
    taken = taken_area_m() if not simulated else _non_city_area(simulated)
    plans = plan_towns(towns, seed, taken)
    for k, plan in enumerate(plans):
        if plan.code not in codes:
            build_town(plan, seed)
        if progress:
            progress(k + 1, towns)
    return list(Town.objects.filter(code__in=[p.code for p in plans]))


def _non_city_area(simulated: list[str]) -> shapely.Geometry | None:
    """The taken area without the simulated towns, so a rerun plans the same slots as the first run."""
    outlines = [to_metric(shapely.from_wkb(bytes(t.boundary.wkb))) for t in Town.objects.exclude(code__in=simulated)]
    return shapely.union_all(outlines).buffer(TOWN_GAP_M / 2) if outlines else None
