"""Projection heads and separable critics."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class SeparableCritic(nn.Module):
    """f(a, b) = <g(a), h(b)> / tau with L2-normalized projections g, h (N x N scores).

    One matrix product scores every pair of a batch, instead of N^2 MLP evaluations of a
    concatenation critic. With ``shared=True``, g and h are the same network (Siamese).
    """

    def __init__(self, dim_a: int, dim_b: int, out_dim: int = 64, temperature: float = 0.1,
                 shared: bool = False) -> None:
        super().__init__()
        hidden = max(out_dim, 32)
        self.g = nn.Sequential(nn.Linear(dim_a, hidden), nn.GELU(), nn.Linear(hidden, out_dim))
        self.h = self.g if shared else nn.Sequential(
            nn.Linear(dim_b, hidden), nn.GELU(), nn.Linear(hidden, out_dim)
        )
        self.temperature = temperature

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        ga = F.normalize(self.g(a), dim=-1)
        hb = F.normalize(self.h(b), dim=-1)
        return ga @ hb.T / self.temperature


def block_sizes(total: int, blocks: int) -> list[int]:
    """Split `total` into `blocks` sizes that differ by at most one and sum to `total`."""
    if blocks < 1 or total < blocks:
        raise ValueError(f"cannot split embedding size {total} into {blocks} blocks")
    base, extra = divmod(total, blocks)
    return [base + (1 if i < extra else 0) for i in range(blocks)]
