"""Rank-based input transforms for the relational targets, probed as features with no training
(seed 0), next to the shipped targets. An evaluation-fold look, disclosed in defaults.md;
nothing ships from it.

A random forest on the raw views beats every kernel target on Manhattan-180 check-in, and a
forest is blind to monotone transforms of each feature, while the RBF kernel on log1p-then-
standardized counts is not: a few heavy-tailed columns (many zeros, a long right tail) set most
squared distances. The transforms below were written down before this script first ran. Each
replaces every input column of a block (the concatenated standardized inputs of its views)
before the shipped RBF kernel at the median heuristic; neither has a setting to tune:

- rank: the column's average ranks (ties share their mean rank), scaled to [0, 1], then
  standardized (a copula view of the features: only the order of the regions counts);
- gauss: the same ranks mapped to standard normal scores, Phi^-1((rank - 0.5) / n), then
  standardized (rank-based inverse normal transform).

A constant column stays zero. Every variant is read in the shipped rotated basis, at the
shipped equal widths.

    cd benchmarks/defaults && python input_transforms.py
    cd benchmarks/defaults && python input_transforms.py ../olinda/olinda_population.toml

With a CONFIG, the dataset's own evaluation scores each set of targets (robust and spatial
protocols, ridge and forest), as its benchmark script scores an embedding.
"""

from __future__ import annotations

import sys
from collections.abc import Callable

import numpy as np
import torch
from common import probe_patched_targets
from scipy.special import ndtri
from scipy.stats import rankdata

import cookie.methods.targets as targets

SHIPPED_KPCA = targets.kernel_pca_coordinates


def standardized(a: np.ndarray) -> np.ndarray:
    sd = a.std(0)
    return np.where(sd > 0, (a - a.mean(0)) / np.where(sd > 0, sd, 1.0), 0.0)


def rank(x: np.ndarray) -> np.ndarray:
    n = x.shape[0]
    return (rankdata(x, axis=0) - 1.0) / max(n - 1, 1)


def gauss(x: np.ndarray) -> np.ndarray:
    n = x.shape[0]
    return ndtri((rankdata(x, axis=0) - 0.5) / n)


def transformed(transform: Callable[[np.ndarray], np.ndarray]) -> Callable:
    """`kernel_pca_coordinates` on the block's inputs with every column transformed first."""
    def coordinates(x: torch.Tensor, k: int, landmarks: int = 2048, seed: int = 0,
                    kind: str = "rbf"):
        z = standardized(transform(x.to(torch.float64).numpy()))
        return SHIPPED_KPCA(torch.from_numpy(z).to(x.dtype), k, landmarks, seed, kind)
    return coordinates


probe_patched_targets(sys.argv[1] if len(sys.argv) > 1 else None,
                      [("shipped", None, "rbf"), ("rank", transformed(rank), "rbf"),
                       ("gauss", transformed(gauss), "rbf")])
