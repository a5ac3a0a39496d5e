"""A featurized dataset frozen to disk: train or evaluate elsewhere without the raw layers.

Layout: `config.json` (the config as written, without the defaults it left unset),
`regions.parquet` (GeoParquet), `labels.parquet`, and one `view-<name>.npz` per view
(`cookie.dataset.codec`: values, mask, optional aux; no pickles).

Only the settings the config set are frozen: a setting it left to the default (e.g. a method
hyper-parameter) takes the installed package's default when the frozen copy is loaded, exactly
as reading the config file would.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import geopandas as gpd
import pandas as pd

from cookie.config import DatasetConfig, MethodConfig
from cookie.dataset.codec import read_view, write_view
from cookie.dataset.dataset import RegionDataset
from cookie.errors import DataError
from cookie.io.atomic import output_dir

log = logging.getLogger(__name__)


def save_frozen(ds: RegionDataset, directory: str | Path, overwrite: bool = False) -> Path:
    """Freeze ``ds`` into ``directory`` (a new folder, or an earlier output with
    ``overwrite``; see `cookie.io.atomic.output_dir`)."""
    directory = Path(directory)
    with output_dir(directory, overwrite, what="freeze") as staging:
        write_frozen(ds, staging.path)
    return directory


def write_frozen(ds: RegionDataset, folder: Path) -> None:
    """The frozen layout, written into an existing (staging) folder."""
    (folder / "config.json").write_text(ds.config.model_dump_json(indent=1, exclude_unset=True))
    ds.regions.to_parquet(folder / "regions.parquet")
    ds.labels.to_parquet(folder / "labels.parquet")
    for name, view in ds.views.items():
        write_view(view, folder / f"view-{name}.npz", compressed=True)


def load_frozen(directory: str | Path) -> RegionDataset:
    directory = Path(directory)
    if not (directory / "config.json").is_file():
        raise DataError(f"{directory}: not a frozen dataset (no config.json)")
    text = (directory / "config.json").read_text()
    cfg = DatasetConfig.model_validate_json(text)
    warn_pinned_defaults(directory, json.loads(text).get("method", {}))
    regions = gpd.read_parquet(directory / "regions.parquet")
    labels = pd.read_parquet(directory / "labels.parquet")
    labels.attrs["source"] = str(directory / "labels.parquet")
    views = {}
    for view_cfg in cfg.views:
        views[view_cfg.name] = read_view(directory / f"view-{view_cfg.name}.npz", view_cfg.name,
                                         regions.index)
    return RegionDataset(cfg, regions, views, labels)


def warn_pinned_defaults(directory: Path, method: dict) -> None:
    """Warn when a frozen copy holds every method setting (written before freezing kept only
    the settings a config sets) and some differ from the installed defaults."""
    fields = MethodConfig.model_fields
    if not set(fields) <= set(method):
        return
    stale = [f"{name}={method[name]!r} (default now {field.default!r})"
             for name, field in fields.items()
             if not field.is_required() and method[name] != field.default]
    if stale:
        log.warning("%s: this frozen copy pins every method setting of the version that wrote "
                    "it; these differ from today's defaults: %s. Freeze the config again to "
                    "follow the defaults.", directory, ", ".join(stale))
