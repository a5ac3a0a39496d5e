"""Evaluation protocols on aligned arrays: ``X`` (n, d) embeddings and ``y`` (n,) targets.

- literature: ``Ridge(alpha=1)`` on the raw embedding, unshuffled 10-fold, out-of-fold
  predictions concatenated, negatives clipped to 0 when the target is non-negative, one score;
- robust: repeated shuffled k-fold with ``ridge_cv`` and ``random_forest``; each repeat's
  concatenated out-of-fold predictions give one score, reported as mean/std over repeats;
- spatial: k-means blocks of region centroids as folds, same probes, one score;
- robust and spatial regression predictions are guarded (`guard_range`): a fold whose
  predictions leave the training targets' range widened by its span on each side (a linear
  probe extrapolating on an outlier region) is clipped to it and flagged in the result;
- classification: repeated stratified k-fold, logistic regression and random forest;
- clustering: k-means with as many clusters as classes, scored over several k-means seeds.

Each protocol returns :class:`ProbeResult` objects; ``scores[metric]`` holds one value per
repeat (or k-means seed) and ``predictions`` holds every out-of-fold prediction, keyed by the
row position in ``X``.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator

from cookie.evaluation import metrics as M
from cookie.evaluation.folds import (
    Fold,
    by_repeat,
    literature_folds,
    shuffled_folds,
    spatial_block_folds,
    stratified_folds,
)
from cookie.evaluation.probes import (
    CLASSIFICATION_PROBES,
    N_TREES,
    REGRESSION_PROBES,
    kmeans_labels,
    ridge_fixed,
)

N_KMEANS_SEEDS = 5


@dataclass
class ProbeResult:
    """Scores and out-of-fold predictions of one probe under one protocol."""

    protocol: str
    probe: str
    scores: dict[str, list[float]]
    predictions: pd.DataFrame  # columns: row, repeat, fold, y_true, y_pred
    n_folds: int
    n_repeats: int
    flagged: list[str] = field(default_factory=list)  # folds whose predictions were clipped


def guard_range(pred: np.ndarray, y_train: np.ndarray) -> tuple[np.ndarray, str | None]:
    """Regression predictions clipped to the training targets' range widened by its span on
    each side; the second value describes the worst prediction when any was outside."""
    lo, hi = float(np.min(y_train)), float(np.max(y_train))
    span = hi - lo
    pred = np.asarray(pred, dtype=float)
    outside = ~np.isfinite(pred) | (pred < lo - span) | (pred > hi + span)
    if not outside.any():
        return pred, None
    worst = pred[outside][np.argmax(np.abs(np.nan_to_num(pred[outside], nan=np.inf)))]
    note = f"prediction {worst:.3g} for training targets in [{lo:.3g}, {hi:.3g}]"
    return np.clip(np.nan_to_num(pred, nan=(lo + hi) / 2), lo - span, hi + span), note


def cross_predict(make: Callable[[], BaseEstimator], X: np.ndarray, y: np.ndarray,
                  folds: Sequence[Fold], flagged: list[str] | None = None
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Out-of-fold predictions for folds that partition the rows; returns (pred, fold_id).

    Each estimator is fitted on the training rows of its fold only. With a ``flagged`` list
    (regression), predictions go through `guard_range` and each fold that needed it is
    appended to the list as "fold i: ...".
    """
    n = len(y)
    parts = []
    fold_id = np.full(n, -1, dtype=int)
    for i, (train, test) in enumerate(folds):
        est = make()
        est.fit(X[train], y[train])
        pred = np.asarray(est.predict(X[test]))
        if flagged is not None:
            pred, note = guard_range(pred, y[train])
            if note:
                flagged.append(f"fold {i}: {note}")
        parts.append((test, pred))
        fold_id[test] = i
    if (fold_id < 0).any():
        raise ValueError("the folds do not cover every row")
    pred = np.empty(n, dtype=np.result_type(*[p.dtype for _, p in parts]))
    for test, p in parts:
        pred[test] = p
    return pred, fold_id


def _frame(pred: np.ndarray, y: np.ndarray, fold_id: np.ndarray, repeat: int) -> pd.DataFrame:
    return pd.DataFrame({"row": np.arange(len(y)), "repeat": repeat, "fold": fold_id,
                         "y_true": y, "y_pred": pred})


def _regression_scores(y: np.ndarray, pred: np.ndarray, log_target: bool) -> dict[str, float]:
    scores = M.regression_metrics(y, pred)
    if log_target:
        with np.errstate(over="ignore", invalid="ignore"):
            scores["r2_original"] = M.r2(np.expm1(y), np.expm1(pred))
    return scores


def _collect(protocol: str, probe: str, runs: list[tuple[dict[str, float], pd.DataFrame]],
             n_folds: int, flagged: list[str] | None = None) -> ProbeResult:
    scores: dict[str, list[float]] = {}
    for s, _ in runs:
        for k, v in s.items():
            scores.setdefault(k, []).append(float(v))
    preds = pd.concat([f for _, f in runs], ignore_index=True)
    return ProbeResult(protocol, probe, scores, preds, n_folds, len(runs), flagged or [])


def _as_xy(X: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    X, y = np.asarray(X, dtype=float), np.asarray(y)
    if X.ndim != 2 or len(X) != len(y):
        raise ValueError(f"X must be (n, d) with n = len(y); got {X.shape} and {y.shape}")
    return X, y


# ---------------------------------------------------------------- regression
def literature_regression(X: np.ndarray, y: np.ndarray, n_splits: int = 10,
                          alpha: float = 1.0) -> ProbeResult:
    """The benchmark papers' protocol: Ridge(alpha=1), unshuffled k-fold, clipped at 0."""
    X, y = _as_xy(X, y)
    y = y.astype(float)
    folds = literature_folds(len(y), n_splits)
    pred, fold_id = cross_predict(lambda: ridge_fixed(alpha), X, y, folds)
    if (y >= 0).all():
        pred = np.clip(pred, 0.0, None)
    scores = M.regression_metrics(y, pred)
    return _collect("literature", "ridge_alpha1", [(scores, _frame(pred, y, fold_id, 0))],
                    n_splits)


def _probes_over(protocol: str, table: dict, probes: Sequence[str] | None, X: np.ndarray,
                 y: np.ndarray, repeats: list[list[Fold]], seed: int, n_trees: int,
                 score: Callable[[np.ndarray, np.ndarray], dict],
                 guard: bool = False) -> list[ProbeResult]:
    """Every probe of ``table`` (or the named ``probes``) cross-predicted over each repeat's
    folds; ``score(y, pred)`` per repeat, from its concatenated out-of-fold predictions.
    With ``guard`` (regression), predictions are range-guarded and clipped folds flagged."""
    out = []
    for name in probes or list(table):
        factory = table[name]
        runs, flagged = [], []
        for r, folds in enumerate(repeats):
            folds_flagged: list[str] | None = [] if guard else None
            pred, fold_id = cross_predict(partial(factory, seed + r, n_trees), X, y, folds,
                                          folds_flagged)
            flagged += [f"repeat {r} {f}" for f in folds_flagged or []]
            runs.append((score(y, pred), _frame(pred, y, fold_id, r)))
        out.append(_collect(protocol, name, runs, len(repeats[0]), flagged))
    return out


def _regression_over(protocol: str, X: np.ndarray, y: np.ndarray,
                     repeats: list[list[Fold]], seed: int, log_target: bool,
                     probes: Sequence[str] | None, n_trees: int) -> list[ProbeResult]:
    return _probes_over(protocol, REGRESSION_PROBES, probes, X, y, repeats, seed, n_trees,
                        partial(_regression_scores, log_target=log_target), guard=True)


def robust_regression(X: np.ndarray, y: np.ndarray, folds: int = 5, repeats: int = 3,
                      seed: int = 0, log_target: bool = False,
                      probes: Sequence[str] | None = None,
                      n_trees: int = N_TREES) -> list[ProbeResult]:
    """Repeated shuffled k-fold; one score per repeat from its concatenated OOF predictions.

    With ``log_target`` (the target is log1p of the label) also ``r2_original``: R2 of
    expm1(prediction) against expm1(target).
    """
    X, y = _as_xy(X, y)
    y = y.astype(float)
    reps = by_repeat(shuffled_folds(len(y), folds, repeats, seed), folds)
    return _regression_over("robust", X, y, reps, seed, log_target, probes, n_trees)


def spatial_regression(X: np.ndarray, y: np.ndarray, xy: np.ndarray, folds: int = 5,
                       seed: int = 0, log_target: bool = False,
                       probes: Sequence[str] | None = None,
                       n_trees: int = N_TREES) -> list[ProbeResult]:
    """Spatial-block k-fold (k-means clusters of centroids ``xy``); one score per probe."""
    X, y = _as_xy(X, y)
    y = y.astype(float)
    reps = [spatial_block_folds(xy, folds, seed)]
    return _regression_over("spatial", X, y, reps, seed, log_target, probes, n_trees)


# ---------------------------------------------------------------- classification
def classification_protocol(X: np.ndarray, y: np.ndarray, folds: int = 5, repeats: int = 3,
                            seed: int = 0, probes: Sequence[str] | None = None,
                            n_trees: int = N_TREES) -> list[ProbeResult]:
    """Repeated stratified k-fold; accuracy and macro-F1 per repeat (concatenated OOF)."""
    X, y = _as_xy(X, y)
    with warnings.catch_warnings():
        # classes smaller than k: the caller logs this once, sklearn would warn every repeat
        warnings.filterwarnings("ignore", message=".*least populated class.*")
        reps = by_repeat(stratified_folds(y, folds, repeats, seed), folds)
        return _probes_over("stratified", CLASSIFICATION_PROBES, probes, X, y, reps, seed,
                            n_trees, M.classification_metrics)


# ---------------------------------------------------------------- clustering
def clustering_protocol(X: np.ndarray, y: np.ndarray, seed: int = 0,
                        n_seeds: int = N_KMEANS_SEEDS) -> ProbeResult:
    """KMeans (as many clusters as classes in ``y``) on the standardized embedding, scored by
    NMI and ARI against ``y``; one score per k-means seed ``seed .. seed + n_seeds - 1``."""
    X, y = _as_xy(X, y)
    n_clusters = len(np.unique(y))
    if n_clusters < 2 or n_clusters > len(y):
        raise ValueError(f"cannot cluster {len(y)} samples into {n_clusters} clusters")
    runs = []
    for r in range(n_seeds):
        labels = kmeans_labels(X, n_clusters, seed + r)
        runs.append((M.clustering_metrics(y, labels),
                     _frame(labels, y, np.full(len(y), -1), r)))
    return _collect("clustering", "kmeans", runs, 0)
