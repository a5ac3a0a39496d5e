"""A data-adaptive kernel for the relational targets, probed as features with no training
(seed 0), next to the shipped RBF. An evaluation-fold look, disclosed in defaults.md.

Every label-free kernel tried so far (sessions 9 to 14: bandwidths, multiscale, Laplacian,
cosine, additive, rank and Gaussian-rank inputs, random-trees) treats every standardized input
column alike, and each traded one task against another. A forest on the raw views reads the
columns that matter; a label-free kernel cannot know the task, but it can tell columns that
vary together (structure) from columns that vary alone (noise). The unsupervised random
forest does that: a classifier learns to tell the real regions from synthetic ones whose
columns are permuted independently (the product of the marginals), so its splits follow the
dependence between columns, and two regions are similar when many of its trees put them in
one leaf (the proximity, a kernel: the mean over trees of one-hot leaf inner products).

Written down, with the constants, before this script first ran (no setting is tuned):

- `proximity`: scikit-learn's RandomForestClassifier, 300 trees, min_samples_leaf = 5 (so a
  leaf holds several regions), max_features "sqrt", random_state 0, on the block's
  standardized inputs (real, label 1) against one independent permutation of each column
  (label 0, seeded 0); K[i, j] = the fraction of trees where real regions i and j share a leaf;
- `rbf + proximity`: the mean of that kernel and the shipped RBF kernel.

The rule, also written down first: `proximity` or `rbf + proximity` is built as an option of
`kernel` if, as features, it is ahead of the shipped RBF on at least 6 of Manhattan-180's 9
numbers (literature, robust ridge, robust forest x 3 tasks) and its robust ridge is behind the
RBF's by no more than 0.005 on Olinda population, Olinda greenness and Helsinki log density.
No default changes in this session in any case.

    cd benchmarks/defaults && python forest_kernel.py
    cd benchmarks/defaults && python forest_kernel.py ../olinda/olinda_population.toml
"""

from __future__ import annotations

import sys

import numpy as np
import torch
from common import probe_patched_targets
from kernel_variants import exact
from sklearn.ensemble import RandomForestClassifier

import cookie.methods.targets as targets


def proximity(x: torch.Tensor) -> torch.Tensor:
    """Unsupervised random-forest proximity of the rows of ``x`` (constants in the docstring)."""
    real = x.numpy()
    rng = np.random.default_rng(0)
    fake = np.column_stack([rng.permutation(column) for column in real.T])
    forest = RandomForestClassifier(n_estimators=300, min_samples_leaf=5, max_features="sqrt",
                                    random_state=0, n_jobs=-1)
    forest.fit(np.vstack([real, fake]), np.r_[np.ones(len(real)), np.zeros(len(fake))])
    leaves = torch.from_numpy(forest.apply(real))  # (n, trees)
    kern = torch.zeros(len(real), len(real), dtype=torch.float64)
    for tree in leaves.T:
        kern += tree[:, None] == tree[None, :]
    return kern / leaves.shape[1]


def rbf(x: torch.Tensor) -> torch.Tensor:
    """The shipped RBF kernel at the median heuristic."""
    return targets.rbf_kernel(x, x, targets.median_sq_distance(x))


def rbf_and_proximity(x: torch.Tensor) -> torch.Tensor:
    return (rbf(x) + proximity(x)) / 2


if __name__ == "__main__":
    probe_patched_targets(sys.argv[1] if len(sys.argv) > 1 else None,
                          [("shipped RBF", None, "rbf"), ("proximity", exact(proximity), "rbf"),
                           ("rbf + proximity", exact(rbf_and_proximity), "rbf")])
