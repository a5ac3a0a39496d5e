"""Region units: a polygon file, a square grid or H3 cells; indexed by region id."""

from __future__ import annotations

import logging

import geopandas as gpd
import shapely
from pyproj import CRS

from cookie.config import DatasetConfig, RegionsConfig
from cookie.constants import REGION_INDEX
from cookie.errors import ConfigError, DataError
from cookie.sources.readers import (
    check_unique_ids,
    metric_crs_for,
    parse_crs,
    plain_scalar,
    read_vector,
    repair_geometries,
    require_columns,
    to_crs,
)

log = logging.getLogger(__name__)


def regions_from_file(cfg: RegionsConfig) -> gpd.GeoDataFrame:
    assert cfg.path is not None and cfg.id_column is not None  # the config checks both
    gdf = read_vector(cfg.path, cfg.layer, cfg.crs, id_column=cfg.id_column)
    require_columns(gdf, [cfg.id_column], cfg.path)
    if gdf[cfg.id_column].isna().any():
        raise DataError(f"{cfg.path}: column {cfg.id_column!r} has missing region ids")
    check_unique_ids(gdf[cfg.id_column], cfg.path, cfg.id_column)
    kinds = set(gdf.geom_type.dropna())
    if not kinds <= {"Polygon", "MultiPolygon"}:
        raise DataError(f"{cfg.path}: regions must be polygons (found {sorted(kinds)})")
    gdf = repair_geometries(gdf, cfg.path)
    mixed = (gdf.geom_type == "GeometryCollection").to_numpy()
    if mixed.any():  # a repaired spike: keep the area, drop the collapsed lines
        gdf = gdf.copy()
        gdf.loc[mixed, gdf.geometry.name] = [_area_part(g) for g in gdf.geometry[mixed]]
    collapsed = ~gdf.geom_type.isin(["Polygon", "MultiPolygon"])
    if collapsed.any():  # make_valid of a zero-area sliver gives lines or points
        first = gdf.loc[collapsed].iloc[0]
        raise DataError(f"{cfg.path}: region {plain_scalar(first[cfg.id_column])!r} is an "
                        f"invalid polygon whose repair is a {first.geometry.geom_type}, not an "
                        "area (a zero-area sliver?); fix or remove it")
    return gdf.set_index(cfg.id_column).rename_axis(REGION_INDEX)


def _area_part(geom: shapely.Geometry) -> shapely.Geometry:
    """The polygonal parts of a geometry collection (the collection itself when none)."""
    parts = [g for g in shapely.get_parts(geom) if g.geom_type in ("Polygon", "MultiPolygon")]
    return shapely.union_all(parts) if parts else geom


def dataset_crs(cfg: DatasetConfig) -> CRS | None:
    """The config's `crs`, which must be a projected CRS in metres (areas, densities and grid
    sizes are computed in it); None when the config leaves it to the local UTM zone."""
    if cfg.crs is None:
        return None
    crs = parse_crs(cfg.crs, cfg.source or "config")
    unit = crs.axis_info[0].unit_name if crs.axis_info else ""
    if not crs.is_projected or unit not in ("metre", "meter"):
        raise ConfigError(f"{cfg.source or 'config'}: crs {cfg.crs!r} is not a projected CRS "
                          "in metres (use e.g. the local UTM zone, or leave `crs` out)")
    return crs


def load_regions(cfg: DatasetConfig) -> gpd.GeoDataFrame:
    """The dataset's regions in its metric CRS, indexed by `region_id` (ids preserved)."""
    rc = cfg.regions
    crs = dataset_crs(cfg)
    if rc.path is not None:
        gdf = regions_from_file(rc)
    else:
        from cookie.sources.grids import regions_from_grid, regions_from_h3

        make = regions_from_grid if rc.grid is not None else regions_from_h3
        gdf = make(rc, cfg.crs)
    if len(gdf) == 0:
        raise DataError(f"{rc.path or 'regions'}: no regions")
    crs = crs or metric_crs_for(gdf)
    return to_crs(gdf, crs, rc.path or "regions")
