"""Inputs that crashed with a traceback (or hung, or silently ran something else) now give one
line and exit code 2, as early as possible: option ranges are checked when the config and the
command line are read, before any featurizing.

Same shape as `test_bad_inputs.py` (a fresh tiny synthetic dataset per case, one thing broken),
plus checks that config-time errors leave the feature cache untouched, and a property-based
test driving random malformed configs and tables through `cookie fit`.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import cookie
from cookie.cli import app
from tests.synthetic import ORIGIN, make_dataset, write_config, write_raster
from tests.test_bad_inputs import error_line, fit_args, leftovers, rewrite, run_bad_case, runner

SRC = str(Path(cookie.__file__).resolve().parents[1])  # the child imports the same package


@dataclass
class Case:
    """A broken input: CLI `args`, substrings the error line must (`expect`) and must not
    (`absent`) contain; `early`: the error must come before any view is featurized."""

    args: list[str]
    expect: list[str]
    absent: list[str] = field(default_factory=list)
    early: bool = False


Builder = Callable[[Path, dict[str, Any], Path], Case]


def featurize_args(config: Path, out: Path, *extra: str) -> list[str]:
    return ["featurize", str(config), "--out", str(out), *extra]


def train(root: Path) -> Path:
    """A trained CooKIE run folder beside the dataset; returns its model/ folder."""
    run = root / "trained"
    res = runner.invoke(app, fit_args(root / "config.toml", run, "--cache-dir",
                                      str(root / "train_cache")))
    assert res.exit_code == 0, res.output
    return run / "model"


# ---------------------------------------------------------------- seeds
def negative_seed(root: Path, cfg: dict, out: Path) -> Case:
    return Case(fit_args(root / "config.toml", out, "--seed", "-1"),
                ["--seed -1", "method.seed", "greater than or equal to 0"], early=True)


def huge_seed(root: Path, cfg: dict, out: Path) -> Case:
    return Case(fit_args(root / "config.toml", out, "--seed", str(2**40)),
                ["method.seed", "less than or equal to 4294967295"], early=True)


def huge_seed_in_config(root: Path, cfg: dict, out: Path) -> Case:
    cfg["method"]["seed"] = 2**32
    return Case(fit_args(rewrite(root, cfg), out), ["config.toml", "method.seed"], early=True)


# ---------------------------------------------------------------- evaluation settings
def literature_splits_one(root: Path, cfg: dict, out: Path) -> Case:
    cfg["evaluation"].update(literature=True, literature_splits=1)
    return Case(fit_args(rewrite(root, cfg), out, evaluate=True),
                ["config.toml", "evaluation.literature_splits", "greater than or equal to 2"],
                early=True)


def probe_typo(root: Path, cfg: dict, out: Path) -> Case:
    cfg["evaluation"]["probes"] = ["ridge"]
    return Case(fit_args(rewrite(root, cfg), out, evaluate=True),
                ["config.toml", "evaluation.probes.0", "'ridge_cv'"], early=True)


def probes_for_no_task(root: Path, cfg: dict, out: Path) -> Case:
    cfg["evaluation"]["probes"] = ["logistic"]  # the only task is a regression
    return Case(fit_args(rewrite(root, cfg), out, evaluate=True),
                ["config.toml", "no probe for regression task 'pop'", "ridge_cv"], early=True)


def empty_probe_list(root: Path, cfg: dict, out: Path) -> Case:
    cfg["evaluation"]["probes"] = []
    return Case(fit_args(rewrite(root, cfg), out, evaluate=True),
                ["config.toml", "evaluation.probes", "at least 1 item"], early=True)


# ---------------------------------------------------------------- method settings
def batch_of_one(root: Path, cfg: dict, out: Path) -> Case:
    cfg["method"]["batch_size"] = 1
    return Case(fit_args(rewrite(root, cfg), out),
                ["config.toml", "method.batch_size", "at least 2"], early=True)


def embedding_too_small_cookie(root: Path, cfg: dict, out: Path) -> Case:
    cfg["method"]["embedding_dim"] = 2  # CooKIE with 2 views: 2 unique + 1 shared block
    return Case(fit_args(rewrite(root, cfg), out),
                ["config.toml", "embedding_dim 2", "'cookie' with 2 views", "3 blocks"],
                early=True)


def embedding_too_small_gfactorcl(root: Path, cfg: dict, out: Path) -> Case:
    cfg["views"].append(dict(cfg["views"][0], name="v2"))
    cfg["method"]["embedding_dim"] = 6  # GFactorCL with 3 views: 2^3 - 1 = 7 factors
    return Case(fit_args(rewrite(root, cfg), out, "--method", "gfactorcl"),
                ["config.toml", "embedding_dim 6", "'gfactorcl' with 3 views", "7 blocks"],
                early=True)


def one_view_multiview_method(root: Path, cfg: dict, out: Path) -> Case:
    cfg["views"] = cfg["views"][:1]
    return Case(fit_args(rewrite(root, cfg), out),
                ["config.toml", "method 'cookie'", "at least two", "has 1", "'raw'"],
                early=True)


def one_view_method_override(root: Path, cfg: dict, out: Path) -> Case:
    cfg["views"] = cfg["views"][:1]
    cfg["method"]["name"] = "raw"
    return Case(fit_args(rewrite(root, cfg), out, "--method", "shared_pairwise"),
                ["config.toml", "'shared_pairwise'", "at least two"], early=True)


def nan_alpha(root: Path, cfg: dict, out: Path) -> Case:
    return Case(fit_args(root / "config.toml", out, "--alpha", "nan"),
                ["method.alpha", "finite number"], early=True)


def infinite_temperature(root: Path, cfg: dict, out: Path) -> Case:
    cfg["method"]["temperature"] = math.inf
    return Case(fit_args(rewrite(root, cfg), out),
                ["config.toml", "method.temperature", "finite number"], early=True)


def infinite_lr(root: Path, cfg: dict, out: Path) -> Case:
    cfg["method"]["lr"] = math.inf
    return Case(fit_args(rewrite(root, cfg), out), ["config.toml", "method.lr", "finite"],
                early=True)


def huge_width(root: Path, cfg: dict, out: Path) -> Case:
    cfg["method"]["hidden_dim"] = 10**9
    return Case(fit_args(rewrite(root, cfg), out),
                ["config.toml", "method.hidden_dim", "at most 65536"], early=True)


def infinite_augment_noise(root: Path, cfg: dict, out: Path) -> Case:
    cfg["views"][0]["augment"] = {"noise": math.inf}
    return Case(fit_args(rewrite(root, cfg), out),
                ["config.toml", "views.0.table.augment.noise", "finite number"], early=True)


def reversed_grid_bounds(root: Path, cfg: dict, out: Path) -> Case:
    x, y = ORIGIN
    cfg["regions"] = {"grid": {"size_m": 100, "bounds": [x + 400, y, x, y + 400]}}
    return Case(fit_args(rewrite(root, cfg), out),
                ["config.toml", "regions.grid", "minx < maxx"], early=True)


def grid_too_fine(root: Path, cfg: dict, out: Path) -> Case:
    x, y = ORIGIN
    cfg["regions"] = {"grid": {"size_m": 0.001, "bounds": [x, y, x + 400, y + 400]}}
    return Case(fit_args(rewrite(root, cfg), out),
                ["regions.grid", "size_m 0.001", "1.6e+11 cells", "larger size_m"], early=True)


def raster_band_zero(root: Path, cfg: dict, out: Path) -> Case:
    write_raster(root / "dem.tif", (ORIGIN[0], ORIGIN[1], ORIGIN[0] + 400, ORIGIN[1] + 400))
    cfg["views"].append({"name": "dem", "kind": "raster", "path": "dem.tif", "bands": [0]})
    return Case(fit_args(rewrite(root, cfg), out),
                ["config.toml", "views.2.raster.bands.0", "greater than or equal to 1"], early=True)


def empty_task_target(root: Path, cfg: dict, out: Path) -> Case:
    cfg["tasks"][0]["target"] = ""
    return Case(fit_args(rewrite(root, cfg), out, evaluate=True),
                ["config.toml", "tasks.0.target", "at least 1 character"], early=True)


def diverging_training(root: Path, cfg: dict, out: Path) -> Case:
    cfg["method"]["alpha"] = 1e308  # the loss is inf: caught before the optimizer step
    return Case(fit_args(rewrite(root, cfg), out),
                ["training diverged", "loss is inf at epoch 1", "nothing written"])


# ---------------------------------------------------------------- data
def string_flow_weights(root: Path, cfg: dict, out: Path) -> Case:
    flows = pd.DataFrame({"origin": ["r0", "r1"], "destination": ["r1", "r2"],
                          "trips": ["3", "many"]})
    flows.to_parquet(root / "flows.parquet")
    cfg["views"].append({"name": "mobility", "kind": "flows", "path": "flows.parquet"})
    return Case(fit_args(rewrite(root, cfg), out),
                ["flows.parquet", "column 'trips'", "not numeric", "'3'"])


# ---------------------------------------------------------------- label expressions
def overflowing_target(root: Path, cfg: dict, out: Path) -> Case:
    cfg["tasks"] = [{"name": "big", "target": "population ** 400"}]
    return Case(fit_args(rewrite(root, cfg), out, evaluate=True),
                ["regions.gpkg", "task 'big'", "'population ** 400'", "overflows"])


def huge_literal_target(root: Path, cfg: dict, out: Path) -> Case:
    cfg["tasks"] = [{"name": "big", "target": "population * 1" + "0" * 400}]
    return Case(fit_args(rewrite(root, cfg), out, evaluate=True),
                ["task 'big'", "the number 100000000000...", "beyond 1e+100"])


# ---------------------------------------------------------------- task errors name labels
def single_class_names_labels(root: Path, cfg: dict, out: Path) -> Case:
    ids = [f"r{i}" for i in range(16)]
    pd.DataFrame({"region_id": ids, "kind": ["a"] * 16}).to_csv(root / "labels.csv",
                                                                index=False)
    cfg["labels"] = {"path": "labels.csv"}
    cfg["tasks"] = [{"name": "kind", "target": "kind", "type": "classification"}]
    pd.DataFrame(np.ones((16, 2)), columns=["a", "b"],
                 index=pd.Index(ids, name="region_id")).to_parquet(root / "emb.parquet")
    return Case(["evaluate", str(rewrite(root, cfg)), "--embeddings", str(root / "emb.parquet"),
                 "--out", str(out)], ["labels.csv", "task 'kind'", "single class"],
                absent=["emb.parquet"])


def too_few_folds_names_labels(root: Path, cfg: dict, out: Path) -> Case:
    cfg["evaluation"].update(literature=True, literature_splits=20)  # > 16 regions
    ids = [f"r{i}" for i in range(16)]
    pd.DataFrame(np.ones((16, 2)), columns=["a", "b"],
                 index=pd.Index(ids, name="region_id")).to_parquet(root / "emb.parquet")
    return Case(["evaluate", str(rewrite(root, cfg)), "--embeddings", str(root / "emb.parquet"),
                 "--out", str(out)], ["regions.gpkg", "task 'pop'", "fewer than the 20 folds"],
                absent=["emb.parquet"])


# ---------------------------------------------------------------- CLI options
def h3_out_of_range(root: Path, cfg: dict, out: Path) -> Case:
    return Case(featurize_args(root / "config.toml", out, "--h3", "99"),
                ["--h3 99", "0..15"], early=True)


def zero_tiles(root: Path, cfg: dict, out: Path) -> Case:
    return Case(featurize_args(root / "config.toml", out, "--tiles", "0"),
                ["--tiles 0", "> 0"], early=True)


def zero_workers(root: Path, cfg: dict, out: Path) -> Case:
    return Case(featurize_args(root / "config.toml", out, "--workers", "0"),
                ["--workers 0", ">= 1"], early=True)


def negative_embed_batch(root: Path, cfg: dict, out: Path) -> Case:
    model = train(root)
    return Case(["embed", str(model.parent), str(root / "config.toml"), "--out", str(out),
                 "--batch-size", "-5", "--cache-dir", str(root / "cache")],
                ["--batch-size -5", ">= 0"])


# ---------------------------------------------------------------- model folders
def model_json_lacks_key(root: Path, cfg: dict, out: Path) -> Case:
    model = train(root)
    meta = json.loads((model / "model.json").read_text())
    del meta["views"]
    (model / "model.json").write_text(json.dumps(meta))
    return Case(["embed", str(model.parent), str(root / "config.toml"), "--out", str(out),
                 "--cache-dir", str(root / "cache")],
                [str(model), "unreadable model", "lacks the key 'views'"])


def model_files_disagree(root: Path, cfg: dict, out: Path) -> Case:
    model = train(root)
    meta = json.loads((model / "model.json").read_text())
    meta["method"]["encoder_dim"] = 16  # the weights in model.pt are for 8
    (model / "model.json").write_text(json.dumps(meta))
    return Case(["embed", str(model.parent), str(root / "config.toml"), "--out", str(out),
                 "--cache-dir", str(root / "cache")],
                [str(model), "model.json and model.pt do not match", "shape"])


def model_json_invalid_method(root: Path, cfg: dict, out: Path) -> Case:
    model = train(root)
    meta = json.loads((model / "model.json").read_text())
    meta["method"]["name"] = "magic"
    (model / "model.json").write_text(json.dumps(meta))
    return Case(["embed", str(model.parent), str(root / "config.toml"), "--out", str(out),
                 "--cache-dir", str(root / "cache")],
                [str(model), "unreadable model", "model.json: name"])


def model_pt_not_a_state(root: Path, cfg: dict, out: Path) -> Case:
    import torch

    model = train(root)
    torch.save([1, 2, 3], model / "model.pt")
    return Case(["embed", str(model.parent), str(root / "config.toml"), "--out", str(out),
                 "--cache-dir", str(root / "cache")],
                [str(model), "do not match", "state dict"])


CASES: list[Builder] = [
    negative_seed, huge_seed, huge_seed_in_config, literature_splits_one, probe_typo,
    probes_for_no_task, empty_probe_list, batch_of_one, embedding_too_small_cookie,
    embedding_too_small_gfactorcl, one_view_multiview_method, one_view_method_override,
    nan_alpha, infinite_temperature, infinite_lr, huge_width, infinite_augment_noise,
    diverging_training, reversed_grid_bounds, grid_too_fine, raster_band_zero, empty_task_target,
    string_flow_weights, overflowing_target, huge_literal_target, single_class_names_labels,
    too_few_folds_names_labels, h3_out_of_range, zero_tiles, zero_workers,
    negative_embed_batch, model_json_lacks_key, model_files_disagree,
    model_json_invalid_method, model_pt_not_a_state,
]


def left_behind(runs: Path) -> list[str]:
    """What a failed `fit` left in the runs folder, bar the checkpoint of a training that ran
    (kept by design for `--resume`, see README)."""
    return [p for p in leftovers(runs, "run") if p != ".run.checkpoints"]


def files_under(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file()] if folder.exists() else []


@pytest.mark.parametrize("build", CASES, ids=[c.__name__ for c in CASES])
def test_crash_is_one_clean_line(build: Builder, tmp_path: Path) -> None:
    _, runs, case, line = run_bad_case(build, tmp_path)
    for part in case.absent:
        assert part not in line, f"{part!r} in: {line}"
    assert left_behind(runs) == [], "output or temp dir left behind"
    if case.early:
        assert files_under(tmp_path / "cache") == [], "views were featurized before the error"


def test_case_names_unique() -> None:
    assert len({c.__name__ for c in CASES}) == len(CASES)


# ---------------------------------------------------------------- a scheduler that never answers
def test_unreachable_scheduler_times_out_in_one_line(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """`cookie featurize --scheduler tcp://...` with nothing listening: one line after the
    connect timeout, not dask's 30 s default and a traceback."""
    import cookie.features.tiling

    monkeypatch.setattr(cookie.features.tiling, "CONNECT_TIMEOUT_S", 1.0, raising=False)
    config, _ = make_dataset(tmp_path / "data")
    out = tmp_path / "runs" / "feats"
    start = time.perf_counter()
    res = runner.invoke(app, featurize_args(config, out, "--scheduler", "tcp://127.0.0.1:1"))
    assert time.perf_counter() - start < 15
    assert res.exit_code == 2, f"exit {res.exit_code}: {res.output}\n{res.exception!r}"
    line = error_line(res.output)
    assert "--scheduler tcp://127.0.0.1:1" in line and "cannot reach" in line, line
    assert "within 1 s" in line, line
    assert not out.exists() and leftovers(out.parent, "feats") == []


# ---------------------------------------------------------------- expressions that never end
def test_power_tower_is_refused_quickly() -> None:
    """``10 ** 10 ** 10`` as a Python integer power would run (and grow) for ever: it is
    float64 arithmetic that overflows, refused at once. Run in a child process with a memory
    cap and a timeout, so that a regression fails instead of hanging the suite."""
    code = ("import resource; resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))\n"
            "from cookie.errors import ConfigError\n"
            "from cookie.sources.expressions import evaluate\n"
            "for expr in ('10 ** 10 ** 10', '(9 ** 9) ** (9 ** 9)', '-2 ** 99999999'):\n"
            "    try:\n"
            "        evaluate(expr, {})\n"
            "    except ConfigError as exc:\n"
            "        print(exc)\n")
    try:
        res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                             timeout=60, env={"PYTHONPATH": SRC, "PATH": ""})
    except subprocess.TimeoutExpired:
        pytest.fail("evaluating a power tower did not finish within 60 s")
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    assert len(lines) == 3 and all("overflows" in ln for ln in lines), res.stdout


def test_expressions_still_compute() -> None:
    """The float64 evaluation gives the same values as before; x / 0 stays a missing label."""
    from cookie.sources.expressions import evaluate

    cols = {"a": pd.Series([1.0, 2.0, 0.0]), "n": pd.Series([1, 2, 4])}
    assert evaluate("a * n + 2 ** 3 - -1", cols).tolist() == [10.0, 13.0, 9.0]
    assert evaluate("sqrt(n) / a", cols).tolist() == [1.0, 2 ** 0.5 / 2, math.inf]
    assert evaluate("2 ** -2000", {}) == 0.0


# ---------------------------------------------------------------- what the checks must allow
def test_raw_runs_on_one_view(tmp_path: Path) -> None:
    """`raw` needs no second view: a one-view config fits with it."""
    root = tmp_path / "data"
    _, cfg = make_dataset(root)
    cfg["views"] = cfg["views"][:1]
    out = tmp_path / "runs" / "run"
    res = runner.invoke(app, fit_args(rewrite(root, cfg), out, "--method", "raw"))
    assert res.exit_code == 0, res.output
    emb = pd.read_parquet(out / "embeddings.parquet").drop(columns="geometry")
    assert emb.shape == (16, 4) and np.isfinite(emb.to_numpy()).all()


def test_smallest_embedding_that_fits(tmp_path: Path) -> None:
    """embedding_dim equal to the block count is accepted and trains."""
    root = tmp_path / "data"
    _, cfg = make_dataset(root)
    cfg["method"]["embedding_dim"] = 3
    out = tmp_path / "runs" / "run"
    res = runner.invoke(app, fit_args(rewrite(root, cfg), out))
    assert res.exit_code == 0, res.output
    assert pd.read_parquet(out / "embeddings.parquet").shape == (16, 4)  # 3 + geometry


@pytest.mark.parametrize("views", [2, 3, 4])
def test_block_table_agrees_with_methods(views: int) -> None:
    """The registry's block counts (what the config check assumes) are what every method
    really needs: it builds with that many dimensions, and not with one fewer."""
    from cookie.config import MethodConfig
    from cookie.features.view import ViewSpec
    from cookie.methods.registry import build_objective, get_method, method_names

    specs = [ViewSpec.from_dict({"name": f"v{i}", "kind": "table", "input_shape": [3],
                                 "aux_dim": 0}) for i in range(views)]
    for name in method_names():
        if not get_method(name).trained:
            continue
        need = get_method(name).needs_blocks(views)
        small = dict(encoder_dim=4, hidden_dim=4, critic_dim=4)
        build_objective(name, specs, MethodConfig(name=name, embedding_dim=max(need, 2),
                                                  **small))
        if need > 2:
            with pytest.raises(ValueError):
                build_objective(name, specs, MethodConfig(name=name, embedding_dim=need - 1,
                                                          **small))


def test_probe_names_agree_with_evaluation() -> None:
    from cookie import config
    from cookie.evaluation import probes

    assert set(config.REGRESSION_PROBES) == set(probes.REGRESSION_PROBES)
    assert set(config.CLASSIFICATION_PROBES) == set(probes.CLASSIFICATION_PROBES)


def test_embedder_api_checks_views(tmp_path: Path) -> None:
    """The Python API refuses a method that cannot run on the dataset's views, in one
    ConfigError, before training."""
    from cookie.dataset.dataset import load_dataset
    from cookie.errors import ConfigError
    from cookie.training.embedder import CookieEmbedder

    config, _ = make_dataset(tmp_path / "data")
    ds = load_dataset(config)
    with pytest.raises(ConfigError, match="'gfactorcl' with 2 views splits it into 3 blocks"):
        CookieEmbedder(name="gfactorcl", embedding_dim=2).fit(ds)
    with pytest.raises(ConfigError, match="seed"):
        CookieEmbedder(seed=-3).fit(ds)
    with pytest.raises(ConfigError, match="at least two"):
        CookieEmbedder(name="cookie").fit(ds.select_views(["v0"]))


# ---------------------------------------------------------------- property-based
NAN, INF = math.nan, math.inf
INTS = st.one_of(st.integers(-3, 24), st.sampled_from([2**32, -(2**40), 2**63, 10**9]))
FLOATS = st.one_of(st.floats(-2, 2, allow_nan=False),
                   st.sampled_from([NAN, INF, -INF, 1e308, 0.0, 1e-300]))
TEXT = st.text("ab_*-. 0", min_size=0, max_size=6)
VALUES = st.one_of(INTS, FLOATS, TEXT, st.booleans(), st.lists(TEXT, max_size=2),
                   st.just(None))
FIELDS = [
    "name", "crs", "regions.id_column", "regions.path", "views.0.transform",
    "views.0.columns", "views.1.id_column", "views.1.augment.noise", "views.0.augment.dropout",
    "views.1.kind", "tasks.0.target", "tasks.0.type", "tasks.0.log", "method.name",
    "method.embedding_dim", "method.hidden_dim", "method.encoder_dim", "method.batch_size",
    "method.seed", "method.alpha", "method.temperature", "method.lr", "method.dropout",
    "method.epochs", "method.pretrain_epochs", "method.weight_decay", "evaluation.folds",
    "evaluation.literature", "evaluation.literature_splits", "evaluation.probes",
    "evaluation.seed", "evaluation.repeats",
]
TABLE_VALUES = st.sampled_from([NAN, INF, -INF, -1.0, "x", None, 1e300])


def set_path(cfg: dict, path: str, value: Any) -> None:
    """Set (value not None) or delete (None) a dotted key; list indices are numbers."""
    *parents, last = path.split(".")
    node: Any = cfg
    for part in parents:
        node = node[int(part)] if isinstance(node, list) else node.setdefault(part, {})
    key: Any = int(last) if isinstance(node, list) else last
    if value is None:
        if isinstance(node, dict):
            node.pop(key, None)
    else:
        node[key] = value


@st.composite
def breakage(draw: st.DrawFn) -> list[tuple]:
    """One to three things to break: a config value, a table cell, a file."""
    kinds = st.one_of(
        st.tuples(st.just("set"), st.sampled_from(FIELDS), VALUES),
        st.tuples(st.just("cell"), st.sampled_from(["view0.parquet", "view1.csv"]),
                  st.integers(0, 15), st.integers(0, 3), TABLE_VALUES),
        st.tuples(st.just("ids"), st.sampled_from(["view0.parquet", "view1.csv"]),
                  st.sampled_from(["ghost", None, 7])),
        st.tuples(st.just("file"), st.sampled_from(["view0.parquet", "view1.csv",
                                                    "regions.gpkg", "config.toml"]),
                  st.sampled_from(["empty", "no rows", "drop column"])),
    )
    return draw(st.lists(kinds, min_size=1, max_size=3))


def apply_breakage(root: Path, cfg: dict, changes: list[tuple]) -> None:
    write_config(root / "config.toml", cfg)
    for change in changes:
        kind, target = change[0], change[1]
        if kind == "set":
            set_path(cfg, target, change[2])
            write_config(root / "config.toml", cfg)
            continue
        path = root / target
        if kind == "file" and change[2] == "empty":
            path.write_bytes(b"")
            continue
        if target.endswith((".gpkg", ".toml")) or path.stat().st_size == 0:
            continue  # only (readable) tables get row / column / cell edits
        table = pd.read_parquet(path) if target.endswith(".parquet") else pd.read_csv(path)
        if len(table) == 0 or len(table.columns) < 2:
            continue
        if kind == "cell":
            col = table.columns[1 + change[3] % (len(table.columns) - 1)]
            table[col] = table[col].astype(object)
            table.loc[change[2] % len(table), col] = change[4]
        elif kind == "ids":
            table["region_id"] = table["region_id"].astype(object)
            table.loc[0, "region_id"] = change[2]
        elif change[2] == "no rows":
            table = table.iloc[:0]
        else:
            table = table.drop(columns=table.columns[-1])
        if target.endswith(".parquet"):
            try:
                table.to_parquet(path)
            except Exception:  # noqa: BLE001 - mixed object column: store as text
                table.astype(str).to_parquet(path)
        else:
            table.to_csv(path, index=False)


@settings(max_examples=40, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(changes=breakage(), evaluate=st.booleans(),
       method=st.sampled_from(["cookie", "raw", "gfactorcl", "shared_pairwise", "intra"]))
def test_random_breakage_exits_cleanly(changes: list[tuple], evaluate: bool,
                                       method: str) -> None:
    """Whatever is broken, `cookie fit` exits 0 with finite outputs, or 2 with exactly one
    error line and nothing left in the runs folder."""
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        root = base / "data"
        _, cfg = make_dataset(root, method={"name": method})
        cfg["evaluation"].update(probes=["ridge_cv", "logistic"], spatial=False)
        apply_breakage(root, cfg, changes)
        runs = base / "runs"
        runs.mkdir()
        out = runs / "run"
        res = runner.invoke(app, fit_args(root / "config.toml", out, evaluate=evaluate))
        note = f"{changes}: exit {res.exit_code}\n{res.output}\n{res.exception!r}"
        assert res.exit_code in (0, 2), note
        assert "Traceback" not in res.output, note
        if res.exit_code == 2:
            error_line(res.output)
            assert left_behind(runs) == [], note
            return
        emb = pd.read_parquet(out / "embeddings.parquet").drop(columns="geometry")
        assert len(emb) and np.isfinite(emb.to_numpy(dtype=float)).all(), note
        if (out / "report.json").exists():
            text = (out / "report.json").read_text()
            assert "NaN" not in text and "Infinity" not in text, note
