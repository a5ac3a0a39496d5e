"""One-view configs: the `single_view` method (docs/method.md, "Single view")."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from typer.testing import CliRunner

from cookie.cli import app
from cookie.config import load_config
from cookie.evaluation.report import EvaluationReport
from cookie.nn.basis import block_rotation
from cookie.training.data import RegionTensors
from cookie.training.embedder import CookieEmbedder
from tests.conftest import shared_dataset
from tests.synthetic import SMALL_METHOD, make_dataset, write_config

runner = CliRunner()
SMALL = {k: v for k, v in SMALL_METHOD.items() if k != "name"}


def one_view_config(root: Path, method: dict | None) -> Path:
    """A synthetic one-view config; ``method`` replaces its [method] table (None: none)."""
    _, cfg = make_dataset(root, n=20, dims=(5,))
    if method is None:
        cfg.pop("method")
    else:
        cfg["method"] = method
    return write_config(root / "one.toml", cfg)


def test_a_one_view_config_without_a_method_name_trains_single_view(tmp_path) -> None:
    config = one_view_config(tmp_path, SMALL)
    assert load_config(config).method.name == "single_view"
    out = tmp_path / "run"
    res = runner.invoke(app, ["fit", str(config), "--out", str(out), "--no-evaluate"])
    assert res.exit_code == 0, res.output
    emb = pd.read_parquet(out / "embeddings.parquet").drop(columns="geometry")
    assert emb.shape == (20, SMALL["embedding_dim"]) and np.isfinite(emb.to_numpy()).all()
    assert json.loads((out / "run.json").read_text())["method"]["name"] == "single_view"


def test_a_contrastive_method_on_one_view_is_one_line_naming_single_view(tmp_path) -> None:
    config = one_view_config(tmp_path, {"name": "cookie", **SMALL})
    out = tmp_path / "run"
    res = runner.invoke(app, ["fit", str(config), "--out", str(out)])
    assert res.exit_code == 2
    line = res.output.strip()
    assert "\n" not in line and "needs at least two" in line and "'single_view'" in line
    assert not out.exists()


def test_stage_2_terms_are_intra_rel_per_view_and_the_embedding_is_the_heads(tmp_path) -> None:
    from cookie.dataset.dataset import load_dataset

    ds = load_dataset(one_view_config(tmp_path, {"name": "cookie", **SMALL}).parent
                      / "config.toml")  # the two-view dataset of the same folder
    model = CookieEmbedder("single_view", **SMALL | {"pretrain_epochs": 1, "epochs": 2}).fit(ds)
    objective = model.objective_
    batch = RegionTensors(ds.views).gather(torch.arange(20))
    with torch.no_grad():
        terms, cache = objective.terms(batch, 2)
        assert sorted(terms) == sorted([f"intra/{n}" for n in ds.views]
                                       + [f"view_rel/{n}" for n in ds.views])
        # REL by hand: w log(N) * mean ||u - T||^2 / mean ||T||^2 (docs/method.md)
        w = objective.cfg.relational_weight
        for n in ds.views:
            u, t = cache.h[n].numpy(), objective.targets[f"view/{n}"].numpy()
            by_hand = w * math.log(20) * ((u - t) ** 2).sum(1).mean() / (t ** 2).sum(1).mean()
            assert float(terms[f"view_rel/{n}"]) == pytest.approx(by_hand, rel=1e-5)
        heads = objective.heads(objective.encode(batch, False))
    want = np.concatenate([heads[n].numpy() @ block_rotation(heads[n].shape[1]).numpy()
                           for n in ds.views], 1)  # each view's head in its rotated basis
    np.testing.assert_allclose(model.transform(ds).to_numpy(), want, rtol=1e-5, atol=1e-5)


def test_single_view_on_one_real_view(tmp_path) -> None:
    """Helsinki land cover alone, through the CLI, evaluated against the raw view."""
    data = shared_dataset("helsinki")
    config = tmp_path / "landcover.toml"
    config.write_text(f"""name = "helsinki-landcover"
crs = "EPSG:3067"
[regions]
path = "{data / 'cells.gpkg'}"
id_column = "cell_id"
[[views]]
name = "landcover"
kind = "polygons"
path = "{data / 'landcover.gpkg'}"
class_column = "class"
[[tasks]]
name = "density"
target = "inhabitants / area_km2"
type = "regression"
log = true
[method]
pretrain_epochs = 2
epochs = 10
[evaluation]
repeats = 1
spatial = false
probes = ["ridge_cv"]
""")
    out = tmp_path / "run"
    res = runner.invoke(app, ["fit", str(config), "--out", str(out)])
    assert res.exit_code == 0, res.output
    table = EvaluationReport.from_json(out / "report.json").table
    r2 = table[(table.metric == "r2") & (table.task == "density")]
    assert len(r2) and np.isfinite(r2["mean"]).all()
    assert float(r2["mean"].min()) > 0.2  # land cover alone says something about density
    # (0.28 after 2 + 10 epochs, against 0.06 for the raw view with the same probe and folds)
    assert "beats the raw views in 1 of 1" in (out / "report.md").read_text()
