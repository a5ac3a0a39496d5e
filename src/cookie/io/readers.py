"""Readers for tables and vector layers with one-line errors naming the file and column."""

from __future__ import annotations

import fnmatch
import logging
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely
from pyproj import CRS

from cookie.errors import ConfigError, DataError
from cookie.io.validity import is_valid

log = logging.getLogger(__name__)

TABLE_SUFFIXES = (".parquet", ".pq", ".csv", ".tsv")


def require_file(path: Path) -> Path:
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: file not found")
    if not path.is_file():
        raise DataError(f"{path}: not a file")
    return path


def read_table(path: Path) -> pd.DataFrame:
    """A Parquet / CSV / TSV table (geometry columns of GeoParquet are dropped)."""
    path = require_file(path)
    suffix = path.suffix.lower()
    try:
        if suffix in (".parquet", ".pq"):
            frame = pd.read_parquet(path)
        elif suffix == ".csv":
            frame = pd.read_csv(path)
        elif suffix == ".tsv":
            frame = pd.read_csv(path, sep="\t")
        elif suffix in (".gpkg", ".shp", ".geojson", ".fgb"):
            frame = pd.DataFrame(read_vector(path).drop(columns="geometry"))
        else:
            raise DataError(f"{path}: unsupported table format {suffix!r} (use Parquet or CSV)")
    except DataError:
        raise
    except Exception as exc:  # noqa: BLE001 - any reader failure is a corrupt file for the user
        msg = str(exc).splitlines()[0] if str(exc) else ""
        raise DataError(f"{path}: cannot read table ({type(exc).__name__}: {msg})") from None
    if len(frame) == 0:
        raise DataError(f"{path}: table has no rows")
    return frame


def require_columns(frame: pd.DataFrame, columns: list[str], path: Path | str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise DataError(
            f"{path}: column {missing[0]!r} not found "
            f"(columns: {', '.join(map(str, frame.columns[:12]))}"
            f"{', ...' if len(frame.columns) > 12 else ''})"
        )


def select_columns(frame: pd.DataFrame, patterns: list[str] | None, exclude: list[str],
                   path: Path | str) -> list[str]:
    """Columns matching names or glob patterns (default: every numeric column)."""
    if patterns is None:
        cols = [c for c in frame.columns if c not in exclude
                and pd.api.types.is_numeric_dtype(frame[c])]
    else:
        cols = []
        for pat in patterns:
            hits = [c for c in frame.columns if fnmatch.fnmatchcase(str(c), pat)]
            if not hits:
                raise DataError(f"{path}: column {pat!r} not found")
            cols.extend(h for h in hits if h not in cols and h not in exclude)
    if not cols:
        raise DataError(f"{path}: no numeric feature columns")
    bad = [c for c in cols if not pd.api.types.is_numeric_dtype(frame[c])]
    if bad:
        raise DataError(f"{path}: column {bad[0]!r} is not numeric")
    return cols


def check_unique_ids(ids: pd.Series | pd.Index, path: Path | str, column: str) -> None:
    dup = pd.Index(ids)[pd.Index(ids).duplicated()]
    if len(dup):
        raise DataError(
            f"{path}: column {column!r} has {len(dup)} duplicate region ids (first: "
            f"{plain_scalar(dup[0])!r})"
        )


def as_region_ids(values: pd.Series | pd.Index, like: pd.Index, path: Path | str,
                  column: str) -> pd.Index:
    """Ids read from a file, cast to the dtype of the regions' ids `like` (e.g. 7.0 -> 7);
    a missing id, or ids that cannot be of that type ('r7' for integer ids), is a DataError."""
    ids = pd.Index(values)
    if ids.isna().any():
        raise DataError(f"{path}: column {column!r} has {int(ids.isna().sum())} missing "
                        "region ids")
    if ids.dtype == like.dtype or len(ids) == 0:
        return ids
    try:
        return ids.astype(like.dtype)
    except (TypeError, ValueError):
        raise DataError(
            f"{path}: column {column!r} holds ids like {plain_scalar(ids[0])!r} that cannot "
            f"match the regions' {like.dtype} ids (like {plain_scalar(like[0])!r})"
        ) from None


def plain_scalar(value: object) -> object:
    """A numpy scalar as the Python value (for readable messages)."""
    return value.item() if isinstance(value, np.generic) else value


def check_finite(frame: pd.DataFrame, path: Path | str) -> None:
    """DataError naming the first column that is not numeric, or holds NaN or infinite values
    (and its first region)."""
    text = [c for c in frame.columns if not pd.api.types.is_numeric_dtype(frame[c])]
    if text:
        sample = frame[text[0]].dropna()
        like = f" (values like {plain_scalar(sample.iloc[0])!r})" if len(sample) else ""
        raise DataError(f"{path}: column {text[0]!r} is not numeric{like}")
    values = frame.to_numpy(dtype=float)
    bad = ~np.isfinite(values)
    if bad.any():
        j = int(np.flatnonzero(bad.any(axis=0))[0])
        i = int(np.flatnonzero(bad[:, j])[0])
        n_nan = int(np.isnan(values[:, j]).sum())
        n_inf = int(bad[:, j].sum()) - n_nan
        what = " and ".join(part for part in (f"{n_nan} NaN" if n_nan else "",
                                              f"{n_inf} infinite" if n_inf else "") if part)
        raise DataError(f"{path}: column {frame.columns[j]!r} has {what} value"
                        f"{'s' if n_nan + n_inf > 1 else ''} (first at region "
                        f"{plain_scalar(frame.index[i])!r})")


def parse_crs(value: str, source: Path | str) -> CRS:
    """A CRS from a config string; a ConfigError naming `source` when pyproj rejects it."""
    try:
        return CRS.from_user_input(value)
    except Exception:  # noqa: BLE001 - pyproj raises several types
        raise ConfigError(f"{source}: invalid crs {value!r}") from None


def crs_name(crs: CRS) -> str:
    """A short name for messages: 'EPSG:3067' rather than a WKT string (a low match
    confidence is enough: GDAL's WKT1 of EPSG:3067 only matches it at 25-50%)."""
    auth = crs.to_authority(min_confidence=20)
    return ":".join(auth) if auth else crs.name


def read_vector(path: Path, layer: str | None = None, crs: str | None = None,
                columns: list[str] | None = None) -> gpd.GeoDataFrame:
    """A vector layer (only ``columns`` of its attributes when given); `crs` is assumed when
    the file has none, else a missing CRS is an error. Read through Arrow, which skips the
    per-feature Python objects of a plain `geopandas.read_file`."""
    path = require_file(path)
    try:
        gdf = _read_arrow(path, layer, columns)
    except DataError:
        raise
    except Exception as exc:  # noqa: BLE001
        msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise DataError(f"{path}: cannot read vector layer ({msg})") from None
    if columns and not set(columns) <= set(gdf.columns):  # Arrow skips unknown columns
        fields = pyogrio.read_info(path, layer=layer)["fields"]
        require_columns(pd.DataFrame(columns=list(fields)), list(columns), path)
    if gdf.crs is None:
        if crs is None:
            raise DataError(f"{path}: layer has no CRS; state one with `crs = \"EPSG:...\"`")
        gdf = gdf.set_crs(parse_crs(crs, path))
    elif crs is not None and parse_crs(crs, path) != gdf.crs:
        log.info("%s: file CRS %s kept (config crs %s applies only to files without one)",
                 path, gdf.crs.to_string(), crs)
    return gdf


def _read_arrow(path: Path, layer: str | None, columns: list[str] | None) -> gpd.GeoDataFrame:
    meta, table = pyogrio.read_arrow(path, layer=layer, columns=columns)
    name = meta["geometry_name"] or "wkb_geometry"
    if name not in table.column_names:
        raise DataError(f"{path}: layer has no geometry column")
    geoms = shapely.from_wkb(table[name])
    attrs = table.drop_columns([name]).to_pandas()
    return gpd.GeoDataFrame(attrs, geometry=gpd.GeoSeries(geoms, index=attrs.index),
                            crs=meta["crs"])


def metric_crs_for(gdf: gpd.GeoDataFrame) -> CRS:
    """A metric CRS for the layer: its own if projected in metres, else the local UTM zone."""
    if gdf.crs is not None and gdf.crs.is_projected and gdf.crs.axis_info[0].unit_name in (
        "metre", "meter"
    ):
        return gdf.crs
    utm = gdf.estimate_utm_crs()
    return utm


def to_crs(gdf: gpd.GeoDataFrame, crs: CRS, path: Path | str) -> gpd.GeoDataFrame:
    if gdf.crs is not None and CRS.from_user_input(gdf.crs) == crs:
        return gdf
    log.info("%s: reprojected from %s to %s", path, gdf.crs.to_string(), crs.to_string())
    return gdf.to_crs(crs)


def repair_geometries(gdf: gpd.GeoDataFrame, path: Path | str) -> gpd.GeoDataFrame:
    """Drop empty geometries, repair invalid ones (with a logged count)."""
    geom = gdf.geometry
    empty = geom.isna() | geom.is_empty
    if empty.any():
        log.warning("%s: dropped %d empty geometries", path, int(empty.sum()))
        gdf = gdf.loc[~empty]
    invalid = pd.Series(~is_valid(gdf.geometry.to_numpy()), index=gdf.index)
    if invalid.any():
        gdf = gdf.copy()
        gdf.loc[invalid, gdf.geometry.name] = gdf.geometry[invalid].make_valid()
        still = ~gdf.geometry.is_valid
        if still.any():
            raise DataError(f"{path}: {int(still.sum())} invalid geometries could not be repaired")
        log.warning("%s: repaired %d invalid geometries", path, int(invalid.sum()))
    return gdf
