"""Reading an embedding: similar regions (cosine nearest neighbours) and urban types (k-means
clusters described by the raw view features that set them apart).

Both work on an embeddings frame indexed by region id (``CookieEmbedder.transform`` or
``cookie.io.outputs.read_embeddings``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import geopandas as gpd
import numpy as np
import pandas as pd

from cookie.errors import DataError

if TYPE_CHECKING:
    from cookie.dataset.dataset import RegionDataset

#: the k-means candidates of `urban_types` (the one with the best silhouette is kept)
TYPE_RANGE = (4, 8)
TOP_FEATURES = 2


def _unit_rows(embeddings: pd.DataFrame) -> np.ndarray:
    X = np.asarray(embeddings, dtype=float)
    norm = np.linalg.norm(X, axis=1, keepdims=True)
    return X / np.where(norm > 0, norm, 1.0)


def find_region(index: pd.Index, region_id: object) -> object:
    """The id of ``index`` that ``region_id`` names: the id itself, or its text form ('7' for
    7, as typed on a command line); a DataError naming it when there is none."""
    if region_id in index:
        return region_id
    text = str(region_id)
    for candidate in index:
        if str(candidate) == text:
            return candidate
    raise DataError(f"region {region_id!r} is not in the embeddings ({len(index)} regions, "
                    f"e.g. {', '.join(repr(_plain(i)) for i in index[:3])})")


def _plain(value: object) -> object:
    return value.item() if isinstance(value, np.generic) else value


def nearest_neighbours(embeddings: pd.DataFrame, k: int = 5) -> pd.DataFrame:
    """Each region's ``k`` most similar other regions by cosine similarity: a frame indexed
    by region id with columns ``neighbour_0..k-1`` (ids, most similar first) and
    ``similarity_0..k-1``. Ties go to the region listed first."""
    n = len(embeddings)
    k = max(0, min(k, n - 1))
    U = _unit_rows(embeddings)
    S = U @ U.T
    np.fill_diagonal(S, -np.inf)
    order = np.argsort(-S, axis=1, kind="stable")[:, :k]
    ids = embeddings.index.to_numpy()
    out = {}
    for j in range(k):
        out[f"neighbour_{j}"] = ids[order[:, j]]
    for j in range(k):
        out[f"similarity_{j}"] = S[np.arange(n), order[:, j]]
    return pd.DataFrame(out, index=embeddings.index)


def similar_regions(embeddings: pd.DataFrame, region_id: object, k: int = 10,
                    regions: gpd.GeoDataFrame | None = None) -> pd.DataFrame:
    """The ``k`` regions whose embeddings are most similar (cosine) to ``region_id``'s.

    Returns a frame with columns ``rank`` (1 = most similar), ``region_id``, ``similarity``
    and, when ``regions`` (a GeoDataFrame indexed by region id) is given, ``distance_km``
    between region centroids. An unknown id is a DataError naming it.
    """
    if not isinstance(embeddings, pd.DataFrame) or embeddings.empty:
        raise DataError("similar_regions: embeddings must be a non-empty frame indexed by "
                        "region id")
    if k < 1:
        raise DataError(f"similar_regions: k must be at least 1 (got {k})")
    query = find_region(embeddings.index, region_id)
    U = _unit_rows(embeddings)
    pos = embeddings.index.get_loc(query)
    sims = U @ U[pos]
    sims[pos] = -np.inf
    order = np.argsort(-sims, kind="stable")[:min(k, len(embeddings) - 1)]
    out = pd.DataFrame({"rank": np.arange(1, len(order) + 1),
                        "region_id": embeddings.index.to_numpy()[order],
                        "similarity": sims[order]})
    if regions is not None:
        geo = regions.geometry
        if geo.crs is not None and geo.crs.is_geographic:
            geo = geo.to_crs(geo.estimate_utm_crs())
        c = geo.centroid
        here = c.loc[query]
        there = c.reindex(out["region_id"])
        out["distance_km"] = there.distance(here).to_numpy() / 1000.0
    return out


# ---------------------------------------------------------------- urban types
@dataclass
class UrbanTypes:
    """k-means types of the regions. ``labels`` (region id -> type 0..k-1), ``k``, the
    silhouette of each candidate k, and per type its size and top features per view."""

    labels: pd.Series
    k: int
    silhouettes: dict[int, float]
    sizes: dict[int, int]
    top_features: dict[int, dict[str, list[str]]] = field(default_factory=dict)

    def describe(self, t: int, max_chars: int = 90) -> str:
        """'pois: restaurant, cafe; roads: primary' for type ``t``."""
        parts = [f"{view}: {', '.join(names)}" for view, names in self.top_features[t].items()
                 if names]
        text = "; ".join(parts) or "no distinctive feature"
        return text if len(text) <= max_chars else text[:max_chars - 1] + "…"


def _standardized(X: np.ndarray) -> np.ndarray:
    sd = X.std(axis=0)
    return (X - X.mean(axis=0)) / np.where(sd > 0, sd, 1.0)


def readable_feature(name: str) -> str:
    """'count_restaurant' -> 'restaurant count', 'length_primary_km_per_km2' -> 'primary
    length'."""
    if name.startswith("length_") and name.endswith("_km_per_km2"):
        name = "length_" + name[len("length_"):-len("_km_per_km2")]
    for prefix, word in (("count_", "count"), ("share_", "share"), ("length_", "length"),
                         ("area_", "area"), ("density_", "density")):
        if name.startswith(prefix) and len(name) > len(prefix):
            return f"{name[len(prefix):]} {word}".replace("_", " ")
    return name.replace("_", " ")


def urban_types(embeddings: pd.DataFrame, features: dict[str, pd.DataFrame] | None = None,
                k: int | None = None, seed: int = 0, top: int = TOP_FEATURES) -> UrbanTypes:
    """Cluster the standardized embeddings with k-means into urban types.

    ``k`` given: that many types; else the k of `TYPE_RANGE` (4..8, fewer for tiny inputs)
    with the best silhouette score (a fixed rule, no label involved). Each type is described,
    per view of ``features`` (view name -> raw features indexed by region id), by the
    ``top`` features whose standardized mean over the type's regions is highest (and above 0,
    i.e. above the average region).
    """
    from sklearn.cluster import KMeans
    from sklearn.metrics import silhouette_score

    Z = _standardized(np.asarray(embeddings, dtype=float))
    n = len(Z)
    if n < 3:
        raise DataError(f"urban types need at least 3 regions with an embedding, got {n}")
    silhouettes: dict[int, float] = {}
    fits = {}
    candidates = [k] if k is not None else list(range(TYPE_RANGE[0],
                                                       min(TYPE_RANGE[1], n - 1) + 1)) or [2]
    for kk in candidates:
        km = KMeans(n_clusters=kk, n_init=10, random_state=seed).fit(Z)
        fits[kk] = km.labels_
        if len(set(km.labels_)) > 1:
            silhouettes[kk] = float(silhouette_score(Z, km.labels_, random_state=seed))
    best = max(silhouettes, key=lambda kk: (silhouettes[kk], -kk)) if silhouettes else \
        candidates[0]
    raw = fits[best]
    # types numbered by size (type 1 is the largest)
    order = pd.Series(raw).value_counts().index.tolist()
    relabel = {old: new for new, old in enumerate(order)}
    labels = pd.Series([relabel[v] for v in raw], index=embeddings.index, name="type")
    sizes = labels.value_counts().sort_index().to_dict()
    result = UrbanTypes(labels, best, silhouettes, {int(t): int(s) for t, s in sizes.items()})
    for t in sizes:
        result.top_features[int(t)] = {}
    for view, frame in (features or {}).items():
        frame = frame.reindex(embeddings.index).astype(float).fillna(0.0)
        keep = frame.columns[frame.std() > 0]
        if not len(keep):
            continue
        z = pd.DataFrame(_standardized(frame[keep].to_numpy()), index=frame.index,
                         columns=keep)
        means = z.groupby(labels).mean()
        for t in sizes:
            row = means.loc[t].sort_values(ascending=False, kind="stable")
            row = row[row > 0]
            result.top_features[int(t)][view] = [readable_feature(str(c))
                                                 for c in row.index[:top]]
    return result


def view_features(dataset: RegionDataset) -> dict[str, pd.DataFrame]:
    """The raw features of every view of a `RegionDataset` (image views: their statistics)."""
    return {name: view.to_frame() for name, view in dataset.views.items()}
