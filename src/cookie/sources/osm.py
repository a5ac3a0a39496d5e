"""OpenStreetMap extracts (.osm.pbf) to the GeoPackage layers of the vector views.

`prepare_osm` writes four single-layer GeoPackages in EPSG:4326 (as pyrosm returns them):

* ``pois.gpkg``: points (representative points of polygon POIs), ``category`` = the first
  non-null of amenity / shop / tourism / leisure / office / craft / healthcare / historic
  (the key itself where the value is just ``yes``);
* ``landuse.gpkg``: polygons, ``class`` = the landuse tag, plus natural areas (``class`` = the
  natural tag, e.g. water, wood) and leisure areas (``class`` = the leisure tag, e.g. park);
  ``source`` says which tag it came from;
* ``buildings.gpkg``: polygons, ``building`` (plus levels / height where tagged);
* ``roads.gpkg``: lines, ``class`` = the highway tag (``get_network("all")``).

`osm_config_dict` turns the written layers into a dataset config (points, polygons, footprints
and lines views); `read_osm_layer` gives one such layer straight from the extract (a view whose
`path` is an .osm.pbf). The task made from the buildings layer (`cookie prepare`, `cookie
demo`) is in `cookie.apps.osm_task`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd

from cookie.errors import DataError
from cookie.io.atomic import atomic_file
from cookie.sources.readers import require_file

log = logging.getLogger(__name__)

POI_KEYS = ("amenity", "shop", "tourism", "leisure", "office", "craft", "healthcare", "historic")
POINTS = ("Point", "MultiPoint")
POLYGONS = ("Polygon", "MultiPolygon")
LINES = ("LineString", "MultiLineString")
CRS = "EPSG:4326"


def _check_pbf(path: Path) -> Path:
    """The file exists and starts like an OSM PBF (a BlobHeader naming ``OSMHeader``)."""
    path = require_file(path)
    with open(path, "rb") as fh:
        head = fh.read(4)
        size = int.from_bytes(head, "big") if len(head) == 4 else 0
        blob = fh.read(size) if 0 < size <= 64 * 1024 else b""
    if b"OSMHeader" not in blob:
        raise DataError(f"{path}: not an OpenStreetMap PBF file (no OSMHeader block)")
    if not str(path).endswith(".pbf"):
        raise DataError(f"{path}: OSM PBF files must be named *.osm.pbf")
    return path


def _parse(path: Path, what: str, call: Callable[[], gpd.GeoDataFrame | None]
           ) -> gpd.GeoDataFrame | None:
    try:
        return call()
    except DataError:
        raise
    except Exception as exc:  # noqa: BLE001 - any parser failure is a bad file for the user
        msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise DataError(f"{path}: cannot read OSM {what} ({msg})") from None


def _keep_types(gdf: gpd.GeoDataFrame, types: tuple[str, ...], layer: str) -> gpd.GeoDataFrame:
    """Only rows of the given geometry types (dropped count logged)."""
    geom = gdf.geometry
    ok = geom.notna() & ~geom.is_empty & geom.geom_type.isin(types)
    if (~ok).any():
        counts = geom[~ok].geom_type.fillna("empty").value_counts().to_dict()
        log.info("OSM %s: dropped %d features of other geometry types %s", layer,
                 int((~ok).sum()), counts)
    return gdf.loc[ok]


def _frame(gdf: gpd.GeoDataFrame | None, columns: list[str]) -> gpd.GeoDataFrame:
    """The given columns (missing ones as null) and the geometry, in EPSG:4326."""
    if gdf is None or len(gdf) == 0:
        return gpd.GeoDataFrame({c: pd.Series(dtype=object) for c in columns},
                                geometry=gpd.GeoSeries([], crs=CRS), crs=CRS)
    out = gpd.GeoDataFrame(
        {c: (gdf[c] if c in gdf.columns else pd.Series(None, index=gdf.index, dtype=object))
         for c in columns},
        geometry=gdf.geometry.values, index=gdf.index, crs=gdf.crs or CRS,
    )
    if out.crs is not None and out.crs.to_epsg() != 4326:
        out = out.to_crs(CRS)
    return out.reset_index(drop=True)


def _category(frame: pd.DataFrame, keys: tuple[str, ...]) -> pd.Series:
    """First non-null tag value among `keys` (the key itself where the value is 'yes')."""
    result = pd.Series(None, index=frame.index, dtype=object)
    for key in keys:
        if key not in frame.columns:
            continue
        value = frame[key].where(frame[key].notna() & (frame[key].astype(str) != ""))
        value = value.where(value != "yes", key)
        result = result.where(result.notna(), value)
    return result


def _pois(osm: Any, path: Path) -> gpd.GeoDataFrame:
    raw = _parse(path, "POIs", lambda: osm.get_pois(custom_filter={k: True for k in POI_KEYS}))
    if raw is None or len(raw) == 0:
        return _frame(None, ["id", "name", "category"])
    raw = raw.copy()
    raw["category"] = _category(raw, POI_KEYS)
    raw = raw.loc[raw["category"].notna()]
    raw = _keep_types(raw, POINTS + POLYGONS, "pois")
    poly = raw.geom_type.isin(POLYGONS)
    if poly.any():
        raw = raw.copy()
        raw.loc[poly, raw.geometry.name] = raw.geometry[poly].representative_point()
        log.info("OSM pois: %d polygon POIs replaced by representative points", int(poly.sum()))
    return _frame(raw, ["id", "name", "category"])


def _landuse(osm: Any, path: Path) -> gpd.GeoDataFrame:
    parts = []
    for tag, call in (
        ("landuse", lambda: osm.get_landuse()),
        ("natural", lambda: osm.get_natural()),
        ("leisure", lambda: osm.get_data_by_custom_criteria(
            custom_filter={"leisure": True}, filter_type="keep", keep_nodes=False)),
    ):
        raw = _parse(path, f"{tag} areas", call)
        if raw is None or len(raw) == 0 or tag not in raw.columns:
            continue
        raw = raw.loc[raw[tag].notna()].copy()
        raw["class"] = raw[tag]
        raw["source"] = tag
        parts.append(_frame(_keep_types(raw, POLYGONS, f"{tag} areas"),
                            ["id", "name", "class", "source"]))
    if not parts:
        return _frame(None, ["id", "name", "class", "source"])
    return pd.concat(parts, ignore_index=True)


def _buildings(osm: Any, path: Path) -> gpd.GeoDataFrame:
    raw = _parse(path, "buildings", lambda: osm.get_buildings())
    if raw is not None and len(raw):
        raw = _keep_types(raw, POLYGONS, "buildings")
    return _frame(raw, ["id", "name", "building", "building:levels", "height"])


def _roads(osm: Any, path: Path) -> gpd.GeoDataFrame:
    raw = _parse(path, "roads", lambda: osm.get_network(network_type="all"))
    if raw is not None and len(raw):
        raw = _keep_types(raw.loc[raw["highway"].notna()], LINES, "roads").copy()
        raw["class"] = raw["highway"]
    return _frame(raw, ["id", "name", "class", "maxspeed", "lanes"])


def _write(gdf: gpd.GeoDataFrame, target: Path, layer: str) -> None:
    """Write one GeoPackage layer atomically (temporary sibling, then rename)."""
    with atomic_file(target) as tmp:
        tmp.unlink(missing_ok=True)
        for col in gdf.columns:
            if col != gdf.geometry.name and gdf[col].dtype == object:
                gdf[col] = gdf[col].astype("string")
        gdf.to_file(tmp, layer=layer, driver="GPKG", engine="pyogrio")


def prepare_osm(pbf_path: str | Path, out_dir: str | Path) -> dict[str, Path]:
    """Parse an .osm.pbf extract into pois / landuse / buildings / roads GeoPackages."""
    import pyrosm

    path = _check_pbf(Path(pbf_path))
    out_dir = Path(out_dir)
    osm = _parse(path, "file", lambda: pyrosm.OSM(str(path)))
    layers = {
        "pois": _pois(osm, path),
        "landuse": _landuse(osm, path),
        "buildings": _buildings(osm, path),
        "roads": _roads(osm, path),
    }
    written: dict[str, Path] = {}
    for name, gdf in layers.items():
        target = out_dir / f"{name}.gpkg"
        _write(gdf, target, name)
        log.info("OSM %s: %d features written to %s", name, len(gdf), target)
        written[name] = target
    return written


#: parsed layers of OSM extracts in this process: (path, size, mtime, layer) -> frame
_LAYERS: dict[tuple[str, int, int, str], gpd.GeoDataFrame] = {}
_READERS: dict[str, Callable[[Any, Path], gpd.GeoDataFrame]] = {
    "pois": _pois, "landuse": _landuse, "buildings": _buildings, "roads": _roads}


def read_osm_layer(pbf_path: str | Path, layer: str) -> gpd.GeoDataFrame:
    """One layer (pois, landuse, buildings or roads) of an .osm.pbf extract, parsed as
    `prepare_osm` would write it (EPSG:4326), so that a view can read the extract directly.
    Parsed once per process and file version."""
    import pyrosm

    path = _check_pbf(Path(pbf_path))
    if layer not in _READERS:
        raise DataError(f"{path}: no OSM layer {layer!r} (use one of {', '.join(_READERS)})")
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns, layer)
    if key not in _LAYERS:
        osm = _parse(path, "file", lambda: pyrosm.OSM(str(path)))
        _LAYERS[key] = _READERS[layer](osm, path)
        log.info("OSM %s: %d features read from %s", layer, len(_LAYERS[key]), path)
    return _LAYERS[key].copy()


def _plain(value: Any) -> Any:
    """Paths as strings, recursively (so the dict can be dumped to TOML / YAML)."""
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def osm_config_dict(layers: dict[str, str | Path], regions: dict[str, Any],
                    name: str = "osm", crs: str | None = None) -> dict[str, Any]:
    """A dataset config dict (`cookie.config.DatasetConfig` format) over the written layers.

    `regions` is the config's regions section, e.g. ``{"grid": {"size_m": 100, "area":
    layers["buildings"]}}`` or ``{"h3": {"resolution": 9, "area": ...}}``.
    """
    specs = {
        "pois": {"kind": "points", "class_column": "category"},
        "landuse": {"kind": "polygons", "class_column": "class"},
        "buildings": {"kind": "footprints"},
        "roads": {"kind": "lines", "class_column": "class"},
    }
    views = [{"name": view, "path": str(layers[view]), **spec}
             for view, spec in specs.items() if view in layers]
    if not views:
        raise DataError(f"no OSM layers to configure (expected some of {', '.join(specs)})")
    config: dict[str, Any] = {"name": name, "regions": _plain(regions), "views": views}
    if crs is not None:
        config["crs"] = crs
    return config
