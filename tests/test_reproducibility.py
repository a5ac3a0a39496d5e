"""Same config and seed -> identical embeddings; another seed -> other embeddings; run.json
records what is needed to reproduce a run (config, seed, package versions, data checksums)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from cookie.cli import app
from cookie.dataset.dataset import RegionDataset, load_dataset
from cookie.training.embedder import CookieEmbedder
from tests.synthetic import make_dataset

# two optimizer stages, mini-batches (shuffling), augmentations: every source of randomness
METHOD = {"pretrain_epochs": 1, "epochs": 2, "batch_size": 16, "seed": 5}


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> RegionDataset:
    config, _ = make_dataset(tmp_path_factory.mktemp("repro") / "data", n=48, dims=(5, 4),
                             tasks=False, method=METHOD)
    return load_dataset(config)


def test_same_seed_same_embeddings(dataset: RegionDataset) -> None:
    first = CookieEmbedder.from_config(dataset.config).fit(dataset).transform(dataset)
    second = CookieEmbedder.from_config(dataset.config).fit(dataset).transform(dataset)
    assert first.shape == (48, 8)
    pd.testing.assert_frame_equal(first, second, check_exact=True)


def test_other_seed_other_embeddings(dataset: RegionDataset) -> None:
    base = CookieEmbedder.from_config(dataset.config).fit(dataset).transform(dataset)
    other = CookieEmbedder.from_config(dataset.config, seed=METHOD["seed"] + 1)
    other = other.fit(dataset).transform(dataset)
    assert not np.allclose(base.to_numpy(), other.to_numpy(), atol=1e-3)


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_run_json_records_config_seed_versions_and_checksums(tmp_path: Path) -> None:
    config, _ = make_dataset(tmp_path / "data", tasks=False)
    out = tmp_path / "runs" / "run"
    res = CliRunner().invoke(app, ["fit", str(config), "--out", str(out), "--seed", "11",
                                   "--epochs", "1", "--pretrain-epochs", "0", "--no-evaluate",
                                   "--cache-dir", str(tmp_path / "cache")])
    assert res.exit_code == 0, res.output
    run = json.loads((out / "run.json").read_text())

    assert run["config"] == str(config)
    assert run["config_sha256"] == sha256(config)
    assert run["seed"] == 11 and run["method"]["seed"] == 11
    assert run["method"]["epochs"] == 1 and run["method"]["pretrain_epochs"] == 0
    for package in ("python", "torch", "lightning", "numpy", "pandas", "geopandas"):
        assert run["versions"].get(package), f"no version recorded for {package}"

    data = tmp_path / "data"
    expected = {str(data / name) for name in ("regions.gpkg", "view0.parquet", "view1.csv")}
    assert set(run["data_files"]) == expected
    for name, digest in run["data_files"].items():
        assert digest == sha256(Path(name)), name

    # the config snapshot and the resolved config travel with the run
    assert (out / "config.toml").read_bytes() == config.read_bytes()
    resolved = json.loads((out / "config.resolved.json").read_text())
    assert resolved["method"]["seed"] == 11
    assert resolved["views"][0]["path"] == str(data / "view0.parquet")
