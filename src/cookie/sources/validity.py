"""Geometry validity, with a fast numpy proof for the common case of small simple polygons.

Most building footprints are polygons without holes and with a handful of vertices. Such a ring
is valid when its coordinates are finite, no vertex is collinear with its neighbours (which also
rules out repeated points and spikes) and no two non-adjacent edges meet. Orientation tests
with a tolerance far above rounding error prove that for most rings in a few vectorized steps;
every ring they cannot prove (and every other geometry) goes to GEOS, so the answer is always
GEOS's.
"""

from __future__ import annotations

import numpy as np
import shapely

MAX_PROVED_EDGES = 8  # rings with more edges go to GEOS (pairs to test grow as n^2)
MIN_SMALL_SHARE = 0.5  # below this share of small rings, the numpy proof does not pay
REL_TOL = 1e-9  # orientation margins below this fraction of the ring's squared size: unproven


def is_valid(geoms: np.ndarray) -> np.ndarray:
    """``shapely.is_valid`` of every geometry (missing geometries are not valid). Rings come
    closed from GEOS, so closure needs no test."""
    geoms = np.asarray(geoms, dtype=object)
    valid = np.zeros(len(geoms), dtype=bool)
    n_coords = shapely.get_num_coordinates(geoms)
    small = np.flatnonzero(
        (shapely.get_type_id(geoms) == shapely.GeometryType.POLYGON)
        & (shapely.get_num_interior_rings(geoms) == 0)
        & (n_coords >= 4) & (n_coords <= MAX_PROVED_EDGES + 1)
    )
    if len(small) < MIN_SMALL_SHARE * len(geoms):  # mostly large shapes: GEOS throughout
        return shapely.is_valid(geoms)
    proved = np.zeros(len(geoms), dtype=bool)
    for n_edges in range(3, MAX_PROVED_EDGES + 1):
        idx = small[n_coords[small] == n_edges + 1]
        if len(idx):
            rings = shapely.get_coordinates(geoms[idx]).reshape(len(idx), n_edges + 1, 2)
            proved[idx] = simple_rings(rings)
    valid[proved] = True
    rest = np.flatnonzero(~proved)
    valid[rest] = shapely.is_valid(geoms[rest])
    return valid


def simple_rings(rings: np.ndarray) -> np.ndarray:
    """Per closed ring of shape (n_edges + 1, 2): True where it is proven simple with no
    collinear consecutive vertices; False means "not proven" (not necessarily invalid)."""
    n = rings.shape[1] - 1
    if n < 3:
        return np.zeros(len(rings), dtype=bool)
    # one 1-D array per vertex (shifted to the first vertex, for precise products): the loops
    # below run over the few vertices, each step vectorized over all rings
    x = [np.ascontiguousarray(rings[:, k, 0] - rings[:, 0, 0]) for k in range(n)]
    y = [np.ascontiguousarray(rings[:, k, 1] - rings[:, 0, 1]) for k in range(n)]
    size = (np.max(x, axis=0) - np.min(x, axis=0)) + (np.max(y, axis=0) - np.min(y, axis=0))
    ok = np.isfinite(size) & (size > 0)
    tol = REL_TOL * size**2

    def orient(i: int, j: int, k: int) -> np.ndarray:  # twice the area of vertices i, j, k
        return (x[j] - x[i]) * (y[k] - y[i]) - (y[j] - y[i]) * (x[k] - x[i])

    for k in range(n):  # every vertex turns: its two edges are not collinear
        ok &= np.abs(orient((k - 1) % n, k, (k + 1) % n)) > tol
    for i in range(n):  # edge i runs from vertex i to vertex i + 1
        for j in range(i + 2, n):
            if i == 0 and j == n - 1:
                continue  # adjacent through vertex 0
            i1, j1 = i + 1, (j + 1) % n
            d1, d2 = orient(j, j1, i), orient(j, j1, i1)
            d3, d4 = orient(i, i1, j), orient(i, i1, j1)
            ok &= (((d1 > tol) & (d2 > tol)) | ((d1 < -tol) & (d2 < -tol))
                   | ((d3 > tol) & (d4 > tol)) | ((d3 < -tol) & (d4 < -tol)))
    return ok
