"""Featurizers: one per view kind, each turning a layer into a per-region ViewData."""

from __future__ import annotations

import importlib
from collections.abc import Callable

import geopandas as gpd

from cookie.errors import ConfigError
from cookie.views import ViewData

# kind -> "module:function"; each function has signature (view_cfg, regions) -> ViewData,
# where `regions` is a GeoDataFrame indexed by region id in the dataset's metric CRS.
FEATURIZERS: dict[str, str] = {
    "table": "cookie.features.table:featurize_table",
    "flows": "cookie.features.flows:featurize_flows",
    "points": "cookie.features.points:featurize_points",
    "polygons": "cookie.features.polygons:featurize_polygons",
    "footprints": "cookie.features.footprints:featurize_footprints",
    "lines": "cookie.features.lines:featurize_lines",
    "raster": "cookie.features.raster:featurize_raster",
}


def get_featurizer(kind: str) -> Callable[..., ViewData]:
    if kind not in FEATURIZERS:
        raise ConfigError(f"unknown view kind {kind!r} (known: {', '.join(FEATURIZERS)})")
    module, func = FEATURIZERS[kind].split(":")
    return getattr(importlib.import_module(module), func)


def featurize(view_cfg, regions: gpd.GeoDataFrame) -> ViewData:
    """Featurize one configured view over the regions."""
    return get_featurizer(view_cfg.kind)(view_cfg, regions)
