"""`cookie tune`: nested model selection never sees an outer test fold.

Synthetic data only (tests/synthetic.py); real fits are tiny (1-2 epochs, 8-d embeddings).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from cookie.apps import tune as T
from cookie.cli import app
from cookie.dataset.dataset import load_dataset
from tests.synthetic import make_dataset

runner = CliRunner()
TINY_SPACE = {"epochs": ("choice", [1, 2]), "lr": ("log", 1e-3, 3e-3),
              "embedding_dim": ("choice", [8])}


class Spy:
    """`probe_score` that records the rows of every (fit, score) call."""

    def __init__(self) -> None:
        self.calls: list[tuple[set, set]] = []

    def __call__(self, task_type, X, y, train, test):
        self.calls.append((set(train.tolist()), set(test.tolist())))
        return T.probe_score(task_type, X, y, train, test)


# ---------------------------------------------------------------- the nesting logic
def test_nested_summary_picks_inner_argmax_per_fold_and_reports_outer_mean() -> None:
    inner = [[(0, 0.1), (1, 0.5), (2, 0.3)],          # fold 0 -> setting 1
             [(0, 0.7), (1, 0.2), (2, float("nan"))],  # fold 1 -> setting 0 (NaN never wins)
             [(0, 0.2), (1, 0.6), (2, 0.6)]]           # fold 2 -> setting 1 (first on ties)
    outer_table = {(0, 1): 0.40, (1, 0): 0.60, (2, 1): 0.80}
    asked = []

    def outer(k: int, s: int) -> dict[str, float]:
        asked.append((k, s))
        return {"r2": outer_table[(k, s)]}

    res = T.nested_summary("t", "regression", inner, outer, lambda s: {"lr": s})
    assert [f.setting for f in res.folds] == [1, 0, 1]
    assert [f.inner for f in res.folds] == [0.5, 0.7, 0.6]
    assert asked == [(0, 1), (1, 0), (2, 1)]  # only the chosen setting meets the test fold
    assert res.mean == pytest.approx(0.6)
    assert res.std == pytest.approx(0.2)  # sample std of 0.4, 0.6, 0.8
    assert res.most_chosen == 1
    assert res.folds[1].params == {"lr": 0}


def test_nested_summary_refuses_a_fold_without_finite_scores() -> None:
    with pytest.raises(T.DataError, match="task 't', outer fold 2"):
        T.nested_summary("t", "regression", [[(0, 0.1)], [(0, float("nan"))]],
                         lambda k, s: {"r2": 0.0})


# ---------------------------------------------------------------- never sees an outer test fold
def _fake_problem(n: int = 60, task_type: str = "regression"):
    """Labels from a latent signal and a fake label-free 'fit' whose embedding is the latent
    plus noise of the setting's size (so the selection has something to choose)."""
    rng = np.random.default_rng(0)
    latent = rng.normal(size=(n, 3))
    ids = pd.Index([f"r{i}" for i in range(n)])
    signal = latent @ np.array([1.0, -0.5, 0.3]) + 0.2 * rng.normal(size=n)
    y = pd.Series(signal if task_type == "regression" else (signal > 0).astype(int), index=ids)

    def fit(params):
        noise = np.random.default_rng(int(params["noise"] * 1e6)).normal(size=(n, 3))
        return pd.DataFrame(latent + params["noise"] * noise, index=ids)

    return y, fit, {"noise": ("log", 0.01, 10.0)}


@pytest.mark.parametrize("task_type", ["regression", "classification"])
def test_selection_calls_never_touch_an_outer_test_fold(task_type: str) -> None:
    y, fit, space = _fake_problem(task_type=task_type)
    spy = Spy()
    res = T.tune_task("t", task_type, y, T.SettingCache(fit), space, trials=4, outer_folds=3,
                      inner_folds=2, seed=0, sampler="tpe", score=spy)
    folds = [(set(tr.tolist()), set(te.tolist())) for tr, te in res.outer_folds]
    outer_calls = [c for c in spy.calls if c in folds]
    selection = [c for c in spy.calls if c not in folds]
    assert len(outer_calls) == 3 and len(selection) == 3 * 4 * 2
    per_fold = [0, 0, 0]
    for train, test in selection:
        owner = [k for k, (otr, _) in enumerate(folds) if train | test == otr]
        assert len(owner) == 1, "a selection call used rows beyond one outer training fold"
        assert not (train | test) & folds[owner[0]][1]
        per_fold[owner[0]] += 1
    assert per_fold == [8, 8, 8]


def test_outer_test_labels_do_not_change_that_folds_choice() -> None:
    y, fit, space = _fake_problem(n=60)
    cache = T.SettingCache(fit)
    # 12 trials: past TPE's 10 random start-up trials, so proposals adapt to the scores
    base = T.tune_task("t", "regression", y, cache, space, 12, 3, 2, seed=1, sampler="tpe")
    k = 1
    test_ids = y.index[base.outer_folds[k][1]]
    changed = y.copy()
    changed.loc[test_ids] = np.random.default_rng(5).normal(50, 30, len(test_ids))
    other = T.tune_task("t", "regression", changed, cache, space, 12, 3, 2, seed=1,
                        sampler="tpe")
    assert other.folds[k].inner_trials == base.folds[k].inner_trials
    assert other.folds[k].setting == base.folds[k].setting
    # the change is seen where it may be: fold k's outer score, other folds' selection
    assert other.folds[k].outer["r2"] != base.folds[k].outer["r2"]
    assert other.folds[0].inner_trials != base.folds[0].inner_trials


def test_tune_dataset_with_real_fits(tmp_path: Path) -> None:
    config, _ = make_dataset(tmp_path / "ds", n=30)
    ds = load_dataset(config, cache_dir=tmp_path / "cache")
    spy = Spy()
    said: list[str] = []
    res = T.tune_dataset(ds, ds.config.tasks, TINY_SPACE, trials=2, outer_folds=3,
                         inner_folds=2, seed=0, score=spy, say=said.append)
    assert len(res.settings) <= 2  # the random sampler's settings are shared by the folds
    assert sum(line.startswith("setting ") for line in said) == len(res.settings)
    (task,) = res.tasks
    folds = [(set(tr.tolist()), set(te.tolist())) for tr, te in task.outer_folds]
    for train, test in spy.calls:
        if (train, test) not in folds:
            assert any(train | test == otr and not (train | test) & ote for otr, ote in folds)
    assert math.isfinite(task.mean)
    json.dumps(res.to_dict(), allow_nan=False)


# ---------------------------------------------------------------- the command
def test_cli_tune_writes_report_and_refuses_bad_input(tmp_path: Path) -> None:
    config, _ = make_dataset(tmp_path / "ds", n=30)
    out = tmp_path / "tune"
    args = ["tune", str(config), "--trials", "2", "--outer-folds", "3", "--inner-folds", "2",
            "--epochs", "1", "--out", str(out), "--cache-dir", str(tmp_path / "cache")]
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    md = (out / "tune.md").read_text()
    assert "| pop | r2 |" in md and "## Settings trained" in md
    data = json.loads((out / "tune.json").read_text())
    assert len(data["tasks"][0]["folds"]) == 3
    assert data["meta"]["space"]["epochs"] == ["choice", [1]]

    again = runner.invoke(app, args)  # an earlier output is replaced only with --overwrite
    assert again.exit_code == 2 and "--overwrite" in again.output
    for extra, words in [(["--task", "nope"], "no task 'nope'"),
                         (["--trials", "0"], "--trials 0"),
                         (["--epochs", "x"], "--epochs 'x'"),
                         (["--sampler", "grid"], "--sampler 'grid'"),
                         (["--method", "raw"], "no settings to tune"),
                         (["--param", "lr=log:0,1"], "LOW > 0"),
                         (["--param", "nope=choice:1,2"], "--param 'nope': not a [method]"),
                         (["--param", "embedding_dim=choice:1,8"], "method.embedding_dim"),
                         (["--param", "lr"], "expected NAME=choice"),
                         (["--param", "lr=choice:1e-3", "--param", "lr=choice:2e-3"],
                          "given twice")]:
        bad = tmp_path / "bad"
        r = runner.invoke(app, [*args[:-4], "--out", str(bad), *extra])
        assert r.exit_code == 2, (extra, r.output)
        assert words in r.output and "Traceback" not in r.output
        assert len(r.output.strip().splitlines()) == 1, r.output
        assert not bad.exists()


def test_cli_tune_param_replaces_the_search_space(tmp_path: Path) -> None:
    config, _ = make_dataset(tmp_path / "ds", n=30)
    out = tmp_path / "tune"
    res = runner.invoke(app, ["tune", str(config), "--trials", "3", "--outer-folds", "3",
                              "--inner-folds", "2", "--param", "epochs=choice:1,2",
                              "--param", "relational_weight=log:0.5,2", "--out", str(out),
                              "--cache-dir", str(tmp_path / "cache")])
    assert res.exit_code == 0, res.output
    data = json.loads((out / "tune.json").read_text())
    assert data["meta"]["space"] == {"epochs": ["choice", [1, 2]],
                                     "relational_weight": ["log", 0.5, 2.0]}
    for setting in data["settings"]:  # exactly the given parameters, inside their ranges
        assert set(setting["params"]) == {"epochs", "relational_weight"}
        assert setting["params"]["epochs"] in (1, 2)
        assert 0.5 <= setting["params"]["relational_weight"] <= 2


def test_without_trains_on_the_other_views_and_refuses_unknown_ones(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from cookie.training.embedder import CookieEmbedder

    config, _ = make_dataset(tmp_path / "ds", n=30, dims=(4, 3, 2))
    seen: list[list[str]] = []
    fit0 = CookieEmbedder.fit

    def spy_fit(self, X, *args, **kwargs):  # type: ignore[no-untyped-def]
        seen.append(list(X.views))
        return fit0(self, X, *args, **kwargs)

    monkeypatch.setattr(CookieEmbedder, "fit", spy_fit)
    out = tmp_path / "tune"
    base = ["tune", str(config), "--trials", "6", "--outer-folds", "3", "--inner-folds", "2",
            "--param", "epochs=choice:1", "--cache-dir", str(tmp_path / "cache")]
    res = runner.invoke(app, [*base, "--param", "without=choice:none,v1", "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert sorted(seen) == [["v0", "v1", "v2"], ["v0", "v2"]]  # one fit per setting
    data = json.loads((out / "tune.json").read_text())
    assert {s["params"]["without"] for s in data["settings"]} == {"none", "v1"}
    assert "without=v1" in (out / "tune.md").read_text()
    for value, words in [("nope", "no view 'nope'"), ("3", "no view 3")]:
        r = runner.invoke(app, [*base, "--param", f"without=choice:none,{value}", "--out",
                                str(tmp_path / "bad")])
        assert r.exit_code == 2 and words in r.output, r.output
        assert not (tmp_path / "bad").exists()


def test_without_refuses_a_view_the_method_cannot_lose(tmp_path: Path) -> None:
    config, _ = make_dataset(tmp_path / "ds", n=30)
    r = runner.invoke(app, ["tune", str(config), "--trials", "2", "--param",
                            "without=choice:none,v0", "--out", str(tmp_path / "bad")])
    assert r.exit_code == 2 and "--param without=v0" in r.output and "at least two" in r.output
    assert len(r.output.strip().splitlines()) == 1, r.output


def test_parse_param_kinds_and_numbers() -> None:
    assert T.parse_param("epochs=choice:50,100,50") == ("epochs", ("choice", [50, 100]))
    assert T.parse_param("lr=log:1e-4,1e-3") == ("lr", ("log", 1e-4, 1e-3))
    assert T.parse_param("without=choice:none,poi") == ("without", ("choice", ["none", "poi"]))
    assert T.parse_param("temperature=uniform:0.05,0.2") == ("temperature",
                                                            ("uniform", 0.05, 0.2))
    for bad in ("lr=log:1e-3", "lr=uniform:2,1", "lr=grid:1,2", "=choice:1", "lr=log:a,1",
                "lr=choice:1,,2"):
        with pytest.raises(T.ConfigError, match="--param"):
            T.parse_param(bad)


def test_classes_too_small_for_the_folds_is_one_data_error() -> None:
    y, fit, space = _fake_problem(n=20, task_type="classification")
    y[:] = np.repeat(np.arange(10), 2)  # every class has 2 regions: no 3 stratified folds
    with pytest.raises(T.DataError, match="task 't': cannot make 3 folds of 20 regions"):
        T.tune_task("t", "classification", y, T.SettingCache(fit), space, 2, 3, 2)
