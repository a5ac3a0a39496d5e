"""No wrong result exits 0: diverged training, stale caches, mismatched checkpoints, ids that
match the wrong region, broken geometries, probes that blow up, silent label loss.

Every case runs on the tiny synthetic datasets of `synthetic.py` (no real data needed).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from cookie.cli import app
from tests.synthetic import make_dataset

runner = CliRunner()


def error_line(output: str) -> str:
    lines = [ln for ln in output.splitlines() if ln.startswith("error:")]
    assert len(lines) == 1, output
    return lines[0]


def fit(config: Path, out: Path, *extra: str) -> object:
    return runner.invoke(app, ["fit", str(config), "--out", str(out), "--cache-dir",
                               str(out.parent.parent / "cache"), *extra])


# ---------------------------------------------------------------- diverged training
def test_diverged_training_exits_2_naming_term_and_epoch(tmp_path: Path) -> None:
    config, _ = make_dataset(tmp_path / "data", method={"lr": 1e6, "epochs": 3})
    runs = tmp_path / "runs"
    res = fit(config, runs / "run")  # evaluation on: it used to name a missing file
    assert res.exit_code == 2, res.output
    line = error_line(res.output)
    assert "training diverged" in line and "is nan at epoch 2 of 3" in line
    assert "loss term '" in line and "embeddings.parquet" not in line
    assert not runs.exists() or list(runs.iterdir()) == [], "diverged run left files"


def test_infinite_alpha_is_refused_by_config_validation(tmp_path: Path) -> None:
    config, _ = make_dataset(tmp_path / "data")
    res = fit(config, tmp_path / "runs" / "run", "--alpha", "inf")
    assert res.exit_code == 2, res.output
    assert "alpha" in error_line(res.output) and "finite" in error_line(res.output)
    assert not (tmp_path / "runs" / "run").exists()


def test_transform_refuses_non_finite_embeddings(tmp_path: Path) -> None:
    from cookie.dataset import load_dataset
    from cookie.embedder import CookieEmbedder
    from cookie.errors import TrainingDiverged

    config, _ = make_dataset(tmp_path / "data", tasks=False)
    ds = load_dataset(config)
    model = CookieEmbedder().fit(ds)
    with torch.no_grad():
        next(model.objective_.parameters()).fill_(float("nan"))
    with pytest.raises(TrainingDiverged, match="non-finite embedding values"):
        model.transform(ds)
