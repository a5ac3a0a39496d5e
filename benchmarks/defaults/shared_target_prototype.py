"""The prototype behind "targets of what two views share: probed, not shipped" (defaults.md):
each shared block's relational target taken from the geometric mean A # B of its two views'
centred kernels (large only where both views' similarity structures are) instead of the
kernel of the views' concatenated inputs, patched onto `cookie`; literature and robust R2 on
Manhattan-180.

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
from common import TASKS, literature_r2, manhattan

from cookie.evaluation.protocols import robust_regression
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


def robust(z: np.ndarray, probe: str) -> np.ndarray:
    return np.round([np.mean(robust_regression(z, ds.labels[t].to_numpy(float), probes=[probe])
                             [0].scores["r2"]) for t in TASKS], 3)


rows = []
for seed in seeds:
    z = CookieEmbedder(name="cookie", seed=seed).fit(ds).transform(ds).to_numpy()
    rows.append(np.concatenate([literature_r2(ds, z), robust(z, "ridge_cv"),
                                robust(z, "random_forest")]))
    print(variant, seed, "literature", rows[-1][:3], "robust ridge", rows[-1][3:6],
          "robust forest", rows[-1][6:], flush=True)
mean = np.round(np.mean(rows, 0), 3)
print("mean", variant, "literature", mean[:3], "robust ridge", mean[3:6], "robust forest",
      mean[6:])
