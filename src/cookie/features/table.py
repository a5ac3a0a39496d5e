"""`table` views: per-region feature columns keyed by region id."""

from __future__ import annotations

from typing import Any

import geopandas as gpd
import numpy as np

from cookie.config import TableView
from cookie.features.common import align_to_regions
from cookie.features.view import ViewData
from cookie.sources.readers import (
    as_region_ids,
    check_finite,
    check_unique_ids,
    read_table,
    require_columns,
    select_columns,
)


def featurize_table(cfg: TableView, regions: gpd.GeoDataFrame) -> ViewData:
    frame = read_table(cfg.path, (cfg.id_column,))
    require_columns(frame, [cfg.id_column], cfg.path)
    check_unique_ids(frame[cfg.id_column], cfg.path, cfg.id_column)
    cols = select_columns(frame, cfg.columns, [cfg.id_column], cfg.path)
    feats = frame.set_index(cfg.id_column)[cols].astype(float)
    feats.index = as_region_ids(feats.index, regions.index, cfg.path, cfg.id_column)
    check_finite(feats, cfg.path)
    if cfg.transform == "log1p":
        if (feats.to_numpy() < 0).any():
            col = feats.columns[(feats < 0).any()][0]
            raise_negative(cfg.path, col)
        feats = np.log1p(feats)
    return align_to_regions(cfg.name, "table", feats, regions.index, cfg.path)


def raise_negative(path: Any, column: Any) -> None:
    from cookie.errors import DataError

    raise DataError(f"{path}: column {column!r} has negative values; log1p needs >= 0")
