"""Lookup raster that lets the locator answer most points with numpy indexing.

The raster covers the EPSG:4326 bounding box of all features (degrees),
grown by 15 % per side.
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
# The raster also reaches this share of the bounding box size beyond it on
# every side, so that points just outside the town use the fast nearest path.
RASTER_MARGIN_FRACTION = 0.15
# Fine cells per block side for the two-level build.
BLOCK = 8


@dataclass(frozen=True)
class Grid:
    """A regular lon/lat grid (degrees, EPSG:4326): cell c = iy * nx + ix, row-major."""

    x0: float
    y0: float
    dx: float
    dy: float
    nx: int
    ny: int

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        """Return (xmin, ymin, xmax, ymax) of the grid in degrees."""
        return self.x0, self.y0, self.x0 + self.nx * self.dx, self.y0 + self.ny * self.dy

    def cells_of(self, x: FloatArray, y: FloatArray) -> tuple[IntArray, IntArray]:
        """Return (indices of points inside the grid, their cell numbers) for lon/lat arrays."""
        fx = (x - self.x0) / self.dx
        fy = (y - self.y0) / self.dy
        inside = (fx >= 0.0) & (fx < self.nx) & (fy >= 0.0) & (fy < self.ny)
        idx = np.flatnonzero(inside)
        cells = fy[idx].astype(np.int64) * self.nx + fx[idx].astype(np.int64)
        return idx, cells


@dataclass(frozen=True)
class Raster(Grid):
    """A lookup grid (degrees, EPSG:4326) with per-cell answers.

    ``cell_state[c]`` is a feature index (pure cell inside that
    comprehensive grid), ``NO_GRID`` (pure cell outside every comprehensive
    grid) or ``IMPURE``. ``cell_offsets``/``cell_feats`` is a CSR list per
    cell: for pure cells the dedicated features that cover the whole cell
    (sorted by rank), for impure cells every candidate feature;
    ``cell_count`` holds the list lengths.
    """

    cell_state: NDArray[np.int32]
    cell_offsets: IntArray
    cell_feats: IntArray
    cell_count: NDArray[np.int32]

    @property
    def pure_fraction(self) -> float:
        """Return the share of cells that are answered without an exact test."""
        return float(np.mean(self.cell_state != IMPURE))


def choose_shape(bounds: tuple[float, float, float, float], max_cells: int) -> tuple[int, int]:
    """Return (nx, ny) with nx*ny <= max_cells and roughly square cells on the ground."""
    xmin, ymin, xmax, ymax = bounds
    width = max(xmax - xmin, 1e-12) * max(math.cos(math.radians((ymin + ymax) / 2.0)), 0.01)
    height = max(ymax - ymin, 1e-12)
    nx = round(math.sqrt(max_cells * width / height))
    nx = min(max(nx, 1), max_cells)
    ny = max(max_cells // nx, 1)
    return nx, ny


def _boxes(
    x0: float, y0: float, dx: float, dy: float, ix: IntArray, iy: IntArray, span: int, lim: tuple[int, int], eps: float
) -> NDArray[np.object_]:
    """Return boxes (degrees) covering ``span`` x ``span`` fine cells from (ix, iy), grown by ``eps``."""
    ix_hi = np.minimum(ix + span, lim[0])
    iy_hi = np.minimum(iy + span, lim[1])
    return shapely.box(x0 + ix * dx - eps, y0 + iy * dy - eps, x0 + ix_hi * dx + eps, y0 + iy_hi * dy + eps)


def block_cells(blocks: IntArray, n_bx: int, nx: int, ny: int, block: int) -> tuple[IntArray, IntArray]:
    """Return (fine cell numbers, position in ``blocks``) of every fine cell inside ``blocks``."""
    off = np.arange(block * block)
    fx = ((blocks % n_bx)[:, None] * block + off % block).ravel()
    fy = ((blocks // n_bx)[:, None] * block + off // block).ravel()
    owner = np.repeat(np.arange(blocks.size), block * block)
    valid = (fx < nx) & (fy < ny)
    return (fy * nx + fx)[valid], owner[valid]


@dataclass(frozen=True)
class _Level:
    """Cell/feature intersection pairs of one raster level and the cells' classification."""

    cell: IntArray
    feat: IntArray
    proper: NDArray[np.bool_]
    state: NDArray[np.int32]
    pure: NDArray[np.bool_]


def _classify_boxes(
    tree: shapely.STRtree, geoms: NDArray[np.object_], is_comp: NDArray[np.bool_], boxes: NDArray[np.object_]
) -> _Level:
    """Intersect ``boxes`` with the prepared ``geoms`` and classify each box."""
    cell, feat = tree.query(boxes, predicate="intersects")
    proper = shapely.contains_properly(geoms[feat], boxes[cell])
    state, pure = _classify_cells(cell, feat, proper, is_comp, boxes.shape[0])
    return _Level(cell, feat, proper, state, pure)


def _layout(
    geoms: NDArray[np.object_], shape: tuple[int, int] | None, max_cells: int
) -> tuple[float, float, float, float, int, int]:
    """Return (x0, y0, dx, dy, nx, ny) of the raster over ``geoms`` grown by the margins (degrees)."""
    b = shapely.total_bounds(geoms)
    mx = _EXTENT_MARGIN_DEG + RASTER_MARGIN_FRACTION * (b[2] - b[0])
    my = _EXTENT_MARGIN_DEG + RASTER_MARGIN_FRACTION * (b[3] - b[1])
    x0, y0, x1, y1 = max(b[0] - mx, -180.0), max(b[1] - my, -90.0), min(b[2] + mx, 180.0), min(b[3] + my, 90.0)
    nx, ny = shape if shape is not None else choose_shape((x0, y0, x1, y1), max_cells)
    if nx < 1 or ny < 1:
        raise ValueError(f"raster shape must be positive, got {(nx, ny)}")
    return x0, y0, (x1 - x0) / nx, (y1 - y0) / ny, nx, ny


def build_raster(
    tree: shapely.STRtree,
    geoms: NDArray[np.object_],
    is_comp: NDArray[np.bool_],
    rank: IntArray,
    shape: tuple[int, int] | None,
    max_cells: int,
    eps: float,
) -> Raster:
    """Build the lookup raster for prepared EPSG:4326 ``geoms`` indexed by ``tree``.

    Cells are first classified in blocks of ``BLOCK`` x ``BLOCK``; only
    impure blocks are split into fine cells (a cell inside a pure block is
    pure with the same answer).
    """
    x0, y0, dx, dy, nx, ny = _layout(geoms, shape, max_cells)
    n_bx, n_by = -(-nx // BLOCK), -(-ny // BLOCK)
    blocks = np.arange(n_bx * n_by)
    coarse = _classify_boxes(
        tree,
        geoms,
        is_comp,
        _boxes(x0, y0, dx, dy, (blocks % n_bx) * BLOCK, (blocks // n_bx) * BLOCK, BLOCK, (nx, ny), eps),
    )
    fine_cells, fine_block = block_cells(np.flatnonzero(~coarse.pure), n_bx, nx, ny, BLOCK)
    fine = _classify_boxes(
        tree, geoms, is_comp, _boxes(x0, y0, dx, dy, fine_cells % nx, fine_cells // nx, 1, (nx, ny), eps)
    )
    state = np.empty(nx * ny, dtype=np.int32)
    pure_blocks = np.flatnonzero(coarse.pure)
    cells_in_pure, owner = block_cells(pure_blocks, n_bx, nx, ny, BLOCK)
    state[cells_in_pure] = coarse.state[pure_blocks[owner]]
    state[fine_cells] = fine.state
    cell, feat = _csr_pairs(coarse, fine, fine_cells, is_comp, (n_bx, nx, ny))
    order = np.lexsort((rank[feat], cell))
    offsets = np.concatenate(([0], np.cumsum(np.bincount(cell, minlength=nx * ny)))).astype(np.int64)
    count = np.diff(offsets).astype(np.int32)
    return Raster(float(x0), float(y0), float(dx), float(dy), int(nx), int(ny), state, offsets, feat[order], count)


def _csr_pairs(
    coarse: _Level, fine: _Level, fine_cells: IntArray, is_comp: NDArray[np.bool_], dims: tuple[int, int, int]
) -> tuple[IntArray, IntArray]:
    """Return (fine cell, feature) pairs: covering dedicated grids of pure cells, candidates of impure ones."""
    n_bx, nx, ny = dims
    ded = coarse.pure[coarse.cell] & ~is_comp[coarse.feat] & coarse.proper
    blk_cells, pos = block_cells(coarse.cell[ded], n_bx, nx, ny, BLOCK)
    keep = ~fine.pure[fine.cell] | (~is_comp[fine.feat] & fine.proper)
    cell = np.concatenate([blk_cells, fine_cells[fine.cell[keep]]]).astype(np.int64)
    feat = np.concatenate([coarse.feat[ded][pos], fine.feat[keep]]).astype(np.int64)
    return cell, feat


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
