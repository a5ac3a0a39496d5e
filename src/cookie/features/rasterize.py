"""Polygons burned onto many small pixel grids at once with a vectorized scanline fill.

A sample (pixel centre) is inside when the nonzero winding number of the polygons burned into
its grid is not 0; exterior rings and holes are given opposite windings first, so overlapping
polygons are unioned and holes stay empty. Each polygon edge adds +-1 where it crosses a row of
samples, and a cumulative sum along the row gives every sample's winding number. This is the
pixel-centre rule of GDAL's rasterizer (``all_touched=False``), done for every (polygon, grid)
pair in a handful of numpy operations instead of one GDAL call per grid.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cookie.features.rings import polygon_rings, ragged_arange

BATCH_SAMPLES = 4_000_000  # samples of the grids rasterized together (bounds memory)
WINDOW_WEIGHT = 1 << 20  # winding weight of a window polygon, above any count of overlaps


@dataclass(frozen=True)
class PolygonEdges:
    """Every ring edge of a set of (Multi)Polygons: start ``(x0, y0)``, end ``(x1, y1)``,
    ``weight`` (+1 on exterior rings, -1 on holes, whatever the stored ring orientation) and
    the edges of geometry ``g`` at ``start[g]:start[g] + count[g]``."""

    x0: np.ndarray
    y0: np.ndarray
    x1: np.ndarray
    y1: np.ndarray
    weight: np.ndarray
    start: np.ndarray
    count: np.ndarray


def polygon_edges(geoms: np.ndarray) -> PolygonEdges:
    """The ring edges of (Multi)Polygons, oriented so that exteriors wind +1 and holes -1."""
    rings = polygon_rings(geoms)
    xy, off = rings.coords, rings.offsets
    size = np.diff(off)
    n_edges = np.maximum(size - 1, 0)  # the closing vertex starts no edge
    a = ragged_arange(off[:-1], n_edges)
    ring = np.repeat(np.arange(len(size)), n_edges)
    ref = xy[off[:-1][ring]]  # ring's first vertex, for precise shoelace sums
    p, q = xy[a] - ref, xy[a + 1] - ref
    signed = np.bincount(ring, weights=p[:, 0] * q[:, 1] - q[:, 0] * p[:, 1],
                         minlength=len(size))
    ring_weight = np.where(rings.exterior == (signed > 0), 1.0, -1.0)
    geom_edges = np.bincount(rings.geom, weights=n_edges, minlength=len(geoms)).astype(np.int64)
    start = np.cumsum(geom_edges) - geom_edges
    return PolygonEdges(xy[a, 0], xy[a, 1], xy[a + 1, 0], xy[a + 1, 1], ring_weight[ring],
                        start, geom_edges)


@dataclass(frozen=True)
class Frames:
    """Square sample grids: grid ``m`` has its top-left corner at ``(left[m], top[m])`` and
    ``samples`` x ``samples`` square samples of side ``res[m]``; rows run downwards."""

    left: np.ndarray
    top: np.ndarray
    res: np.ndarray
    samples: int

    def __len__(self) -> int:
        return len(self.left)


def sample_counts(edges: PolygonEdges, geom: np.ndarray, grid: np.ndarray, frames: Frames,
                  block: int, window: PolygonEdges | None = None) -> np.ndarray:
    """(n_grids, n, n) with n = samples / block: how many of the block x block samples of
    each pixel lie inside the union of the geometries burned into the grid (pair ``k`` burns
    ``edges`` geometry ``geom[k]`` into grid ``grid[k]``) and, when ``window`` is given,
    inside that grid's own window polygon (``window`` geometry ``m`` for grid ``m``; a grid
    whose window has no edges is not windowed)."""
    n, size = len(frames), frames.samples // block
    out = np.zeros((n, size, size), dtype=np.uint16)
    order = np.argsort(grid, kind="stable")
    geom, grid = np.asarray(geom)[order], np.asarray(grid)[order]
    step = max(1, BATCH_SAMPLES // frames.samples**2)
    for lo in range(0, n, step):
        hi = min(lo + step, n)
        i, j = np.searchsorted(grid, [lo, hi])
        if i == j:
            continue
        m = np.arange(lo, hi)
        w = _winding(edges, geom[i:j], grid[i:j] - lo, frames, lo, hi)
        if window is not None:
            windowed = window.count[m] > 0
            w += WINDOW_WEIGHT * _winding(window, m[windowed], m[windowed] - lo, frames, lo, hi)
            inside = w >= np.where(windowed, WINDOW_WEIGHT + 1, 1)[:, None, None]
        else:
            inside = w != 0
        out[lo:hi] = _block_sums(inside, block).transpose(0, 2, 1)
    return out


def _winding(edges: PolygonEdges, geom: np.ndarray, grid: np.ndarray, frames: Frames,
             lo: int, hi: int) -> np.ndarray:
    """Winding numbers of grids ``lo:hi`` (pairs with grid indices relative to ``lo``),
    as (grids, columns, rows): the column-major layout makes the running sum along a row a
    vector addition of whole columns."""
    s = frames.samples
    left, top, res = frames.left[lo:hi], frames.top[lo:hi], frames.res[lo:hi]
    e = ragged_arange(edges.start[geom], edges.count[geom])
    g = np.repeat(grid, edges.count[geom])
    inv = 1.0 / res[g]
    u0, u1 = (edges.x0[e] - left[g]) * inv, (edges.x1[e] - left[g]) * inv
    v0, v1 = (top[g] - edges.y0[e]) * inv, (top[g] - edges.y1[e]) * inv
    # rows j whose sample line v = j + 0.5 the edge crosses, half-open in v
    first = np.clip(np.ceil(np.minimum(v0, v1) - 0.5), 0, s).astype(np.int64)
    n_rows = np.clip(np.ceil(np.maximum(v0, v1) - 0.5), 0, s).astype(np.int64) - first
    hit = np.flatnonzero(n_rows > 0)
    k = np.repeat(hit, n_rows[hit])
    j = ragged_arange(first[hit], n_rows[hit])
    u = u0[k] + (j + 0.5 - v0[k]) * ((u1[k] - u0[k]) / (v1[k] - v0[k]))
    # a crossing at u counts for every sample i with i + 0.5 > u
    col = np.clip(np.floor(u + 0.5), 0, s).astype(np.int64)
    sign = np.where(v1[k] > v0[k], 1.0, -1.0) * edges.weight[e[k]]
    flat = (g[k] * (s + 1) + col) * s + j
    w = np.bincount(flat, weights=sign, minlength=(hi - lo) * (s + 1) * s)
    w = w.astype(np.int32).reshape(hi - lo, s + 1, s)
    for c in range(1, s):  # running sum along each row
        w[:, c] += w[:, c - 1]
    return w[:, :s]


def _block_sums(inside: np.ndarray, block: int) -> np.ndarray:
    """(n, a, b) bool -> (n, a / block, b / block) counts of True per block."""
    n, a, b = inside.shape
    x = inside.view(np.uint8).reshape(n, a // block, block, b).sum(axis=2, dtype=np.uint16)
    return x.reshape(n, a // block, b // block, block).sum(axis=3, dtype=np.uint16)
