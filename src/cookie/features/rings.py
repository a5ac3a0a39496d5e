"""Polygon rings as flat coordinate arrays, the input of the vectorized clipping and
rasterization code."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import shapely


def ragged_arange(starts: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Concatenation of ``arange(s, s + c)`` over all (s, c)."""
    counts = np.asarray(counts, dtype=np.int64)
    total = int(counts.sum())
    if total == 0:
        return np.zeros(0, dtype=np.int64)
    before = np.cumsum(counts) - counts
    return np.repeat(np.asarray(starts, dtype=np.int64) - before, counts) + np.arange(total)


@dataclass(frozen=True)
class Rings:
    """The rings of n (Multi)Polygons: ring ``r`` is ``coords[offsets[r]:offsets[r + 1]]``
    (closed: its last vertex repeats the first), belongs to geometry ``geom[r]`` (sorted) and
    is an exterior ring when ``exterior[r]``; geometry ``g`` has rings ``first[g]:first[g] +
    count[g]``."""

    coords: np.ndarray
    offsets: np.ndarray
    geom: np.ndarray
    exterior: np.ndarray
    first: np.ndarray
    count: np.ndarray


def polygon_rings(geoms: np.ndarray) -> Rings:
    """The rings of (Multi)Polygons. Polygons without holes, the common case, are read with
    one `shapely.get_coordinates` call; the others through `shapely.to_ragged_array`."""
    n = len(geoms)
    ncoords = shapely.get_num_coordinates(geoms)
    plain = ((shapely.get_type_id(geoms) == shapely.GeometryType.POLYGON)
             & (shapely.get_num_interior_rings(geoms) == 0) & (ncoords > 0))
    simple = np.flatnonzero(plain)
    coords = [shapely.get_coordinates(geoms[simple])]
    sizes, owner, exterior = [ncoords[simple]], [simple], [np.ones(len(simple), dtype=bool)]
    other = np.flatnonzero(~plain & (ncoords > 0))
    if len(other):
        _, xy, offsets = shapely.to_ragged_array(geoms[other])
        ring_off, poly_off = offsets[0], offsets[1]
        multi_off = offsets[2] if len(offsets) == 3 else np.arange(len(other) + 1)
        poly_of_ring = np.repeat(np.arange(len(poly_off) - 1), np.diff(poly_off))
        coords.append(xy)
        sizes.append(np.diff(ring_off))
        owner.append(other[np.repeat(np.arange(len(other)), np.diff(multi_off))[poly_of_ring]])
        exterior.append(np.arange(len(ring_off) - 1) == poly_off[poly_of_ring])
    xy, size = np.concatenate(coords), np.concatenate(sizes)
    geom, ext = np.concatenate(owner), np.concatenate(exterior)
    start = np.cumsum(size) - size
    order = np.argsort(geom, kind="stable")
    if len(other):  # rings back in geometry order
        xy = xy[ragged_arange(start[order], size[order])]
        geom, ext, size = geom[order], ext[order], size[order]
    offsets = np.concatenate([[0], np.cumsum(size)]).astype(np.int64)
    first = np.searchsorted(geom, np.arange(n), side="left")
    count = np.searchsorted(geom, np.arange(n), side="right") - first
    return Rings(xy, offsets, geom, ext, first, count)
