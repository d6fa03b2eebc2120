"""Draw the illustrative town, village and grid polygons (planar work in EPSG:4549, output EPSG:4326).

The town is the part of the district outline north of a west-east line, the line's northing tuned so the
town has the reported area. Communities are Voronoi cells of seeds at and around the town seat inside a
disc (the town centre); villages are Lloyd-relaxed Voronoi cells of the rest; grids are Lloyd-relaxed
Voronoi cells of each village. All boundaries are then noded together on a 1 mm grid and polygonized,
so every grid, village and the town are unions of the same faces and share edges exactly.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import shapely
from shapely.geometry import Point, Polygon, box
from shapely.geometry.base import BaseGeometry

from demo.dataset import geometry as geo
from demo.dataset.sources import TownSource, VillageSource
from gis_core.geometry import from_metric, to_metric
from grids.models import Village

TARGET_AREA_KM2 = 106.6
NORTHING_SEARCH_M = (3_604_000.0, 3_607_000.0)
CENTRE_RADIUS_M = (1150.0, 1650.0)
CENTRE_VERTICES = 9
COMMUNITY_SEED_DISTANCE_M = 900.0
COMMUNITY_GRID_WEIGHT = 3.0
COMMUNITY_GRIDS = (2, 3)
VILLAGE_MIN_GRIDS = 2
VILLAGE_LLOYD_STEPS = 8
GRID_LLOYD_STEPS = 10
FRINGE_CLASS = "镇乡结合区"


@dataclass
class TownOutline:
    """The clipped town outline (EPSG:4549) and how it was obtained."""

    polygon: Polygon
    northing_m: float
    parts: int
    discarded_km2: float


@dataclass
class Partition:
    """Final EPSG:4326 geometry: ``villages`` in source order, ``grid_village`` indexes into it."""

    outline: TownOutline
    town: Polygon
    villages: list[Polygon]
    grids: list[Polygon]
    grid_village: list[int]
    overlays: list[Polygon]


@dataclass
class Plan:
    """The construction before noding, all EPSG:4549: outline, villages, grid cells and their village."""

    outline: TownOutline
    seat_m: Point
    villages_m: list[Polygon]
    cells: list[Polygon]
    cell_village: list[int]


def clip_town(district_m: Polygon, northing_m: float) -> TownOutline:
    """Return the main polygon of ``district_m`` (EPSG:4549) north of ``northing_m``."""
    minx, _, maxx, maxy = district_m.bounds
    parts = geo.polygon_parts(district_m.intersection(box(minx - 1.0, northing_m, maxx + 1.0, maxy + 1.0)))
    discarded = sum(part.area for part in parts[1:]) / 1e6
    return TownOutline(polygon=parts[0], northing_m=northing_m, parts=len(parts), discarded_km2=discarded)


def tune_outline(district_m: Polygon, seat_m: Point, target_km2: float = TARGET_AREA_KM2) -> TownOutline:
    """Return the outline whose area is ``target_km2``, the clip northing bisected and rounded to 1 cm."""
    low, high = NORTHING_SEARCH_M
    for _ in range(60):
        mid = (low + high) / 2.0
        if clip_town(district_m, mid).polygon.area / 1e6 > target_km2:
            low = mid
        else:
            high = mid
    outline = clip_town(district_m, round((low + high) / 2.0, 2))
    outline.polygon = geo.largest_part(geo.snap(outline.polygon))
    if not outline.polygon.contains(seat_m):
        raise ValueError("the town outline does not contain the town seat")
    return outline


def bearing_deg(origin: Point, target: Point) -> float:
    """Return the grid bearing (degrees clockwise from grid north, EPSG:4549) from origin to target."""
    return math.degrees(math.atan2(target.x - origin.x, target.y - origin.y)) % 360.0


def community_seeds(seat_m: Point, count: int, rng: np.random.Generator) -> np.ndarray:
    """Return ``count`` seeds (metres): the seat first, the others on a circle around it."""
    seeds = [(seat_m.x, seat_m.y)]
    for k in range(count - 1):
        angle = math.radians(20.0 + k * 360.0 / max(count - 1, 1) + rng.uniform(-15.0, 15.0))
        seeds.append((seat_m.x + COMMUNITY_SEED_DISTANCE_M * math.sin(angle),
                      seat_m.y + COMMUNITY_SEED_DISTANCE_M * math.cos(angle)))
    return np.array(seeds)


def centre_outline(seat_m: Point, rng: np.random.Generator) -> Polygon:
    """Return an irregular star-shaped polygon (EPSG:4549) around the seat: the town centre."""
    ring = []
    for k in range(CENTRE_VERTICES):
        angle = math.radians((k + rng.uniform(-0.3, 0.3)) * 360.0 / CENTRE_VERTICES)
        radius = rng.uniform(*CENTRE_RADIUS_M)
        ring.append((seat_m.x + radius * math.sin(angle), seat_m.y + radius * math.cos(angle)))
    return Polygon(ring)


def village_cells(
    town: Polygon, seat_m: Point, units: tuple[VillageSource, ...], rng: np.random.Generator
) -> list[Polygon]:
    """Return one polygon (EPSG:4549) per unit, in ``units`` order, partitioning ``town``."""
    communities = [i for i, unit in enumerate(units) if unit.kind == Village.Kind.COMMUNITY]
    rural = [i for i, unit in enumerate(units) if unit.kind != Village.Kind.COMMUNITY]
    centre = geo.largest_part(geo.snap(town.intersection(centre_outline(seat_m, rng))))
    centre_cells = geo.voronoi_cells(community_seeds(seat_m, len(communities), rng), centre)
    ring = geo.snap(town.difference(centre))
    ring_seeds = geo.random_points_in(geo.largest_part(ring), len(rural), rng)
    ring_cells = geo.lloyd_cells(ring, ring_seeds, VILLAGE_LLOYD_STEPS)
    cells = geo.merge_fragments(centre_cells + ring_cells)
    centre_cells, ring_cells = cells[: len(communities)], cells[len(communities):]
    order = name_ring_cells(ring_cells, centre_cells, [units[i] for i in communities],
                            [units[i] for i in rural], seat_m)
    result: list[Polygon] = [Polygon()] * len(units)
    for position, unit_index in enumerate(communities):
        result[unit_index] = centre_cells[position]
    for cell_index, rural_position in enumerate(order):
        result[rural[rural_position]] = ring_cells[cell_index]
    return result


def name_ring_cells(
    ring_cells: list[Polygon], centre_cells: list[Polygon], communities: list[VillageSource],
    villages: list[VillageSource], seat_m: Point,
) -> list[int]:
    """Return, for each ring cell, the position in ``villages`` of the village it becomes.

    A village named like a community takes the cell sharing most border with it; the town-rural fringe
    villages (镇乡结合区) take the cells sharing most border with the centre (then the nearest to the
    seat), clockwise from north; the
    others take the remaining cells clockwise from north, all in code order.
    """
    free = list(range(len(ring_cells)))
    chosen: dict[int, int] = {}
    for position, village in enumerate(villages):
        twins = [c for c, unit in zip(centre_cells, communities, strict=True) if unit.stem == village.stem]
        if twins:
            cell = max(free, key=lambda i: (geo.shared_length(ring_cells[i], twins[0]), -i))
            chosen[position] = cell
            free.remove(cell)
    centre = shapely.union_all(centre_cells)
    fringe = [p for p, v in enumerate(villages) if v.urban_rural_class == FRINGE_CLASS and p not in chosen]
    by_contact = sorted(free, key=lambda i: (-geo.shared_length(ring_cells[i], centre),
                                             ring_cells[i].distance(seat_m), i))
    clockwise = _clockwise(by_contact[: len(fringe)], ring_cells, seat_m)
    chosen.update(zip(fringe, clockwise, strict=True))
    rest = [p for p in range(len(villages)) if p not in chosen]
    remaining = _clockwise([i for i in free if i not in clockwise], ring_cells, seat_m)
    chosen.update(zip(rest, remaining, strict=True))
    order = [0] * len(ring_cells)
    for position, cell in chosen.items():
        order[cell] = position
    return order


def _clockwise(indices: list[int], cells: list[Polygon], seat_m: Point) -> list[int]:
    return sorted(indices, key=lambda i: (bearing_deg(seat_m, cells[i].centroid), i))


def allocate_grids(areas_m2: list[float], kinds: list[str], total: int) -> list[int]:
    """Return grid counts per unit by largest remainder on area (communities weighted, bounded)."""
    weights = [a * (COMMUNITY_GRID_WEIGHT if k == Village.Kind.COMMUNITY else 1.0)
               for a, k in zip(areas_m2, kinds, strict=True)]
    quotas = [total * w / sum(weights) for w in weights]
    bounds = [COMMUNITY_GRIDS if k == Village.Kind.COMMUNITY else (VILLAGE_MIN_GRIDS, total) for k in kinds]
    counts = [min(max(math.floor(q), lo), hi) for q, (lo, hi) in zip(quotas, bounds, strict=True)]
    while sum(counts) != total:
        step = 1 if sum(counts) < total else -1
        movable = [i for i, (lo, hi) in enumerate(bounds) if lo <= counts[i] + step <= hi]
        if not movable:
            raise ValueError("cannot allocate grids within bounds")
        pick = max(movable, key=lambda i: (step * (quotas[i] - counts[i]), -i))
        counts[pick] += step
    return counts


def grid_cells(village: Polygon, count: int, rng: np.random.Generator) -> list[Polygon]:
    """Return ``count`` Lloyd-relaxed Voronoi cells (EPSG:4549) partitioning ``village``."""
    seeds = geo.random_points_in(village, count, rng)
    return geo.merge_fragments(geo.lloyd_cells(village, seeds, GRID_LLOYD_STEPS))


def _faces_of(faces: list[Polygon], members: list[bool]) -> BaseGeometry:
    return geo.dissolve([face for face, member in zip(faces, members, strict=True) if member])


def assemble(plan: Plan, overlays: list[tuple[Polygon, int]]) -> tuple[list[Polygon], list[Polygon]]:
    """Return the grids and the overlay polygons rebuilt from shared noded faces (EPSG:4549).

    An overlay (shape, village index) becomes the largest connected union of the faces of that village
    whose interior point lies in the shape, so it shares its vertices with the grids it crosses.
    """
    faces = geo.node_faces(plan.outline.polygon, plan.cells + [shape for shape, _ in overlays])
    owners = geo.connect_owners(faces, geo.assign_faces(faces, plan.cells), plan.cell_village)
    grids = [_faces_of(faces, [owner == index for owner in owners]) for index in range(len(plan.cells))]
    if any(grid.geom_type != "Polygon" for grid in grids):
        raise ValueError("a grid is empty or in several parts")
    probes = [face.point_on_surface() for face in faces]
    shapes = []
    for shape, village in overlays:
        members = [plan.cell_village[o] == village and shape.contains(p) for o, p in zip(owners, probes, strict=True)]
        shapes.append(geo.largest_part(_faces_of(faces, members)))
    return grids, shapes


def to_storage_polygon(geom_m: BaseGeometry) -> Polygon:
    """Return a single EPSG:4326 polygon, exterior counter-clockwise (RFC 7946), from EPSG:4549."""
    geom = from_metric(geom_m)
    if geom.geom_type != "Polygon" or not geom.is_valid:
        raise ValueError(f"expected one valid polygon, got {geom.geom_type}")
    return shapely.orient_polygons(geom, exterior_cw=False)


def plan_partition(source: TownSource, rng: np.random.Generator, total_grids: int) -> Plan:
    """Return the town outline, village polygons and grid cells (EPSG:4549) before noding."""
    seat_m = to_metric(source.seat_wgs84)
    outline = tune_outline(to_metric(source.district_wgs84), seat_m)
    villages_m = village_cells(outline.polygon, seat_m, source.villages, rng)
    counts = allocate_grids([v.area for v in villages_m], [u.kind for u in source.villages], total_grids)
    cells: list[Polygon] = []
    cell_village: list[int] = []
    for index, (village, count) in enumerate(zip(villages_m, counts, strict=True)):
        cells.extend(grid_cells(village, count, rng))
        cell_village.extend([index] * count)
    return Plan(outline=outline, seat_m=seat_m, villages_m=villages_m, cells=cells, cell_village=cell_village)


def build_partition(plan: Plan, overlays: list[tuple[Polygon, int]]) -> Partition:
    """Return the town, villages, grids and overlays (EPSG:4326) sharing their edges exactly."""
    grids_m, overlays_m = assemble(plan, overlays)
    villages_out = [
        geo.dissolve([g for g, v in zip(grids_m, plan.cell_village, strict=True) if v == index])
        for index in range(len(plan.villages_m))
    ]
    return Partition(
        outline=plan.outline,
        town=to_storage_polygon(geo.dissolve(grids_m)),
        villages=[to_storage_polygon(v) for v in villages_out],
        grids=[to_storage_polygon(g) for g in grids_m],
        grid_village=plan.cell_village,
        overlays=[to_storage_polygon(o) for o in overlays_m],
    )
