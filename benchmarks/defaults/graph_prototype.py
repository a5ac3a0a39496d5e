"""The prototype behind "graph message passing: probed, not built" (defaults.md): the shipped
region-context layer with its context set restricted to each region's polygon neighbours
(`neighbour_attention`: attention over the region and the regions it touches), or replaced by
the mean of those neighbours (`neighbour_mean`: a graph-convolution step), patched onto
`cookie` outside the package; literature and robust R2 on Manhattan-180.

    cd benchmarks/defaults
    python graph_prototype.py neighbour_attention 0,1,2
    python graph_prototype.py neighbour_mean 0,1,2
    python graph_prototype.py shipped 0,1,2               (no patch: the shipped context)
"""

from __future__ import annotations

import logging
import sys

import numpy as np
import shapely
import torch
from common import TASKS, literature_r2, manhattan

from cookie.evaluation.protocols import robust_regression
from cookie.methods import base
from cookie.nn import context
from cookie.training.embedder import CookieEmbedder

logging.disable(logging.WARNING)
variant, seeds = sys.argv[1], [int(s) for s in sys.argv[2].split(",")]
ds = manhattan()
geoms = ds.regions.geometry.to_numpy()
a, b = shapely.STRtree(geoms).query(geoms, predicate="intersects")
graph = torch.zeros(len(geoms), len(geoms), dtype=torch.bool)
graph[a, b] = True  # every region touches itself: self loops included
print("mean degree, self included", round(float(graph.sum(1).float().mean()), 2))
state: dict[str, torch.Tensor] = {}
encode0 = base.MultiViewObjective.encode


def encode(self, batch, augmented):  # type: ignore[no-untyped-def]
    """Remember the batch's neighbour mask (embedding: one full batch in region order)."""
    idx = batch[base.INDEX_KEY] if base.INDEX_KEY in batch else torch.arange(len(graph))
    state["mask"] = graph[idx][:, idx]
    return encode0(self, batch, augmented)


def forward(self, e, keys, key_mask):  # type: ignore[no-untyped-def]
    mask = state["mask"] & key_mask.unsqueeze(0)
    assert mask.shape == (len(e), len(keys)), "full batches only"
    n, nk = self.norm(e), self.norm(keys)
    if variant == "neighbour_attention":
        scores = self.query(n) @ self.key(nk).T / e.shape[1] ** 0.5
        weights = torch.softmax(scores.masked_fill(~mask, -1e9), dim=1)
    else:
        weights = mask.float() / mask.float().sum(1, keepdim=True).clamp(min=1)
    return e + self.out(weights @ self.value(nk))


if variant in ("neighbour_attention", "neighbour_mean"):
    base.MultiViewObjective.encode = encode  # type: ignore[method-assign]
    context.RegionContext.forward = forward  # type: ignore[method-assign]
elif variant != "shipped":
    raise SystemExit(f"unknown variant {variant!r}")


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
