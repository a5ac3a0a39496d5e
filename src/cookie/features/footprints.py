"""`footprints` views (buildings): a footprint image per region plus morphology statistics.

A building belongs to every region it overlaps (positive intersection area). Area statistics
(count, total and mean area, coverage) use the building clipped to the region; shape statistics
(perimeter, compactness, orientation) use the whole building, since clipping adds artificial
edges.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import rasterio
import shapely
from rasterio.features import rasterize
from rasterio.transform import Affine

from cookie.config import FootprintsView
from cookie.features.polygons import (
    POLYGONAL,
    log_empty,
    polygon_pieces,
    read_layer,
    region_areas,
    safe_div,
    union_area_by_group,
)
from cookie.views import ViewData

STAT_NAMES = [
    "count",              # log1p
    "total_area_m2",      # log1p
    "mean_area_m2",       # log1p
    "coverage",           # share of the region under buildings, [0, 1]
    "mean_perimeter_m",   # log1p
    "mean_compactness",   # 4 pi A / P^2, 1 for a disc, pi/4 for a square
    "orientation_std_deg",  # circular std of main axis angles mod 90 degrees
]
MAX_SUPERSAMPLE = 4


def geojson_polygons(geoms: np.ndarray) -> list[dict]:
    """GeoJSON-like MultiPolygon mappings of (Multi)Polygons, built from one ragged coordinate
    array (several times faster than ``__geo_interface__`` on each geometry)."""
    if not len(geoms):
        return []
    _, coords, offsets = shapely.to_ragged_array(geoms)
    if len(offsets) == 2:  # only Polygons
        offsets = (*offsets, np.arange(len(geoms) + 1))
    ring, poly, multi = (o.tolist() for o in offsets)
    return [
        {"type": "MultiPolygon",
         "coordinates": [[coords[ring[r]:ring[r + 1]] for r in range(poly[p], poly[p + 1])]
                         for p in range(multi[m], multi[m + 1])]}
        for m in range(len(multi) - 1)
    ]


def main_axis_angle(geoms: np.ndarray) -> np.ndarray:
    """Angle (radians, in [0, pi/2)) of the sides of each geometry's minimum rotated rectangle.

    Both sides of a rectangle give the same angle modulo 90 degrees."""
    rect = shapely.oriented_envelope(geoms)
    coords, idx = shapely.get_coordinates(rect, return_index=True)
    own = np.arange(len(geoms))
    start = np.searchsorted(idx, own)
    nxt = np.minimum(start + 1, len(coords) - 1)
    d = np.where((idx[nxt] == own)[:, None], coords[nxt] - coords[start], 0.0)
    return np.mod(np.arctan2(d[:, 1], d[:, 0]), np.pi / 2)


def circular_std_mod90(angle: np.ndarray, groups: np.ndarray, n: int) -> np.ndarray:
    """Circular standard deviation (degrees) of angles with period 90 degrees, per group."""
    count = np.bincount(groups, minlength=n)
    c = np.bincount(groups, weights=np.cos(4 * angle), minlength=n)
    s = np.bincount(groups, weights=np.sin(4 * angle), minlength=n)
    r = np.clip(safe_div(np.hypot(c, s), count), 1e-6, 1.0)
    std = np.degrees(np.sqrt(-2.0 * np.log(r)) / 4.0)
    return np.where(count > 0, std, 0.0)


def footprint_images(pieces: np.ndarray, groups: np.ndarray, region_geoms: np.ndarray,
                     size: int) -> np.ndarray:
    """(N, 1, size, size) fraction of each pixel covered by the region's (clipped) pieces.

    Each region's image spans its bounding square (centered, side = max(width, height)).
    Coverage fractions come from a binary rasterization supersampled up to 4x per axis;
    pixels outside the region stay 0 because the pieces are clipped to it."""
    n = len(region_geoms)
    out = np.zeros((n, 1, size, size), dtype=np.float32)
    k = max(1, min(MAX_SUPERSAMPLE, 256 // size))
    fine = size * k
    bounds = shapely.bounds(region_geoms)
    cx, cy = (bounds[:, 0] + bounds[:, 2]) / 2, (bounds[:, 1] + bounds[:, 3]) / 2
    side = np.maximum(bounds[:, 2] - bounds[:, 0], bounds[:, 3] - bounds[:, 1])
    order = np.argsort(groups, kind="stable")
    shapes = geojson_polygons(pieces[order])
    g_sorted = groups[order]
    present = np.unique(g_sorted)
    lo = np.searchsorted(g_sorted, present, side="left")
    hi = np.searchsorted(g_sorted, present, side="right")
    with rasterio.Env():  # one GDAL environment for all calls
        for r, i, j in zip(present, lo, hi, strict=True):  # one call per region with buildings
            if side[r] <= 0:
                continue
            res = side[r] / fine
            transform = Affine(res, 0.0, cx[r] - side[r] / 2, 0.0, -res, cy[r] + side[r] / 2)
            img = rasterize(shapes[i:j], out_shape=(fine, fine), transform=transform,
                            fill=0, default_value=1, dtype="uint8", all_touched=False)
            out[r, 0] = img.reshape(size, k, size, k).sum(axis=(1, 3), dtype=np.uint16) / k**2
    return out


def load_layer(cfg: FootprintsView, regions: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """The view's layer, checked and repaired, in the regions' CRS."""
    return read_layer(cfg, regions, POLYGONAL)


def featurize_footprints(cfg: FootprintsView, regions: gpd.GeoDataFrame) -> ViewData:
    """values: footprint images (N, 1, S, S) with aux = morphology stats (``STAT_NAMES``), or
    the stats themselves (N, 7) when ``cfg.image`` is False. Regions without buildings: zeros
    and mask False."""
    return featurize_layer(cfg, regions, load_layer(cfg, regions))


def featurize_layer(cfg: FootprintsView, regions: gpd.GeoDataFrame, gdf: gpd.GeoDataFrame,
                    vocabulary: None = None) -> ViewData:
    """`featurize_footprints` on an in-memory layer (from `load_layer`, or a part of it that
    holds every building meeting the regions); footprints have no class vocabulary."""
    geoms = gdf.geometry.to_numpy()
    rgeoms = regions.geometry.to_numpy()
    n = len(rgeoms)
    rarea = region_areas(regions)

    bi, ri, pieces, parea = polygon_pieces(geoms, rgeoms)

    count = np.bincount(ri, minlength=n).astype(float)
    total = np.bincount(ri, weights=parea, minlength=n)
    coverage = np.clip(safe_div(union_area_by_group(pieces, ri, n), rarea), 0.0, 1.0)
    perimeter = shapely.length(geoms)
    compact = safe_div(4 * np.pi * shapely.area(geoms), perimeter**2)
    angle = main_axis_angle(geoms)
    stats = np.stack([
        np.log1p(count),
        np.log1p(total),
        np.log1p(safe_div(total, count)),
        coverage,
        np.log1p(safe_div(np.bincount(ri, weights=perimeter[bi], minlength=n), count)),
        safe_div(np.bincount(ri, weights=compact[bi], minlength=n), count),
        circular_std_mod90(angle[bi], ri, n),
    ], axis=1)
    mask = count > 0
    log_empty(cfg.name, mask)
    if not cfg.image:
        return ViewData(cfg.name, "footprints", regions.index, stats, mask, list(STAT_NAMES))
    s = cfg.image_size
    images = footprint_images(pieces, ri, rgeoms, s)
    names = [f"px_{i}_{j}" for i in range(s) for j in range(s)]
    return ViewData(cfg.name, "footprints", regions.index, images, mask, names,
                    aux=stats, aux_names=list(STAT_NAMES))
