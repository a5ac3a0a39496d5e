"""Experiments: cell inventories, modality dropout at inference, resumable runs."""

from __future__ import annotations

import numpy as np
import torch

from cookie.apps.experiments import (
    ALPHAS,
    dependence_lines,
    experiment_cells,
    run_experiment,
    summarize,
)
from cookie.dataset.dataset import load_dataset
from cookie.nn.basis import block_rotation
from cookie.training.embedder import CookieEmbedder
from tests.synthetic import make_dataset


def synthetic(tmp_path, dims=(4, 3, 5), n=40):
    config, _ = make_dataset(tmp_path / "data", n=n, dims=dims,
                             method={"embedding_dim": 12, "pretrain_epochs": 1, "epochs": 2})
    return load_dataset(config, cache_dir=None)


def test_cells_per_experiment(tmp_path) -> None:
    ds = synthetic(tmp_path)
    assert [c.overrides["alpha"] for c in experiment_cells("alpha", ds)] == list(ALPHAS)
    dropout = [c.label for c in experiment_cells("dropout", ds)]
    assert dropout[0] == "all views"
    assert sum(lbl.startswith("trained without") for lbl in dropout) == 3
    assert sum(lbl.endswith("missing at inference") for lbl in dropout) == 3
    augment = {c.label: c.overrides["augment"] for c in experiment_cells("augment", ds)}
    assert augment["noise only"]["noise"] > 0 and augment["noise only"]["dropout"] == 0
    assert augment["none"]["noise"] == 0 and augment["all together"]["mix"] > 0


def test_missing_view_at_inference_zeroes_its_blocks(tmp_path) -> None:
    ds = synthetic(tmp_path, dims=(4, 3))
    model = CookieEmbedder.from_config(ds.config, embedding_dim=12).fit(ds)
    full = model.transform(ds).to_numpy()
    dropped = model.transform(ds, drop_views=("v1",)).to_numpy()
    # blocks: unique v0 (4), unique v1 (4), shared v0~v1 (4)
    np.testing.assert_allclose(dropped[:, :4], full[:, :4], atol=1e-6)
    assert np.all(dropped[:, 4:8] == 0)
    with torch.no_grad():
        tensors_ds = ds.views
        from cookie.training.data import RegionTensors

        batch = RegionTensors(tensors_ds).gather(torch.arange(len(ds.region_ids)))
        e = model.objective_.encode(batch, False)
        shared_a = model.objective_.shared_heads["v0~v1"]["a"](e["v0"]).numpy()
    np.testing.assert_allclose(dropped[:, 8:], shared_a @ block_rotation(4).numpy(), atol=1e-5)


def test_experiment_resumes_finished_cells(tmp_path) -> None:
    ds = synthetic(tmp_path, dims=(4, 3))
    out = tmp_path / "exp"
    messages: list[str] = []
    first = run_experiment("alpha", ds, [0], out, progress=messages.append)
    assert len(list((out / "cells").glob("*.json"))) == len(ALPHAS)
    messages.clear()
    again = run_experiment("alpha", ds, [0], out, progress=messages.append)
    assert all("resumed" in m for m in messages)
    assert np.allclose(first["mean"].to_numpy(), again["mean"].to_numpy())
    summary = summarize(again)
    assert set(summary.cell) == {f"alpha={a}" for a in ALPHAS}


def test_dependence_lines_name_the_costliest_view(tmp_path) -> None:
    import pandas as pd

    summary = pd.DataFrame({
        "cell": ["all views", "trained without a", "trained without b"],
        "group": ["all", "w", "w"], "task": ["t"] * 3, "protocol": ["robust"] * 3,
        "probe": ["ridge_cv"] * 3, "mean": [0.8, 0.5, 0.75], "std": [0.0] * 3,
    })
    (line,) = dependence_lines(summary)
    assert "trained without a" in line.split(";")[0] and "(-0.300)" in line


def test_freeze_round_trip(tmp_path) -> None:
    from typer.testing import CliRunner

    from cookie.cli import app
    from cookie.dataset.frozen import load_frozen

    config, _ = make_dataset(tmp_path / "data", n=12, dims=(4, 3))
    res = CliRunner().invoke(app, ["freeze", str(config), "--out", str(tmp_path / "fz"),
                                   "--cache-dir", str(tmp_path / "cache")])
    assert res.exit_code == 0, res.output
    original = load_dataset(config, cache_dir=None)
    frozen = load_frozen(tmp_path / "fz")
    assert list(frozen.views) == list(original.views)
    for name, view in original.views.items():
        np.testing.assert_array_equal(frozen.views[name].values, view.values)
        np.testing.assert_array_equal(frozen.views[name].mask, view.mask)
    assert frozen.labels["population"].equals(original.labels["population"])
    assert frozen.regions.geom_equals(original.regions).all()
    assert frozen.config.model_dump() == original.config.model_dump()


def test_freeze_keeps_set_values_not_defaults(tmp_path) -> None:
    """A frozen copy must not pin the defaults of the day it was written: a method setting the
    config left unset follows the installed defaults on load, a set one is kept."""
    import json

    from cookie.config import MethodConfig, load_config
    from cookie.dataset.frozen import load_frozen, save_frozen

    config, _ = make_dataset(tmp_path / "data", n=12, dims=(4, 3),
                             method={"relational_weight": 2.5})
    save_frozen(load_dataset(config, cache_dir=None), tmp_path / "fz")
    written = json.loads((tmp_path / "fz" / "config.json").read_text())["method"]
    assert written["relational_weight"] == 2.5
    assert "flow_weight" not in written and "basis" not in written
    assert set(written) == set(load_config(config).method.model_fields_set)
    loaded = load_frozen(tmp_path / "fz").config.method
    assert loaded.relational_weight == 2.5
    assert loaded.flow_weight == MethodConfig.model_fields["flow_weight"].default


def test_old_frozen_copy_warns_of_pinned_defaults(tmp_path, caplog) -> None:
    """A copy written by the old freeze (every method setting in config.json) says which of its
    settings differ from today's defaults; a copy written now says nothing."""
    import json
    import logging

    from cookie.dataset.frozen import load_frozen, save_frozen

    config, _ = make_dataset(tmp_path / "data", n=12, dims=(4, 3))
    save_frozen(load_dataset(config, cache_dir=None), tmp_path / "fz")
    with caplog.at_level(logging.WARNING, logger="cookie.dataset.frozen"):
        load_frozen(tmp_path / "fz")
    assert not caplog.records
    path = tmp_path / "fz" / "config.json"
    data = json.loads(path.read_text())
    full = load_dataset(config, cache_dir=None).config.method.model_dump(mode="json")
    data["method"] = dict(full, relational_weight=full["relational_weight"] + 1.5)
    path.write_text(json.dumps(data))
    with caplog.at_level(logging.WARNING, logger="cookie.dataset.frozen"):
        frozen = load_frozen(tmp_path / "fz")
    (record,) = caplog.records
    assert "relational_weight=" in record.getMessage() and "default now" in record.getMessage()
    assert frozen.config.method.relational_weight == full["relational_weight"] + 1.5
