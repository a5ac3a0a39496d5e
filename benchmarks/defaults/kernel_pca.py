"""Kernel PCA of the raw views as features (no training): which relational structure a linear
probe can read, and how the same coordinates fare under the robust protocol's probes.

    python benchmarks/defaults/kernel_pca.py
"""

from __future__ import annotations

from itertools import combinations

import numpy as np
from common import TASKS, literature_r2, manhattan
from scipy.spatial.distance import cdist

from cookie.evaluation.protocols import robust_regression

ds = manhattan()
views = {n: v.values.reshape(len(v.values), -1) for n, v in ds.views.items()}


def standardize(a: np.ndarray) -> np.ndarray:
    return (a - a.mean(0)) / (a.std(0) + 1e-9)


def rbf(x: np.ndarray) -> np.ndarray:
    d2 = cdist(x, x, "sqeuclidean")
    return np.exp(-d2 / np.median(d2[np.triu_indices(len(x), 1)]))


def kpca(kern: np.ndarray, k: int | None = None) -> np.ndarray:
    n = len(kern)
    h = np.eye(n) - 1 / n
    w, u = np.linalg.eigh(h @ kern @ h)
    z = (u * np.sqrt(np.clip(w, 0, None)))[:, ::-1]
    return z if k is None else z[:, :k]


x = {n: standardize(v) for n, v in views.items()}
joint3 = np.concatenate([x["poi"], x["landuse"], x["mobility"]], 1)
for factor in (1, 3, 10):
    print("one kernel on poi+landuse+mobility, x", factor,
          literature_r2(ds, kpca(rbf(joint3)) * factor))
unique = [kpca(rbf(x[n]), 51) for n in x]
pairs = [kpca(rbf(np.concatenate([x[a], x[b]], 1)), 51) for a, b in combinations(x, 2)]
print("unique + pair blocks, 51 each", literature_r2(ds, np.concatenate(unique + pairs, 1)))


def robust_r2(z: np.ndarray, probe: str) -> np.ndarray:
    """Robust-protocol R2 (mean over repeats) of check-in, crime and service calls."""
    return np.round([np.mean(robust_regression(z, ds.labels[t].to_numpy(float), probes=[probe])
                             [0].scores["r2"]) for t in TASKS], 3)


for k in (128, 16):
    z = kpca(rbf(joint3), k)
    print(f"one kernel on poi+landuse+mobility, {k} coordinates: literature",
          literature_r2(ds, z), "robust ridge_cv", robust_r2(z, "ridge_cv"),
          "robust random_forest", robust_r2(z, "random_forest"))
