"""The relational targets themselves as features (no training), Manhattan-180, seed 0: how close
the learned `cookie` embedding comes to the targets it is trained on, and whether a
random-trees kernel (scikit-learn's RandomTreesEmbedding: two regions are similar when many
random axis-aligned trees put them in one leaf) would make better targets than the shipped RBF
kernel. Both are read in the rotated basis, as the embedding is. An evaluation-fold look,
disclosed in defaults.md; nothing ships from it.

    cd benchmarks/defaults && python targets_probe.py
"""

from __future__ import annotations

import logging

import numpy as np
import torch
from common import manhattan, three_probes
from sklearn.ensemble import RandomTreesEmbedding

import cookie.methods.base as base
from cookie.methods.targets import kernel_matrix_coordinates
from cookie.training.embedder import CookieEmbedder

logging.disable(logging.WARNING)
TREES, DEPTH = 200, 5  # scikit-learn's default depth; not tuned


def random_trees_target(inputs: list[torch.Tensor], mask: torch.Tensor, k: int, landmarks: int,
                        seed: int) -> torch.Tensor:
    """`block_target` with the random-trees kernel: shared leaves / number of trees."""
    x = torch.cat(inputs, 1)[mask].double().numpy()
    leaves = RandomTreesEmbedding(n_estimators=TREES, max_depth=DEPTH,
                                  random_state=seed).fit_transform(x)
    out = torch.zeros(mask.shape[0], k)
    out[mask] = kernel_matrix_coordinates(
        torch.from_numpy((leaves @ leaves.T).toarray() / TREES), k)
    return out


def targets_as_features(ds) -> np.ndarray:
    """Every block's relational target, rotated and concatenated like the embedding."""
    model = CookieEmbedder(name="cookie", seed=0, pretrain_epochs=0, epochs=1).fit(ds)
    objective = model.objective_
    return objective.assemble([objective.targets[k] for k in objective.target_blocks()]).numpy()


def show(label: str, row: np.ndarray) -> None:
    print(f"{label}: literature {row[:3]} robust ridge {row[3:6]} robust forest {row[6:]}",
          flush=True)


ds = manhattan()
show("learned embedding (seed 0)",
     three_probes(ds, CookieEmbedder(name="cookie", seed=0).fit_transform(ds).to_numpy()))
show("shipped RBF targets", three_probes(ds, targets_as_features(ds)))
base.block_target = random_trees_target  # what set_targets calls
show("random-trees targets", three_probes(ds, targets_as_features(ds)))
