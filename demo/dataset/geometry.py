"""Planar helpers of the demo generator: Lloyd-relaxed Voronoi cells, fragments, faces.

Metric geometry is EPSG:4549 (CGCS2000 / 3-degree GK CM 120E, metres); stored geometry is EPSG:4326
(``gis_core.geometry.to_metric`` and ``from_metric`` convert). CGCS2000 and WGS84 are treated as the
same datum (sub-metre difference), as pyproj does.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import shapely
from shapely.geometry import MultiPoint, Point, Polygon
from shapely.geometry.base import BaseGeometry

GRID_SIZE_M = 0.001
"""Precision grid (metres, EPSG:4549) every planar construction is snapped to before noding."""
MAX_SEGMENT_M = 100.0
"""Longest edge (metres) of the noded linework: straight in EPSG:4549 is not straight in EPSG:4326,
so edges are densified before projecting to keep thin wedges from folding over."""


def snap(geom: BaseGeometry) -> BaseGeometry:
    """Return ``geom`` (EPSG:4549) snapped to the 1 mm precision grid."""
    return shapely.set_precision(geom, GRID_SIZE_M)


def largest_part(geom: BaseGeometry) -> Polygon:
    """Return the polygon of largest area in ``geom`` (any planar SRID)."""
    parts = [part for part in shapely.get_parts(geom) if part.geom_type == "Polygon" and not part.is_empty]
    if not parts:
        raise ValueError("no polygon in geometry")
    return max(parts, key=lambda part: (part.area, part.bounds))


def polygon_parts(geom: BaseGeometry) -> list[Polygon]:
    """Return the non-empty polygons of ``geom``, largest first."""
    parts = [part for part in shapely.get_parts(geom) if part.geom_type == "Polygon" and not part.is_empty]
    return sorted(parts, key=lambda part: (-part.area, part.bounds))


def random_points_in(region: Polygon, count: int, rng: np.random.Generator) -> np.ndarray:
    """Return ``count`` seeded random points (n x 2 array, metres) inside ``region``."""
    minx, miny, maxx, maxy = region.bounds
    found: list[np.ndarray] = []
    while sum(len(chunk) for chunk in found) < count:
        xy = rng.uniform((minx, miny), (maxx, maxy), size=(4 * count, 2))
        found.append(xy[shapely.contains_xy(region, xy[:, 0], xy[:, 1])])
    return np.concatenate(found)[:count]


def voronoi_cells(seeds: np.ndarray, region: Polygon) -> list[BaseGeometry]:
    """Return the Voronoi cells of ``seeds`` clipped to ``region``, in seed order (EPSG:4549)."""
    diagram = shapely.voronoi_polygons(MultiPoint(seeds), extend_to=region.buffer(1000.0), ordered=True)
    cells = list(diagram.geoms)
    if len(cells) != len(seeds):
        raise ValueError(f"voronoi returned {len(cells)} cells for {len(seeds)} seeds")
    return [snap(cell.intersection(region)) for cell in cells]


def lloyd_cells(region: Polygon, seeds: np.ndarray, iterations: int) -> list[BaseGeometry]:
    """Return Voronoi cells of ``region`` after ``iterations`` Lloyd steps (seed -> cell centroid)."""
    seeds = np.asarray(seeds, dtype=float)
    for _ in range(iterations):
        cells = voronoi_cells(seeds, region)
        seeds = np.array([_inner_centroid(cell, region) for cell in cells])
    return voronoi_cells(seeds, region)


def _inner_centroid(cell: BaseGeometry, region: Polygon) -> tuple[float, float]:
    centroid = cell.centroid
    if region.contains(centroid):
        return centroid.x, centroid.y
    inside = cell.point_on_surface()
    return inside.x, inside.y


def shared_length(a: BaseGeometry, b: BaseGeometry) -> float:
    """Return the approximate length in metres of the border shared by ``a`` and ``b`` (EPSG:4549)."""
    return a.buffer(0.5, quad_segs=2).intersection(b).area / 0.5


def merge_fragments(cells: Sequence[BaseGeometry], groups: Sequence[object] | None = None) -> list[Polygon]:
    """Return single polygons: every minor part of a cell joins the neighbour sharing most border.

    ``groups`` restricts the receiving neighbour to cells of the same group when one exists.
    """
    result = [snap(cell) for cell in cells]
    groups = list(groups) if groups is not None else [0] * len(result)
    for index in range(len(result)):
        parts = polygon_parts(result[index])
        result[index] = parts[0]
        for part in parts[1:]:
            target = _best_neighbour(part, index, result, groups)
            result[target] = snap(shapely.union(result[target], part, grid_size=GRID_SIZE_M))
    if any(cell.geom_type != "Polygon" for cell in result):
        return merge_fragments(result, groups)
    return result


def _best_neighbour(part: Polygon, owner: int, cells: list[BaseGeometry], groups: list[object]) -> int:
    scored = []
    for i, cell in enumerate(cells):
        if i != owner:
            length = shared_length(part, cell)
            scored.append((length > 0.0, groups[i] == groups[owner], length, -i))
    best = max(scored)
    if not best[0]:
        raise ValueError("fragment touches no other cell")
    return -best[3]


def node_faces(outline: Polygon, cells: Sequence[BaseGeometry]) -> list[Polygon]:
    """Return the faces (EPSG:4549) of all cell boundaries inside ``outline``.

    The linework is noded on the 1 mm grid, then every edge is densified once (to MAX_SEGMENT_M), so
    neighbouring faces share bit-identical vertices.
    """
    lines = [outline.boundary] + [cell.boundary for cell in cells]
    noded = shapely.segmentize(shapely.union_all(lines, grid_size=GRID_SIZE_M), MAX_SEGMENT_M)
    faces = shapely.get_parts(shapely.polygonize(shapely.get_parts(noded)))
    return [face for face in faces if outline.contains(face.point_on_surface())]


def assign_faces(faces: Sequence[Polygon], cells: Sequence[BaseGeometry]) -> list[int]:
    """Return, for each face, the index of the cell holding it (largest overlap, then nearest)."""
    tree = shapely.STRtree(list(cells))
    owners = []
    for face in faces:
        probe = face.point_on_surface()
        hits = sorted(int(i) for i in tree.query(probe, predicate="within"))
        if len(hits) == 1:
            owners.append(hits[0])
            continue
        candidates = [int(i) for i in tree.query(face)] or [int(tree.nearest(probe))]
        owners.append(max(candidates, key=lambda i: (cells[i].intersection(face).area, -i)))
    return owners


def dissolve(faces: Sequence[BaseGeometry]) -> BaseGeometry:
    """Return the union of faces that share edges exactly (any SRID; no snapping, no new vertices)."""
    return shapely.union_all(list(faces))


def connect_owners(faces: Sequence[Polygon], owners: list[int], groups: Sequence[object]) -> list[int]:
    """Return face owners such that every owner's faces form one polygon.

    Faces of a minor part move to the owner sharing most border with that part, preferring an owner of
    the same group (village).
    """
    owners = list(owners)
    for _ in range(len(faces)):
        moved = False
        for owner in sorted(set(owners)):
            members = [i for i, o in enumerate(owners) if o == owner]
            parts = polygon_parts(dissolve([faces[i] for i in members]))
            for part in parts[1:]:
                target = _best_owner(part, owner, faces, owners, groups)
                for i in members:
                    if part.contains(faces[i].point_on_surface()):
                        owners[i] = target
                moved = True
        if not moved:
            return owners
    raise ValueError("cannot make every owner's faces connected")


def _best_owner(
    part: Polygon, owner: int, faces: Sequence[Polygon], owners: list[int], groups: Sequence[object]
) -> int:
    shapes = {
        other: dissolve([f for f, o in zip(faces, owners, strict=True) if o == other])
        for other in sorted(set(owners)) if other != owner
    }
    return _best_neighbour(part, owner, [shapes.get(i, Polygon()) for i in range(len(groups))], list(groups))


def offset(point: Point, dx_m: float, dy_m: float) -> Point:
    """Return ``point`` (EPSG:4549) moved by ``dx_m`` east and ``dy_m`` north."""
    return Point(point.x + dx_m, point.y + dy_m)
