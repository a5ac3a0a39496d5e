"""Evaluation metrics. Regression: MAE, RMSE, R2. Classification: accuracy, macro-F1.
Clustering: NMI, ARI."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike
from sklearn.metrics import adjusted_rand_score, f1_score, normalized_mutual_info_score


def _pair(y_true: ArrayLike, y_pred: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    t, p = np.asarray(y_true), np.asarray(y_pred)
    if t.shape != p.shape or t.ndim != 1:
        raise ValueError(f"y_true and y_pred must be 1-d of equal length ({t.shape}, {p.shape})")
    if len(t) == 0:
        raise ValueError("no samples to score")
    return t, p


def mae(y_true: ArrayLike, y_pred: ArrayLike) -> float:
    """Mean absolute error."""
    t, p = _pair(y_true, y_pred)
    return float(np.mean(np.abs(t.astype(float) - p.astype(float))))


def rmse(y_true: ArrayLike, y_pred: ArrayLike) -> float:
    """Root mean squared error."""
    t, p = _pair(y_true, y_pred)
    return float(np.sqrt(np.mean((t.astype(float) - p.astype(float)) ** 2)))


def r2(y_true: ArrayLike, y_pred: ArrayLike) -> float:
    """Coefficient of determination 1 - SS_res / SS_tot (NaN when y_true is constant)."""
    t, p = _pair(y_true, y_pred)
    t, p = t.astype(float), p.astype(float)
    ss_tot = float(np.sum((t - t.mean()) ** 2))
    if ss_tot == 0.0:
        return float("nan")
    return 1.0 - float(np.sum((t - p) ** 2)) / ss_tot


def accuracy(y_true: ArrayLike, y_pred: ArrayLike) -> float:
    """Fraction of exact matches."""
    t, p = _pair(y_true, y_pred)
    return float(np.mean(t == p))


def macro_f1(y_true: ArrayLike, y_pred: ArrayLike) -> float:
    """Unweighted mean of per-class F1 over the classes in y_true or y_pred."""
    t, p = _pair(y_true, y_pred)
    return float(f1_score(t, p, average="macro", zero_division=0))


def nmi(y_true: ArrayLike, y_pred: ArrayLike) -> float:
    """Normalized mutual information (arithmetic normalization)."""
    t, p = _pair(y_true, y_pred)
    return float(normalized_mutual_info_score(t, p))


def ari(y_true: ArrayLike, y_pred: ArrayLike) -> float:
    """Adjusted Rand index."""
    t, p = _pair(y_true, y_pred)
    return float(adjusted_rand_score(t, p))


def regression_metrics(y_true: ArrayLike, y_pred: ArrayLike) -> dict[str, float]:
    """``{"r2", "mae", "rmse"}`` of one prediction vector."""
    return {"r2": r2(y_true, y_pred), "mae": mae(y_true, y_pred), "rmse": rmse(y_true, y_pred)}


def classification_metrics(y_true: ArrayLike, y_pred: ArrayLike) -> dict[str, float]:
    """``{"accuracy", "macro_f1"}`` of one prediction vector."""
    return {"accuracy": accuracy(y_true, y_pred), "macro_f1": macro_f1(y_true, y_pred)}


def clustering_metrics(y_true: ArrayLike, y_pred: ArrayLike) -> dict[str, float]:
    """``{"nmi", "ari"}`` of one cluster assignment."""
    return {"nmi": nmi(y_true, y_pred), "ari": ari(y_true, y_pred)}
