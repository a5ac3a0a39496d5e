"""Relational targets as features (no training), Manhattan-180 literature folds: the current
block kernels (RBF on the concatenated standardized inputs of a block's views) against kernels
that weigh every view equally (each view's squared distances over its own median, averaged).

    python benchmarks/defaults/equal_kernel.py      (from benchmarks/defaults/)
"""

from __future__ import annotations

from itertools import combinations

import numpy as np
from common import literature_r2, manhattan
from scipy.spatial.distance import cdist

ds = manhattan()
x = {n: v.values.reshape(len(v.values), -1) for n, v in ds.views.items()}
x = {n: (v - v.mean(0)) / (v.std(0) + 1e-9) for n, v in x.items()}
d2 = {n: cdist(v, v, "sqeuclidean") for n, v in x.items()}
med = {n: float(np.median(d[np.triu_indices(len(d), 1)])) for n, d in d2.items()}


def kpca(kern: np.ndarray, k: int) -> np.ndarray:
    h = np.eye(len(kern)) - 1 / len(kern)
    w, u = np.linalg.eigh(h @ kern @ h)
    return (u * np.sqrt(np.clip(w, 0, None)))[:, ::-1][:, :k]


def concatenated(views: tuple[str, ...]) -> np.ndarray:
    """The shipped block kernel: one RBF on the concatenated inputs (median bandwidth)."""
    d = cdist(*(2 * [np.concatenate([x[n] for n in views], 1)]), "sqeuclidean")
    return np.exp(-d / np.median(d[np.triu_indices(len(d), 1)]))


def equal(views: tuple[str, ...]) -> np.ndarray:
    """Every view weighs the same: the mean of its median-scaled squared distances."""
    return np.exp(-sum(d2[n] / med[n] for n in views) / len(views))


for name, kernel in (("concatenated (shipped)", concatenated), ("equal views", equal)):
    unique = [kpca(kernel((n,)), 51) for n in x]
    pairs = [kpca(kernel(p), 51) for p in combinations(x, 2)]
    print(name, "unique + pair blocks, 51 each",
          literature_r2(ds, np.concatenate(unique + pairs, 1)))
    print(name, "pair blocks only", literature_r2(ds, np.concatenate(pairs, 1)))
    print(name, "one kernel on all four views, 32",
          literature_r2(ds, kpca(kernel(tuple(x)), 32)))
