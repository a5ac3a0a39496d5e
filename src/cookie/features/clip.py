"""Exact areas and lengths of features clipped to regions.

Convex regions (grid cells, H3 hexagons) are described by their half-planes, and all
(feature, region) pairs are clipped at once in numpy: polygon rings with Sutherland-Hodgman
(whose output area is exact for any simple ring, convex or not), line edges with Cyrus-Beck.
Pairs with a non-convex region (tracts, districts) go through ``shapely.intersection``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import shapely

from cookie.features.rings import polygon_rings, ragged_arange

MAX_CONVEX_SIDES = 16  # convex regions with more sides take the shapely path
CONVEX_RTOL = 1e-9


@dataclass(frozen=True)
class HalfPlanes:
    """Region ``r`` (when ``convex[r]``) is ``{p : nx * (x - ox) + ny * (y - oy) <= c}`` over
    its ``sides`` columns; unused columns are ``0 <= 1``. Coordinates are shifted to the
    region's own origin ``(ox, oy)`` so that products stay precise in projected CRSs."""

    nx: np.ndarray
    ny: np.ndarray
    c: np.ndarray
    ox: np.ndarray
    oy: np.ndarray
    convex: np.ndarray
    bounds: np.ndarray  # (n, 4) bounding box (xmin, ymin, xmax, ymax) around (ox, oy)


def region_halfplanes(region_geoms: np.ndarray) -> HalfPlanes:
    """Half-planes of every convex region with at most `MAX_CONVEX_SIDES` sides (convex: a
    Polygon whose convex hull exceeds its area by at most `CONVEX_RTOL` of it; the hull's
    sides are used)."""
    n = len(region_geoms)
    area = shapely.area(region_geoms)
    hull = shapely.convex_hull(region_geoms)
    convex = (
        (shapely.get_type_id(region_geoms) == shapely.GeometryType.POLYGON)
        & (area > 0)
        & (shapely.area(hull) - area <= CONVEX_RTOL * area)
    )
    ring = shapely.get_exterior_ring(shapely.orient_polygons(hull))  # counter-clockwise
    sides = np.where(convex, shapely.get_num_coordinates(ring) - 1, 0)
    convex &= sides <= MAX_CONVEX_SIDES
    sides = np.where(convex, sides, 0)
    k = max(1, int(sides.max()) if n else 1)
    nx, ny, c = np.zeros((n, k)), np.zeros((n, k)), np.ones((n, k))
    ox, oy = np.zeros(n), np.zeros(n)
    idx = np.flatnonzero(convex)
    if len(idx):
        coords, owner = shapely.get_coordinates(ring[idx], return_index=True)
        start = np.searchsorted(owner, np.arange(len(idx)))
        ox[idx], oy[idx] = coords[start, 0], coords[start, 1]
        col = np.arange(len(coords)) - start[owner]
        edge = col < sides[idx][owner]  # the closing vertex starts no side
        p, q = np.flatnonzero(edge), np.flatnonzero(edge) + 1
        r = idx[owner[p]]
        px, py = coords[p, 0] - ox[r], coords[p, 1] - oy[r]
        dx, dy = coords[q, 0] - coords[p, 0], coords[q, 1] - coords[p, 1]
        norm = np.hypot(dx, dy)
        nx[r, col[p]], ny[r, col[p]] = dy / norm, -dx / norm  # interior on the left
        c[r, col[p]] = (dy * px - dx * py) / norm
    bounds = shapely.bounds(region_geoms) - np.stack([ox, oy, ox, oy], axis=1)
    return HalfPlanes(nx, ny, c, ox, oy, convex, bounds)


def intersects_prepared(geoms: np.ndarray, index: np.ndarray, others: np.ndarray) -> np.ndarray:
    """``shapely.intersects(geoms[index], others)``, each distinct ``geoms[index]`` prepared once
    on a private copy. The caller's geometries are never prepared in place: GEOS builds a
    prepared geometry's indexes lazily and not thread-safely, so tiles featurized in threads
    that share a geometry would race on it (a segmentation fault)."""
    uniq, pos = np.unique(index, return_inverse=True)
    own = shapely.from_wkb(shapely.to_wkb(geoms[uniq]))
    shapely.prepare(own)
    return shapely.intersects(own[pos], others)


def region_pairs(geoms: np.ndarray, region_geoms: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(feature index, region index) of every pair whose bounding boxes meet, sorted by region
    (the clipping functions below drop the pairs that do not really meet)."""
    fi, ri = shapely.STRtree(region_geoms).query(geoms)
    order = np.lexsort((fi, ri))
    return fi[order], ri[order]


def clipped_areas(geoms: np.ndarray, fi: np.ndarray, region_geoms: np.ndarray,
                  ri: np.ndarray, planes: HalfPlanes | None = None) -> np.ndarray:
    """Area of ``geoms[fi[k]]`` (Polygons / MultiPolygons) inside ``region_geoms[ri[k]]``."""
    return _clipped(geoms, fi, region_geoms, ri, planes, shapely.area, _convex_polygon_areas)


def clipped_lengths(lines: np.ndarray, fi: np.ndarray, region_geoms: np.ndarray,
                    ri: np.ndarray, planes: HalfPlanes | None = None) -> np.ndarray:
    """Length of ``lines[fi[k]]`` (LineStrings) inside ``region_geoms[ri[k]]``."""
    return _clipped(lines, fi, region_geoms, ri, planes, shapely.length, _convex_line_lengths)


def _clipped(geoms: Any, fi: Any, region_geoms: Any, ri: Any, planes: Any, measure: Any,
             convex_measure: Any) -> np.ndarray:
    """``measure`` of every clipped pair: whole or nothing where the feature's bounding box
    lies inside or outside a convex region, ``convex_measure`` for the convex pairs that cut
    the boundary, shapely intersections for the rest."""
    planes = planes if planes is not None else region_halfplanes(region_geoms)
    out = np.zeros(len(fi))
    fast = planes.convex[ri]
    slow = np.flatnonzero(~fast)
    if len(slow):
        slow = slow[intersects_prepared(region_geoms, ri[slow], geoms[fi[slow]])]
        out[slow] = measure(shapely.intersection(geoms[fi[slow]], region_geoms[ri[slow]]))
    fast = np.flatnonzero(fast)
    if len(fast):
        inside, outside = _box_position(shapely.bounds(geoms[fi[fast]]), ri[fast], planes)
        whole = fast[inside]
        out[whole] = measure(geoms[fi[whole]])
        cut = fast[~inside & ~outside]
        if len(cut):
            out[cut] = convex_measure(geoms, fi[cut], ri[cut], planes)
    return out


def _box_position(bounds: np.ndarray, ri: np.ndarray, planes: HalfPlanes
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Whether each box lies inside its convex region, and whether it lies wholly outside one
    of the region's half-planes (so it cannot meet the region)."""
    x = bounds[:, [0, 2, 2, 0]] - planes.ox[ri, None]  # (pairs, corner)
    y = bounds[:, [1, 1, 3, 3]] - planes.oy[ri, None]
    inside = np.ones(len(ri), dtype=bool)
    outside = np.zeros(len(ri), dtype=bool)
    for k in range(planes.nx.shape[1]):
        out = planes.nx[ri, k, None] * x + planes.ny[ri, k, None] * y > planes.c[ri, k, None]
        inside &= ~out.any(axis=1)
        outside |= out.all(axis=1)
    return inside, outside


def _convex_polygon_areas(geoms: np.ndarray, fi: np.ndarray, ri: np.ndarray,
                          planes: HalfPlanes) -> np.ndarray:
    uniq, inverse = np.unique(fi, return_inverse=True)
    all_rings = polygon_rings(geoms[uniq])
    coords = all_rings.coords
    ring_off = all_rings.offsets - np.arange(len(all_rings.offsets))  # without closing vertex
    role = np.where(all_rings.exterior, 1.0, -1.0)
    # one copy of every ring of the feature per pair
    ring_count = all_rings.count[inverse]
    rings = ragged_arange(all_rings.first[inverse], ring_count)
    ring_pair = np.repeat(np.arange(len(fi)), ring_count)
    keep = np.ones(len(coords), dtype=bool)
    keep[all_rings.offsets[1:] - 1] = False
    coords = coords[keep]
    n_pts = np.diff(ring_off)[rings]
    pts = ragged_arange(ring_off[rings], n_pts)
    ring_of_pt = np.repeat(np.arange(len(rings)), n_pts)
    region = ri[ring_pair]
    x = coords[pts, 0] - planes.ox[region][ring_of_pt]
    y = coords[pts, 1] - planes.oy[region][ring_of_pt]
    x, y, ring_of_pt = _drop_outside_runs(x, y, ring_of_pt, len(rings), planes.bounds[region])
    for k in range(planes.nx.shape[1]):
        x, y, ring_of_pt = _clip_rings(x, y, ring_of_pt, len(rings), planes.nx[region, k],
                                       planes.ny[region, k], planes.c[region, k])
    area = np.abs(_ring_areas(x, y, ring_of_pt, len(rings)))
    return np.bincount(ring_pair, weights=role[rings] * area, minlength=len(fi))


def _ring_ends(ring_of_pt: np.ndarray, n_rings: int) -> tuple[np.ndarray, np.ndarray]:
    """Index of the first and of the last point of every ring that has points (points are
    grouped by ring)."""
    count = np.bincount(ring_of_pt, minlength=n_rings)
    start = (np.cumsum(count) - count)[count > 0]
    return start, start + count[count > 0] - 1


def _ring_neighbours(ring_of_pt: np.ndarray, n_rings: int, step: int) -> np.ndarray:
    """Index of each point's successor (``step`` 1) or predecessor (``step`` -1) within its
    ring, wrapping around."""
    start, end = _ring_ends(ring_of_pt, n_rings)
    out = np.arange(len(ring_of_pt)) + step
    if step > 0:
        out[end] = start
    else:
        out[start] = end
    return out


def _drop_outside_runs(x: np.ndarray, y: np.ndarray, ring_of_pt: np.ndarray, n_rings: int,
                       bounds: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Ring vertices whose neighbours and themselves lie in the same zone outside their
    region's bounding box (one of the 8 zones of Cohen-Sutherland clipping) are dropped: the
    run they belong to shrinks to its two end vertices, a change that stays inside that convex
    zone, so clipping to the region gives the same polygon. Most vertices of a large polygon
    cut by a small region go this way, before the exact clipping passes."""
    if len(x) == 0:
        return x, y, ring_of_pt
    code = (x < bounds[:, 0][ring_of_pt]).view(np.uint8).copy()
    code |= (x > bounds[:, 2][ring_of_pt]).view(np.uint8) << 1
    code |= (y < bounds[:, 1][ring_of_pt]).view(np.uint8) << 2
    code |= (y > bounds[:, 3][ring_of_pt]).view(np.uint8) << 3
    start, end = _ring_ends(ring_of_pt, n_rings)
    as_next = np.empty(len(code), dtype=bool)  # same zone as the next vertex of the ring
    as_next[:-1] = code[1:] == code[:-1]
    as_next[end] = code[end] == code[start]
    as_prev = np.empty_like(as_next)
    as_prev[1:] = as_next[:-1]
    as_prev[start] = as_next[end]
    keep = (code == 0) | ~as_next | ~as_prev
    return x[keep], y[keep], ring_of_pt[keep]


def _clip_rings(x: np.ndarray, y: np.ndarray, ring_of_pt: np.ndarray, n_rings: int,
                nx: np.ndarray, ny: np.ndarray, c: np.ndarray
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One Sutherland-Hodgman pass: every ring cut by its region's half-plane ``nx, ny, c``
    (one value per ring)."""
    if len(x) == 0:
        return x, y, ring_of_pt
    d = nx[ring_of_pt] * x + ny[ring_of_pt] * y - c[ring_of_pt]
    inside = d <= 0
    if inside.all():
        return x, y, ring_of_pt
    prev = _ring_neighbours(ring_of_pt, n_rings, -1)
    cross = inside != inside[prev]  # the edge prev -> this point crosses the line
    n_out = cross.astype(np.int64) + inside
    pos = np.cumsum(n_out) - n_out
    total = int(n_out.sum())
    ox, oy = np.empty(total), np.empty(total)
    ci = np.flatnonzero(cross)
    p = prev[ci]
    t = d[p] / (d[p] - d[ci])
    ox[pos[ci]] = x[p] + t * (x[ci] - x[p])
    oy[pos[ci]] = y[p] + t * (y[ci] - y[p])
    ii = np.flatnonzero(inside)
    ox[pos[ii] + cross[ii]] = x[ii]
    oy[pos[ii] + cross[ii]] = y[ii]
    return ox, oy, np.repeat(ring_of_pt, n_out)


def _ring_areas(x: np.ndarray, y: np.ndarray, ring_of_pt: np.ndarray,
                n_rings: int) -> np.ndarray:
    """Signed shoelace area of every ring (rings without points: 0)."""
    if len(x) == 0:
        return np.zeros(n_rings)
    nxt = _ring_neighbours(ring_of_pt, n_rings, 1)
    ax, ay = x - x.mean(), y - y.mean()  # shifted for precision (shoelace sums are shift-free)
    bx, by = ax[nxt], ay[nxt]
    return 0.5 * np.bincount(ring_of_pt, weights=ax * by - bx * ay, minlength=n_rings)


def _convex_line_lengths(lines: np.ndarray, fi: np.ndarray, ri: np.ndarray,
                         planes: HalfPlanes) -> np.ndarray:
    uniq, inverse = np.unique(fi, return_inverse=True)
    coords, owner = shapely.get_coordinates(lines[uniq], return_index=True)
    edge = np.flatnonzero(owner[:-1] == owner[1:])  # start vertex of every edge
    edge_owner = owner[edge]
    e_start = np.searchsorted(edge_owner, np.arange(len(uniq)))
    e_count = np.bincount(edge_owner, minlength=len(uniq))
    e = edge[ragged_arange(e_start[inverse], e_count[inverse])]
    pair = np.repeat(np.arange(len(fi)), e_count[inverse])
    region = ri[pair]
    x0 = coords[e, 0] - planes.ox[region]
    y0 = coords[e, 1] - planes.oy[region]
    dx, dy = coords[e + 1, 0] - coords[e, 0], coords[e + 1, 1] - coords[e, 1]
    t_in, t_out = np.zeros(len(e)), np.ones(len(e))
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        for k in range(planes.nx.shape[1]):  # Cyrus-Beck: the edge's parameter range inside
            nx, ny = planes.nx[region, k], planes.ny[region, k]
            num = planes.c[region, k] - (nx * x0 + ny * y0)  # >= 0 where the start is inside
            den = nx * dx + ny * dy
            t = num / den
            t_in = np.where(den < 0, np.maximum(t_in, t), t_in)
            t_out = np.where(den > 0, np.minimum(t_out, t), t_out)
            t_out = np.where((den == 0) & (num < 0), 0.0, t_out)  # parallel and outside
    frac = np.clip(t_out - t_in, 0.0, 1.0)
    return np.bincount(pair, weights=frac * np.hypot(dx, dy), minlength=len(fi))
