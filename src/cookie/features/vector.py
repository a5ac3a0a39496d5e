"""Vector-layer helpers shared by the points, polygons, lines and footprints featurizers:
reading and checking a layer, candidate (feature, region) pairs from an STRtree, class
ranking, clipped pairs, and areas of per-group unions that tolerate overlapping polygons."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from cookie.errors import DataError
from cookie.features.clip import HalfPlanes, clipped_areas, intersects_prepared, region_pairs
from cookie.features.rings import ragged_arange
from cookie.sources.readers import read_vector, repair_geometries, to_crs

log = logging.getLogger(__name__)

POLYGONAL = ("Polygon", "MultiPolygon")
LINEAR = ("LineString", "MultiLineString")
_DIMENSION = {POLYGONAL: 2, LINEAR: 1}
TYPE_NAMES = ["Point", "LineString", "LinearRing", "Polygon", "MultiPoint", "MultiLineString",
              "MultiPolygon", "GeometryCollection"]  # by shapely type id


# ---------------------------------------------------------------- shared vector helpers
def keep_dimension(geoms: np.ndarray, allowed: tuple[str, ...]) -> np.ndarray:
    """Replace geometry collections left by repairs with their parts of the allowed dimension."""
    types = shapely.get_type_id(geoms)
    ids = [shapely.GeometryType[t.upper()].value for t in allowed]
    odd = np.flatnonzero(~np.isin(types, ids))
    if not len(odd):
        return geoms
    dim = _DIMENSION[allowed]  # type: ignore[index]  # POLYGONAL or LINEAR
    parts, idx = shapely.get_parts(geoms[odd], return_index=True)
    parts, sub = shapely.get_parts(parts, return_index=True)
    idx = idx[sub]
    ok = shapely.get_dimensions(parts) == dim
    out = geoms.copy()
    out[odd] = shapely.from_wkt("GEOMETRYCOLLECTION EMPTY")
    if ok.any():
        uniq, dense = np.unique(idx[ok], return_inverse=True)
        make = shapely.multipolygons if dim == 2 else shapely.multilinestrings
        out[odd[uniq]] = make(parts[ok], indices=dense)
    return out


def single_parts(geoms: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Multi-part geometries split into their parts, and the row each part came from (a
    layer without multi-part geometries is returned as it is)."""
    multi = np.isin(shapely.get_type_id(geoms), [shapely.GeometryType.MULTIPOINT,
                                                   shapely.GeometryType.MULTILINESTRING,
                                                   shapely.GeometryType.MULTIPOLYGON,
                                                   shapely.GeometryType.GEOMETRYCOLLECTION])
    if not multi.any():
        return geoms, np.arange(len(geoms))
    return shapely.get_parts(geoms, return_index=True)


def read_layer(cfg: Any, regions: gpd.GeoDataFrame, allowed: tuple[str, ...] | None,
               columns: list[str] | None = None) -> gpd.GeoDataFrame:
    """Read a view's layer: non-empty, of the allowed geometry types, repaired, in the regions'
    CRS, with only the attribute ``columns`` (unset names, None or "", are skipped).
    ``allowed=None`` accepts any geometry type."""
    columns = [c for c in columns or [] if c]
    gdf = read_vector(cfg.path, cfg.layer, cfg.crs, columns)
    if len(gdf) == 0:
        raise DataError(f"{cfg.path}: layer is empty (view {cfg.name!r})")
    if allowed is not None:
        types = shapely.get_type_id(gdf.geometry.to_numpy())
        bad = sorted({TYPE_NAMES[t] for t in np.unique(types[types >= 0])} - set(allowed))
        if bad:
            raise DataError(
                f"{cfg.path}: {cfg.kind} view {cfg.name!r} needs {'/'.join(allowed)} geometries "
                f"(found {', '.join(bad)})"
            )
    gdf = repair_geometries(gdf, cfg.path)
    if allowed is not None and len(gdf):
        raw = gdf.geometry.to_numpy()
        geoms = keep_dimension(raw, allowed)
        if geoms is not raw:  # repairs left collections: keep their parts of the right kind
            gdf = gdf.set_geometry(gpd.GeoSeries(geoms, index=gdf.index, crs=gdf.crs))
            gdf = gdf.loc[~shapely.is_empty(geoms)]
    if len(gdf) == 0:
        raise DataError(f"{cfg.path}: layer has no non-empty geometries (view {cfg.name!r})")
    return to_crs(gdf, regions.crs, cfg.path)


def assign_first(points: np.ndarray, region_geoms: np.ndarray) -> np.ndarray:
    """Region index of each point (-1 outside all regions); a point on a shared edge goes to
    the region listed first, so every point is counted once."""
    pi, ri = shapely.STRtree(region_geoms).query(points, predicate="intersects")
    out = np.full(len(points), -1, dtype=np.int64)
    if len(pi):
        order = np.lexsort((ri, pi))
        pi, ri = pi[order], ri[order]
        first = np.r_[True, pi[1:] != pi[:-1]]
        out[pi[first]] = ri[first]
    return out


def _label(value: object) -> str:
    if isinstance(value, float | np.floating) and float(value).is_integer():
        return str(int(value))
    return str(value)


@dataclass(frozen=True)
class ClassVocabulary:
    """The classes of a view's class column that get their own feature, in column order, and
    the name of the column that collects every other class and missing values (None when the
    layer has no such item). Computed once from the whole layer (`class_vocabulary`), so that
    every tile, and every subset of regions, gets the same columns."""

    top: tuple[str, ...]
    other: str | None = None

    @property
    def names(self) -> list[str]:
        return [*self.top, *([self.other] if self.other else [])]

    def codes(self, values: pd.Series | np.ndarray) -> np.ndarray:
        """Column index of each value (the ``other`` column for the rest)."""
        values = pd.Series(np.asarray(values, dtype=object))
        uniq = values.unique()
        labels = pd.Series([_label(v) if pd.notna(v) else None for v in uniq], index=uniq,
                           dtype=object)
        codes = pd.Index(list(self.top)).get_indexer(values.map(labels))
        if (codes < 0).any():
            if self.other is None:
                raise ValueError("a class outside the vocabulary and no 'other' column")
            codes[codes < 0] = len(self.top)
        return codes.astype(np.int64)


def class_vocabulary(values: pd.Series | np.ndarray, weights: np.ndarray,
                     max_classes: int) -> ClassVocabulary:
    """The ``max_classes`` classes of largest total weight (ties by name); the rest, and
    missing values, go to ``other`` (named ``_other`` if ``other`` is itself a top class)."""
    values = pd.Series(np.asarray(values, dtype=object))
    uniq = values.unique()
    labels = pd.Series([_label(v) if pd.notna(v) else None for v in uniq], index=uniq,
                       dtype=object)
    lab = values.map(labels)
    totals = pd.Series(np.asarray(weights, dtype=float)).groupby(lab.to_numpy()).sum()
    ranked = sorted(totals.index, key=lambda k: (-totals[k], k))
    top = tuple(ranked[:max_classes])
    rest = len(ranked) > len(top) or bool(lab.isna().any())
    return ClassVocabulary(top, ("other" if "other" not in top else "_other") if rest else None)


def overlapping_pairs(geoms: np.ndarray, features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pairs ``a < b`` among ``features`` (indices into ``geoms``) whose interiors overlap."""
    feats = np.unique(features)
    a, b = shapely.STRtree(geoms[feats]).query(geoms[feats])  # bounding boxes meet
    a, b = feats[a[a < b]], feats[b[a < b]]
    meet = intersects_prepared(geoms, a, geoms[b])  # most boxes meet without the shapes
    a, b = a[meet], b[meet]
    overlap = shapely.relate_pattern(geoms[a], geoms[b], "T********")
    return a[overlap], b[overlap]


def union_area_by_group(geoms: np.ndarray, fi: np.ndarray, ri: np.ndarray, area: np.ndarray,
                        region_geoms: np.ndarray, groups: np.ndarray, n_groups: int,
                        overlaps: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray:
    """Area of the union of the clipped pairs (``geoms[fi[k]]`` inside ``region_geoms[ri[k]]``,
    of area ``area[k]``) per group. Areas are summed, except in the few groups holding two
    features whose interiors overlap (``overlaps``, default `overlapping_pairs`), where the
    clipped pieces are unioned."""
    total = np.bincount(groups, weights=area, minlength=n_groups).astype(float)
    overlaps = overlaps if overlaps is not None else overlapping_pairs(geoms, fi)
    for g in groups_with_overlap(fi, groups, n_groups, overlaps):
        k = np.flatnonzero(groups == g)
        pieces = shapely.intersection(geoms[fi[k]], region_geoms[ri[k]])
        total[g] = shapely.area(shapely.union_all(pieces))
    return total


def groups_with_overlap(fi: np.ndarray, groups: np.ndarray, n_groups: int,
                        overlaps: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    """The groups (sorted) in which both features of an overlapping pair have a piece, given
    the group ``groups[k]`` of each piece of feature ``fi[k]``."""
    a, b = overlaps
    if not len(a):
        return np.zeros(0, dtype=np.int64)
    order = np.argsort(fi, kind="stable")
    lo = np.searchsorted(fi[order], a, side="left")
    count = np.searchsorted(fi[order], a, side="right") - lo
    entries = order[ragged_arange(lo, count)]
    partner = np.repeat(b, count).astype(np.int64)
    both = np.isin(partner * n_groups + groups[entries],
                   fi.astype(np.int64) * n_groups + groups)
    return np.unique(groups[entries[both]])


def region_areas(regions: gpd.GeoDataFrame) -> np.ndarray:
    """Region areas in m2 (regions are in a metric CRS)."""
    return shapely.area(regions.geometry.to_numpy())


def safe_div(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """num / den broadcast over rows, 0 where den is 0."""
    num = np.asarray(num, dtype=float)
    den = np.asarray(den, dtype=float)
    if num.ndim == 2 and den.ndim == 1:
        den = den[:, None]
    den = np.broadcast_to(den, num.shape)
    return np.divide(num, den, out=np.zeros_like(num), where=den > 0)


def log_empty(name: str, mask: np.ndarray) -> None:
    missing = int((~mask).sum())
    if missing:
        log.info("view %r: %d of %d regions have no data (zero vector + mask)", name, missing,
                 len(mask))


# ---------------------------------------------------------------- the featurizer
def clipped_pairs(geoms: np.ndarray, region_geoms: np.ndarray, planes: HalfPlanes
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(feature index, region index, area inside the region) of every pair with positive area."""
    fi, ri = region_pairs(geoms, region_geoms)
    area = clipped_areas(geoms, fi, region_geoms, ri, planes)
    keep = area > 0
    return fi[keep], ri[keep], area[keep]
