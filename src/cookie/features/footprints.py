"""`footprints` views (buildings): a footprint image per region plus morphology statistics.

A building belongs to every region it overlaps (positive intersection area). Area statistics
(count, total and mean area, coverage) use the building clipped to the region; shape statistics
(perimeter, compactness, orientation) use the whole building, since clipping adds artificial
edges. A building's orientation is the length-weighted circular mean, modulo 90 degrees, of its
edges' directions. The images come from `cookie.features.rasterize` (4x4 samples per pixel).
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import shapely

from cookie.config import FootprintsView
from cookie.features.clip import region_halfplanes
from cookie.features.rasterize import Frames, PolygonEdges, polygon_edges, sample_counts
from cookie.features.vector import (
    POLYGONAL,
    clipped_pairs,
    log_empty,
    read_layer,
    region_areas,
    safe_div,
    union_area_by_group,
)
from cookie.features.view import ViewData

STAT_NAMES = [
    "count",              # log1p
    "total_area_m2",      # log1p
    "mean_area_m2",       # log1p
    "coverage",           # share of the region under buildings, [0, 1]
    "mean_perimeter_m",   # log1p
    "mean_compactness",   # 4 pi A / P^2, 1 for a disc, pi/4 for a square
    "orientation_std_deg",  # circular std of main axis angles (`main_axis_angle`) mod 90
]
MAX_SUPERSAMPLE = 4


def main_axis_angle(edges: PolygonEdges, n: int) -> np.ndarray:
    """Main orientation (radians, in (-pi/4, pi/4]) of each of the ``n`` geometries: the
    length-weighted circular mean, with period 90 degrees, of the directions of its outline's
    edges (the side direction for a rectangle)."""
    geom = np.repeat(np.arange(n), edges.count)
    dx, dy = edges.x1 - edges.x0, edges.y1 - edges.y0
    length2 = dx * dx + dy * dy
    with np.errstate(invalid="ignore", divide="ignore"):  # zero-length edges weigh nothing
        cos2, sin2 = (dx * dx - dy * dy) / length2, 2 * dx * dy / length2  # of twice the angle
    length = np.sqrt(length2)
    c = np.bincount(geom, weights=np.nan_to_num(length * (cos2 * cos2 - sin2 * sin2)), minlength=n)
    s = np.bincount(geom, weights=np.nan_to_num(length * 2 * cos2 * sin2), minlength=n)
    return np.arctan2(s, c) / 4


def circular_std_mod90(angle: np.ndarray, groups: np.ndarray, n: int) -> np.ndarray:
    """Circular standard deviation (degrees) of angles with period 90 degrees, per group."""
    count = np.bincount(groups, minlength=n)
    c = np.bincount(groups, weights=np.cos(4 * angle), minlength=n)
    s = np.bincount(groups, weights=np.sin(4 * angle), minlength=n)
    r = np.clip(safe_div(np.hypot(c, s), count), 1e-6, 1.0)
    std = np.degrees(np.sqrt(-2.0 * np.log(r)) / 4.0)
    return np.where(count > 0, std, 0.0)


def footprint_images(edges: PolygonEdges, fi: np.ndarray, ri: np.ndarray,
                     region_geoms: np.ndarray, size: int) -> np.ndarray:
    """(N, 1, size, size) fraction of each pixel of region ``r`` covered by the footprints
    ``fi[k]`` with ``ri[k] == r`` (``edges`` of all footprints) and by the region itself.

    Each region's image spans its bounding square (centred, side = max(width, height)).
    Coverage fractions count the covered sample points of a grid supersampled up to 4x per
    axis; samples outside the region are masked out, so the footprints are clipped to it."""
    k = max(1, min(MAX_SUPERSAMPLE, 256 // size))
    bounds = shapely.bounds(region_geoms)
    side = np.maximum(bounds[:, 2] - bounds[:, 0], bounds[:, 3] - bounds[:, 1])
    frames = Frames(left=(bounds[:, 0] + bounds[:, 2] - side) / 2,
                    top=(bounds[:, 1] + bounds[:, 3] + side) / 2,
                    res=np.where(side > 0, side, 1.0) / (size * k), samples=size * k)
    partial = shapely.area(region_geoms) < side**2 * (1 - 1e-9)  # region smaller than its square
    window = polygon_edges(np.where(partial, region_geoms, shapely.Polygon()))
    keep = side[ri] > 0
    counts = sample_counts(edges, fi[keep], ri[keep], frames, k, window)
    return (counts / k**2).astype(np.float32)[:, None]


def morphology_stats(geoms: np.ndarray, edges: PolygonEdges, bi: np.ndarray, ri: np.ndarray,
                     parea: np.ndarray, region_geoms: np.ndarray,
                     region_area: np.ndarray) -> np.ndarray:
    """(N, 7) statistics `STAT_NAMES` of the buildings ``bi[k]`` meeting region ``ri[k]`` with
    area ``parea[k]`` inside it."""
    n = len(region_geoms)
    count = np.bincount(ri, minlength=n).astype(float)
    total = np.bincount(ri, weights=parea, minlength=n)
    union = union_area_by_group(geoms, bi, ri, parea, region_geoms, ri, n)
    perimeter = shapely.length(geoms)
    compact = safe_div(4 * np.pi * shapely.area(geoms), perimeter**2)
    angle = main_axis_angle(edges, len(geoms))
    return np.stack([
        np.log1p(count),
        np.log1p(total),
        np.log1p(safe_div(total, count)),
        np.clip(safe_div(union, region_area), 0.0, 1.0),
        np.log1p(safe_div(np.bincount(ri, weights=perimeter[bi], minlength=n), count)),
        safe_div(np.bincount(ri, weights=compact[bi], minlength=n), count),
        circular_std_mod90(angle[bi], ri, n),
    ], axis=1)


def load_layer(cfg: FootprintsView, regions: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """The view's layer, checked and repaired, in the regions' CRS."""
    return read_layer(cfg, regions, POLYGONAL)


def featurize_footprints(cfg: FootprintsView, regions: gpd.GeoDataFrame) -> ViewData:
    """values: footprint images (N, 1, S, S) with aux = morphology stats (``STAT_NAMES``), or
    the stats themselves (N, 7) when ``cfg.image`` is False. Regions without buildings: zeros
    and mask False."""
    return featurize_layer(cfg, regions, load_layer(cfg, regions))


def layer_vocabulary(cfg: FootprintsView, gdf: gpd.GeoDataFrame) -> None:
    """Footprints have no class vocabulary (the `TiledFeaturizer` protocol asks for one)."""
    return None


def featurize_layer(cfg: FootprintsView, regions: gpd.GeoDataFrame, gdf: gpd.GeoDataFrame,
                    vocabulary: None = None) -> ViewData:
    """`featurize_footprints` on an in-memory layer (from `load_layer`, or a part of it that
    holds every building meeting the regions); footprints have no class vocabulary."""
    geoms = gdf.geometry.to_numpy()
    rgeoms = regions.geometry.to_numpy()

    bi, ri, parea = clipped_pairs(geoms, rgeoms, region_halfplanes(rgeoms))
    edges = polygon_edges(geoms)
    stats = morphology_stats(geoms, edges, bi, ri, parea, rgeoms, region_areas(regions))
    images = footprint_images(edges, bi, ri, rgeoms, cfg.image_size) if cfg.image else None
    mask = stats[:, 0] > 0
    log_empty(cfg.name, mask)
    if images is None:
        return ViewData(cfg.name, "footprints", regions.index, stats, mask, list(STAT_NAMES))
    s = cfg.image_size
    names = [f"px_{i}_{j}" for i in range(s) for j in range(s)]
    return ViewData(cfg.name, "footprints", regions.index, images, mask, names,
                    aux=stats, aux_names=list(STAT_NAMES))
