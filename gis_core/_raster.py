"""Lookup raster that lets the locator answer most points with numpy indexing.

The raster covers the EPSG:4326 bounding box of all features (degrees).
Every cell is tested with its box grown by ``eps`` degrees so that the
floating-point rounding of a point's cell index can never matter:

* a *pure* cell lies strictly inside (``contains_properly``) exactly one
  comprehensive grid, or intersects none, and is strictly inside or
  disjoint from every dedicated grid. Its answer is stored in the raster.
* every other cell is *impure*; its candidate features (those whose
  geometry intersects the grown cell) are stored, and points falling in it
  are tested exactly with GEOS.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import shapely
from numpy.typing import NDArray

IntArray = NDArray[np.int64]
FloatArray = NDArray[np.float64]

IMPURE = -2
NO_GRID = -1
# Margin (degrees) added around the feature bounding box so that points on
# the outermost edges still fall inside the raster.
_EXTENT_MARGIN_DEG = 1e-6


@dataclass(frozen=True)
class Raster:
    """A regular lon/lat raster (degrees, EPSG:4326) with per-cell answers.

    ``cell_state[c]`` is a feature index (pure cell inside that
    comprehensive grid), ``NO_GRID`` (pure cell outside every comprehensive
    grid) or ``IMPURE``. ``cell_offsets``/``cell_feats`` is a CSR list per
    cell: for pure cells the dedicated features that cover the whole cell
    (sorted by rank), for impure cells every candidate feature.
    """

    x0: float
    y0: float
    dx: float
    dy: float
    nx: int
    ny: int
    cell_state: NDArray[np.int32]
    cell_offsets: IntArray
    cell_feats: IntArray

    @property
    def pure_fraction(self) -> float:
        """Return the share of cells that are answered without an exact test."""
        return float(np.mean(self.cell_state != IMPURE))

    def cells_of(self, x: FloatArray, y: FloatArray) -> tuple[IntArray, IntArray]:
        """Return (indices of points inside the raster, their cell numbers) for lon/lat arrays."""
        fx = (x - self.x0) / self.dx
        fy = (y - self.y0) / self.dy
        inside = (fx >= 0.0) & (fx < self.nx) & (fy >= 0.0) & (fy < self.ny)
        idx = np.flatnonzero(inside)
        cells = fy[idx].astype(np.int64) * self.nx + fx[idx].astype(np.int64)
        return idx, cells


def choose_shape(bounds: tuple[float, float, float, float], max_cells: int) -> tuple[int, int]:
    """Return (nx, ny) with nx*ny <= max_cells and roughly square cells on the ground."""
    xmin, ymin, xmax, ymax = bounds
    width = max(xmax - xmin, 1e-12) * max(math.cos(math.radians((ymin + ymax) / 2.0)), 0.01)
    height = max(ymax - ymin, 1e-12)
    nx = round(math.sqrt(max_cells * width / height))
    nx = min(max(nx, 1), max_cells)
    ny = max(max_cells // nx, 1)
    return nx, ny


def _cell_boxes(
    x0: float, y0: float, dx: float, dy: float, nx: int, ny: int, eps: float
) -> NDArray[np.object_]:
    """Return shapely boxes (degrees) of all cells in row-major order, grown by ``eps``."""
    ix = np.tile(np.arange(nx, dtype=np.float64), ny)
    iy = np.repeat(np.arange(ny, dtype=np.float64), nx)
    return shapely.box(
        x0 + ix * dx - eps, y0 + iy * dy - eps, x0 + (ix + 1.0) * dx + eps, y0 + (iy + 1.0) * dy + eps
    )


def build_raster(
    tree: shapely.STRtree,
    geoms: NDArray[np.object_],
    is_comp: NDArray[np.bool_],
    rank: IntArray,
    shape: tuple[int, int] | None,
    max_cells: int,
    eps: float,
) -> Raster:
    """Build the lookup raster for prepared EPSG:4326 ``geoms`` indexed by ``tree``."""
    b = shapely.total_bounds(geoms)
    x0, y0 = b[0] - _EXTENT_MARGIN_DEG, b[1] - _EXTENT_MARGIN_DEG
    x1, y1 = b[2] + _EXTENT_MARGIN_DEG, b[3] + _EXTENT_MARGIN_DEG
    nx, ny = shape if shape is not None else choose_shape((x0, y0, x1, y1), max_cells)
    if nx < 1 or ny < 1:
        raise ValueError(f"raster shape must be positive, got {(nx, ny)}")
    dx, dy = (x1 - x0) / nx, (y1 - y0) / ny
    boxes = _cell_boxes(x0, y0, dx, dy, nx, ny, eps)
    cell, feat = tree.query(boxes, predicate="intersects")
    proper = shapely.contains_properly(geoms[feat], boxes[cell])
    state, pure = _classify_cells(cell, feat, proper, is_comp, nx * ny)
    keep = ~pure[cell] | (~is_comp[feat] & proper)
    cell, feat = cell[keep], feat[keep]
    order = np.lexsort((rank[feat], cell))
    counts = np.bincount(cell, minlength=nx * ny)
    offsets = np.concatenate(([0], np.cumsum(counts))).astype(np.int64)
    return Raster(
        float(x0), float(y0), float(dx), float(dy), int(nx), int(ny),
        state, offsets, feat[order].astype(np.int64),
    )


def _classify_cells(
    cell: IntArray,
    feat: IntArray,
    proper: NDArray[np.bool_],
    is_comp: NDArray[np.bool_],
    ncells: int,
) -> tuple[NDArray[np.int32], NDArray[np.bool_]]:
    """Return (cell_state, pure mask) from the cell/feature intersection pairs."""
    comp_pair = is_comp[feat]
    n_comp = np.bincount(cell[comp_pair], minlength=ncells)
    comp_proper = comp_pair & proper
    n_comp_proper = np.bincount(cell[comp_proper], minlength=ncells)
    ded_partial = np.bincount(cell[~comp_pair & ~proper], minlength=ncells) > 0
    pure = ~ded_partial & ((n_comp == 0) | ((n_comp == 1) & (n_comp_proper == 1)))
    state = np.full(ncells, IMPURE, dtype=np.int32)
    state[pure] = NO_GRID
    inside = comp_proper & pure[cell]
    state[cell[inside]] = feat[inside]
    return state, pure
