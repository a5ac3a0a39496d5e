"""Broken inputs through the CLI: exit code 2, one line naming the file / column / region at
fault, no traceback, and nothing left behind that looks like a run (nor a temp dir).

Each case gets a fresh, valid tiny dataset (16 square regions, two table views) and breaks one
thing. Datasets are synthetic (see `synthetic.py`) so these tests need no real data.
"""

from __future__ import annotations

import json
import logging
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from shapely.geometry import LineString, Point
from typer.testing import CliRunner

from cookie.cli import app
from tests.synthetic import CRS, make_dataset, square_regions, write_config, write_raster

runner = CliRunner()
GARBAGE = b"\x00\x01this is not a data file\xff\xfe" * 64


@dataclass
class Case:
    """A broken input: `args` for the CLI and substrings its error line must contain."""

    args: list[str]
    expect: list[str]


Builder = Callable[[Path, dict[str, Any], Path], Case]


def fit_args(config: Path, out: Path, *extra: str, evaluate: bool = False) -> list[str]:
    return ["fit", str(config), "--out", str(out), "--epochs", "1", "--pretrain-epochs", "0",
            "--no-evaluate" if not evaluate else "--evaluate",
            "--cache-dir", str(out.parent.parent / "cache"), *extra]


def rewrite(root: Path, cfg: dict[str, Any]) -> Path:
    return write_config(root / "config.toml", cfg)


# ---------------------------------------------------------------- the cases
def missing_config(root: Path, cfg: dict, out: Path) -> Case:
    return Case(fit_args(root / "absent.toml", out), ["absent.toml", "config file not found"])


def invalid_toml(root: Path, cfg: dict, out: Path) -> Case:
    (root / "config.toml").write_text('name = "x"\nviews = [\n')
    return Case(fit_args(root / "config.toml", out), ["config.toml", "invalid TOML"])


def unknown_key(root: Path, cfg: dict, out: Path) -> Case:
    cfg["method"]["colour"] = "red"
    return Case(fit_args(rewrite(root, cfg), out),
                ["config.toml", "method.colour", "Extra inputs are not permitted"])


def wrong_type(root: Path, cfg: dict, out: Path) -> Case:
    cfg["method"]["epochs"] = "ten"
    return Case(fit_args(rewrite(root, cfg), out), ["config.toml", "method.epochs", "integer"])


def unknown_view_kind(root: Path, cfg: dict, out: Path) -> Case:
    cfg["views"][1]["kind"] = "satellite"
    return Case(fit_args(rewrite(root, cfg), out), ["config.toml", "views.1", "'satellite'"])


def unknown_method(root: Path, cfg: dict, out: Path) -> Case:
    return Case(fit_args(root / "config.toml", out, "--method", "magic"),
                ["--method", "'magic'", "known: cookie,", "cookie methods"])


def two_region_sources(root: Path, cfg: dict, out: Path) -> Case:
    cfg["regions"]["grid"] = {"size_m": 100}
    return Case(fit_args(rewrite(root, cfg), out), ["config.toml", "regions", "exactly one"])


def missing_view_file(root: Path, cfg: dict, out: Path) -> Case:
    cfg["views"][0]["path"] = "absent.parquet"
    return Case(fit_args(rewrite(root, cfg), out), ["absent.parquet", "file not found"])


def corrupt_parquet(root: Path, cfg: dict, out: Path) -> Case:
    (root / "view0.parquet").write_bytes(GARBAGE)
    return Case(fit_args(root / "config.toml", out), ["view0.parquet", "cannot read table"])


def corrupt_gpkg(root: Path, cfg: dict, out: Path) -> Case:
    (root / "regions.gpkg").write_bytes(GARBAGE)
    return Case(fit_args(root / "config.toml", out), ["regions.gpkg", "cannot read"])


def corrupt_tif(root: Path, cfg: dict, out: Path) -> Case:
    (root / "dem.tif").write_bytes(GARBAGE)
    cfg["views"].append({"name": "dem", "kind": "raster", "path": "dem.tif"})
    return Case(fit_args(rewrite(root, cfg), out), ["dem.tif", "cannot read raster"])


def unsupported_table_format(root: Path, cfg: dict, out: Path) -> Case:
    (root / "view0.xlsx").write_bytes(GARBAGE)
    cfg["views"][0]["path"] = "view0.xlsx"
    return Case(fit_args(rewrite(root, cfg), out), ["view0.xlsx", "unsupported table format"])


def missing_region_id_column(root: Path, cfg: dict, out: Path) -> Case:
    cfg["regions"]["id_column"] = "tract"
    return Case(fit_args(rewrite(root, cfg), out), ["regions.gpkg", "'tract' not found"])


def missing_view_id_column(root: Path, cfg: dict, out: Path) -> Case:
    cfg["views"][1]["id_column"] = "tract"
    return Case(fit_args(rewrite(root, cfg), out), ["view1.csv", "'tract' not found"])


def duplicate_region_ids(root: Path, cfg: dict, out: Path) -> Case:
    ids = [f"r{i}" for i in range(16)]
    ids[7] = "r3"
    square_regions(16, ids=ids).to_file(root / "regions.gpkg", driver="GPKG")
    return Case(fit_args(root / "config.toml", out),
                ["regions.gpkg", "'region_id'", "duplicate region ids", "'r3'"])


def duplicate_view_ids(root: Path, cfg: dict, out: Path) -> Case:
    table = pd.read_parquet(root / "view0.parquet")
    pd.concat([table, table.iloc[[5]]]).to_parquet(root / "view0.parquet")
    return Case(fit_args(root / "config.toml", out),
                ["view0.parquet", "duplicate region ids", "'r5'"])


def nan_in_view(root: Path, cfg: dict, out: Path) -> Case:
    table = pd.read_csv(root / "view1.csv")
    table.loc[5, "v1_2"] = np.nan
    table.to_csv(root / "view1.csv", index=False)
    return Case(fit_args(root / "config.toml", out),
                ["view1.csv", "'v1_2'", "1 NaN value", "region 'r5'"])


def inf_in_view(root: Path, cfg: dict, out: Path) -> Case:
    table = pd.read_parquet(root / "view0.parquet")
    table.loc[9, "v0_1"] = np.inf
    table.to_parquet(root / "view0.parquet")
    return Case(fit_args(root / "config.toml", out),
                ["view0.parquet", "'v0_1'", "1 infinite value", "region 'r9'"])


def non_numeric_view_column(root: Path, cfg: dict, out: Path) -> Case:
    table = pd.read_parquet(root / "view0.parquet")
    table["v0_kind"] = "shop"
    table.to_parquet(root / "view0.parquet")
    cfg["views"][0]["columns"] = ["v0_*"]
    return Case(fit_args(rewrite(root, cfg), out),
                ["view0.parquet", "'v0_kind'", "not numeric"])


def negative_with_log1p(root: Path, cfg: dict, out: Path) -> Case:
    table = pd.read_parquet(root / "view0.parquet")
    table.loc[2, "v0_3"] = -1.0
    table.to_parquet(root / "view0.parquet")
    return Case(fit_args(root / "config.toml", out), ["view0.parquet", "'v0_3'", "negative"])


def missing_label_column(root: Path, cfg: dict, out: Path) -> Case:
    cfg["tasks"] = [{"name": "density", "target": "inhabitants / area_km2"}]
    return Case(fit_args(rewrite(root, cfg), out, evaluate=True),
                ["regions.gpkg", "task 'density'", "'inhabitants' not found"])


def invalid_label_expression(root: Path, cfg: dict, out: Path) -> Case:
    marker = root / "pwned"
    cfg["tasks"] = [{"name": "x", "target": f"__import__('os').system('touch {marker}')"}]
    return Case(fit_args(rewrite(root, cfg), out, evaluate=True),
                ["task 'x'", "__import__", "may be called"])


def too_few_labels(root: Path, cfg: dict, out: Path) -> Case:
    labels = pd.DataFrame({"region_id": ["r0", "r1", "r2"], "income": [1.0, 2.0, 3.0]})
    labels.to_csv(root / "labels.csv", index=False)
    cfg["labels"] = {"path": "labels.csv"}
    cfg["tasks"] = [{"name": "income", "target": "income"}]
    return Case(fit_args(rewrite(root, cfg), out, evaluate=True),
                ["labels.csv", "'income'", "3 labeled regions"])


def lines_in_polygons_view(root: Path, cfg: dict, out: Path) -> Case:
    x0, y0 = 380010.0, 6670010.0
    roads = gpd.GeoDataFrame({"highway": ["primary", "residential"]},
                             geometry=[LineString([(x0, y0), (x0 + 300, y0 + 300)]),
                                       LineString([(x0, y0 + 50), (x0 + 200, y0 + 50)])],
                             crs=CRS)
    roads.to_file(root / "roads.gpkg", driver="GPKG")
    cfg["views"].append({"name": "landuse", "kind": "polygons", "path": "roads.gpkg"})
    return Case(fit_args(rewrite(root, cfg), out),
                ["roads.gpkg", "polygons view 'landuse'", "LineString"])


def points_as_regions(root: Path, cfg: dict, out: Path) -> Case:
    pts = gpd.GeoDataFrame({"region_id": [f"r{i}" for i in range(16)]},
                           geometry=[Point(380000 + i, 6670000) for i in range(16)], crs=CRS)
    pts.to_file(root / "regions.gpkg", driver="GPKG")
    return Case(fit_args(root / "config.toml", out), ["regions.gpkg", "polygons", "Point"])


def no_crs_file(gdf: gpd.GeoDataFrame, path: Path) -> None:
    """Write a layer without a CRS (quietly: pyogrio warns about it)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        gdf.to_file(path, driver="GPKG")


def layer_without_crs(root: Path, cfg: dict, out: Path) -> Case:
    no_crs_file(square_regions(16).set_crs(None, allow_override=True), root / "regions.gpkg")
    return Case(fit_args(root / "config.toml", out), ["regions.gpkg", "no CRS", "crs ="])


def view_layer_without_crs(root: Path, cfg: dict, out: Path) -> Case:
    no_crs_file(gpd.GeoDataFrame({"kind": ["a", "b"]},
                                 geometry=[Point(380050, 6670050), Point(380150, 6670050)]),
                root / "poi.gpkg")
    cfg["views"].append({"name": "poi", "kind": "points", "path": "poi.gpkg"})
    return Case(fit_args(rewrite(root, cfg), out), ["poi.gpkg", "no CRS"])


def raster_off_regions(root: Path, cfg: dict, out: Path) -> Case:
    write_raster(root / "dem.tif", (500000.0, 7000000.0, 501000.0, 7001000.0))
    cfg["views"].append({"name": "dem", "kind": "raster", "path": "dem.tif"})
    return Case(fit_args(rewrite(root, cfg), out),
                ["dem.tif", "does not overlap", "raster extent (500000, 7e+06",
                 "regions' extent (380000, 6.67e+06", "(both in EPSG:3067)"])


def raster_band_out_of_range(root: Path, cfg: dict, out: Path) -> Case:
    write_raster(root / "dem.tif", (380000.0, 6670000.0, 380400.0, 6670400.0))
    cfg["views"].append({"name": "dem", "kind": "raster", "path": "dem.tif", "bands": [3]})
    return Case(fit_args(rewrite(root, cfg), out), ["dem.tif", "band 3", "1 bands"])


def empty_view_layer(root: Path, cfg: dict, out: Path) -> Case:
    empty = gpd.GeoDataFrame({"landuse": pd.Series([], dtype=str)},
                             geometry=gpd.GeoSeries([], crs=CRS))
    empty.to_file(root / "landuse.gpkg", driver="GPKG")
    cfg["views"].append({"name": "landuse", "kind": "polygons", "path": "landuse.gpkg"})
    return Case(fit_args(rewrite(root, cfg), out), ["landuse.gpkg", "empty", "'landuse'"])


def empty_regions_layer(root: Path, cfg: dict, out: Path) -> Case:
    square_regions(16).iloc[:0].to_file(root / "regions.gpkg", driver="GPKG")
    return Case(fit_args(root / "config.toml", out), ["regions.gpkg", "no regions"])


def negative_flows(root: Path, cfg: dict, out: Path) -> Case:
    flows = pd.DataFrame({"origin": ["r0", "r1"], "destination": ["r1", "r2"],
                          "trips": [3.0, -2.0]})
    flows.to_parquet(root / "flows.parquet")
    cfg["views"].append({"name": "mobility", "kind": "flows", "path": "flows.parquet"})
    return Case(fit_args(rewrite(root, cfg), out), ["flows.parquet", "'trips'", "negative"])


def region_id_type_mismatch(root: Path, cfg: dict, out: Path) -> Case:
    square_regions(16, ids=list(range(16))).to_file(root / "regions.gpkg", driver="GPKG")
    return Case(fit_args(root / "config.toml", out),
                ["view0.parquet", "'region_id'", "ids like 'r0'", "int64 ids (like 0)"])


def label_id_type_mismatch(root: Path, cfg: dict, out: Path) -> Case:
    square_regions(16, ids=list(range(16))).to_file(root / "regions.gpkg", driver="GPKG")
    for k, name in enumerate(("view0.parquet", "view1.csv")):
        table = pd.DataFrame({"region_id": range(16), f"v{k}_0": np.arange(16.0) + k})
        table.to_parquet(root / name) if k == 0 else table.to_csv(root / name, index=False)
    pd.DataFrame({"id": [f"r{i}" for i in range(16)], "income": np.arange(16.0)}).to_csv(
        root / "labels.csv", index=False)
    cfg["labels"] = {"path": "labels.csv", "id_column": "id"}
    return Case(fit_args(rewrite(root, cfg), out), ["labels.csv", "'id'", "ids like 'r0'"])


def flows_id_type_mismatch(root: Path, cfg: dict, out: Path) -> Case:
    pd.DataFrame({"origin": [1.0, 2.0], "destination": ["r1", "r2"],
                  "trips": [3.0, 2.0]}).to_csv(root / "flows.csv", index=False)
    cfg["views"].append({"name": "mobility", "kind": "flows", "path": "flows.csv"})
    square_regions(16, ids=list(range(16))).to_file(root / "regions.gpkg", driver="GPKG")
    for k, name in enumerate(("view0.parquet", "view1.csv")):
        table = pd.DataFrame({"region_id": range(16), f"v{k}_0": np.arange(16.0) + k})
        table.to_parquet(root / name) if k == 0 else table.to_csv(root / name, index=False)
    return Case(fit_args(rewrite(root, cfg), out), ["flows.csv", "'destination'", "'r1'"])


def missing_ids_in_view(root: Path, cfg: dict, out: Path) -> Case:
    table = pd.read_csv(root / "view1.csv")
    table.loc[3, "region_id"] = None
    table.to_csv(root / "view1.csv", index=False)
    return Case(fit_args(root / "config.toml", out),
                ["view1.csv", "'region_id'", "1 missing region ids"])


def view_matches_no_region(root: Path, cfg: dict, out: Path) -> Case:
    table = pd.read_parquet(root / "view0.parquet")
    table["region_id"] = "tract_" + table["region_id"]
    table.to_parquet(root / "view0.parquet")
    return Case(fit_args(root / "config.toml", out),
                ["view0.parquet", "no row matches a region id", "'tract_r0'", "'r0'"])


def empty_table_view(root: Path, cfg: dict, out: Path) -> Case:
    pd.read_parquet(root / "view0.parquet").iloc[:0].to_parquet(root / "view0.parquet")
    return Case(fit_args(root / "config.toml", out), ["view0.parquet", "no rows"])


def points_outside_all_regions(root: Path, cfg: dict, out: Path) -> Case:
    far = gpd.GeoDataFrame({"kind": ["a", "b"]},
                           geometry=[Point(390000, 6680000), Point(390100, 6680000)], crs=CRS)
    far.to_file(root / "poi.gpkg", driver="GPKG")
    cfg["views"].append({"name": "poi", "kind": "points", "path": "poi.gpkg"})
    return Case(fit_args(rewrite(root, cfg), out),
                ["poi.gpkg", "view 'poi'", "none of the 16 regions has data"])


def invalid_crs(root: Path, cfg: dict, out: Path) -> Case:
    cfg["crs"] = "EPSG:999999"
    return Case(fit_args(rewrite(root, cfg), out), ["config.toml", "invalid crs 'EPSG:999999'"])


def geographic_crs(root: Path, cfg: dict, out: Path) -> Case:
    cfg["crs"] = "EPSG:4326"
    return Case(fit_args(rewrite(root, cfg), out),
                ["config.toml", "'EPSG:4326'", "not a projected CRS in metres"])


def bad_trainer_devices(root: Path, cfg: dict, out: Path) -> Case:
    return Case(fit_args(root / "config.toml", out, "--devices", "lots"),
                ["trainer settings", "devices='lots'"])


def raster_label_bad_expression(root: Path, cfg: dict, out: Path) -> Case:
    write_raster(root / "ndvi.tif", (380000.0, 6670000.0, 380400.0, 6670400.0))
    cfg["labels"] = {"raster": [{"name": "green", "path": "ndvi.tif",
                                 "expression": "b1.__class__"}]}
    return Case(fit_args(rewrite(root, cfg), out),
                ["ndvi.tif", "b1.__class__", "Attribute not allowed"])


def embed_corrupt_model(root: Path, cfg: dict, out: Path) -> Case:
    model = root / "run" / "model"
    model.mkdir(parents=True)
    (model / "model.json").write_text("{not json")
    (model / "model.pt").write_bytes(GARBAGE)
    return Case(["embed", str(root / "run"), str(root / "config.toml"), "--out", str(out),
                 "--cache-dir", str(root / "cache")], [str(model), "unreadable model"])


def evaluate_nan_embeddings(root: Path, cfg: dict, out: Path) -> Case:
    emb = pd.DataFrame(np.ones((16, 3)), columns=["a", "b", "c"],
                       index=pd.Index([f"r{i}" for i in range(16)], name="region_id"))
    emb.iloc[4, 1] = np.nan
    emb.to_parquet(root / "emb.parquet")
    return Case(["evaluate", str(root / "config.toml"), "--embeddings",
                 str(root / "emb.parquet"), "--out", str(out)],
                ["emb.parquet", "column 'b'", "1 NaN value", "region 'r4'"])


def evaluate_text_embeddings(root: Path, cfg: dict, out: Path) -> Case:
    emb = pd.DataFrame({"region_id": [f"r{i}" for i in range(16)], "e0": np.arange(16.0),
                        "label": ["x"] * 16})
    emb.to_csv(root / "emb.csv", index=False)
    return Case(["evaluate", str(root / "config.toml"), "--embeddings", str(root / "emb.csv"),
                 "--out", str(out)], ["emb.csv", "'label'", "not numeric"])


def evaluate_foreign_embeddings(root: Path, cfg: dict, out: Path) -> Case:
    emb = pd.DataFrame(np.ones((16, 2)), columns=["a", "b"],
                       index=pd.Index([f"x{i}" for i in range(16)], name="region_id"))
    emb.to_parquet(root / "emb.parquet")
    return Case(["evaluate", str(root / "config.toml"), "--embeddings",
                 str(root / "emb.parquet"), "--out", str(out)],
                ["emb.parquet", "cover only 0", "'pop'"])


def evaluate_missing_embeddings(root: Path, cfg: dict, out: Path) -> Case:
    return Case(["evaluate", str(root / "config.toml"), "--embeddings",
                 str(root / "absent.parquet"), "--out", str(out)],
                ["absent.parquet", "file not found"])


def embed_missing_model(root: Path, cfg: dict, out: Path) -> Case:
    return Case(["embed", str(root / "no_such_run"), str(root / "config.toml"), "--out",
                 str(out), "--cache-dir", str(root / "cache")],
                ["no_such_run", "model directory not found"])


CASES: list[Builder] = [
    missing_config, invalid_toml, unknown_key, wrong_type, unknown_view_kind, unknown_method,
    two_region_sources, missing_view_file, corrupt_parquet, corrupt_gpkg, corrupt_tif,
    unsupported_table_format, missing_region_id_column, missing_view_id_column,
    duplicate_region_ids, duplicate_view_ids, nan_in_view, inf_in_view, non_numeric_view_column,
    negative_with_log1p, missing_label_column, invalid_label_expression, too_few_labels,
    lines_in_polygons_view, points_as_regions, layer_without_crs, view_layer_without_crs,
    raster_off_regions, raster_band_out_of_range, empty_view_layer, empty_regions_layer,
    negative_flows, region_id_type_mismatch, label_id_type_mismatch, flows_id_type_mismatch,
    missing_ids_in_view, view_matches_no_region, empty_table_view, points_outside_all_regions,
    invalid_crs, geographic_crs, bad_trainer_devices, raster_label_bad_expression,
    evaluate_nan_embeddings, evaluate_text_embeddings, evaluate_foreign_embeddings,
    evaluate_missing_embeddings, embed_missing_model, embed_corrupt_model,
]


def error_line(output: str) -> str:
    """The one `error:` line of the CLI output (asserting there is exactly one)."""
    lines = [ln for ln in output.splitlines() if ln.startswith("error:")]
    assert len(lines) == 1, output
    tail = output[output.index("error:"):].strip()
    assert "\n" not in tail, f"error message spans several lines:\n{output}"
    return lines[0]


def leftovers(parent: Path, name: str) -> list[str]:
    return sorted(p.name for p in parent.glob(f"{name}*")) + sorted(
        p.name for p in parent.glob(f".{name}.*"))


def run_bad_case(build, tmp_path: Path):
    """Build a case on a fresh synthetic dataset, run it through the CLI and check that it
    exits 2 with one error line holding every expected part; returns (root, runs, case, line)."""
    root = tmp_path / "data"
    _, cfg = make_dataset(root)
    runs = tmp_path / "runs"
    runs.mkdir()
    case = build(root, cfg, runs / "run")
    res = runner.invoke(app, case.args)
    assert res.exit_code == 2, f"exit {res.exit_code}: {res.output}\n{res.exception!r}"
    assert "Traceback" not in res.output
    line = error_line(res.output)
    for part in case.expect:
        assert part in line, f"{part!r} not in: {line}"
    return root, runs, case, line


@pytest.mark.parametrize("build", CASES, ids=[c.__name__ for c in CASES])
def test_bad_input_one_clean_line(build: Builder, tmp_path: Path) -> None:
    root, runs, _, _ = run_bad_case(build, tmp_path)
    assert leftovers(runs, "run") == [], "output or temp dir left behind"
    assert not (root / "pwned").exists(), "a label expression was executed"


def test_debug_shows_traceback(tmp_path: Path) -> None:
    """--debug re-raises the error (the traceback is for developers)."""
    res = runner.invoke(app, ["--debug", *fit_args(tmp_path / "absent.toml",
                                                   tmp_path / "runs" / "run")])
    assert res.exit_code != 0 and res.exception is not None
    assert "config file not found" in str(res.exception)


# ---------------------------------------------------------------- warnings, not failures
def test_unknown_label_regions_warn(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Labels for regions that do not exist are ignored with a warning (the fit succeeds)."""
    root = tmp_path / "data"
    _, cfg = make_dataset(root)
    ids = [f"r{i}" for i in range(16)] + ["ghost1", "ghost2"]
    pd.DataFrame({"region_id": ids, "income": np.arange(18.0)}).to_csv(root / "labels.csv",
                                                                      index=False)
    cfg["labels"] = {"path": "labels.csv"}
    cfg["tasks"] = [{"name": "income", "target": "income"}]
    rewrite(root, cfg)
    out = tmp_path / "runs" / "run"
    caplog.set_level(logging.WARNING)
    res = runner.invoke(app, fit_args(root / "config.toml", out, "--method", "raw"))
    assert res.exit_code == 0, res.output
    assert "2 labels for unknown regions ignored" in caplog.text
    assert "ghost1" in caplog.text
    assert (out / "embeddings.parquet").is_file()


def test_regions_missing_from_view_warn(tmp_path: Path,
                                        caplog: pytest.LogCaptureFixture) -> None:
    """A view without rows for some regions: warning with the count, zeros and mask False."""
    from cookie.dataset.dataset import load_dataset

    root = tmp_path / "data"
    config, _ = make_dataset(root)
    table = pd.read_parquet(root / "view0.parquet")
    table[~table.region_id.isin(["r2", "r11"])].to_parquet(root / "view0.parquet")
    caplog.set_level(logging.WARNING)
    ds = load_dataset(config)
    view = ds.views["v0"]
    assert "view 'v0': 2 of 16 regions have no data" in caplog.text
    missing = ~view.mask
    assert list(view.region_ids[missing]) == ["r2", "r11"]
    assert (view.values[missing] == 0).all()

    out = tmp_path / "runs" / "run"
    res = runner.invoke(app, fit_args(config, out))
    assert res.exit_code == 0, res.output
    emb = pd.read_parquet(out / "embeddings.parquet")
    assert len(emb) == 16 and np.isfinite(emb.drop(columns="geometry").to_numpy()).all()
    assert leftovers(out.parent, "run") == ["run"], "checkpoints or temp dirs left behind"


# ---------------------------------------------------------------- atomicity after outputs began
def test_failure_after_outputs_began_leaves_nothing(tmp_path: Path) -> None:
    """Evaluation fails after model and embeddings were written to the temp run dir: no run dir
    appears, and an earlier run at the same path is left exactly as it was."""
    root = tmp_path / "data"
    _, cfg = make_dataset(root)
    cfg["evaluation"].update(literature=True, literature_splits=50)  # > 16 regions
    config = rewrite(root, cfg)
    runs = tmp_path / "runs"
    out = runs / "run"
    res = runner.invoke(app, fit_args(config, out, evaluate=True))
    assert res.exit_code == 2, res.output
    line = error_line(res.output)
    assert "fewer than the 50 folds" in line and "'pop'" in line
    assert "Traceback" not in res.output
    assert not out.exists()
    assert not list(runs.glob(".run.tmp-*"))

    out.mkdir()
    (out / "run.json").write_text(json.dumps({"seed": 7}))
    res = runner.invoke(app, fit_args(config, out, evaluate=True))
    assert res.exit_code == 2, res.output
    assert sorted(p.name for p in out.iterdir()) == ["run.json"]
    assert json.loads((out / "run.json").read_text()) == {"seed": 7}
    assert not list(runs.glob(".run.tmp-*")) and not list(runs.glob(".run.old-*"))


def test_interrupt_while_writing_leaves_nothing(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """Ctrl-C after the model and embeddings went into the temp run dir: exit 130, no run dir,
    no temp dir."""
    import cookie.apps.pipeline

    def interrupted(*args: Any, **kwargs: Any) -> dict:
        raise KeyboardInterrupt

    monkeypatch.setattr(cookie.apps.pipeline, "run_record", interrupted)
    config, _ = make_dataset(tmp_path / "data")
    runs = tmp_path / "runs"
    res = runner.invoke(app, fit_args(config, runs / "run", "--method", "raw"))
    assert res.exit_code == 130, res.output
    assert "interrupted" in res.output and "Traceback" not in res.output
    assert leftovers(runs, "run") == []
