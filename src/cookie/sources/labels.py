"""Labels and task targets aligned to the regions."""

from __future__ import annotations

import logging

import geopandas as gpd
import numpy as np
import pandas as pd

from cookie.config import DatasetConfig, TaskConfig
from cookie.errors import ConfigError, DataError
from cookie.sources import expressions
from cookie.sources.readers import as_region_ids, check_unique_ids, read_table, require_columns

log = logging.getLogger(__name__)


def load_labels(cfg: DatasetConfig, regions: gpd.GeoDataFrame) -> pd.DataFrame:
    """Label columns indexed like `regions` (NaN where a region has no label), plus the
    built-ins `area_m2` and `area_km2`."""
    lc = cfg.labels
    if lc.path is None:
        frame = pd.DataFrame(regions.drop(columns=regions.geometry.name))
        source = str(cfg.regions.path or "regions")
    else:
        id_col = lc.id_column or regions.index.name
        table = read_table(lc.path, (id_col,))
        require_columns(table, [id_col], lc.path)
        check_unique_ids(table[id_col], lc.path, id_col)
        frame = table.set_index(id_col)
        frame.index = as_region_ids(frame.index, regions.index, lc.path, id_col)
        unknown = frame.index.difference(regions.index)
        if len(unknown):
            log.warning("%s: %d labels for unknown regions ignored (first: %r)", lc.path,
                        len(unknown), unknown[0])
        frame = frame.reindex(regions.index)
        source = str(lc.path)
    frame = frame.copy()
    for raster_label in lc.raster:
        from cookie.sources.raster import raster_label_values

        frame[raster_label.name] = raster_label_values(raster_label, regions)
    area = regions.geometry.area.to_numpy()
    frame["area_m2"] = area
    frame["area_km2"] = area / 1e6
    frame.attrs["source"] = source
    return frame


def task_target(task: TaskConfig, labels: pd.DataFrame) -> pd.Series:
    """The task's target per region (NaN = unlabeled), log1p-transformed when `task.log`."""
    source = labels.attrs.get("source", "labels")
    if task.target in labels.columns:
        values = labels[task.target]
    else:
        try:
            expressions.parse(task.target)
        except ConfigError as exc:
            raise ConfigError(f"task {task.name!r}: {exc}") from None
        raw = expressions.evaluate(task.target, labels, f"{source}: task {task.name!r}")
        values = pd.Series(np.asarray(raw, dtype=float), index=labels.index)
    if task.type == "regression":
        values = pd.to_numeric(values, errors="coerce").astype(float)
        infinite = int(np.isinf(values).sum())
        if infinite:
            log.warning("%s: task %r: %d infinite targets left out (treated as unlabeled)",
                        source, task.name, infinite)
        values = values.where(np.isfinite(values))
        if task.log:
            if (values < 0).any():
                raise DataError(f"{source}: task {task.name!r} has negative targets; log1p "
                                "needs >= 0")
            values = np.log1p(values)
    if values.notna().sum() < 10:
        raise DataError(f"{source}: task {task.name!r} has {int(values.notna().sum())} labeled "
                        "regions (need at least 10)")
    return values.rename(task.name)
