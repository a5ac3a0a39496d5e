"""Critics (separable and concatenation) and block sizes of the projection heads."""

from __future__ import annotations

from typing import Protocol, cast

import torch
import torch.nn.functional as F
from torch import nn


class CriticSettings(Protocol):
    """The settings a critic is built from (a `cookie.methods.settings.MethodSettings`)."""

    @property
    def critic(self) -> str: ...
    @property
    def critic_dim(self) -> int: ...
    @property
    def temperature(self) -> float: ...


def out_dim(head: nn.Module) -> int:
    """The output size of a projection head (its last layer's ``out_features``)."""
    return int(cast(nn.Linear, cast(nn.Sequential, head)[-1]).out_features)


def group(modules: nn.ModuleDict, key: str) -> nn.ModuleDict:
    """The inner `ModuleDict` of a nested one (a factor's or a pair's modules)."""
    return cast(nn.ModuleDict, modules[key])


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


class ConcatCritic(nn.Module):
    """FactorCL's concatenation critic: S_kl = f([a_k, b_l]) for every pair of a batch, with

        f(z) = w_3^T relu(W_2 relu(W_1 z + c_1) + c_2) + c_3,   W_1 = [W_a, W_b]

    (FactorCL's ``mlp(dim_a + dim_b, hidden, 1, layers=1)``, ReLU, no temperature). The first
    layer is split by linearity, W_1 [a; b] = W_a a + W_b b, so the N x N x (dim_a + dim_b)
    concatenation is never built: two matrix products and a broadcast add give the
    N x N x hidden first-layer activations, and the rest of the MLP runs on those. With
    ``shared=True`` both halves use the same W_a (a symmetric critic, f(a, b) = f(b, a)).
    ``materialize = True`` builds the concatenations instead, as FactorCL's code does (same
    scores, N^2 (dim_a + dim_b) memory and first-layer FLOPs; used to count that cost).
    """

    materialize: bool = False

    def __init__(self, dim_a: int, dim_b: int, hidden: int = 64, shared: bool = False) -> None:
        super().__init__()
        if shared and dim_a != dim_b:
            raise ValueError(f"a shared critic needs equal input sizes, got {dim_a}, {dim_b}")
        self.first_a = nn.Linear(dim_a, hidden)
        self.first_b = None if shared else nn.Linear(dim_b, hidden, bias=False)
        self.rest = nn.Sequential(nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(),
                                  nn.Linear(hidden, 1))

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        wb = (self.first_a if self.first_b is None else self.first_b).weight
        if self.materialize:
            n, m = a.shape[0], b.shape[0]
            pairs = torch.cat([a.unsqueeze(1).expand(n, m, -1), b.unsqueeze(0).expand(n, m, -1)],
                              dim=2)
            pre = F.linear(pairs, torch.cat([self.first_a.weight, wb], 1), self.first_a.bias)
        else:
            pre = self.first_a(a).unsqueeze(1) + F.linear(b, wb).unsqueeze(0)  # N x N x hidden
        return self.rest(pre).squeeze(-1)


#: every critic class (for counting critics and their parameters)
CRITICS = (SeparableCritic, ConcatCritic)


def make_critic(cfg: CriticSettings, dim_a: int, dim_b: int, shared: bool = False) -> nn.Module:
    """The critic that ``cfg.critic`` names, scoring (dim_a, dim_b) pairs into an N x N matrix:
    `SeparableCritic` (projection size ``critic_dim``, temperature) or `ConcatCritic` (hidden
    width max(critic_dim, 32), the separable critic's hidden width)."""
    if cfg.critic == "concat":
        return ConcatCritic(dim_a, dim_b, max(cfg.critic_dim, 32), shared=shared)
    return SeparableCritic(dim_a, dim_b, cfg.critic_dim, cfg.temperature, shared=shared)


def block_sizes(total: int, blocks: int) -> list[int]:
    """Split `total` into `blocks` sizes that differ by at most one and sum to `total`."""
    if blocks < 1 or total < blocks:
        raise ValueError(f"cannot split embedding size {total} into {blocks} blocks")
    base, extra = divmod(total, blocks)
    return [base + (1 if i < extra else 0) for i in range(blocks)]


def head(in_dim: int, out_dim: int) -> nn.Module:
    """A projection head: Linear, GELU, Linear (the unique and shared heads of every method)."""
    return nn.Sequential(nn.Linear(in_dim, in_dim), nn.GELU(), nn.Linear(in_dim, out_dim))
