"""Generated region units: square grid cells or H3 cells, indexed by ``region_id``."""

from __future__ import annotations

import logging
from pathlib import Path

import geopandas as gpd
import h3
import numpy as np
import pandas as pd
import shapely
from pyproj import CRS

from cookie.config import RegionsConfig
from cookie.constants import OSM_LAYER_OF_KIND, REGION_INDEX, is_osm_pbf
from cookie.errors import ConfigError, DataError
from cookie.sources.readers import metric_crs_for, read_vector, repair_geometries, to_crs

log = logging.getLogger(__name__)
#: most square cells a grid may have (a typo in size_m must not exhaust the memory)
MAX_GRID_CELLS = 5_000_000
WGS84 = CRS.from_epsg(4326)


def _read_area(path: Path, crs: str | None) -> gpd.GeoDataFrame:
    """The polygons of an area file (its own CRS, or ``crs`` when it has none); of an OSM
    extract, its buildings (cells without a building are left out, as in `cookie demo`)."""
    gdf = read_vector(path, layer=OSM_LAYER_OF_KIND["footprints"] if is_osm_pbf(path) else None,
                      crs=crs)
    if len(gdf) == 0:
        raise DataError(f"{path}: area layer is empty")
    kinds = set(gdf.geom_type.dropna())
    if not kinds <= {"Polygon", "MultiPolygon"}:
        raise DataError(f"{path}: area must be polygons (found {sorted(kinds)})")
    gdf = repair_geometries(gdf, path)
    if len(gdf) == 0:
        raise DataError(f"{path}: area layer has no non-empty polygons")
    return gdf


def regions_from_grid(rc: RegionsConfig, crs: str | None) -> gpd.GeoDataFrame:
    """Square cells of ``rc.grid.size_m`` metres over the area file's extent (keeping cells
    whose interior meets an area polygon) or over ``rc.grid.bounds`` (given in ``crs``).

    Cells start at the extent's upper-left corner; id ``g{row}_{col}``, row 0 at the top."""
    spec = rc.grid
    if spec is None:
        raise ConfigError("regions.grid is not set")
    area = None
    if spec.area is not None:
        area = _read_area(spec.area, rc.crs)
        target = CRS.from_user_input(crs) if crs else metric_crs_for(area)
        area = to_crs(area, target, spec.area)
        minx, miny, maxx, maxy = area.total_bounds
    elif spec.bounds is not None:
        if crs is None:
            raise ConfigError("regions.grid.bounds needs the dataset `crs` (a metric CRS)")
        target = CRS.from_user_input(crs)
        minx, miny, maxx, maxy = spec.bounds
    else:
        raise ConfigError("regions.grid needs `area` or `bounds`")
    if not target.is_projected:
        raise ConfigError(f"regions.grid: CRS {target.to_string()} is not metric; set `crs`")
    if maxx <= minx or maxy <= miny:
        raise ConfigError(f"regions.grid: empty extent {(minx, miny, maxx, maxy)}")
    size = spec.size_m
    eps = 1e-9 * max(abs(maxx), abs(maxy), 1.0)
    ncol = max(1, int(np.ceil((maxx - minx - eps) / size)))
    nrow = max(1, int(np.ceil((maxy - miny - eps) / size)))
    if nrow * ncol > MAX_GRID_CELLS:
        raise ConfigError(f"regions.grid: size_m {size:g} gives {nrow * ncol:.3g} cells over "
                          f"the extent, more than {MAX_GRID_CELLS:.0e}; use a larger size_m")
    rows, cols = np.divmod(np.arange(nrow * ncol), ncol)
    x0 = minx + cols * size
    y1 = maxy - rows * size
    cells = shapely.box(x0, y1 - size, x0 + size, y1)
    ids = np.char.add(np.char.add(np.char.add("g", rows.astype(str)), "_"), cols.astype(str))
    if area is not None:
        polys = area.geometry.to_numpy()
        ci, ai = shapely.STRtree(polys).query(cells, predicate="intersects")
        inner = shapely.relate_pattern(cells[ci], polys[ai], "T********")
        keep = np.zeros(len(cells), dtype=bool)
        keep[ci[inner]] = True
        cells, ids = cells[keep], ids[keep]
    log.info("grid: %d cells of %g m", len(cells), size)
    return gpd.GeoDataFrame({"geometry": cells}, index=pd.Index(ids, name=REGION_INDEX),
                            crs=target)


def _cell_polygons(cells: list[str]) -> np.ndarray:
    """Polygons (lng, lat) of H3 cells."""
    rings = [[(lng, lat) for lat, lng in h3.cell_to_boundary(c)] for c in cells]
    return np.array([shapely.Polygon(r) for r in rings], dtype=object)


def regions_from_h3(rc: RegionsConfig, crs: str | None) -> gpd.GeoDataFrame:
    """H3 cells at ``rc.h3.resolution`` covering the area file's polygons or ``rc.h3.bounds``
    (in ``crs``, or lon/lat when no crs is given): every cell overlapping the area is kept.
    Ids are H3 index strings; geometries are returned in EPSG:4326."""
    spec = rc.h3
    if spec is None:
        raise ConfigError("regions.h3 is not set")
    if spec.area is not None:
        area = to_crs(_read_area(spec.area, rc.crs), WGS84, spec.area)
        shape = shapely.union_all(area.geometry.to_numpy())
    elif spec.bounds is not None:
        shape = shapely.box(*spec.bounds)
        if crs is not None:
            shape = gpd.GeoSeries([shape], crs=crs).to_crs(WGS84).iloc[0]
    else:
        raise ConfigError("regions.h3 needs `area` or `bounds`")
    h3shape = h3.geo_to_h3shape(shape)
    try:
        cells = h3.h3shape_to_cells_experimental(h3shape, spec.resolution, contain="overlap")
    except (AttributeError, TypeError):  # pragma: no cover - older h3 4.x
        cells = h3.h3shape_to_cells(h3shape, spec.resolution)
    cells = sorted(set(cells))
    if not cells:
        raise DataError(f"{spec.area or 'regions.h3.bounds'}: no H3 cells at resolution "
                        f"{spec.resolution} cover the area")
    log.info("h3: %d cells at resolution %d", len(cells), spec.resolution)
    return gpd.GeoDataFrame({"geometry": _cell_polygons(cells)},
                            index=pd.Index(cells, name=REGION_INDEX), crs=WGS84)
