"""A featurized dataset frozen to disk: train or evaluate elsewhere without the raw layers.

Layout: `config.json` (the validated config), `regions.parquet` (GeoParquet), `labels.parquet`,
and one `view-<name>.npz` per view (values, mask, optional aux; no pickles).
"""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd

from cookie.config import DatasetConfig
from cookie.dataset.dataset import RegionDataset
from cookie.errors import DataError
from cookie.features.view import ViewData
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
    (folder / "config.json").write_text(ds.config.model_dump_json(indent=1))
    ds.regions.to_parquet(folder / "regions.parquet")
    ds.labels.to_parquet(folder / "labels.parquet")
    for name, view in ds.views.items():
        arrays = {"values": view.values, "mask": view.mask,
                  "meta": np.array(json.dumps({
                      "kind": view.kind, "feature_names": view.feature_names,
                      "aux_names": view.aux_names}))}
        if view.aux is not None:
            arrays["aux"] = view.aux
        np.savez_compressed(folder / f"view-{name}.npz", **arrays)  # type: ignore[arg-type]


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
        with np.load(directory / f"view-{view_cfg.name}.npz", allow_pickle=False) as npz:
            meta = json.loads(str(npz["meta"]))
            views[view_cfg.name] = ViewData(
                view_cfg.name, meta["kind"], regions.index, npz["values"], npz["mask"],
                meta["feature_names"], npz["aux"] if "aux" in npz.files else None,
                meta["aux_names"])
    return RegionDataset(cfg, regions, views, labels)
