"""`flows` views: an origin-destination table turned into out-flow and in-flow vectors."""

from __future__ import annotations

import logging

import geopandas as gpd
import numpy as np
import pandas as pd

from cookie.config import FlowsView
from cookie.errors import DataError
from cookie.features.view import ViewData
from cookie.sources.readers import (
    as_region_ids,
    check_finite,
    plain_scalar,
    read_table,
    require_columns,
)

log = logging.getLogger(__name__)


def flow_matrix(frame: pd.DataFrame, cfg: FlowsView, index: pd.Index) -> np.ndarray:
    """N x N matrix of summed weights, rows = origins, columns = destinations."""
    origin = as_region_ids(frame[cfg.origin], index, cfg.path, cfg.origin)
    dest = as_region_ids(frame[cfg.destination], index, cfg.path, cfg.destination)
    oi, di = index.get_indexer(origin), index.get_indexer(dest)
    keep = (oi >= 0) & (di >= 0)
    if not keep.all():
        first = int(np.flatnonzero(~keep)[0])
        side, ids = (cfg.origin, origin) if oi[first] < 0 else (cfg.destination, dest)
        log.warning("%s: %d flow rows with unknown region ids ignored (first: %s %r)",
                    cfg.path, int((~keep).sum()), side, plain_scalar(ids[first]))
    mat = np.zeros((len(index), len(index)), dtype=np.float64)
    np.add.at(mat, (oi[keep], di[keep]), frame[cfg.weight].to_numpy(dtype=float)[keep])
    return mat


def featurize_flows(cfg: FlowsView, regions: gpd.GeoDataFrame) -> ViewData:
    frame = read_table(cfg.path, (cfg.origin, cfg.destination))
    require_columns(frame, [cfg.origin, cfg.destination, cfg.weight], cfg.path)
    check_finite(frame.set_index(cfg.origin)[[cfg.weight]], cfg.path)  # names the origin
    if (frame[cfg.weight] < 0).any():
        raise DataError(f"{cfg.path}: column {cfg.weight!r} has negative flows")
    mat = flow_matrix(frame, cfg, regions.index)
    if cfg.transform == "log1p":
        mat = np.log1p(mat)
    values = np.concatenate([mat, mat.T], axis=1)  # out-flows then in-flows
    present = np.asarray(values.any(axis=1))
    names = [f"out_{r}" for r in regions.index] + [f"in_{r}" for r in regions.index]
    return ViewData(cfg.name, "flows", regions.index, values, present, names)
