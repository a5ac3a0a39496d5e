"""The output basis of an embedding block: a fixed rotation of the heads' coordinates.

A head trained on a relational target reproduces kernel-PCA coordinates, one per dimension,
with variances that fall off fast: most dimensions of a block carry its small trailing
components. Probes that treat every dimension alike (standardized linear models, forests
that sample features) then weigh those tails as much as the leading components. Each block is
therefore returned in a fixed orthonormal basis Q_d (d = the block's width): the same
information, the same distances and inner products (Z Q Q^T Z^T = Z Z^T), every dimension a
mix of the block's components. Q_d is the Q factor of a d x d standard normal matrix drawn
from a generator seeded with d (columns signed so that diag(R) > 0): it depends on nothing
but the width, so every fit and every machine use the same one.
"""

from __future__ import annotations

from functools import lru_cache

import torch


@lru_cache(maxsize=64)
def _rotation64(width: int) -> torch.Tensor:
    gen = torch.Generator().manual_seed(width)
    q, r = torch.linalg.qr(torch.randn(width, width, generator=gen, dtype=torch.float64))
    return q * torch.sign(torch.diagonal(r)).unsqueeze(0)


def block_rotation(width: int) -> torch.Tensor:
    """The fixed orthonormal d x d basis of a block of width ``d`` (float64, CPU)."""
    if width < 1:
        raise ValueError(f"block width must be positive, got {width}")
    return _rotation64(int(width)).clone()


def rotate_blocks(parts: list[torch.Tensor]) -> torch.Tensor:
    """Each (n, d_b) block times its fixed basis Q_{d_b}, concatenated: (n, sum d_b)."""
    return torch.cat([p @ _rotation64(int(p.shape[1])).to(p.device, p.dtype) for p in parts],
                     dim=1)
