"""Verify the generated partition and compute the numbering rule (EPSG:4326 in, EPSG:4549 measures).

The same rules are re-checked independently by tests/demo/test_dataset.py on the written files.
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import shapely
from shapely.geometry import Polygon

from gis_core.geometry import to_metric

AREA_TOLERANCE_M2 = 1.0
OVERLAP_TOLERANCE_M2 = 1e-6


def max_overlap_m2(polygons: Sequence[Polygon]) -> float:
    """Return the largest pairwise overlap area in m² (EPSG:4549) among EPSG:4326 ``polygons``."""
    metric = [to_metric(p) for p in polygons]
    tree = shapely.STRtree(metric)
    worst = 0.0
    for i, poly in enumerate(metric):
        for j in tree.query(poly):
            if int(j) > i:
                worst = max(worst, poly.intersection(metric[int(j)]).area)
    return worst


def check_cover(whole: Polygon, parts: Sequence[Polygon], label: str) -> dict[str, float]:
    """Check that EPSG:4326 ``parts`` partition ``whole``; return the areas (m²) and residues."""
    whole_m = to_metric(whole)
    part_sum = sum(to_metric(p).area for p in parts)
    union = shapely.union_all(list(parts))
    residue = to_metric(union.symmetric_difference(whole)).area
    overlap = max_overlap_m2(parts)
    invalid = [i for i, p in enumerate(parts) if not p.is_valid or p.geom_type != "Polygon"]
    if invalid or not whole.is_valid:
        raise ValueError(f"{label}: invalid polygons {invalid}")
    if abs(part_sum - whole_m.area) > AREA_TOLERANCE_M2 or residue > AREA_TOLERANCE_M2:
        raise ValueError(f"{label}: parts {part_sum} m² vs whole {whole_m.area} m², residue {residue} m²")
    if overlap > OVERLAP_TOLERANCE_M2:
        raise ValueError(f"{label}: parts overlap by {overlap} m²")
    return {"area_m2": whole_m.area, "area_gap_m2": abs(part_sum - whole_m.area),
            "residue_m2": residue, "max_overlap_m2": overlap}


def row_bands(village: Polygon, count: int) -> tuple[float, float, int]:
    """Return (northern edge, band height in metres, number of rows) of a village with ``count`` grids.

    The village's EPSG:4549 bounding box is cut into round(sqrt(count)) (at least 1) equal west-east bands.
    """
    _, miny, _, maxy = to_metric(village).bounds
    rows = max(1, round(math.sqrt(count)))
    return maxy, (maxy - miny) / rows, rows


def sequence_keys(grids: Sequence[Polygon], village: Polygon) -> list[tuple[int, float]]:
    """Return the numbering key (row, centroid easting) of each EPSG:4326 grid of one village.

    Rows are the bands of ``row_bands`` holding the grid's EPSG:4549 centroid, counted from the north
    (row 0 is the northernmost); inside a row grids go west to east by centroid easting.
    """
    top, band, rows = row_bands(village, len(grids))
    keys = []
    for grid in grids:
        centroid = to_metric(grid).centroid
        keys.append((min(math.floor((top - centroid.y) / band), rows - 1), centroid.x))
    return keys


def sequence_numbers(grids: Sequence[Polygon], village: Polygon) -> list[int]:
    """Return the 1-based sequence number of each grid of one village (north to south, west to east)."""
    keys = sequence_keys(grids, village)
    order = sorted(range(len(grids)), key=lambda i: keys[i])
    numbers = [0] * len(grids)
    for rank, index in enumerate(order, start=1):
        numbers[index] = rank
    return numbers


def band_margin_m(grids: Sequence[Polygon], village: Polygon) -> float:
    """Return the smallest distance (metres) of a grid centroid to an inner row boundary of its village."""
    top, band, rows = row_bands(village, len(grids))
    margins = [math.inf]
    for grid in grids:
        depth = (top - to_metric(grid).centroid.y) / band
        inner = [abs(depth - k) for k in range(1, rows)]
        margins.append(min(inner, default=math.inf) * band)
    return min(margins)
