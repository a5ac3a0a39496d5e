"""CLUB upper bound with an NCE-trained critic (as in FactorCL).

    CLUB(a; b) = 1/N sum_i S_ii  -  1/N^2 sum_i sum_j S_ij

The critic producing S is trained separately to maximize the InfoNCE bound on detached
inputs; the encoders then minimize this estimate with the critic held fixed.
"""

from __future__ import annotations

import torch


def club_upper_bound(scores: torch.Tensor) -> torch.Tensor:
    """Mean positive score minus mean score over all pairs."""
    if scores.ndim != 2 or scores.shape[0] != scores.shape[1]:
        raise ValueError(f"scores must be square, got {tuple(scores.shape)}")
    return scores.diagonal().mean() - scores.mean()
