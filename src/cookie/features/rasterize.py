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

BATCH_SAMPLES = 1_000_000  # samples of the grids rasterized together (bounds memory)
WINDOW_WEIGHT = 1 << 20  # winding weight of a window polygon, above any count of overlaps


@dataclass(frozen=True)
class PolygonEdges:
    """Every ring edge of a set of (Multi)Polygons: start ``(x0, y0)``, end ``(x1, y1)``, and
    ``weight`` (+1 or -1 per ring, chosen so that exteriors wind +1 and holes -1 whatever the
    stored ring orientation); the edges of geometry ``g`` are ``start[g]:start[g] +
    count[g]``."""

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
    off = rings.offsets
    n_edges = np.maximum(np.diff(off) - 1, 0)  # the closing vertex starts no edge
    starts = np.ones(len(rings.coords), dtype=bool)
    starts[off[1:] - 1] = False
    x, y, starts = rings.coords[:, 0], rings.coords[:, 1], starts[:-1]
    x0, x1, y0, y1 = x[:-1][starts], x[1:][starts], y[:-1][starts], y[1:][starts]
    if len(x0):  # twice the signed area of every ring, on coordinates shifted for precision
        cx, cy = x0.mean(), y0.mean()
        cross = (x0 - cx) * (y1 - cy) - (x1 - cx) * (y0 - cy)
        first_edge = (np.cumsum(n_edges) - n_edges)[n_edges > 0]
        signed = np.zeros(len(n_edges))
        signed[n_edges > 0] = np.add.reduceat(cross, first_edge)
    else:
        signed = np.zeros(len(n_edges))
    ring_weight = np.where(rings.exterior == (signed > 0), 1, -1).astype(np.int8)
    geom_edges = np.bincount(rings.geom, weights=n_edges, minlength=len(geoms)).astype(np.int64)
    return PolygonEdges(x0, y0, x1, y1, np.repeat(ring_weight, n_edges),
                        np.cumsum(geom_edges) - geom_edges, geom_edges)


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
        flat, sign = _crossings(edges, geom[i:j], grid[i:j] - lo, frames, lo, hi)
        threshold = np.ones(hi - lo)
        if window is not None:
            m = np.flatnonzero(window.count[lo:hi] > 0)
            w_flat, w_sign = _crossings(window, lo + m, m, frames, lo, hi)
            flat = np.concatenate([flat, w_flat])
            sign = np.concatenate([sign, WINDOW_WEIGHT * w_sign])
            threshold[m] += WINDOW_WEIGHT
        inside = _winding(flat, sign, hi - lo, frames.samples) >= threshold[:, None, None]
        out[lo:hi] = _block_sums(inside, block).transpose(0, 2, 1)
    return out


def _crossings(edges: PolygonEdges, geom: np.ndarray, grid: np.ndarray, frames: Frames,
               lo: int, hi: int) -> tuple[np.ndarray, np.ndarray]:
    """Where the edges of the pairs cross the sample rows of grids ``lo:hi`` (grid indices
    relative to ``lo``): flat index into a (grids, columns + 1, rows) array, and the +-1 each
    crossing adds to the winding number of the samples to its right."""
    s = frames.samples
    e = ragged_arange(edges.start[geom], edges.count[geom])
    g = np.repeat(grid, edges.count[geom]) + lo
    inv = 1.0 / frames.res[g]
    u0 = (edges.x0[e] - frames.left[g]) * inv
    v0 = (frames.top[g] - edges.y0[e]) * inv
    v1 = (frames.top[g] - edges.y1[e]) * inv
    # rows j whose sample line v = j + 0.5 the edge crosses, half-open in v
    first = np.clip(np.ceil(np.minimum(v0, v1) - 0.5), 0, s).astype(np.int64)
    n_rows = np.clip(np.ceil(np.maximum(v0, v1) - 0.5), 0, s).astype(np.int64) - first
    hit = np.flatnonzero(n_rows > 0)  # never a horizontal edge
    e, u0, v0, v1, first, n_rows = e[hit], u0[hit], v0[hit], v1[hit], first[hit], n_rows[hit]
    slope = (edges.x1[e] - edges.x0[e]) * inv[hit] / (v1 - v0)  # du / dv
    sign = np.where(v1 > v0, 1, -1).astype(np.int32) * edges.weight[e]
    base = (g[hit] - lo) * ((s + 1) * s)
    k = np.repeat(np.arange(len(hit)), n_rows)
    j = ragged_arange(first, n_rows)
    u = u0[k] + (j + 0.5 - v0[k]) * slope[k]
    # a crossing at u counts for every sample i with i + 0.5 > u
    col = np.clip(np.floor(u + 0.5), 0, s).astype(np.int64)
    return base[k] + col * s + j, sign[k]


def _winding(flat: np.ndarray, sign: np.ndarray, n_grids: int, s: int) -> np.ndarray:
    """Winding numbers (grids, columns, rows) from the crossings: the column-major layout
    makes the running sum along a row a vector addition of whole columns."""
    flat_w = np.zeros(n_grids * (s + 1) * s, dtype=np.int32)
    np.add.at(flat_w, flat, sign)
    w = flat_w.reshape(n_grids, s + 1, s)
    for c in range(1, s):
        w[:, c] += w[:, c - 1]
    return w[:, :s]


def _block_sums(inside: np.ndarray, block: int) -> np.ndarray:
    """(n, a, b) bool -> (n, a / block, b / block) counts of True per block (sums of strided
    slices: much faster than a reduction over the inner block axes)."""
    n, a, b = inside.shape
    x = inside.view(np.uint8).reshape(n, a // block, block, b)
    rows = x[:, :, 0].astype(np.uint16)
    for i in range(1, block):
        rows += x[:, :, i]
    y = rows.reshape(n, a // block, b // block, block)
    out = y[..., 0].copy()
    for i in range(1, block):
        out += y[..., i]
    return out
