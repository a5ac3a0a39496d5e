"""Raster views: a normalized, region-masked chip per region and band statistics, from the
windowed reads of `cookie.sources.raster` (which documents the reads and the CRS rule)."""

from __future__ import annotations

import logging
from pathlib import Path

import geopandas as gpd
import numpy as np

from cookie.config import RasterView
from cookie.errors import DataError
from cookie.features.view import ViewData
from cookie.sources.raster import read_raster_regions

log = logging.getLogger(__name__)


def featurize_raster(cfg: RasterView, regions: gpd.GeoDataFrame) -> ViewData:
    """A normalized, region-masked chip ``(N, C, S, S)`` per region plus band statistics
    (``aux``: per band normalized mean and std of the in-region pixels, and valid fraction)."""
    path = Path(cfg.path)
    rr = read_raster_regions(cfg, regions)
    n = len(regions)
    mask = rr.counts.sum(axis=1) > 0
    if not mask.any():
        raise DataError(f"{path}: no valid pixels inside any region (all nodata or masked)")
    missing = int((~mask).sum())
    if missing:
        log.warning("view %r: %d of %d regions have no valid pixels in %s (zeros + mask)",
                    cfg.name, missing, n, path.name)
    mu, sigma = rr.band_mean, rr.band_std
    log.info("view %r: normalization band means %s, stds %s", cfg.name,
             np.round(mu, 4).tolist(), np.round(sigma, 4).tolist())
    values = (rr.chips - mu[None, :, None, None]) / sigma[None, :, None, None]
    keep = rr.chip_inside[:, None] & ~np.isnan(values) & mask[:, None, None, None]
    values = np.where(keep, values, 0.0).astype(np.float32)

    has = rr.counts > 0
    aux_mean = np.where(has, (rr.means - mu) / sigma, 0.0)
    aux_std = np.where(has, rr.stds / sigma, 0.0)
    aux = np.concatenate([aux_mean, aux_std, rr.valid_frac[:, None]], axis=1)
    p = cfg.name
    aux_names = ([f"{p}_b{b}_mean" for b in rr.bands] + [f"{p}_b{b}_std" for b in rr.bands]
                 + [f"{p}_valid_frac"])
    return ViewData(cfg.name, "raster", regions.index, values, mask,
                    [f"{p}_b{b}" for b in rr.bands], aux, aux_names)
