"""`lines` views (roads): length per class per km2, segment and intersection counts.

Definitions
- A *segment* is one LineString (a MultiLineString counts as its parts). A region's segment
  count is the number of segments with a positive length inside it.
- A *node* is a segment endpoint (endpoints closer than 1 cm are merged). Its degree is the
  number of segment ends at it, plus 2 for every other segment passing through it (a T
  junction whose through road is not split still has degree 3). An *intersection* is a node
  of degree >= 3; dead ends (1) and mere joins of two segments (2) are not. Two lines that
  cross without a shared vertex (a bridge or tunnel) make no intersection. Each intersection
  is counted in the region that contains it (once, on shared edges).
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import shapely

from cookie.config import LinesView
from cookie.features.clip import clipped_lengths, region_pairs
from cookie.features.vector import (
    LINEAR,
    ClassVocabulary,
    assign_first,
    class_vocabulary,
    log_empty,
    read_layer,
    region_areas,
    safe_div,
    single_parts,
)
from cookie.features.view import ViewData

NODE_TOLERANCE_M = 0.01


def intersection_nodes(segments: np.ndarray, tol: float = NODE_TOLERANCE_M) -> np.ndarray:
    """Points of degree >= 3 in the network of ``segments`` (LineStrings), see module doc."""
    n = len(segments)
    if n == 0:
        return np.empty(0, dtype=object)
    coords, owner = shapely.get_coordinates(segments, return_index=True)
    own = np.arange(n)
    ends = coords[np.concatenate([np.searchsorted(owner, own, side="left"),
                                  np.searchsorted(owner, own, side="right") - 1])]
    cell = np.round(ends / tol).astype(np.int64)
    cell -= cell.min(axis=0)
    key = cell[:, 0] * (cell[:, 1].max() + 1) + cell[:, 1]  # one integer per merged end
    _, first, inverse, degree = np.unique(key, return_index=True, return_inverse=True,
                                          return_counts=True)
    start_node, end_node = inverse[:n], inverse[n:]
    low = np.flatnonzero(degree < 3)  # only these can still become intersections
    if len(low):
        ni, si = shapely.STRtree(segments).query(shapely.points(ends[first[low]]),
                                                 predicate="dwithin", distance=tol)
        ni = low[ni]
        through = (start_node[si] != ni) & (end_node[si] != ni)
        degree = degree + 2 * np.bincount(ni[through], minlength=len(degree))
    return shapely.points(ends[first[degree >= 3]])


def load_layer(cfg: LinesView, regions: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """The view's layer, checked and repaired, in the regions' CRS."""
    return read_layer(cfg, regions, LINEAR, [c for c in [cfg.class_column] if c])


def layer_vocabulary(cfg: LinesView, gdf: gpd.GeoDataFrame) -> ClassVocabulary | None:
    """Top classes by total line length over the whole layer (None without a class column)."""
    if not cfg.class_column:
        return None
    return class_vocabulary(gdf[cfg.class_column].to_numpy(),
                            shapely.length(gdf.geometry.to_numpy()), cfg.max_classes)


def featurize_lines(cfg: LinesView, regions: gpd.GeoDataFrame) -> ViewData:
    """Per region: ``length_km_per_km2``, ``segments``, ``intersections`` and
    ``length_<class>_km_per_km2`` (top ``max_classes`` classes by length in the layer, the rest
    in ``other``); all transformed by ``cfg.transform``. Regions without line length: zeros and
    mask False."""
    return featurize_layer(cfg, regions, load_layer(cfg, regions))


def featurize_layer(cfg: LinesView, regions: gpd.GeoDataFrame, gdf: gpd.GeoDataFrame,
                    vocabulary: ClassVocabulary | None = None) -> ViewData:
    """`featurize_lines` on an in-memory layer (from `load_layer`, or a part of it that holds
    every line within `NODE_TOLERANCE_M` of the regions); ``vocabulary`` defaults to
    `layer_vocabulary` of ``gdf``."""
    vocab = vocabulary if vocabulary is not None else layer_vocabulary(cfg, gdf)
    segments, row = single_parts(gdf.geometry.to_numpy())
    rgeoms = regions.geometry.to_numpy()
    n = len(rgeoms)
    area_km2 = region_areas(regions) / 1e6

    si, ri = region_pairs(segments, rgeoms)
    length_km = clipped_lengths(segments, si, rgeoms, ri) / 1000.0
    keep = length_km > 0
    si, ri, length_km = si[keep], ri[keep], length_km[keep]

    total = np.bincount(ri, weights=length_km, minlength=n)
    count = np.bincount(ri, minlength=n).astype(float)
    node_region = assign_first(intersection_nodes(segments), rgeoms)
    crossings = np.bincount(node_region[node_region >= 0], minlength=n).astype(float)
    cols = [safe_div(total, area_km2)[:, None], count[:, None], crossings[:, None]]
    names = ["length_km_per_km2", "segments", "intersections"]
    if cfg.class_column and vocab is not None:
        codes = vocab.codes(gdf[cfg.class_column].to_numpy()[row[si]])
        classes = vocab.names
        k = len(classes)
        by_class = np.bincount(ri * k + codes, weights=length_km, minlength=n * k)
        cols.append(safe_div(by_class.reshape(n, k), area_km2))
        names += [f"length_{c}_km_per_km2" for c in classes]
    values = np.concatenate(cols, axis=1)
    if cfg.transform == "log1p":
        values = np.log1p(values)
    mask = total > 0
    log_empty(cfg.name, mask)
    return ViewData(cfg.name, "lines", regions.index, values, mask, names)
