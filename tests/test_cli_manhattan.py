"""Real-data end-to-end: `cookie fit` then `cookie evaluate` on Manhattan-180 (short budget)."""

from __future__ import annotations

import json

import pandas as pd
from typer.testing import CliRunner

from cookie.cli import app

runner = CliRunner()


def test_fit_then_evaluate_manhattan(manhattan_config, tmp_path) -> None:
    out = tmp_path / "run"
    res = runner.invoke(app, ["fit", str(manhattan_config), "--out", str(out), "--epochs", "3",
                              "--pretrain-epochs", "1", "--no-evaluate",
                              "--cache-dir", str(tmp_path / "cache")])
    assert res.exit_code == 0, res.output
    emb = pd.read_parquet(out / "embeddings.parquet")
    assert emb.shape[0] == 180 and "geometry" in emb.columns
    assert emb.drop(columns="geometry").shape[1] == 512
    run = json.loads((out / "run.json").read_text())
    assert run["seed"] == 0 and run["data_files"] and "torch" in run["versions"]
    assert (out / "model" / "model.pt").is_file()
    assert not list(tmp_path.glob(".run*")), "checkpoints or temp dirs left behind"

    report_dir = tmp_path / "report"
    res = runner.invoke(app, ["evaluate", str(manhattan_config), "--embeddings",
                              str(out / "embeddings.parquet"), "--out", str(report_dir)])
    assert res.exit_code == 0, res.output
    report = json.loads((report_dir / "report.json").read_text())
    table = pd.DataFrame(report["table"])
    protocols = set(table.protocol)
    assert {"literature", "robust", "spatial", "stratified", "clustering"} <= protocols
    r2 = table[(table.task == "checkin") & (table.protocol == "literature")
               & (table.metric == "r2")]["mean"].item()
    assert 0.0 < r2 <= 1.0
    assert "checkin" in (report_dir / "report.md").read_text()

    # embed again with the saved model: the same numbers
    res = runner.invoke(app, ["embed", str(out), str(manhattan_config), "--out",
                              str(tmp_path / "again.parquet"),
                              "--cache-dir", str(tmp_path / "cache")])
    assert res.exit_code == 0, res.output
    again = pd.read_parquet(tmp_path / "again.parquet")
    pd.testing.assert_frame_equal(again, emb.drop(columns="geometry"), check_exact=False,
                                  atol=1e-5)
