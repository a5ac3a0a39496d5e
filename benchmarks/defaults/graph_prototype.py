"""The prototype behind "graph message passing: probed, not built" (defaults.md): the shipped
region-context layer with its context set restricted to each region's polygon neighbours
(`neighbour_attention`: attention over the region and the regions it touches), or replaced by
the mean of those neighbours (`neighbour_mean`: a graph-convolution step), patched onto
`cookie` outside the package; literature and robust R2 on Manhattan-180.
The embedding is read in the heads' coordinates (`basis = "heads"`), as when it was run,
before the rotated output basis became the default.

    cd benchmarks/defaults
    python graph_prototype.py neighbour_attention 0,1,2
    python graph_prototype.py neighbour_mean 0,1,2
    python graph_prototype.py shipped 0,1,2               (no patch: the shipped context)
"""

from __future__ import annotations

import logging
import sys

import shapely
import torch
from common import manhattan, seed_rows

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

seed_rows(variant, ds, seeds,
          lambda seed: CookieEmbedder(name="cookie", seed=seed, basis="heads").fit(ds)
          .transform(ds).to_numpy())
