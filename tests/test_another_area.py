"""A model trained on one area embeds another: the real Helsinki layers (../shared/data)
split by x coordinate into a west and an east half, each with its own clipped layers, so
that their class vocabularies differ (land-cover classes present in one half only, road
classes in another order)."""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from cookie.cli import app
from cookie.config import load_config
from cookie.dataset.dataset import load_dataset
from cookie.dataset.transfer import load_dataset_for_model, vocabulary_from_names
from cookie.features.vector import ClassVocabulary
from tests.conftest import shared_dataset

runner = CliRunner()

CONFIG = """name = "helsinki-{half}"
crs = "EPSG:3067"

[regions]
path = "cells_{half}.gpkg"
id_column = "cell_id"

[[views]]
name = "landcover"
kind = "polygons"
path = "landcover_{half}.gpkg"
class_column = "class"

[[views]]
name = "roads"
kind = "lines"
path = "roads_{half}.gpkg"
{road_class}

[[views]]
name = "stops"
kind = "points"
path = "stops_{half}.gpkg"
"""


def write_halves(tmp: Path) -> dict[str, Path]:
    data = shared_dataset("helsinki")
    cells = gpd.read_file(data / "cells.gpkg")
    x = cells.geometry.centroid.x
    cut = float(np.median(x))
    halves = {"west": cells[x < cut], "east": cells[x >= cut]}
    layers = {n: gpd.read_file(data / f"{n}.gpkg") for n in ("landcover", "roads", "stops")}
    configs = {}
    for half, part in halves.items():
        part.to_file(tmp / f"cells_{half}.gpkg")
        minx, miny, maxx, maxy = part.total_bounds
        for name, gdf in layers.items():
            gdf.cx[minx:maxx, miny:maxy].to_file(tmp / f"{name}_{half}.gpkg")
        configs[half] = tmp / f"{half}.toml"
        configs[half].write_text(CONFIG.format(half=half, road_class='class_column = "class"'))
    return configs


def fit_west_half(tmp_path: Path, epochs: int) -> tuple[dict[str, Path], Path]:
    """Write both halves' configs and fit the west one into ``tmp_path / "run"``."""
    configs = write_halves(tmp_path)
    run = tmp_path / "run"
    res = runner.invoke(app, ["fit", str(configs["west"]), "--out", str(run), "--epochs",
                              str(epochs), "--pretrain-epochs", "1", "--no-evaluate",
                              "--cache-dir", str(tmp_path / "cache")])
    assert res.exit_code == 0, res.output
    return configs, run


def test_vocabulary_read_back_from_feature_names() -> None:
    names = ["count", "density_km2", "count_a", "count_b", "count_other", "share_a", "share_b",
             "share_other"]
    assert vocabulary_from_names("points", names) == ClassVocabulary(("a", "b"), "other")
    lines = ["length_km_per_km2", "segments", "intersections", "length_12131_km_per_km2",
             "length_12314_km_per_km2"]
    assert vocabulary_from_names("lines", lines) == ClassVocabulary(("12131", "12314"), None)
    assert vocabulary_from_names("polygons", ["covered"]) is None


def test_embed_the_other_half_with_the_models_vocabularies(tmp_path) -> None:
    configs, run = fit_west_half(tmp_path, epochs=2)
    names = json.loads((run / "model" / "model.json").read_text())["feature_names"]
    west_cfg, east_cfg = load_config(configs["west"]), load_config(configs["east"])

    # the east half's own vocabularies give other columns: the problem being solved
    own = load_dataset(east_cfg, cache_dir=None, with_labels=False)
    assert own.views["landcover"].feature_names != names["landcover"]
    assert own.views["roads"].feature_names != names["roads"]  # same classes, another order

    # featurized against the model's vocabularies, the columns are the model's
    ds = load_dataset_for_model(east_cfg, names, cache_dir=None)
    for view in ("landcover", "roads", "stops"):
        assert ds.views[view].feature_names == names[view], view
    # a road class keeps its meaning: its column holds the east half's length of that class
    col = names["roads"].index("length_12131_km_per_km2")
    own_col = own.views["roads"].feature_names.index("length_12131_km_per_km2")
    assert np.allclose(ds.views["roads"].values[:, col], own.views["roads"].values[:, own_col])

    out = tmp_path / "east.parquet"
    res = runner.invoke(app, ["embed", str(run), str(configs["east"]), "--out", str(out),
                              "--cache-dir", str(tmp_path / "cache")])
    assert res.exit_code == 0, res.output
    emb = pd.read_parquet(out)
    east_cells = gpd.read_file(tmp_path / "cells_east.gpkg")
    assert len(emb) == len(east_cells) and np.isfinite(emb.to_numpy()).all()
    west = pd.read_parquet(run / "embeddings.parquet").drop(columns="geometry")
    assert emb.shape[1] == west.shape[1]
    assert not set(emb.index) & set(west.index)

    # the input normalization is the training half's, stored in the model
    from cookie.training.embedder import CookieEmbedder

    model = CookieEmbedder.load(run / "model")
    train = load_dataset(west_cfg, cache_dir=None, with_labels=False).views["stops"]
    mean = model.objective_.encoders["stops"].x_norm.mean.numpy().ravel()
    assert np.allclose(mean, train.values[train.mask].mean(axis=0), atol=1e-5)


def test_embed_refuses_a_view_whose_columns_differ(tmp_path) -> None:
    configs, run = fit_west_half(tmp_path, epochs=1)
    bad = tmp_path / "east_noclass.toml"  # roads without their class column
    bad.write_text(CONFIG.format(half="east", road_class=""))
    res = runner.invoke(app, ["embed", str(run), str(bad), "--out", str(tmp_path / "x.parquet")])
    assert res.exit_code == 2
    errors = [line for line in res.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "'roads'" in errors[0], res.output
    assert "Traceback" not in res.output


pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")
