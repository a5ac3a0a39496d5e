"""InfoNCE on an N x N score matrix whose diagonal holds the positive pairs.

    L = 1/2 [ -1/N sum_i log softmax_j(S_ij)|_{j=i}  -  1/N sum_j log softmax_i(S_ij)|_{i=j} ]
    I(a; b) >= log N - L
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def infonce_loss(scores: torch.Tensor) -> torch.Tensor:
    """Symmetric InfoNCE (cross-entropy over rows and over columns) of a square score matrix."""
    if scores.ndim != 2 or scores.shape[0] != scores.shape[1]:
        raise ValueError(f"scores must be square, got {tuple(scores.shape)}")
    target = torch.arange(scores.shape[0], device=scores.device)
    return 0.5 * (F.cross_entropy(scores, target) + F.cross_entropy(scores.T, target))


def infonce_lower_bound(scores: torch.Tensor) -> torch.Tensor:
    """The InfoNCE lower bound on mutual information, in nats: log N - L."""
    return math.log(scores.shape[0]) - infonce_loss(scores)
