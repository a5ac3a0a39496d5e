"""The prototype behind "targets of what two views share: probed, not shipped" (defaults.md):
each shared block's relational target taken from the geometric mean A # B of its two views'
centred kernels (large only where both views' similarity structures are) instead of the
kernel of the views' concatenated inputs, patched onto `cookie`; literature and robust R2 on
Manhattan-180.
The embedding is read in the heads' coordinates (`basis = "heads"`), as when it was run,
before the rotated output basis became the default.

    cd benchmarks/defaults
    python shared_target_prototype.py geometric_mean 0,1,2
    python shared_target_prototype.py shipped 0,1,2

A # B = A^(1/2) (A^(-1/2) B A^(-1/2))^(1/2) A^(1/2), eigenvalues below 1e-6 of the largest
raised to it; the target is its top-k eigen-coordinates U_k diag(sqrt(w_k)), signed as the
shipped targets are.
"""

from __future__ import annotations

import logging
import sys

import numpy as np
import torch
from common import manhattan, seed_rows

from cookie.methods import base
from cookie.methods import targets as T
from cookie.training.embedder import CookieEmbedder

logging.disable(logging.WARNING)


def psd_power(a: np.ndarray, p: float, eps: float = 1e-6) -> np.ndarray:
    w, u = np.linalg.eigh(a)
    w = np.clip(w, eps * w.max(), None)
    return (u * w**p) @ u.T


def centred_kernel(x: torch.Tensor) -> np.ndarray:
    x = x.double()
    k = T.rbf_kernel(x, x, T.median_sq_distance(x)).numpy()
    h = np.eye(len(k)) - 1 / len(k)
    return h @ k @ h


def geometric_mean_target(inputs: list[torch.Tensor], mask: torch.Tensor, k: int,
                          landmarks: int, seed: int) -> torch.Tensor:
    if len(inputs) != 2:  # unique blocks: the shipped target
        return T.block_target(inputs, mask, k, landmarks, seed)
    a, b = centred_kernel(inputs[0][mask]), centred_kernel(inputs[1][mask])
    root, inverse_root = psd_power(a, 0.5), psd_power(a, -0.5)
    g = root @ psd_power(inverse_root @ b @ inverse_root, 0.5) @ root
    w, u = np.linalg.eigh((g + g.T) / 2)
    w, u = w[::-1][:k], u[:, ::-1][:, :k]
    coords = torch.tensor(u * np.sqrt(np.clip(w, 0, None)), dtype=torch.float32)
    sign = torch.sign(coords.gather(0, coords.abs().argmax(0, keepdim=True)))
    sign[sign == 0] = 1
    out = torch.zeros(len(mask), k)
    out[mask] = coords * sign
    return out


variant, seeds = sys.argv[1], [int(s) for s in sys.argv[2].split(",")]
if variant == "geometric_mean":
    base.block_target = geometric_mean_target  # type: ignore[assignment]
elif variant != "shipped":
    raise SystemExit(f"unknown variant {variant!r}")
ds = manhattan()

seed_rows(variant, ds, seeds,
          lambda seed: CookieEmbedder(name="cookie", seed=seed, basis="heads").fit(ds)
          .transform(ds).to_numpy())
