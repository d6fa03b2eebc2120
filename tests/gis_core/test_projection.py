"""Tests for gis_core._projection.LocalProjector (EPSG:4326 degrees -> EPSG:4549 metres)."""

from __future__ import annotations

import numpy as np
import pytest

from gis_core._projection import MAX_ERROR_M, LocalProjector
from gis_core.coords import get_transformer
from gis_core.srid import METRIC_SRID, STORAGE_SRID


@pytest.mark.parametrize(
    "bounds",
    [(119.26, 32.50, 119.43, 32.65), (118.5, 31.5, 120.5, 33.5), (100.0, 30.0, 101.0, 31.0)],
)
def test_polynomial_matches_pyproj(bounds: tuple[float, float, float, float]) -> None:
    project = LocalProjector(bounds)
    assert project.degree is not None and project.max_error_m <= MAX_ERROR_M
    rng = np.random.default_rng(0)
    lon, lat = rng.uniform(bounds[0], bounds[2], 20_000), rng.uniform(bounds[1], bounds[3], 20_000)
    e, n = project(lon, lat)
    exact_e, exact_n = get_transformer(STORAGE_SRID, METRIC_SRID).transform(lon, lat)
    assert np.max(np.abs(e - exact_e)) < 2 * MAX_ERROR_M
    assert np.max(np.abs(n - exact_n)) < 2 * MAX_ERROR_M


def test_falls_back_to_pyproj_over_huge_extents() -> None:
    project = LocalProjector((80.0, 10.0, 140.0, 50.0))
    assert project.degree is None
    lon, lat = np.array([100.0, 130.5]), np.array([20.0, 45.0])
    e, n = project(lon, lat)
    exact_e, exact_n = get_transformer(STORAGE_SRID, METRIC_SRID).transform(lon, lat)
    assert np.array_equal(e, exact_e) and np.array_equal(n, exact_n)
