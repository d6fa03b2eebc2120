"""Tests for gis_core._ties (PostGIS-style re-ranking of near-equal nearest grids)."""

from __future__ import annotations

import numpy as np
import pytest
from pyproj import Geod
from shapely.geometry import Polygon, box

from gis_core._segments import boundary_segments
from gis_core._ties import _arc_nearest, _unit, resolve, tie_band


def _slerp_min(p: np.ndarray, a: np.ndarray, b: np.ndarray, steps: int = 20001) -> float:
    """Return the smallest angle from p to densely sampled points of the great-circle arc a-b."""
    omega = np.arccos(np.clip(a @ b, -1.0, 1.0))
    t = np.linspace(0.0, 1.0, steps)[:, None]
    pts = (np.sin((1 - t) * omega) * a + np.sin(t * omega) * b) / np.sin(omega)
    return float(np.min(np.arccos(np.clip(pts @ p, -1.0, 1.0))))


def test_arc_nearest_matches_dense_sampling() -> None:
    rng = np.random.default_rng(4)
    a_ll = np.column_stack([rng.uniform(119.2, 119.5, 50), rng.uniform(32.4, 32.7, 50)])
    b_ll = a_ll + rng.uniform(-0.05, 0.05, (50, 2))
    p_ll = a_ll + rng.uniform(-0.08, 0.08, (50, 2))
    a, b, p = _unit(a_ll[:, 0], a_ll[:, 1]), _unit(b_ll[:, 0], b_ll[:, 1]), _unit(p_ll[:, 0], p_ll[:, 1])
    angle, nearest = _arc_nearest(p, a, b)
    for i in range(50):
        assert angle[i] == pytest.approx(_slerp_min(p[i], a[i], b[i]), abs=1e-10)
    np.testing.assert_allclose(np.linalg.norm(nearest, axis=1), 1.0)


def test_tie_band_grows_with_distance() -> None:
    assert tie_band(np.array([0.0]))[0] == pytest.approx(0.05)
    assert tie_band(np.array([10_000.0]))[0] == pytest.approx(1.05)


def test_resolve_prefers_smaller_geodesic_then_code() -> None:
    near = box(119.30, 32.50, 119.31, 32.51)
    far = Polygon([(119.311, 32.50), (119.32, 32.50), (119.32, 32.51)])
    segments = boundary_segments(np.array([near, far], dtype=object), np.array([0, 1]))
    rank = np.array([1, 0])  # "far" has the smaller code
    lon, lat = np.array([119.3102]), np.array([32.495])
    seg = np.arange(segments.owner.size)
    d2 = np.zeros(seg.size)  # pretend every segment is equally near: only geodesics decide
    pt, chosen, _ = resolve(np.zeros(seg.size, dtype=np.int64), seg, d2, segments, rank, (lon, lat))
    _, _, to_near = Geod(ellps="WGS84").inv(119.3102, 32.495, 119.31, 32.50)
    _, _, to_far = Geod(ellps="WGS84").inv(119.3102, 32.495, 119.311, 32.50)
    assert to_near < to_far and pt.tolist() == [0] and chosen.tolist() == [0]
    # An exact geodesic tie (same vertex) goes to the smaller code.
    shared = Polygon([(119.31, 32.50), (119.32, 32.50), (119.32, 32.51)])
    segments = boundary_segments(np.array([near, shared], dtype=object), np.array([0, 1]))
    lon, lat = np.array([119.31]), np.array([32.49])
    seg = np.arange(segments.owner.size)
    _, chosen, _ = resolve(np.zeros(seg.size, dtype=np.int64), seg, np.zeros(seg.size), segments, rank, (lon, lat))
    assert chosen.tolist() == [1]
