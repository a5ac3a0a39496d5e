"""Region context: each region's encoding also sees the other regions' (self-attention).

A per-region encoder sees one region at a time; how a region relates to the others (which the
relational targets and most downstream tasks are about) is then left to the heads. The context
stage adds, after each view's encoder, one residual attention layer across regions:

    c(r) = e(r) + W_o sum_q softmax_q( <W_q n(r), W_k n(q)> / sqrt(d) ) W_v n(q),  n = LayerNorm(e)

over the context set Q of regions present in the view. W_o starts at zero, so training starts
from the context-free model. Q is the batch's regions (every region with full batches); when
there are more than ``limit`` of them, a random sample of ``limit`` in training and a fixed one
(seeded) when embedding, so memory is O(batch x limit).
"""

from __future__ import annotations

import torch
from torch import nn


class RegionContext(nn.Module):
    """One residual attention layer across regions, for one view."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.query = nn.Linear(dim, dim)
        self.key = nn.Linear(dim, dim)
        self.value = nn.Linear(dim, dim)
        self.out = nn.Linear(dim, dim)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def forward(self, e: torch.Tensor, keys: torch.Tensor, key_mask: torch.Tensor
                ) -> torch.Tensor:
        """``e`` (B, d) encodings in context of ``keys`` (K, d), of which ``key_mask`` (K,)
        are present; with no key present, ``e`` unchanged."""
        if not bool(key_mask.any()):
            return e
        n, nk = self.norm(e), self.norm(keys)
        scores = self.query(n) @ self.key(nk).T / e.shape[1] ** 0.5
        scores = scores.masked_fill(~key_mask.unsqueeze(0), -1e9)
        return e + self.out(torch.softmax(scores, dim=1) @ self.value(nk))


def context_rows(n: int, limit: int, training: bool, seed: int = 0) -> torch.Tensor | None:
    """Which of ``n`` rows form the context set: None (all) up to ``limit``; otherwise a random
    sample of ``limit`` (training) or a fixed, seeded one (embedding)."""
    if n <= limit:
        return None
    if training:
        return torch.randperm(n)[:limit]
    return torch.randperm(n, generator=torch.Generator().manual_seed(seed))[:limit]
