"""`points` views (POIs): counts, density per km2 and per-category counts and shares."""

from __future__ import annotations

import logging

import geopandas as gpd
import numpy as np
import shapely

from cookie.config import PointsView
from cookie.features.vector import (
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

log = logging.getLogger(__name__)


def as_points(geoms: np.ndarray, path: object) -> tuple[np.ndarray, np.ndarray]:
    """Points and the row each came from: multipoints are split into their points, other
    geometries (polygons, lines) replaced by a representative point."""
    types = shapely.get_type_id(geoms)
    other = ~np.isin(types, [shapely.GeometryType.POINT, shapely.GeometryType.MULTIPOINT])
    if other.any():
        log.info("%s: %d non-point geometries replaced by a representative point", path,
                 int(other.sum()))
        geoms = geoms.copy()
        geoms[other] = shapely.point_on_surface(geoms[other])
    return single_parts(geoms)


def load_layer(cfg: PointsView, regions: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """The view's layer, checked and repaired, in the regions' CRS."""
    return read_layer(cfg, regions, None, [c for c in [cfg.class_column] if c])


def layer_vocabulary(cfg: PointsView, gdf: gpd.GeoDataFrame) -> ClassVocabulary | None:
    """Top classes by number of points over the whole layer (None without a class column)."""
    if not cfg.class_column:
        return None
    _, row = as_points(gdf.geometry.to_numpy(), cfg.path)
    return class_vocabulary(gdf[cfg.class_column].to_numpy()[row], np.ones(len(row)),
                            cfg.max_classes)


def featurize_points(cfg: PointsView, regions: gpd.GeoDataFrame) -> ViewData:
    """Per region: ``count``, ``density_km2``, ``count_<class>`` and ``share_<class>`` (top
    ``max_classes`` classes of ``class_column`` by frequency in the layer, the rest in
    ``other``). The transform (log1p) applies to counts and density, not to shares. A point on
    the edge between two regions is counted once. Regions without points: zeros and mask
    False."""
    return featurize_layer(cfg, regions, load_layer(cfg, regions))


def featurize_layer(cfg: PointsView, regions: gpd.GeoDataFrame, gdf: gpd.GeoDataFrame,
                    vocabulary: ClassVocabulary | None = None) -> ViewData:
    """`featurize_points` on an in-memory layer (from `load_layer`, or a part of it that holds
    every point in the regions); ``vocabulary`` defaults to `layer_vocabulary` of ``gdf``."""
    vocab = vocabulary if vocabulary is not None else layer_vocabulary(cfg, gdf)
    points, row = as_points(gdf.geometry.to_numpy(), cfg.path)
    rgeoms = regions.geometry.to_numpy()
    n = len(rgeoms)
    region = assign_first(points, rgeoms)
    inside = region >= 0
    region, row = region[inside], row[inside]

    count = np.bincount(region, minlength=n).astype(float)
    area_km2 = region_areas(regions) / 1e6
    cols = [count[:, None], safe_div(count, area_km2)[:, None]]
    names = ["count", "density_km2"]
    shares = None
    if cfg.class_column and vocab is not None:
        codes, classes = vocab.codes(gdf[cfg.class_column].to_numpy()[row]), vocab.names
        k = len(classes)
        by_class = np.bincount(region * k + codes, minlength=n * k).reshape(n, k).astype(float)
        cols.append(by_class)
        names += [f"count_{c}" for c in classes]
        shares = safe_div(by_class, count)
    values = np.concatenate(cols, axis=1)
    if cfg.transform == "log1p":
        values = np.log1p(values)
    if shares is not None:
        values = np.concatenate([values, shares], axis=1)
        names += [f"share_{c}" for c in classes]
    mask = count > 0
    log_empty(cfg.name, mask)
    return ViewData(cfg.name, "points", regions.index, values, mask, names)
