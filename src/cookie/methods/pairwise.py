"""Shared pairwise contrast (MVURE / ReMVC style cross-view InfoNCE), a baseline.

One projection head h_i per view (size embedding_dim / M); for every unordered pair (i, j):

    L = sum_{i<j} NCE(h_i(e_i), h_j(e_j))

with one separable critic per pair, on clean inputs. No intra-view stage, no CLUB, no
unique/shared split. Embedding: the concatenated heads. With the relational proxy (the
default) every head also predicts its view's relational target: + sum_i REL(h_i, T_i).
"""

from __future__ import annotations

from typing import Any, cast

import torch
from torch import nn

from cookie.methods.base import Batch, MultiViewObjective, TermCache, nce_term, pair_key
from cookie.nn.heads import head, make_critic, out_dim


class SharedPairwiseObjective(MultiViewObjective):
    """Cross-view InfoNCE over every pair of views."""

    uses_pretraining = False

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        cfg, d = self.cfg, self.cfg.encoder_dim
        self.intra_critics = nn.ModuleDict()  # no intra-view term: drop the base critics
        sizes = self.block_widths(len(self.names))
        self.view_heads = nn.ModuleDict(
            {n: head(d, k) for n, k in zip(self.names, sizes, strict=True)})
        self.pair_critics = nn.ModuleDict({
            pair_key(a, b): make_critic(cfg, out_dim(self.view_heads[a]),
                                        out_dim(self.view_heads[b]))
            for a, b in self.pairs
        })

    def heads(self, e: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return {n: h(e[n]) for n, h in self.view_heads.items()}

    def terms(self, batch: Batch, stage: int) -> tuple[dict[str, torch.Tensor], TermCache]:
        e, masks = self.encode(batch, False), self.masks(batch)
        h = self.heads(e)
        terms = {
            f"pair_nce/{pair_key(a, b)}": nce_term(self.pair_critics[pair_key(a, b)], h[a], h[b],
                                                   masks[a] & masks[b])
            for a, b in self.pairs
        }
        for n in self.names:  # relational proxy: each view head also predicts its target
            rel = self.relational_term(h[n], f"view/{n}", batch, masks[n])
            if rel is not None:
                terms[f"view_rel/{n}"] = rel
        terms.update(self.flow_terms(e, batch, masks))
        return terms, TermCache(e, masks, h=h)

    def target_blocks(self) -> dict[str, tuple[tuple[str, ...], int]]:
        return {f"view/{n}": ((n,), out_dim(h)) for n, h in self.view_heads.items()}

    def total(self, terms: dict[str, torch.Tensor], stage: int) -> torch.Tensor:
        return cast(torch.Tensor, sum(terms.values()))

    def embed(self, batch: Batch) -> torch.Tensor:
        """The view heads of clean inputs; zeros for a view a region is missing from."""
        return self.concat_present(self.heads(self.encode(batch, False)), batch)

    @property
    def embedding_dim(self) -> int:
        return self.cfg.embedding_dim
