"""Tests of cookie.evaluation on synthetic grids and (when present) Manhattan-180."""

from __future__ import annotations

import logging
import math
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from shapely.geometry import box

from cookie.config import EvaluationConfig, TaskConfig
from cookie.errors import DataError
from cookie.evaluation import (
    EvaluationReport,
    aggregate_seeds,
    combine_reports,
    evaluate_embeddings,
)
from cookie.evaluation import metrics as M
from cookie.evaluation.folds import (
    by_repeat,
    literature_folds,
    shuffled_folds,
    spatial_block_folds,
    stratified_folds,
)
from cookie.evaluation.probes import ridge_fixed
from cookie.evaluation.protocols import (
    clustering_protocol,
    cross_predict,
    literature_regression,
)
from tests.conftest import SHARED, shared_dataset

MANHATTAN = SHARED / "manhattan180"
NX, NY, CELL = 12, 10, 500.0
N = NX * NY


# ---------------------------------------------------------------- synthetic data
def grid_regions() -> gpd.GeoDataFrame:
    """120 square regions on a 12 x 10 grid in a metric CRS, indexed by region_id."""
    cells = [box(i * CELL, j * CELL, (i + 1) * CELL, (j + 1) * CELL)
             for j in range(NY) for i in range(NX)]
    idx = pd.Index(np.arange(N), name="region_id")
    return gpd.GeoDataFrame(geometry=cells, index=idx, crs="EPSG:32618")


def synthetic(seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Embeddings (4 well-separated blobs in 6 dims + 2 noise dims) and labels."""
    rng = np.random.default_rng(seed)
    blob = rng.permutation(np.arange(N) % 4)
    centres = 10.0 * np.array([[1, 1, 1, 1, 1, 1], [1, 1, 1, -1, -1, -1],
                               [1, -1, -1, 1, 1, -1], [-1, 1, -1, 1, -1, 1]])
    X = np.hstack([centres[blob] + rng.normal(size=(N, 6)), rng.normal(size=(N, 2))])
    idx = pd.Index(np.arange(N), name="region_id")
    emb = pd.DataFrame(X, index=idx, columns=[f"e{i}" for i in range(X.shape[1])])
    z = X @ rng.normal(size=X.shape[1])
    z = (z - z.min()) / (z.max() - z.min()) * 3 + 0.1
    partial = blob.astype(float)
    partial[:20] = np.nan
    labels = pd.DataFrame({
        "lin": X @ rng.normal(size=X.shape[1]),
        "rnd": rng.normal(size=N),
        "count": np.expm1(z),
        "blob": blob,
        "blob_partial": partial,
    }, index=idx)
    return emb, labels


TASKS = [
    TaskConfig(name="lin", target="lin"),
    TaskConfig(name="rnd", target="rnd"),
    TaskConfig(name="count", target="count", log=True),
    TaskConfig(name="blob", target="blob", type="classification"),
    TaskConfig(name="blob_clusters", target="blob", type="clustering"),
    TaskConfig(name="partial_clusters", target="blob_partial", type="clustering"),
]
CFG = EvaluationConfig(literature=True, literature_splits=10, folds=3, repeats=2,
                       spatial_folds=4, seed=0)
CLUSTER_ONLY = [TaskConfig(name="blob_clusters", target="blob", type="clustering")]


@pytest.fixture(scope="module")
def report() -> tuple[EvaluationReport, list[str]]:
    emb, labels = synthetic()
    messages: list[str] = []
    rep = evaluate_embeddings(emb, labels, grid_regions(), TASKS, CFG, "synthetic",
                              progress=messages.append, n_trees=50)
    return rep, messages


# ---------------------------------------------------------------- metrics
def test_metrics_by_hand() -> None:
    y, p = [1, 2, 3], [1, 2, 4]
    assert M.mae(y, p) == pytest.approx(1 / 3)
    assert M.rmse(y, p) == pytest.approx(math.sqrt(1 / 3))
    assert M.r2(y, p) == pytest.approx(0.5)
    assert math.isnan(M.r2([2, 2, 2], [1, 2, 3]))
    assert M.accuracy([0, 1, 1, 2], [0, 1, 2, 2]) == pytest.approx(0.75)
    # per class F1: class0 = 1, class1 = 2/3, class2 = 2/3
    assert M.macro_f1([0, 1, 1, 2], [0, 1, 2, 2]) == pytest.approx((1 + 2 / 3 + 2 / 3) / 3)
    assert M.nmi([0, 0, 1, 1], [1, 1, 0, 0]) == pytest.approx(1.0)
    assert M.ari([0, 0, 1, 1], [1, 1, 0, 0]) == pytest.approx(1.0)
    with pytest.raises(ValueError):
        M.mae([1, 2], [1])


# ---------------------------------------------------------------- folds
def test_literature_folds_are_contiguous_and_unshuffled() -> None:
    folds = literature_folds(95, 10)
    assert len(folds) == 10
    tests = [te for _, te in folds]
    assert np.array_equal(np.concatenate(tests), np.arange(95))
    for train, test in folds:
        assert np.array_equal(test, np.arange(test[0], test[-1] + 1))
        assert np.array_equal(np.sort(np.concatenate([train, test])), np.arange(95))


def test_shuffled_and_stratified_folds_partition_each_repeat() -> None:
    reps = by_repeat(shuffled_folds(50, 5, 3, seed=1), 5)
    assert len(reps) == 3
    for rep in reps:
        assert np.array_equal(np.sort(np.concatenate([te for _, te in rep])), np.arange(50))
    assert not np.array_equal(reps[0][0][1], reps[1][0][1])
    y = np.repeat([0, 1, 2], [20, 20, 10])
    for train, test in stratified_folds(y, 5, 2, seed=0):
        assert np.bincount(y[test]).tolist() == [4, 4, 2]
        assert len(np.intersect1d(train, test)) == 0
    with pytest.raises(ValueError):
        shuffled_folds(3, 5, 1, 0)


def test_spatial_folds_are_compact_disjoint_and_cover() -> None:
    c = grid_regions().centroid
    xy = np.column_stack([c.x, c.y])
    folds = spatial_block_folds(xy, 5, seed=0)
    assert len(folds) == 5
    tests = [te for _, te in folds]
    assert np.array_equal(np.sort(np.concatenate(tests)), np.arange(N))
    for train, test in folds:
        assert len(np.intersect1d(train, test)) == 0 and len(train) + len(test) == N

    def spread(groups: list[np.ndarray]) -> float:
        d = [np.mean(np.linalg.norm(xy[g][:, None] - xy[g][None], axis=-1)) for g in groups]
        return float(np.mean(d))

    rng = np.random.default_rng(0)
    sizes = np.cumsum([len(t) for t in tests])[:-1]
    random_spread = np.mean([spread(np.split(rng.permutation(N), sizes)) for _ in range(20)])
    assert spread(tests) < 0.6 * random_spread
    assert spatial_block_folds(xy, 5, seed=0)[0][1].tolist() == tests[0].tolist()


# ---------------------------------------------------------------- protocols
class _Recorder:
    """A regressor that remembers the rows it was fitted on (rows are encoded in X)."""

    seen: list[set[int]] = []

    def fit(self, X: np.ndarray, y: np.ndarray) -> _Recorder:
        _Recorder.seen.append(set(X[:, 0].astype(int)))
        return self

    def predict(self, X: np.ndarray) -> np.ndarray:
        return np.zeros(len(X))


def test_cross_predict_fits_on_training_rows_only() -> None:
    X = np.arange(30, dtype=float)[:, None]
    folds = shuffled_folds(30, 3, 1, 0)
    _Recorder.seen = []
    pred, fold_id = cross_predict(_Recorder, X, np.zeros(30), folds)
    for (train, test), seen in zip(folds, _Recorder.seen, strict=True):
        assert seen == set(train.tolist()) and not seen & set(test.tolist())
    assert sorted(set(fold_id)) == [0, 1, 2]


def test_literature_clips_negative_predictions() -> None:
    rng = np.random.default_rng(0)
    x = np.sort(rng.uniform(-3, 3, 60))
    X = x[:, None]
    y = np.maximum(x, 0.0) ** 2
    raw, _ = cross_predict(lambda: ridge_fixed(1.0), X, y, literature_folds(60, 10))
    assert (raw < 0).any()
    res = literature_regression(X, y, 10)
    pred = res.predictions["y_pred"].to_numpy()
    assert (pred >= 0).all()
    assert np.allclose(pred, np.clip(raw, 0, None))
    assert res.scores["r2"][0] == pytest.approx(M.r2(y, np.clip(raw, 0, None)))
    # a target with negative values is not clipped
    res_neg = literature_regression(X, y - 1.0, 10)
    assert (res_neg.predictions["y_pred"] < 0).any()
    # folds are the unshuffled contiguous blocks
    fold = res.predictions["fold"].to_numpy()
    assert (np.diff(fold) >= 0).all() and fold[0] == 0 and fold[-1] == 9


def test_clustering_protocol_uses_number_of_classes() -> None:
    rng = np.random.default_rng(1)
    y = np.repeat(np.arange(3), 20)
    X = np.eye(3)[y] * 20 + rng.normal(size=(60, 3))
    res = clustering_protocol(X, y, seed=0, n_seeds=3)
    assert len(res.scores["nmi"]) == 3
    assert res.predictions["y_pred"].nunique() == 3
    assert min(res.scores["nmi"]) > 0.99


# ---------------------------------------------------------------- full evaluation
def test_linear_target_gives_r2_near_one_under_every_protocol(report) -> None:
    rep, _ = report
    for protocol, probe in [("literature", "ridge_alpha1"), ("robust", "ridge_cv"),
                            ("spatial", "ridge_cv")]:
        for task in ("lin", "count"):
            mean, _ = rep.score(task, protocol, probe, "r2")
            assert mean > 0.99, (task, protocol, probe, mean)
    mean, std = rep.score("count", "robust", "ridge_cv", "r2_original")
    assert mean > 0.9 and std >= 0
    assert rep.score("lin", "robust", "random_forest", "r2")[0] > 0.5


def test_noise_target_gives_r2_near_zero(report) -> None:
    rep, _ = report
    rows = rep.table[(rep.table.task == "rnd") & (rep.table.metric == "r2")]
    assert len(rows) == 5  # literature + 2 robust + 2 spatial
    assert (rows["mean"] <= 0.1).all(), rows


def test_classification_and_clustering_of_separable_blobs(report) -> None:
    rep, _ = report
    for probe in ("logistic", "random_forest"):
        assert rep.score("blob", "stratified", probe, "accuracy")[0] > 0.97
        assert rep.score("blob", "stratified", probe, "macro_f1")[0] > 0.97
    assert rep.score("blob_clusters", "clustering", "kmeans", "nmi")[0] > 0.95
    assert rep.score("blob_clusters", "clustering", "kmeans", "ari")[0] > 0.95


def test_report_table_and_predictions(report) -> None:
    rep, messages = report
    t = rep.table
    assert list(t.columns[:8]) == ["task", "task_type", "protocol", "probe", "metric", "mean",
                                   "std", "n_regions"]
    assert set(t.task) == {task.name for task in TASKS}
    assert (t[t.task != "partial_clusters"].n_regions == N).all()
    assert (t[t.task == "partial_clusters"].n_regions == N - 20).all()  # NaN targets dropped
    robust = t[(t.protocol == "robust")]
    assert (robust.n_folds == 3).all() and (robust.n_repeats == 2).all()
    assert t[t.protocol == "literature"].n_folds.eq(10).all()
    assert t[t.protocol == "literature"]["std"].isna().all()
    assert "r2_original" not in set(t[t.task == "lin"].metric)
    frame = rep.predictions[("lin", "robust", "ridge_cv")]
    assert len(frame) == 2 * N and frame.index.name == "region_id"
    assert frame.groupby("repeat").size().tolist() == [N, N]
    assert set(frame.index) == set(range(N))
    oof = rep.oof("lin", "robust", "ridge_cv")
    assert len(oof) == N and oof.index.is_unique
    assert any("spatial" in m for m in messages) and any("lin" in m for m in messages)


def test_report_outputs(report, tmp_path: Path) -> None:
    rep, _ = report
    md = rep.to_markdown()
    for heading in ("### Regression", "### Classification", "### Clustering"):
        assert heading in md
    assert "| lin | robust | ridge_cv |" in md and "±" in md
    summary = rep.summary_table()
    assert "robust/ridge_cv" in summary.columns and "literature/ridge_alpha1" in summary.columns
    assert ("blob", "accuracy") in summary.index
    path = rep.to_json(tmp_path / "out" / "report.json")
    back = EvaluationReport.from_json(path)
    pd.testing.assert_frame_equal(back.table[["task", "metric", "mean"]],
                                  rep.table[["task", "metric", "mean"]])
    assert set(back.predictions) == set(rep.predictions)
    assert back.meta["source"] == "synthetic"
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["report.json"]


def test_combine_and_aggregate_seeds() -> None:
    emb, labels = synthetic()
    reps = [evaluate_embeddings(emb + 0.1 * s, labels, grid_regions(), CLUSTER_ONLY,
                                CFG.model_copy(update={"seed": s})) for s in range(2)]
    agg = aggregate_seeds(reps)
    row = agg[agg.metric == "nmi"].iloc[0]
    assert row["n_seeds"] == 2
    assert row["mean"] == pytest.approx(np.mean([r.score("blob_clusters", "clustering",
                                                           "kmeans", "nmi")[0] for r in reps]))
    combined = combine_reports({"a": reps[0], "b": reps[1]})
    assert combined.table.columns[0] == "method"
    assert set(combined.table.method) == {"a", "b"}
    assert ("a", "blob_clusters", "clustering", "kmeans") in combined.predictions
    assert aggregate_seeds([combined])["method"].tolist() == ["a", "a", "b", "b"]
    assert "method" in combined.summary_table().index.names
    assert "| a | blob_clusters |" in combined.to_markdown()


# ---------------------------------------------------------------- input checks
def test_missing_embeddings_warn_and_inner_join(caplog) -> None:
    emb, labels = synthetic()
    with caplog.at_level(logging.WARNING, logger="cookie.evaluation"):
        rep = evaluate_embeddings(emb.iloc[10:], labels, grid_regions(), CLUSTER_ONLY, CFG,
                                  "half.parquet")
    assert "10 of 120 labeled regions have no embedding" in caplog.text
    assert (rep.table.n_regions == N - 10).all()
    assert set(rep.predictions[("blob_clusters", "clustering", "kmeans")].index) == set(
        range(10, N))
    with pytest.raises(DataError, match="half.parquet: embeddings cover only 50 of the 120"):
        evaluate_embeddings(emb.iloc[70:], labels, grid_regions(), CLUSTER_ONLY, CFG,
                            "half.parquet")


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite_embeddings_raise(bad: float) -> None:
    emb, labels = synthetic()
    emb.iloc[5, 2] = bad
    with pytest.raises(DataError, match=r"emb.npy: 1 NaN/inf embedding values .*region 5"):
        evaluate_embeddings(emb, labels, grid_regions(), CLUSTER_ONLY, CFG, "emb.npy")


def test_embedding_ids_are_cast_to_region_id_dtype() -> None:
    emb, labels = synthetic()
    emb.index = emb.index.astype(str)
    rep = evaluate_embeddings(emb, labels, grid_regions(), CLUSTER_ONLY, CFG)
    assert (rep.table.n_regions == N).all()


# ---------------------------------------------------------------- plots
def test_plots_write_png_atomically(report, tmp_path: Path) -> None:
    from cookie.evaluation.plots import plot_embedding_map, plot_method_bars, plot_predictions_map

    rep, _ = report
    regions = grid_regions()
    emb, _ = synthetic()
    oof = rep.oof("lin", "spatial", "ridge_cv").iloc[5:]  # a few regions without prediction
    paths = [
        plot_predictions_map(regions, oof["y_true"], oof["y_pred"], tmp_path / "resid.png",
                             "lin residuals"),
        plot_embedding_map(regions, emb.iloc[3:], tmp_path / "emb.png"),
        plot_method_bars(pd.DataFrame({"method": ["a", "a", "b", "b"],
                                       "task": ["x", "y", "x", "y"],
                                       "mean": [0.5, 0.6, 0.4, 0.7],
                                       "std": [0.05, 0.02, np.nan, 0.01]}),
                         tmp_path / "bars.png", ylabel="R2"),
    ]
    for p in paths:
        assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bars.png", "emb.png", "resid.png"]
    with pytest.raises(ValueError, match="several rows"):
        plot_method_bars(pd.DataFrame({"method": ["a", "a"], "task": ["x", "x"],
                                       "mean": [1, 2], "std": [0, 0]}), tmp_path / "x.png")


# ---------------------------------------------------------------- real data
def test_manhattan_raw_features_literature_checkin() -> None:
    shared_dataset("manhattan180")
    poi = pd.read_parquet(MANHATTAN / "poi.parquet").set_index("region_id").sort_index()
    lu = pd.read_parquet(MANHATTAN / "landuse.parquet").set_index("region_id").sort_index()
    labels = pd.read_parquet(MANHATTAN / "labels.parquet").set_index("region_id").sort_index()
    X = np.log1p(pd.concat([poi, lu], axis=1).loc[labels.index].to_numpy(dtype=float))
    res = literature_regression(X, labels["checkin"].to_numpy(dtype=float), 10)
    r2 = res.scores["r2"][0]
    assert 0.3 < r2 < 0.8, r2
    assert (res.predictions["y_pred"] >= 0).all()
