"""Readers for tables and vector layers with one-line errors naming the file and column."""

from __future__ import annotations

import fnmatch
import logging
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely
from pyproj import CRS

from cookie.constants import REGION_INDEX, is_osm_pbf
from cookie.errors import ConfigError, DataError
from cookie.sources.validity import is_valid

log = logging.getLogger(__name__)

TABLE_SUFFIXES = (".parquet", ".pq", ".csv", ".tsv")


def require_file(path: Path) -> Path:
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: file not found")
    if not path.is_file():
        raise DataError(f"{path}: not a file")
    return path


def read_table(path: Path, id_columns: tuple[str, ...] = ()) -> pd.DataFrame:
    """A Parquet / CSV / TSV table (geometry columns of GeoParquet are dropped). The
    ``id_columns`` of a text table are read as text, so that '007' stays '007' (`as_region_ids`
    then matches them exactly)."""
    path = require_file(path)
    suffix = path.suffix.lower()
    text = dict.fromkeys(id_columns, str)
    try:
        if suffix in (".parquet", ".pq"):
            frame = pd.read_parquet(path)
        elif suffix == ".csv":
            frame = pd.read_csv(path, dtype=text)
        elif suffix == ".tsv":
            frame = pd.read_csv(path, sep="\t", dtype=text)
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
    """Ids read from a file, matched exactly to the dtype of the regions' ids `like`: 7.0 or
    '7' -> 7 for integer ids, 7 -> '7' for text ids. An id that would only match after a lossy
    cast (0.5 or 2.9 truncated, '007' unpadded, 7 for zero-padded text ids like '007'), a
    missing id, or ids that cannot be of that type ('r7' for integer ids) is a DataError."""
    ids = pd.Index(values)
    if ids.isna().any():
        raise DataError(f"{path}: column {column!r} has {int(ids.isna().sum())} missing "
                        "region ids")
    if ids.dtype == like.dtype or len(ids) == 0:
        return ids

    def refuse(value: object, why: str) -> DataError:
        return DataError(f"{path}: column {column!r} holds id {plain_scalar(value)!r} that "
                         f"{why} (region ids like {plain_scalar(like[0])!r}); ids must match "
                         "exactly")

    def mismatch() -> DataError:
        return DataError(
            f"{path}: column {column!r} holds ids like {plain_scalar(ids[0])!r} that cannot "
            f"match the regions' {like.dtype} ids (like {plain_scalar(like[0])!r})")

    text_like = pd.api.types.is_string_dtype(like.dtype) or like.dtype == object
    if like.dtype.kind in "iu" and ids.dtype.kind not in "iuf":
        if pd.to_numeric(pd.Series(ids), errors="coerce").isna().any():
            raise mismatch()
    if like.dtype.kind in "iu" or (text_like and ids.dtype.kind in "iuf"):
        numbers = _whole_numbers(ids, refuse)
        if like.dtype.kind in "iu":
            return pd.Index(numbers, dtype=like.dtype)
        padded = [r for r in like if isinstance(r, str) and r.isdigit() and r != str(int(r))]
        if padded:
            raise refuse(ids[0], f"is a number while region ids are zero-padded text like "
                         f"{padded[0]!r}; store the ids as text")
        return pd.Index([str(n) for n in numbers], dtype=like.dtype)
    try:
        return ids.astype(like.dtype)
    except (TypeError, ValueError):
        raise mismatch() from None


def _whole_numbers(ids: pd.Index, refuse: Any) -> np.ndarray:
    """Integer ids from floats or text, exactly: 7.0 and '7' (or '7.0') give 7; 2.9, '007'
    and 'r7' raise ``refuse(id, why)``."""
    if ids.dtype.kind in "iu":
        return ids.to_numpy(dtype=np.int64)
    if ids.dtype.kind == "f":
        values = ids.to_numpy(dtype=float)
        bad = ~np.isfinite(values) | (values != np.round(values))
        if bad.any():
            raise refuse(values[np.flatnonzero(bad)[0]], "is not a whole number")
        return values.astype(np.int64)
    out = np.empty(len(ids), dtype=np.int64)
    for i, raw in enumerate(ids):
        text = str(raw).strip()
        try:
            number = float(text)
        except ValueError:
            raise refuse(raw, "is not a number") from None
        if not number.is_integer():
            raise refuse(raw, "is not a whole number")
        if text not in (str(int(number)), str(number)):
            raise refuse(raw, "only matches after reformatting (zero padding?)")
        out[i] = int(number)
    return out


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
                columns: list[str] | None = None, id_column: str | None = None
                ) -> gpd.GeoDataFrame:
    """A vector layer (only ``columns`` of its attributes when given); `crs` is assumed when
    the file has none, else a missing CRS is an error. Coordinates outside a geographic CRS's
    range (projected metres tagged as degrees) are refused, naming the feature by
    ``id_column`` (else its row). Read through Arrow, which skips the per-feature Python
    objects of a plain `geopandas.read_file`."""
    path = require_file(path)
    if is_osm_pbf(path):  # an OpenStreetMap extract: parsed like `cookie prepare` does
        from cookie.sources.osm import read_osm_layer

        if layer is None:
            raise DataError(f"{path}: an OSM extract needs a layer (pois, landuse, buildings "
                            "or roads)")
        gdf = read_osm_layer(path, layer)
        if columns:
            require_columns(gdf, list(columns), f"{path} (OSM layer {layer})")
            gdf = gdf[[*columns, gdf.geometry.name]]
        return gdf
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
    if gdf.crs.is_geographic:
        check_geographic_range(gdf, path, id_column)
    return gdf


def _feature_label(gdf: gpd.GeoDataFrame, i: int, id_column: str | None) -> str:
    """'region 'r7'' (by id column or a region_id index), else 'feature 7' (its row)."""
    if id_column is not None and id_column in gdf.columns:
        return f"region {plain_scalar(gdf[id_column].iloc[i])!r}"
    if gdf.index.name == REGION_INDEX:
        return f"region {plain_scalar(gdf.index[i])!r}"
    return f"feature {i}"


def check_geographic_range(gdf: gpd.GeoDataFrame, path: Path | str,
                           id_column: str | None = None) -> None:
    """DataError naming the first geometry outside longitude [-180, 180] / latitude [-90, 90]."""
    b = shapely.bounds(gdf.geometry.to_numpy())
    tol = 1e-6
    with np.errstate(invalid="ignore"):
        bad = ((b[:, 0] < -180 - tol) | (b[:, 2] > 180 + tol) | (b[:, 1] < -90 - tol)
               | (b[:, 3] > 90 + tol))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise DataError(
            f"{path}: {_feature_label(gdf, i, id_column)} has coordinates like "
            f"({b[i, 0]:.6g}, {b[i, 1]:.6g}), outside the range of the layer's geographic CRS "
            f"{crs_name(gdf.crs)} (projected coordinates tagged as degrees? fix the file's "
            "CRS)")


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
    out = gdf.to_crs(crs)
    b = shapely.bounds(out.geometry.to_numpy())
    bad = ~np.isfinite(b).all(axis=1) & ~out.geometry.is_empty.to_numpy()
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise DataError(f"{path}: {_feature_label(out, i, None)} has non-finite coordinates "
                        f"after reprojection from {crs_name(gdf.crs)} to {crs_name(crs)} "
                        "(is the file's CRS right?)")
    return out


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
