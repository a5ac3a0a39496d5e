"""A featurized dataset frozen to disk: train or evaluate elsewhere without the raw layers.

Layout: `config.json` (the config as written, without the defaults it left unset),
`regions.parquet` (GeoParquet), `labels.parquet`, and one `view-<name>.npz` per view
(`cookie.dataset.codec`: values, mask, optional aux; no pickles).

Only the settings the config set are frozen: a setting it left to the default (e.g. a method
hyper-parameter) takes the installed package's default when the frozen copy is loaded, exactly
as reading the config file would.
"""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import pandas as pd

from cookie.config import DatasetConfig
from cookie.dataset.codec import read_view, write_view
from cookie.dataset.dataset import RegionDataset
from cookie.errors import DataError
from cookie.io.atomic import output_dir


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
    cfg = DatasetConfig.model_validate_json((directory / "config.json").read_text())
    regions = gpd.read_parquet(directory / "regions.parquet")
    labels = pd.read_parquet(directory / "labels.parquet")
    labels.attrs["source"] = str(directory / "labels.parquet")
    views = {}
    for view_cfg in cfg.views:
        views[view_cfg.name] = read_view(directory / f"view-{view_cfg.name}.npz", view_cfg.name,
                                         regions.index)
    return RegionDataset(cfg, regions, views, labels)
