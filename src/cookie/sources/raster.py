"""Rasters read per region (imagery, elevation, raster labels): GeoTIFF / COG windowed reads.

Each region reads only its own bounding window of the file (never the whole scene): one
``src.read(window=..., out_shape=..., masked=True, boundless=...)`` call per region, at native
resolution (decimated with ``average`` only when a window is larger than ``MAX_READ_PX``).
From that window come

* the chip: the region's bounding box made square around its centre, resampled to
  ``image_size x image_size`` (bilinear when upsampling, average when downsampling, nodata
  excluded), normalized per band, with pixels outside the region polygon (or without data)
  set to 0;
* the auxiliary vector: per band the mean and standard deviation of the valid in-region pixels
  (normalized like the chips), plus the fraction of the region's pixels holding valid data.

CRS: ``crs`` on a raster view or raster label *overrides* the file's CRS tag (unlike vector
views, where it only applies to files without one). This is for files without a CRS and for
mis-tagged files, e.g. a DEM tagged EPSG:32000 that really is in EPSG:31985 coordinates.
"""

from __future__ import annotations

import logging
import math
import re
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import rasterio
from affine import Affine
from pyproj import CRS
from rasterio.enums import Resampling
from rasterio.errors import NotGeoreferencedWarning, RasterioError
from rasterio.features import geometry_mask
from rasterio.warp import reproject
from rasterio.windows import Window
from rasterio.windows import from_bounds as window_from_bounds
from shapely.geometry import box
from shapely.geometry.base import BaseGeometry

from cookie.config import RasterLabel, RasterView
from cookie.errors import ConfigError, DataError
from cookie.sources import expressions
from cookie.sources.readers import crs_name, require_file

log = logging.getLogger(__name__)

MAX_READ_PX = 1024  # larger region windows are read decimated (average) to this many pixels
_BAND_NAME = re.compile(r"^b(\d+)$")


# ---------------------------------------------------------------- opening and geometry
def _open(path: Path) -> rasterio.DatasetReader:
    """Open a raster, turning any GDAL failure into a one-line DataError."""
    path = require_file(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", NotGeoreferencedWarning)  # reported below
            src = rasterio.open(path)
    except (RasterioError, OSError) as exc:
        msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise DataError(f"{path}: cannot read raster ({msg})") from None
    t = src.transform
    if t.is_identity and src.crs is None:
        src.close()
        raise DataError(f"{path}: raster is not georeferenced (no geotransform and no CRS)")
    if t.b != 0 or t.d != 0 or t.a <= 0 or t.e >= 0:
        src.close()
        raise DataError(f"{path}: only north-up rasters are supported (transform {tuple(t)[:6]})")
    return src


def _raster_crs(src: rasterio.DatasetReader, path: Path, override: str | None) -> CRS:
    """The raster's CRS: `override` (config) when given, else the file's tag."""
    if override is not None:
        try:
            crs = CRS.from_user_input(override)
        except Exception:  # noqa: BLE001 - pyproj raises several types
            raise ConfigError(f"{path}: invalid crs {override!r}") from None
        if src.crs is None:
            log.info("%s: raster has no CRS; using configured %s", path, crs.to_string())
        elif CRS.from_user_input(src.crs) != crs:
            log.info("%s: raster tagged %s; configured crs %s overrides it", path,
                     src.crs.to_string(), crs.to_string())
        return crs
    if src.crs is None:
        raise DataError(f"{path}: raster has no CRS; state one with `crs = \"EPSG:...\"`")
    return CRS.from_user_input(src.crs)


def _regions_in(regions: gpd.GeoDataFrame, crs: CRS, path: Path) -> gpd.GeoSeries:
    """Region geometries in the raster CRS (reprojected with an info note when needed)."""
    geoms = regions.geometry
    if geoms.crs is None:
        log.warning("%s: regions have no CRS; assuming the raster's %s", path, crs.to_string())
        return geoms.set_crs(crs)
    if CRS.from_user_input(geoms.crs) != crs:
        log.info("%s: regions reprojected from %s to the raster CRS %s", path,
                 geoms.crs.to_string(), crs.to_string())
        return geoms.to_crs(crs)
    return geoms


def _fmt_bounds(bounds: Any) -> str:
    return "(" + ", ".join(f"{v:.6g}" for v in bounds) + ")"


def _check_overlap(geoms: gpd.GeoSeries, src: rasterio.DatasetReader, crs: CRS,
                   path: Path) -> None:
    """DataError naming both extents when no region touches the raster."""
    extent = box(*src.bounds)
    if not geoms.intersects(extent).any():
        raise DataError(
            f"{path}: raster extent {_fmt_bounds(src.bounds)} does not overlap the regions' "
            f"extent {_fmt_bounds(geoms.total_bounds)} (both in {crs_name(crs)}); "
            "check the CRS (`crs` on the view overrides the file's tag)"
        )


def _check_bands(bands: list[int], count: int, path: Path) -> None:
    bad = [b for b in bands if not 1 <= b <= count]
    if bad:
        raise DataError(f"{path}: band {bad[0]} requested but the file has {count} bands "
                        "(bands are 1-based)")


# ---------------------------------------------------------------- per-region reads
@dataclass
class _Window:
    """A region's native-resolution pixels: (C, h, w) float64 with NaN where invalid."""

    data: np.ndarray
    transform: Affine

    @property
    def shape(self) -> tuple[int, int]:
        return self.data.shape[1], self.data.shape[2]

    @property
    def pixel_size(self) -> float:
        return max(abs(self.transform.a), abs(self.transform.e))


def _read_window(src: rasterio.DatasetReader, bounds: tuple[float, float, float, float],
                 bands: list[int], nodata: float | None, margin: int = 0) -> _Window | None:
    """Read the pixels covering `bounds` (plus `margin` pixels), or None off the raster.

    Pixels outside the file, masked by the file (nodata / mask band), equal to `nodata`, or
    not finite become NaN.
    """
    fw = window_from_bounds(*bounds, transform=src.transform)
    col0 = math.floor(fw.col_off + 1e-9) - margin
    row0 = math.floor(fw.row_off + 1e-9) - margin
    col1 = max(math.ceil(fw.col_off + fw.width - 1e-9), col0 + margin + 1) + margin
    row1 = max(math.ceil(fw.row_off + fw.height - 1e-9), row0 + margin + 1) + margin
    if col1 <= 0 or row1 <= 0 or col0 >= src.width or row0 >= src.height:
        return None
    win = Window(col0, row0, col1 - col0, row1 - row0)
    height, width = row1 - row0, col1 - col0
    factor = max(1, math.ceil(max(height, width) / MAX_READ_PX))
    out_h, out_w = math.ceil(height / factor), math.ceil(width / factor)
    boundless = col0 < 0 or row0 < 0 or col1 > src.width or row1 > src.height
    with warnings.catch_warnings():
        # rasterio's boundless path multiplies Affine with `*` (PendingDeprecationWarning)
        warnings.simplefilter("ignore", PendingDeprecationWarning)
        arr = src.read(bands, window=win, out_shape=(len(bands), out_h, out_w), masked=True,
                       boundless=boundless, resampling=Resampling.average)
    data = np.ma.filled(arr.astype(np.float64), np.nan)
    if nodata is not None:
        data[data == nodata] = np.nan
    data[~np.isfinite(data)] = np.nan
    transform = (src.transform @ Affine.translation(col0, row0)
                 @ Affine.scale(width / out_w, height / out_h))
    return _Window(data, transform)


def _inside(geom: BaseGeometry, shape: tuple[int, int], transform: Affine,
            pixel_area: float) -> np.ndarray:
    """Pixels whose centre lies in `geom`; all touched pixels when it covers < 1 pixel."""
    small = geom.area < pixel_area
    inside = geometry_mask([geom], out_shape=shape, transform=transform, invert=True,
                           all_touched=small)
    if not small and not inside.any():
        inside = geometry_mask([geom], out_shape=shape, transform=transform, invert=True,
                               all_touched=True)
    return inside


def _square(bounds: tuple[float, float, float, float],
            min_side: float) -> tuple[tuple[float, float, float, float], float]:
    """The bounding box made square around its centre (at least `min_side` wide)."""
    minx, miny, maxx, maxy = bounds
    side = max(maxx - minx, maxy - miny, min_side)
    cx, cy = (minx + maxx) / 2, (miny + maxy) / 2
    return (cx - side / 2, cy - side / 2, cx + side / 2, cy + side / 2), side


# ---------------------------------------------------------------- the view
@dataclass
class RasterRegions:
    """Un-normalized per-region raster data (what `featurize_raster` normalizes).

    ``chips`` (N, C, S, S) raw values, NaN without data; ``chip_inside`` (N, S, S) region
    pixels of the chip grid; ``counts`` / ``means`` / ``stds`` (N, C) of the valid in-region
    pixels at native resolution; ``valid_frac`` (N,); ``band_mean`` / ``band_std`` (C,) over
    all valid in-region pixels of all regions (the normalization).
    """

    bands: list[int]
    chips: np.ndarray
    chip_inside: np.ndarray
    counts: np.ndarray
    means: np.ndarray
    stds: np.ndarray
    valid_frac: np.ndarray
    band_mean: np.ndarray
    band_std: np.ndarray


def read_raster_regions(cfg: RasterView, regions: gpd.GeoDataFrame) -> RasterRegions:
    """One windowed read per region: raw chips, in-region masks and band statistics."""
    path = Path(cfg.path)
    size = cfg.image_size
    with rasterio.Env(), _open(path) as src:  # one GDAL environment for all reads
        crs = _raster_crs(src, path, cfg.crs)
        bands = list(cfg.bands) if cfg.bands else list(range(1, src.count + 1))
        _check_bands(bands, src.count, path)
        geoms = _regions_in(regions, crs, path)
        _check_overlap(geoms, src, crs, path)
        n, c = len(geoms), len(bands)
        chips = np.full((n, c, size, size), np.nan, dtype=np.float32)
        chip_inside = np.zeros((n, size, size), dtype=bool)
        counts = np.zeros((n, c))
        means = np.zeros((n, c))
        m2 = np.zeros((n, c))
        valid_frac = np.zeros(n)
        native_px = max(abs(src.transform.a), abs(src.transform.e))
        try:
            for i, geom in enumerate(geoms):
                if geom is None or geom.is_empty:
                    continue
                square, side = _square(geom.bounds, native_px * 1e-3)
                win = _read_window(src, square, bands, cfg.nodata, margin=1)
                if win is None:
                    continue
                px = win.pixel_size
                inside = _inside(geom, win.shape, win.transform, px * px)
                valid = ~np.isnan(win.data)
                n_in = int(inside.sum())
                if n_in:
                    valid_frac[i] = (inside & valid.all(axis=0)).sum() / n_in
                for k in range(c):
                    vals = win.data[k][inside & valid[k]]
                    if vals.size:
                        counts[i, k] = vals.size
                        means[i, k] = vals.mean()
                        m2[i, k] = ((vals - means[i, k]) ** 2).sum()
                chip_t = Affine(side / size, 0, square[0], 0, -side / size, square[3])
                resampling = Resampling.bilinear if side / size < px else Resampling.average
                reproject(win.data.astype(np.float32), chips[i], src_transform=win.transform,
                          src_crs=crs, dst_transform=chip_t, dst_crs=crs, src_nodata=np.nan,
                          dst_nodata=np.nan, resampling=resampling)
                chip_inside[i] = _inside(geom, (size, size), chip_t, (side / size) ** 2)
        except RasterioError as exc:
            msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise DataError(f"{path}: cannot read raster ({msg})") from None
    total = counts.sum(axis=0)
    mu = (counts * means).sum(axis=0) / np.maximum(total, 1)
    var = (m2.sum(axis=0) + (counts * (means - mu) ** 2).sum(axis=0)) / np.maximum(total, 1)
    sigma = np.sqrt(var)
    sigma[~(sigma > 1e-12)] = 1.0
    stds = np.sqrt(m2 / np.maximum(counts, 1))
    return RasterRegions(bands, chips, chip_inside, counts, means, stds, valid_frac, mu, sigma)


# ---------------------------------------------------------------- raster labels
def _expression_bands(expression: str, count: int, path: Path) -> list[int]:
    """The 1-based bands an expression like ``(b4 - b3) / (b4 + b3)`` refers to."""
    try:
        names = expressions.names_in(expression)
    except ConfigError as exc:
        raise ConfigError(f"{path}: raster label: {exc}") from None
    bands = []
    for name in sorted(names):
        match = _BAND_NAME.match(name)
        if not match:
            raise ConfigError(f"{path}: raster label expression {expression!r}: unknown name "
                              f"{name!r} (use b1, b2, ... for bands)")
        bands.append(int(match.group(1)))
    if not bands:
        raise ConfigError(f"{path}: raster label expression {expression!r} uses no band")
    _check_bands(bands, count, path)
    return bands


def raster_label_values(cfg: RasterLabel, regions: gpd.GeoDataFrame) -> np.ndarray:
    """Mean per region of a per-pixel band expression (NaN where a region has no pixel)."""
    path = Path(cfg.path)
    out = np.full(len(regions), np.nan)
    with rasterio.Env(), _open(path) as src:
        crs = _raster_crs(src, path, cfg.crs)
        bands = _expression_bands(cfg.expression, src.count, path)
        geoms = _regions_in(regions, crs, path)
        _check_overlap(geoms, src, crs, path)
        try:
            for i, geom in enumerate(geoms):
                if geom is None or geom.is_empty:
                    continue
                win = _read_window(src, geom.bounds, bands, None)
                if win is None:
                    continue
                px = win.pixel_size
                inside = _inside(geom, win.shape, win.transform, px * px)
                ok = inside & ~np.isnan(win.data).any(axis=0)
                if not ok.any():
                    continue
                columns = {f"b{b}": win.data[k][ok] for k, b in enumerate(bands)}
                pix = np.asarray(expressions.evaluate(cfg.expression, columns, str(path)),
                                 dtype=float)
                if pix.ndim == 0:
                    pix = np.full(int(ok.sum()), float(pix))
                pix = pix[np.isfinite(pix)]
                if pix.size:
                    out[i] = pix.mean()
        except RasterioError as exc:
            msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise DataError(f"{path}: cannot read raster ({msg})") from None
    empty = int(np.isnan(out).sum())
    if empty:
        log.warning("raster label %r: %d of %d regions have no valid pixel (NaN)", cfg.name,
                    empty, len(out))
    return out
