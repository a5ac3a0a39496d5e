"""The prototype behind the region context stage: one residual self-attention layer across
regions patched onto every view's encoding (outside the package, as it was first tried), on
`cookie` without the shipped context stage; literature R2 on Manhattan-180.

    python benchmarks/defaults/context_prototype.py 0,1,2
"""

from __future__ import annotations

import logging
import sys

import numpy as np
import torch
from common import literature_r2, manhattan
from torch import nn

from cookie.methods import base
from cookie.training.embedder import CookieEmbedder

logging.disable(logging.WARNING)


class Context(nn.Module):
    def __init__(self, d: int) -> None:
        super().__init__()
        self.norm, self.q, self.k = nn.LayerNorm(d), nn.Linear(d, d), nn.Linear(d, d)
        self.v, self.o = nn.Linear(d, d), nn.Linear(d, d)
        nn.init.zeros_(self.o.weight)
        nn.init.zeros_(self.o.bias)

    def forward(self, e: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        h = self.norm(e)
        s = (self.q(h) @ self.k(h).T / h.shape[1] ** 0.5).masked_fill(~mask.unsqueeze(0), -1e9)
        return e + self.o(torch.softmax(s, 1) @ self.v(h))


init0, encode0 = base.MultiViewObjective.__init__, base.MultiViewObjective.encode


def init(self, specs, cfg, *args, **kwargs) -> None:  # type: ignore[no-untyped-def]
    init0(self, specs, cfg, *args, **kwargs)
    self.prototype = nn.ModuleDict({s.name: Context(cfg.encoder_dim) for s in specs})


def encode(self, batch, augmented):  # type: ignore[no-untyped-def]
    e = encode0(self, batch, augmented)
    return {n: self.prototype[n](v, batch[n][2]) for n, v in e.items()}


base.MultiViewObjective.__init__ = init  # type: ignore[method-assign]
base.MultiViewObjective.encode = encode  # type: ignore[method-assign]
ds = manhattan()
rows = []
for seed in (int(s) for s in sys.argv[1].split(",")):
    model = CookieEmbedder(name="cookie", seed=seed, context="none").fit(ds)
    rows.append(literature_r2(ds, model.transform(ds).to_numpy()))
    print("prototype", seed, rows[-1], flush=True)
print("mean", np.round(np.mean(rows, 0), 3))
