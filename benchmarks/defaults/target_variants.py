"""Label-free variants of the relational targets, probed as features with no training
(Manhattan-180, seed 0, literature and robust-ridge R2 of check-in, crime, service calls):
the RBF bandwidth as a multiple of the median heuristic, an additive kernel (the mean of one
RBF per feature, each at its own median), more target coordinates per block (`embedding_dim`),
and the per-feature scale the kernel sees (standardized, as shipped; one scale per view; half
way between); and GFactorCL's targets (one per factor, 15 at M = 4) against cookie's (10
blocks). An evaluation-fold look, disclosed in defaults.md; nothing ships from it.

    cd benchmarks/defaults && python target_variants.py
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import torch
from common import literature_r2, manhattan, robust_r2

import cookie.methods.targets as targets
from cookie.nn.networks import Standardize
from cookie.training.embedder import CookieEmbedder

logging.disable(logging.WARNING)
SHIPPED_MEDIAN = targets.median_sq_distance
SHIPPED_KPCA = targets.kernel_pca_coordinates
SHIPPED_FIT = Standardize.fit.__func__


def additive_kernel(x: torch.Tensor) -> torch.Tensor:
    """mean_j exp(-(x_ij - x_kj)^2 / med_j) over the features j that vary."""
    n = x.shape[0]
    upper = torch.triu(torch.ones(n, n, dtype=torch.bool), 1)
    kern, used = torch.zeros(n, n, dtype=torch.float64), 0
    for j in range(x.shape[1]):
        d2 = (x[:, j:j + 1] - x[:, j:j + 1].T).pow(2)
        off = d2[upper]
        if float(off.max()) <= 0:
            continue
        med = float(off.median())
        kern += torch.exp(-d2 / (med if med > 0 else float(off.mean())))
        used += 1
    return kern / max(used, 1)


def additive_kpca(x: torch.Tensor, k: int, landmarks: int = 2048, seed: int = 0) -> torch.Tensor:
    """`kernel_pca_coordinates` (exact branch) with the additive kernel."""
    return targets.kernel_matrix_coordinates(additive_kernel(x.to(torch.float64)), k)


def view_scale(power: float) -> Callable:
    """Standardize.fit with std_j ** power * (one scale for the view) ** (1 - power)."""
    def fit(cls, x, dims):
        mean, std = x.mean(dim=dims, keepdim=True)[0], x.std(dim=dims, keepdim=True)[0]
        overall = std.pow(2).mean().sqrt()
        return cls(mean, std.clamp_min(1e-6).pow(power) * overall.pow(1 - power))
    return classmethod(fit)


def probe(ds, label: str, embedding_dim: int = 512, method: str = "cookie") -> None:
    model = CookieEmbedder(name=method, seed=0, pretrain_epochs=0, epochs=1,
                           embedding_dim=embedding_dim).fit(ds)
    o = model.objective_
    x = o.assemble([o.targets[k] for k in o.target_blocks()]).numpy()
    print(f"{label}: literature {literature_r2(ds, x)} robust ridge {robust_r2(ds, x, 'ridge_cv')}",
          flush=True)


ds = manhattan()
for factor in (1.0, 0.25, 0.5, 2.0, 4.0):
    targets.median_sq_distance = (lambda x, sample=2048, seed=0, f=factor:
                                  f * SHIPPED_MEDIAN(x, sample, seed))
    probe(ds, f"bandwidth {factor} x median")
targets.median_sq_distance = SHIPPED_MEDIAN
targets.kernel_pca_coordinates = additive_kpca
probe(ds, "additive kernel")
targets.kernel_pca_coordinates = SHIPPED_KPCA
for dim in (1024, 2048):
    probe(ds, f"embedding_dim {dim}", dim)
for power, label in ((0.0, "one scale per view"), (0.5, "half way")):
    Standardize.fit = view_scale(power)
    probe(ds, label)
Standardize.fit = classmethod(SHIPPED_FIT)
probe(ds, "gfactorcl's factor targets", method="gfactorcl")
