"""No wrong result exits 0: diverged training, stale caches, mismatched checkpoints, ids that
match the wrong region, broken geometries, probes that blow up, silent label loss.

Every case runs on the tiny synthetic datasets of `synthetic.py` (no real data needed).
"""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import torch
from typer.testing import CliRunner

from cookie.cli import app
from tests.synthetic import feature_table, make_dataset, square_regions, write_config

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
    assert "training diverged" in line and re.search(r"is (nan|inf) at epoch 2 of 3", line)
    assert "loss term '" in line and "embeddings.parquet" not in line
    assert not runs.exists() or list(runs.iterdir()) == [], "diverged run left files"


def test_infinite_alpha_is_refused_by_config_validation(tmp_path: Path) -> None:
    config, _ = make_dataset(tmp_path / "data")
    res = fit(config, tmp_path / "runs" / "run", "--alpha", "inf", "--no-evaluate")
    assert res.exit_code == 2, res.output
    assert "--alpha inf (method.alpha): Input should be a finite number" in error_line(res.output)
    assert not (tmp_path / "runs" / "run").exists()


def test_transform_refuses_non_finite_embeddings(tmp_path: Path) -> None:
    from cookie.dataset.dataset import load_dataset
    from cookie.errors import TrainingDiverged
    from cookie.training.embedder import CookieEmbedder

    config, _ = make_dataset(tmp_path / "data", tasks=False)
    ds = load_dataset(config)
    model = CookieEmbedder.from_config(ds.config).fit(ds)
    with torch.no_grad():
        next(model.objective_.parameters()).fill_(float("nan"))
    with pytest.raises(TrainingDiverged, match="NaN or infinite"):
        model.transform(ds)


# ---------------------------------------------------------------- feature cache
def _view_values(config: Path, cache: Path, name: str) -> np.ndarray:
    from cookie.dataset.dataset import load_dataset

    return load_dataset(config, cache_dir=cache, with_labels=False).views[name].values.copy()


def test_cache_sees_same_size_edit_with_mtime_restored(tmp_path: Path) -> None:
    """`cp -p`, `rsync -a`, `tar` restore the mtime: a same-size edit must still miss."""
    import os

    config, _ = make_dataset(tmp_path / "data", tasks=False)
    cache = tmp_path / "cache"
    csv = tmp_path / "data" / "view1.csv"
    before = _view_values(config, cache, "v1")
    st = csv.stat()
    text = csv.read_text()
    first_row = text.splitlines()[1]
    digit = next(i for i, ch in enumerate(first_row) if ch.isdigit() and i > 3)
    edited = first_row[:digit] + ("1" if first_row[digit] != "1" else "2") + first_row[digit + 1:]
    csv.write_text(text.replace(first_row, edited, 1))
    os.utime(csv, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert csv.stat().st_size == st.st_size and csv.stat().st_mtime_ns == st.st_mtime_ns
    after = _view_values(config, cache, "v1")
    assert not np.array_equal(before, after), "stale features served from the cache"


def test_cache_sees_an_edit_to_a_shapefile_dbf_alone(tmp_path: Path) -> None:
    import geopandas as gpd
    from shapely.geometry import Point

    from tests.synthetic import CRS, ORIGIN

    config, cfg = make_dataset(tmp_path / "data", tasks=False)
    root = tmp_path / "data"
    pts = [Point(ORIGIN[0] + 10 + 25 * i, ORIGIN[1] + 10 + 25 * i) for i in range(12)]
    gpd.GeoDataFrame({"kind": ["aa"] * 12}, geometry=pts, crs=CRS).to_file(root / "poi.shp")
    gpd.GeoDataFrame({"kind": ["aa"] * 6 + ["bb"] * 6}, geometry=pts, crs=CRS).to_file(
        root / "other.shp")
    cfg["views"].append({"name": "poi", "kind": "points", "path": "poi.shp",
                         "class_column": "kind"})
    write_config(config, cfg)
    cache = tmp_path / "cache"
    before = _view_values(config, cache, "poi")
    (root / "poi.dbf").write_bytes((root / "other.dbf").read_bytes())  # attributes only
    after = _view_values(config, cache, "poi")
    assert not np.array_equal(before, after), "a .dbf edit served stale features"


def test_run_json_lists_shapefile_sidecars(tmp_path: Path) -> None:
    from cookie.io.outputs import layer_files

    shp = tmp_path / "x.shp"
    for ext in ("shp", "dbf", "shx", "prj", "cpg"):
        (tmp_path / f"x.{ext}").write_bytes(b"x")
    gpkg = tmp_path / "y.gpkg"
    gpkg.write_bytes(b"y")
    Path(f"{gpkg}-wal").write_bytes(b"w")
    assert sorted(p.name for p in layer_files(shp)) == sorted(
        f"x.{e}" for e in ("shp", "dbf", "shx", "prj", "cpg"))
    assert [p.name for p in layer_files(gpkg)] == ["y.gpkg", "y.gpkg-wal"]


# ---------------------------------------------------------------- --resume
@pytest.fixture()
def interrupted(tmp_path: Path) -> tuple[Path, Path]:
    """A dataset and the `last.ckpt` that an interrupted 3-epoch run of it left behind."""
    from cookie.apps.pipeline import checkpoint_dir_for
    from cookie.dataset.dataset import load_dataset
    from cookie.training.embedder import CookieEmbedder

    config, _ = make_dataset(tmp_path / "data", tasks=False, method={"epochs": 3})
    out = tmp_path / "runs" / "run"
    ckpt = checkpoint_dir_for(out)
    ds = load_dataset(config)
    CookieEmbedder.from_config(ds.config).fit(ds, checkpoint_dir=ckpt)
    assert (ckpt / "last.ckpt").is_file()
    return config, out


def resume(config: Path, out: Path, *extra: str) -> object:
    return fit(config, out, "--no-evaluate", "--resume", *extra)


REFUSED_RESUMES = [
    (["--seed", "5", "--epochs", "6"], "method seed is 0 there, 5 here"),
    (["--alpha", "0.5", "--epochs", "6"], "method alpha is 1.0 there, 0.5 here"),
    (["--pretrain-epochs", "1", "--epochs", "6"], "method pretrain_epochs is 0 there, 1 here"),
    (["--epochs", "2"], "has 3 epochs done and this run asks for 2"),
]


def test_resume_refuses_another_runs_checkpoint(interrupted: tuple[Path, Path]) -> None:
    """Another seed, other settings, or no epochs left: one line, exit 2, checkpoint kept
    (one interrupted run for every case: a refusal leaves the checkpoint as it was)."""
    config, out = interrupted
    for extra, expect in REFUSED_RESUMES:
        res = resume(config, out, *extra)
        assert res.exit_code == 2, res.output
        line = error_line(res.output)
        assert "last.ckpt: cannot resume" in line and expect in line, line
        assert not out.exists()
        assert (out.parent / ".run.checkpoints" / "last.ckpt").is_file(), "checkpoint deleted"


def test_resume_refuses_a_checkpoint_of_changed_data(interrupted: tuple[Path, Path]) -> None:
    config, out = interrupted
    table = config.parent / "view0.parquet"
    frame = pd.read_parquet(table)
    frame.iloc[0, 1] += 1.0
    frame.to_parquet(table)
    res = resume(config, out, "--epochs", "6")
    assert res.exit_code == 2, res.output
    assert "view 'v0' differs (its data changed)" in error_line(res.output)


def test_resume_continues_its_own_checkpoint(interrupted: tuple[Path, Path]) -> None:
    config, out = interrupted
    res = resume(config, out, "--epochs", "4")
    assert res.exit_code == 0, res.output
    assert "resumed from" in res.output and (out / "embeddings.parquet").is_file()


# ---------------------------------------------------------------- region ids
def int_id_dataset(root: Path) -> tuple[Path, dict, gpd.GeoDataFrame]:
    """The synthetic dataset with integer region ids 0..15 in a column named `tract`."""
    config, cfg = make_dataset(root)
    regions = square_regions(16, ids=list(range(16))).rename(columns={"region_id": "tract"})
    regions.to_file(root / "regions.gpkg", driver="GPKG")
    for k, name in enumerate(("view0.parquet", "view1.csv")):
        table = feature_table(list(range(16)), 3, k, f"v{k}")
        table.to_parquet(root / name) if name.endswith("parquet") else table.to_csv(
            root / name, index=False)
    cfg["regions"]["id_column"] = "tract"
    return write_config(config, cfg), cfg, regions


def peer_embeddings(regions: gpd.GeoDataFrame, id_name: str, path: Path) -> Path:
    """A peer's table: ids in reverse order under `id_name`, 3 features tied to population."""
    rng = np.random.default_rng(0)
    frame = regions.iloc[::-1]
    pop = frame["population"].to_numpy()
    table = pd.DataFrame({id_name: frame["tract"].to_numpy(), "f0": pop,
                          "f1": rng.normal(size=16), "f2": pop + rng.normal(size=16)})
    table.to_csv(path, index=False)
    return path


def evaluate(config: Path, emb: Path, out: Path, *extra: str) -> object:
    return runner.invoke(app, ["evaluate", str(config), "--embeddings", str(emb), "--out",
                               str(out), *extra])


def test_evaluate_keys_a_table_on_the_configs_id_column(tmp_path: Path) -> None:
    config, _, regions = int_id_dataset(tmp_path / "data")
    emb = peer_embeddings(regions, "tract", tmp_path / "emb.csv")
    res = evaluate(config, emb, tmp_path / "report")
    assert res.exit_code == 0, res.output
    meta = json.loads((tmp_path / "report" / "report.json").read_text())["meta"]
    assert meta["embedding_dim"] == 3, "the id column was used as a feature"
    preds = json.loads((tmp_path / "report" / "report.json").read_text())["predictions"][0]
    truth = dict(zip(regions["tract"], regions["population"], strict=True))
    assert all(truth[i] == y for i, y in zip(preds["region_id"], preds["y_true"], strict=True))


def test_evaluate_refuses_a_table_without_id_and_accepts_id_column(tmp_path: Path) -> None:
    config, _, regions = int_id_dataset(tmp_path / "data")
    emb = peer_embeddings(regions, "geoid", tmp_path / "emb.csv")
    res = evaluate(config, emb, tmp_path / "report")
    assert res.exit_code == 2, res.output
    assert "emb.csv: no region id column (looked for 'region_id', 'tract')" in error_line(
        res.output)
    assert not (tmp_path / "report").exists()
    res = evaluate(config, emb, tmp_path / "report", "--id-column", "geoid")
    assert res.exit_code == 0, res.output


def test_fractional_ids_are_refused_in_views_and_evaluate(tmp_path: Path) -> None:
    config, _, regions = int_id_dataset(tmp_path / "data")
    table = pd.read_csv(tmp_path / "data" / "view1.csv")
    table["region_id"] = table["region_id"].astype(float)
    table.loc[5, "region_id"] = 2.9
    table.to_csv(tmp_path / "data" / "view1.csv", index=False)
    res = fit(config, tmp_path / "runs" / "run", "--no-evaluate")
    assert res.exit_code == 2, res.output
    line = error_line(res.output)
    assert "view1.csv: column 'region_id' holds id '2.9' that is not a whole number" in line

    emb = peer_embeddings(regions, "tract", tmp_path / "emb.csv")
    frame = pd.read_csv(emb)
    frame["tract"] = frame["tract"] + 0.5
    frame.to_csv(emb, index=False)
    res = evaluate(config, emb, tmp_path / "report")
    assert res.exit_code == 2, res.output
    assert "holds id '15.5' that is not a whole number" in error_line(res.output)


def test_zero_padded_text_ids_match_exactly(tmp_path: Path) -> None:
    """Region ids '095'..'110' (text): a CSV view with the same ids matches every region
    (it used to read them as numbers and drop '095'..'099'); numeric ids are refused."""
    from cookie.dataset.dataset import load_dataset
    from cookie.errors import DataError

    root = tmp_path / "data"
    config, cfg = make_dataset(root, tasks=False)
    ids = [f"{i:03d}" for i in range(95, 111)]
    square_regions(16, ids=ids).to_file(root / "regions.gpkg", driver="GPKG")
    feature_table(ids, 3, 1, "v1").to_csv(root / "view1.csv", index=False)
    feature_table(ids, 4, 0, "v0").to_parquet(root / "view0.parquet")
    ds = load_dataset(config)
    assert ds.views["v1"].mask.all(), "zero-padded ids stopped matching"
    feature_table([int(i) for i in ids], 4, 0, "v0").to_parquet(root / "view0.parquet")
    with pytest.raises(DataError, match="view0.parquet: column 'region_id' holds id 95 that "
                       "is a number while region ids are zero-padded text like '095'"):
        load_dataset(config)
    feature_table(list(range(16)), 4, 0, "v0").to_parquet(root / "view0.parquet")
    table = feature_table(list(range(16)), 3, 1, "v1")
    table["region_id"] = [f"{i:03d}" for i in range(16)]
    table.to_csv(root / "view1.csv", index=False)
    square_regions(16, ids=list(range(16))).to_file(root / "regions.gpkg", driver="GPKG")
    with pytest.raises(DataError, match="holds id '000' that only matches after reformatting"):
        load_dataset(config)


# ---------------------------------------------------------------- flows
def test_flows_with_unknown_region_ids_warn_naming_the_id(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    from cookie.config import load_config
    from cookie.features.flows import featurize_flows
    from cookie.sources.regions import load_regions

    config, cfg = make_dataset(tmp_path / "data", tasks=False)
    pd.DataFrame({"origin": ["r1", "r2", "r3"], "destination": ["r2", "ghost", "r1"],
                  "trips": [3.0, 2.0, 1.0]}).to_csv(tmp_path / "data" / "flows.csv",
                                                    index=False)
    cfg["views"].append({"name": "mobility", "kind": "flows", "path": "flows.csv"})
    dataset = load_config(write_config(config, cfg))
    with caplog.at_level(logging.WARNING):
        view = featurize_flows(dataset.view("mobility"), load_regions(dataset))
    assert "flows.csv: 1 flow rows with unknown region ids ignored (first: destination " \
           "'ghost')" in caplog.text
    assert view.mask.sum() == 3


def test_flow_weight_errors_name_the_region_not_the_row(tmp_path: Path) -> None:
    config, cfg = make_dataset(tmp_path / "data", tasks=False)
    pd.DataFrame({"origin": ["r1", "r2", "r5"], "destination": ["r2", "r3", "r1"],
                  "trips": [3.0, 2.0, float("nan")]}).to_csv(tmp_path / "data" / "flows.csv",
                                                             index=False)
    cfg["views"].append({"name": "mobility", "kind": "flows", "path": "flows.csv"})
    res = fit(write_config(config, cfg), tmp_path / "runs" / "run", "--no-evaluate")
    assert res.exit_code == 2, res.output
    assert "column 'trips' has 1 NaN value (first at region 'r5')" in error_line(res.output)


# ---------------------------------------------------------------- geometries
def test_projected_coordinates_tagged_geographic_are_refused(tmp_path: Path) -> None:
    """Metres tagged EPSG:4326 used to reproject into Infinity geometries and exit 0."""
    root = tmp_path / "data"
    config, _ = make_dataset(root)
    square_regions(16).set_crs(4326, allow_override=True).to_file(root / "regions.gpkg",
                                                                 driver="GPKG")
    res = fit(config, tmp_path / "runs" / "run", "--no-evaluate")
    assert res.exit_code == 2, res.output
    line = error_line(res.output)
    assert "regions.gpkg: region 'r0' has coordinates like (380000, 6.67e+06)" in line
    assert "EPSG:4326" in line
    assert not (tmp_path / "runs" / "run").exists()


def test_non_finite_reprojection_is_refused_naming_the_region() -> None:
    from pyproj import CRS
    from shapely.geometry import box

    from cookie.errors import DataError
    from cookie.sources.readers import to_crs

    gdf = gpd.GeoDataFrame(geometry=[box(0, 0, 1, 1), box(380000, 6670000, 380100, 6670100)],
                           crs=4326, index=pd.Index(["a", "far"], name="region_id"))
    with pytest.raises(DataError, match="region 'far' has non-finite coordinates"):
        to_crs(gdf, CRS.from_user_input(32635), "regions.gpkg")


def test_region_repaired_into_lines_is_refused(tmp_path: Path) -> None:
    from shapely.geometry import Polygon

    root = tmp_path / "data"
    config, _ = make_dataset(root)
    regions = square_regions(16)
    x, y = regions.geometry.iloc[3].bounds[:2]
    regions.loc[3, "geometry"] = Polygon([(x, y), (x + 50, y + 50), (x + 100, y + 100)])
    x, y = regions.geometry.iloc[5].bounds[:2]  # a square with a spike keeps its area
    regions.loc[5, "geometry"] = Polygon([(x, y), (x + 100, y), (x + 100, y + 100),
                                          (x, y + 100), (x, y), (x - 20, y - 20), (x, y)])
    regions.to_file(root / "regions.gpkg", driver="GPKG")
    res = fit(config, tmp_path / "runs" / "run", "--no-evaluate")
    assert res.exit_code == 2, res.output
    assert "regions.gpkg: region 'r3' is an invalid polygon whose repair is a " \
           "MultiLineString" in error_line(res.output)
    regions.drop(index=3).to_file(root / "regions.gpkg", driver="GPKG")
    from cookie.config import load_config
    from cookie.sources.regions import load_regions

    got = load_regions(load_config(config))
    assert got.geometry.loc["r5"].geom_type == "Polygon"
    assert abs(got.geometry.loc["r5"].area - 1e4) < 1e-6


# ---------------------------------------------------------------- probes and targets
def outlier_problem(n: int = 200) -> tuple[np.ndarray, np.ndarray]:
    """Raw-view-like features where one region is a 10^4-sigma outlier on one feature."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(n, 5))
    y = X[:, 0] + 0.5 * X[:, 1] + 0.3 * rng.normal(size=n)
    X[7, 0] = 1e4
    return X, y


def test_robust_ridge_guards_an_outlier_fold_and_flags_it() -> None:
    from cookie.evaluation.protocols import robust_regression

    X, y = outlier_problem()
    res = {r.probe: r for r in robust_regression(X, y, folds=5, repeats=3, seed=0,
                                                 probes=["ridge_cv"])}["ridge_cv"]
    assert len(res.flagged) == 3, res.flagged  # the outlier's fold, in every repeat
    assert "prediction" in res.flagged[0] and res.flagged[0].startswith("repeat 0 fold ")
    assert min(res.scores["r2"]) > -0.5, res.scores["r2"]  # unguarded: about -4.6e5
    span = y.max() - y.min()
    assert res.predictions["y_pred"].max() <= y.max() + span + 1e-9


def test_blown_up_fold_is_warned_and_marked_in_the_report(
        caplog: pytest.LogCaptureFixture) -> None:
    from cookie.config import EvaluationConfig, TaskConfig
    from cookie.evaluation.evaluate import evaluate_embeddings
    from tests.synthetic import square_regions

    X, y = outlier_problem(64)
    regions = square_regions(64).set_index("region_id")
    emb = pd.DataFrame(X, index=regions.index)
    labels = pd.DataFrame({"target": y}, index=regions.index)
    task = TaskConfig(name="t", target="target")
    cfg = EvaluationConfig(folds=4, repeats=1, spatial=False, probes=["ridge_cv"])
    with caplog.at_level(logging.WARNING):
        report = evaluate_embeddings(emb, labels, regions, [task], cfg)
    assert "task 't', robust ridge_cv: 1 fold(s) blew up and were clipped" in caplog.text
    assert report.table["n_flagged"].max() == 1
    md = report.to_markdown()
    assert "| ridge_cv (!) |" in md and "(!) some folds predicted outside" in md


def test_huge_scores_are_rounded_and_r2_original_is_explained() -> None:
    from cookie.evaluation.report import EvaluationReport
    from cookie.evaluation.report import fmt as _fmt

    assert _fmt(-1.234567e200, float("nan")) == "-1.23e+200"
    assert _fmt(0.12345, 0.01) == "0.123 ± 0.010"
    table = pd.DataFrame([{"task": "d", "task_type": "regression", "protocol": "robust",
                           "probe": "ridge_cv", "metric": m, "mean": v, "std": 0.0,
                           "n_regions": 9, "n_folds": 5, "n_repeats": 3, "n_flagged": 0}
                          for m, v in (("r2", 0.5), ("r2_original", -3.3e150))])
    md = EvaluationReport(table).to_markdown()
    assert "-3.3e+150" in md and len(max(md.splitlines(), key=len)) < 200
    assert "r2_original: R2 on the label's original scale" in md


def test_constant_target_and_infinite_labels_warn(tmp_path: Path,
                                                  caplog: pytest.LogCaptureFixture) -> None:
    root = tmp_path / "data"
    config, cfg = make_dataset(root)
    pd.DataFrame({"region_id": [f"r{i}" for i in range(16)], "flat": 5.0,
                  "dens": [float("inf")] * 2 + list(np.arange(14.0))}).to_csv(
        root / "labels.csv", index=False)
    cfg["labels"] = {"path": "labels.csv"}
    cfg["tasks"] = [{"name": "flat", "target": "flat"},
                    {"name": "dens", "target": "dens", "log": True}]
    write_config(config, cfg)
    with caplog.at_level(logging.WARNING):
        res = fit(config, tmp_path / "runs" / "run")
    assert res.exit_code == 0, res.output
    assert "task 'flat': the target is constant (5.000 in all 16 regions)" in caplog.text
    assert "task 'dens': 2 infinite targets left out" in caplog.text
