"""Single-view learning: what a user with one modality trains (`single_view`).

Each view is learned on its own, with no cross-view term, so the method runs on one view (or
more). Stage 1 is the intra-view InfoNCE, as in every method. In stage 2 a projection head u_v
(size embedding_dim / M) per view is trained on the task proxy of that view:

    L_2 = alpha * sum_v NCE_intra(e_v, e_v') + sum_v REL(u_v, T_v) + sum_v FLOW_v

with the view's relational target T_v (relational proxy, the default), or NCE(u_v, u_v') on an
augmentation in its place (augmentation proxy, or an image view without statistics). FLOW_v is
the flow-distribution term of a flows view. Embedding: the concatenated heads u_v.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from cookie.methods.base import Batch, MultiViewObjective, TermCache
from cookie.nn.heads import head, make_critic, out_dim


class SingleViewObjective(MultiViewObjective):
    """Per-view heads on the views' own proxies; no term across views."""

    min_views = 1

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        cfg, d = self.cfg, self.cfg.encoder_dim
        sizes = self.block_widths(len(self.names))
        self.view_heads = nn.ModuleDict(
            {n: head(d, k) for n, k in zip(self.names, sizes, strict=True)})
        self.view_nce = nn.ModuleDict({n: make_critic(cfg, k, k)
                                       for n, k in zip(self.names, sizes, strict=True)})

    def heads(self, e: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return {n: h(e[n]) for n, h in self.view_heads.items()}

    def target_blocks(self) -> dict[str, tuple[tuple[str, ...], int]]:
        return {f"view/{n}": ((n,), out_dim(h)) for n, h in self.view_heads.items()}

    def terms(self, batch: Batch, stage: int) -> tuple[dict[str, torch.Tensor], TermCache]:
        terms, cache = self.terms_with_heads(batch, stage)
        if stage == 1:
            return terms, cache
        h, h_aug, masks = cache.h, cache.h_aug, cache.masks
        for n in self.names:
            kind, value = self.proxy_term(h[n], h_aug[n], f"view/{n}", self.view_nce[n], batch,
                                          masks[n])
            terms[f"view_{kind}/{n}"] = value
        return terms, cache

    def embed(self, batch: Batch) -> torch.Tensor:
        """The concatenated heads of clean inputs (zeros where a region misses a view)."""
        return self.concat_present(self.heads(self.encode(batch, False)), batch)

    @property
    def embedding_dim(self) -> int:
        return self.cfg.embedding_dim
