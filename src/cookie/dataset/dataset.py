"""A featurized dataset: regions, views and labels, built from a config (with a feature cache)."""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd

from cookie.config import DatasetConfig, load_config
from cookie.errors import DataError
from cookie.features import featurize_all
from cookie.features.view import ViewData
from cookie.io.outputs import data_files, sha256_file
from cookie.sources.labels import load_labels
from cookie.sources.regions import load_regions

log = logging.getLogger(__name__)


@dataclass
class RegionDataset:
    """Regions (GeoDataFrame indexed by region id, metric CRS), views and labels."""

    config: DatasetConfig
    regions: gpd.GeoDataFrame
    views: dict[str, ViewData]
    labels: pd.DataFrame = field(default_factory=pd.DataFrame)

    @property
    def region_ids(self) -> pd.Index:
        return self.regions.index

    @property
    def view_names(self) -> list[str]:
        return list(self.views)

    def select_views(self, names: list[str]) -> RegionDataset:
        missing = [n for n in names if n not in self.views]
        if missing:
            raise DataError(f"no view named {missing[0]!r} (views: {', '.join(self.views)})")
        return RegionDataset(self.config, self.regions, {n: self.views[n] for n in names},
                             self.labels)


def _files_signature(view_cfg: Any) -> list:
    """Path and content hash of every file a view reads, sidecars included (cache key input)."""
    return [[str(p), sha256_file(p)] for p in data_files(view_cfg)]


def cache_key(cfg: DatasetConfig, view_cfg: Any, regions: gpd.GeoDataFrame) -> str:
    payload = {
        "view": view_cfg.model_dump(mode="json", exclude={"augment", "encoder"}),
        "files": _files_signature(view_cfg),
        "regions": hashlib.sha256(
            pd.util.hash_pandas_object(pd.Series(regions.geometry.to_wkb(), index=regions.index))
            .to_numpy().tobytes() + str(list(regions.index)).encode()
        ).hexdigest(),
        "crs": regions.crs.to_string(),
        # 2: class vocabularies from the whole layer; 3: edge-based orientation; 4: keyed on
        # file content and sidecars, not size and mtime
        "version": 4,
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:20]


def load_dataset(config: DatasetConfig | str | Path, cache_dir: Path | None = None,
                 with_labels: bool = True) -> RegionDataset:
    """Read regions, featurize every view (cached under `cache_dir`) and load labels."""
    from cookie.dataset.cache import FeatureCache

    cfg = config if isinstance(config, DatasetConfig) else load_config(config)
    regions = load_regions(cfg)
    cache = FeatureCache(cache_dir) if cache_dir is not None else None
    views: dict[str, ViewData] = {}
    keys = {v.name: cache_key(cfg, v, regions) for v in cfg.views} if cache else {}
    for view_cfg in cfg.views:
        view = cache.get(keys[view_cfg.name], view_cfg.name, regions.index) if cache else None
        if view is not None:
            views[view_cfg.name] = view
    todo = [v for v in cfg.views if v.name not in views]
    if todo:
        log.info("featurizing %s", ", ".join(f"{v.name!r} ({v.kind})" for v in todo))
        for view_cfg, view in zip(todo, featurize_all(todo, regions), strict=True):
            if cache:
                cache.put(keys[view_cfg.name], view)
            views[view_cfg.name] = view
    views = {v.name: views[v.name] for v in cfg.views}  # in config order
    labels = load_labels(cfg, regions) if with_labels else pd.DataFrame(index=regions.index)
    return RegionDataset(cfg, regions, views, labels)
