"""Cross-validation fold generators: lists of ``(train_idx, test_idx)`` integer arrays.

Repeated generators return a flat list in repeat-major order: folds ``r*k .. r*k + k-1``
belong to repeat ``r`` (see :func:`by_repeat`).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.cluster import KMeans
from sklearn.model_selection import KFold, RepeatedKFold, RepeatedStratifiedKFold

Fold = tuple[np.ndarray, np.ndarray]


def _check_k(n: int, k: int) -> None:
    if k < 2:
        raise ValueError(f"need at least 2 folds (got {k})")
    if k > n:
        raise ValueError(f"cannot make {k} folds of {n} samples")


def _as_int(folds: Any) -> list[Fold]:
    return [(np.asarray(tr, dtype=np.intp), np.asarray(te, dtype=np.intp)) for tr, te in folds]


def literature_folds(n: int, n_splits: int = 10) -> list[Fold]:
    """Unshuffled ``KFold`` (contiguous test blocks in row order), as the benchmark papers use."""
    _check_k(n, n_splits)
    return _as_int(KFold(n_splits=n_splits, shuffle=False).split(np.zeros(n)))


def shuffled_folds(n: int, k: int = 5, repeats: int = 3, seed: int = 0) -> list[Fold]:
    """``RepeatedKFold``: ``repeats`` independent shuffled k-fold partitions (repeat-major)."""
    _check_k(n, k)
    rkf = RepeatedKFold(n_splits=k, n_repeats=repeats, random_state=seed)
    return _as_int(rkf.split(np.zeros(n)))


def stratified_folds(y: np.ndarray, k: int = 5, repeats: int = 3, seed: int = 0) -> list[Fold]:
    """``RepeatedStratifiedKFold`` on class labels ``y`` (repeat-major)."""
    y = np.asarray(y)
    _check_k(len(y), k)
    rskf = RepeatedStratifiedKFold(n_splits=k, n_repeats=repeats, random_state=seed)
    return _as_int(rskf.split(np.zeros(len(y)), y))


def spatial_block_folds(xy: np.ndarray, k: int = 5, seed: int = 0) -> list[Fold]:
    """Spatial blocks: ``KMeans(k)`` on the region centroids, each cluster is one test fold.

    Folds are spatially compact and disjoint and cover every region; their sizes follow the
    clusters and are not equal (k-means on centroids is usually close to balanced).
    """
    xy = np.asarray(xy, dtype=float)
    if xy.ndim != 2 or xy.shape[1] != 2:
        raise ValueError(f"xy must have shape (n, 2), got {xy.shape}")
    n = len(xy)
    _check_k(n, k)
    if len(np.unique(xy, axis=0)) < k:
        raise ValueError(f"fewer than {k} distinct centroids; cannot make {k} spatial folds")
    centred = xy - xy.mean(axis=0)
    km = KMeans(n_clusters=k, n_init=10, random_state=seed).fit(centred)
    # order folds by their first member so the output does not depend on k-means' labelling
    order = sorted(range(k), key=lambda c: int(np.flatnonzero(km.labels_ == c)[0]))
    all_idx = np.arange(n)
    folds = []
    for c in order:
        mask = km.labels_ == c
        folds.append((all_idx[~mask], all_idx[mask]))
    return folds


def by_repeat(folds: list[Fold], k: int) -> list[list[Fold]]:
    """Split a repeat-major flat fold list into ``len(folds) // k`` repeats of ``k`` folds."""
    if k <= 0 or len(folds) % k:
        raise ValueError(f"{len(folds)} folds do not split into repeats of {k}")
    return [folds[i:i + k] for i in range(0, len(folds), k)]
