"""Place the 8 illustrative dedicated grids (专属网格) inside their villages.

Shapes are drawn in EPSG:4549 (metres) and clipped to their village; the partition then rebuilds each
one from the shared noded faces of its village, so it lies exactly inside that village. Places and shapes are
illustrative: only the kinds of place come from the town's report.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import shapely
from shapely import affinity
from shapely.geometry import LineString, Point, Polygon, box
from shapely.ops import nearest_points

from demo.dataset import geometry as geo
from grids.models import Grid, Village

RIVER_HALF_WIDTH_M = 30.0
RIVER_MEANDER_M = (120.0, 1800.0)
"""Amplitude and wavelength (metres) of the illustrative river centre lines."""


@dataclass(frozen=True)
class DedicatedSpec:
    """What to draw: a place name, a purpose, the holding village (by stem) and a shape."""

    sequence: int
    place: str
    purpose: str
    village_stem: str
    village_kind: str
    shape: str
    size_m: tuple[float, float]
    target: str
    offset_m: tuple[float, float] = (0.0, 0.0)


Purpose = Grid.Purpose
VILLAGE, COMMUNITY = Village.Kind.VILLAGE, Village.Kind.COMMUNITY
SPECS: tuple[DedicatedSpec, ...] = (
    DedicatedSpec(901, "公道工业集中区", Purpose.INDUSTRIAL_PARK, "三界", VILLAGE, "rect", (1500.0, 900.0), "centroid"),
    DedicatedSpec(902, "公道中学", Purpose.SCHOOL, "魁星", COMMUNITY, "rect", (260.0, 200.0), "centroid"),
    DedicatedSpec(903, "赤岸小学", Purpose.SCHOOL, "赤岸", COMMUNITY, "rect", (200.0, 160.0), "centroid"),
    DedicatedSpec(904, "公道农贸市场", Purpose.MARKET, "花园", COMMUNITY, "rect", (150.0, 110.0), "seat",
                  (90.0, -70.0)),
    DedicatedSpec(905, "河西村河道", Purpose.RIVER, "河西", VILLAGE, "river", (0.0, 0.0), "centroid"),
    DedicatedSpec(906, "河东村河道", Purpose.RIVER, "河东", VILLAGE, "river", (0.0, 0.0), "centroid"),
    DedicatedSpec(907, "公道镇卫生院", Purpose.HOSPITAL, "花园", COMMUNITY, "rect", (180.0, 140.0), "seat",
                  (-300.0, 160.0)),
    DedicatedSpec(908, "湖滨村滨湖风光带", Purpose.SCENIC_AREA, "湖滨", VILLAGE, "ellipse", (900.0, 500.0), "centroid"),
)


@dataclass
class DedicatedGrid:
    """A dedicated grid: spec, village index, shape drawn in EPSG:4549 and, once built, EPSG:4326 polygon."""

    spec: DedicatedSpec
    village_index: int
    shape_m: Polygon
    centreline_m: LineString | None
    polygon: Polygon | None = None


def find_village(stems: list[tuple[str, str]], stem: str, kind: str) -> int:
    """Return the index of the unit with ``stem`` and ``kind`` in ``stems`` (pairs of stem, kind)."""
    for index, pair in enumerate(stems):
        if pair == (stem, kind):
            return index
    raise ValueError(f"no {kind} named {stem}")


def anchor(village_m: Polygon, target: Point, radius_m: float) -> Point:
    """Return the point nearest ``target`` at least ``radius_m`` inside ``village_m`` (EPSG:4549)."""
    for shrink in (1.0, 0.75, 0.5, 0.25):
        inner = village_m.buffer(-radius_m * shrink)
        if not inner.is_empty:
            return nearest_points(inner, target)[0]
    raise ValueError("village too small for the dedicated grid")


def rectangle(centre: Point, size_m: tuple[float, float], angle_deg: float) -> Polygon:
    """Return a rectangle (EPSG:4549) of ``size_m`` (width, height) rotated ``angle_deg`` anticlockwise."""
    width, height = size_m
    rect = box(centre.x - width / 2, centre.y - height / 2, centre.x + width / 2, centre.y + height / 2)
    return affinity.rotate(rect, angle_deg, origin=centre)


def ellipse(centre: Point, size_m: tuple[float, float], angle_deg: float) -> Polygon:
    """Return a 32-gon ellipse (EPSG:4549) with axes ``size_m`` rotated ``angle_deg`` anticlockwise."""
    circle = centre.buffer(0.5, quad_segs=8)
    return affinity.rotate(affinity.scale(circle, size_m[0], size_m[1], origin=centre), angle_deg, origin=centre)


def river_line(village_m: Polygon, rng: np.random.Generator) -> LineString:
    """Return the longest piece, inside ``village_m``, of a meandering north-south line through it."""
    centre = village_m.centroid if village_m.contains(village_m.centroid) else village_m.point_on_surface()
    minx, miny, maxx, maxy = village_m.bounds
    amplitude, wavelength = RIVER_MEANDER_M
    phase = rng.uniform(0.0, 2.0 * math.pi)
    ys = np.arange(miny - 100.0, maxy + 100.0, 50.0)
    xs = centre.x + amplitude * np.sin(2.0 * math.pi * (ys - centre.y) / wavelength + phase)
    xs = xs - (amplitude * math.sin(phase))
    pieces = shapely.get_parts(village_m.intersection(LineString(np.column_stack([xs, ys]))))
    return max(pieces, key=lambda piece: (piece.length, piece.bounds))


def draw(spec: DedicatedSpec, village_m: Polygon, seat_m: Point, rng: np.random.Generator
         ) -> tuple[Polygon, LineString | None]:
    """Return the shape (EPSG:4549) of one dedicated grid and, for rivers, its centre line."""
    if spec.shape == "river":
        line = river_line(village_m, rng)
        return line.buffer(RIVER_HALF_WIDTH_M, cap_style="flat"), line
    base = seat_m if spec.target == "seat" else village_m.centroid
    target = geo.offset(base, *spec.offset_m)
    radius = math.hypot(*spec.size_m) / 2.0 + 15.0
    centre = anchor(village_m, target, radius)
    angle = rng.uniform(-20.0, 20.0)
    if spec.shape == "ellipse":
        return ellipse(centre, spec.size_m, angle), None
    return rectangle(centre, spec.size_m, angle), None


def draw_dedicated(
    villages_m: list[Polygon], stems: list[tuple[str, str]], seat_m: Point, rng: np.random.Generator
) -> list[DedicatedGrid]:
    """Return the dedicated grid shapes (EPSG:4549), each clipped to its village (EPSG:4549 polygons)."""
    drawn = []
    for spec in SPECS:
        index = find_village(stems, spec.village_stem, spec.village_kind)
        shape_m, line = draw(spec, villages_m[index], seat_m, rng)
        clipped = geo.largest_part(geo.snap(shape_m.intersection(villages_m[index])))
        drawn.append(DedicatedGrid(spec=spec, village_index=index, shape_m=clipped, centreline_m=line))
    return drawn


def check_disjoint(placed: list[DedicatedGrid]) -> None:
    """Raise ValueError if two built dedicated grids (EPSG:4326 polygons) overlap."""
    for i, first in enumerate(placed):
        for second in placed[i + 1:]:
            if first.polygon is None or first.polygon.intersects(second.polygon):
                raise ValueError(f"dedicated grids {first.spec.place} and {second.spec.place} overlap")
