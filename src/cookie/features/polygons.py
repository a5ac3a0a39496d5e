"""`polygons` views (land use / areas of interest): area share per class and covered fraction
(the shared vector helpers are `cookie.features.vector`)."""

from __future__ import annotations

import logging

import geopandas as gpd
import numpy as np
import shapely

from cookie.config import PolygonsView
from cookie.features.clip import region_halfplanes
from cookie.features.vector import (
    POLYGONAL,
    ClassVocabulary,
    class_vocabulary,
    clipped_pairs,
    log_empty,
    overlapping_pairs,
    read_layer,
    region_areas,
    safe_div,
    union_area_by_group,
)
from cookie.features.view import ViewData

log = logging.getLogger(__name__)


def load_layer(cfg: PolygonsView, regions: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """The view's layer, checked and repaired, in the regions' CRS."""
    return read_layer(cfg, regions, POLYGONAL, [c for c in [cfg.class_column] if c])


def layer_vocabulary(cfg: PolygonsView, gdf: gpd.GeoDataFrame) -> ClassVocabulary | None:
    """Top classes by total polygon area over the whole layer (None without a class column)."""
    if not cfg.class_column:
        return None
    return class_vocabulary(gdf[cfg.class_column].to_numpy(),
                            shapely.area(gdf.geometry.to_numpy()), cfg.max_classes)


def featurize_polygons(cfg: PolygonsView, regions: gpd.GeoDataFrame) -> ViewData:
    """Per region: ``covered`` (fraction of the region under any polygon) and ``share_<class>``
    (fraction under the union of that class's polygons), both in [0, 1]; overlapping polygons
    are unioned, not double counted. Classes: the ``max_classes`` of largest total area in the
    layer. Regions without polygon area: zeros and mask False."""
    return featurize_layer(cfg, regions, load_layer(cfg, regions))


def featurize_layer(cfg: PolygonsView, regions: gpd.GeoDataFrame, gdf: gpd.GeoDataFrame,
                    vocabulary: ClassVocabulary | None = None) -> ViewData:
    """`featurize_polygons` on an in-memory layer (from `load_layer`, or a part of it that holds
    every polygon meeting the regions); ``vocabulary`` defaults to `layer_vocabulary` of
    ``gdf``."""
    vocab = vocabulary if vocabulary is not None else layer_vocabulary(cfg, gdf)
    geoms = gdf.geometry.to_numpy()
    rgeoms = regions.geometry.to_numpy()
    n = len(rgeoms)
    rarea = region_areas(regions)
    fi, ri, area = clipped_pairs(geoms, rgeoms, region_halfplanes(rgeoms))

    overlaps = overlapping_pairs(geoms, fi)

    def union_area(groups: np.ndarray, n_groups: int) -> np.ndarray:
        return union_area_by_group(geoms, fi, ri, area, rgeoms, groups, n_groups, overlaps)

    covered = np.clip(safe_div(union_area(ri, n), rarea), 0.0, 1.0)
    cols, names = [covered[:, None]], ["covered"]
    if cfg.class_column and vocab is not None:
        codes, classes = vocab.codes(gdf[cfg.class_column].to_numpy()[fi]), vocab.names
        k = len(classes)
        by_class = union_area(ri * k + codes, n * k).reshape(n, k)
        cols.append(np.clip(safe_div(by_class, rarea), 0.0, 1.0))
        names += [f"share_{c}" for c in classes]
    values = np.concatenate(cols, axis=1)
    mask = covered > 0
    log_empty(cfg.name, mask)
    return ViewData(cfg.name, "polygons", regions.index, values, mask, names)
