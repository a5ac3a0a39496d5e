"""A joint block for cookie, prototyped outside the package (session 16): one more embedding
block whose relational target is the kernel of every view's inputs together, predicted by one
head per view (REL per view, the same term as a shared pair's), embedded as the mean of the
present views' heads. GFactorCL's one structural difference from cookie is its factors for
subsets of three or more views; this asks whether the all-view one is what gives GFactorCL its
lead on Manhattan check-in and on Helsinki.

    cd benchmarks/defaults && python joint_block_prototype.py 0,1,2,3,4 [CONFIG] [equal]

Prints the three probes per seed (literature, robust ridge, robust forest; check-in, crime,
service calls) for the shipped `cookie` and for `cookie` with the joint block, same seeds,
on Manhattan-180 or another Manhattan-layout CONFIG (e.g. the peers' three views). An
evaluation-fold look (defaults.md).

Rule, written before the first run: the joint block is built into the package as an option
if, paired over the 5 seeds, its mean is ahead of the shipped cookie on at least 6 of the 9
numbers both on Manhattan-180's four views and on the peers' three views. It does not become
the default in this session whatever it scores (a change of default needs every results file
regenerated, and a nested selection first).

A follow-up, after the rule had decided (disclosed): with a fourth argument `equal`, only the
joint variant is trained, its target kernel weighing every view alike,
exp(-mean_v d_v(r, r')^2 / median_v) over the views' own squared distances d_v and their
medians (so a view with many columns does not dominate it).
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Any

import torch
from common import CONFIG, seed_rows
from torch import nn

import cookie.methods.targets as targets
from cookie.config import load_config
from cookie.dataset.dataset import load_dataset
from cookie.methods.base import Batch, TermCache
from cookie.methods.cookie import CookieObjective
from cookie.methods.registry import register
from cookie.nn.heads import block_sizes, head
from cookie.training.embedder import CookieEmbedder

logging.disable(logging.WARNING)
JOINT = "shared/all"


EQUAL = len(sys.argv) > 3 and sys.argv[3] == "equal"


def equal_view_kernel(views: list[torch.Tensor]) -> torch.Tensor:
    """exp(-mean_v d_v^2 / median_v), d_v the squared distances of view v's rows."""
    total = torch.zeros(views[0].shape[0], views[0].shape[0], dtype=torch.float64)
    for x in views:
        d2 = torch.cdist(x.to(torch.float64), x.to(torch.float64)).pow(2)
        off = d2[torch.triu(torch.ones_like(d2, dtype=torch.bool), 1)]
        total += d2 / off.median().clamp_min(1e-12)
    return torch.exp(-total / len(views))


class JointCookie(CookieObjective):
    """`cookie` plus one all-view block (equal widths only)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.joint_heads = nn.ModuleDict({n: head(self.cfg.encoder_dim, self.joint_width)
                                          for n in self.names})

    def block_widths(self, blocks: int) -> list[int]:
        """The first ``blocks`` of the equal split into blocks + 1; the last is the joint
        block's, kept as ``joint_width``."""
        widths = block_sizes(self.cfg.embedding_dim, blocks + 1)
        self.joint_width = widths[-1]
        return widths[:blocks]

    def target_blocks(self) -> dict[str, tuple[tuple[str, ...], int]]:
        blocks = super().target_blocks()
        if hasattr(self, "joint_width"):
            blocks[JOINT] = (tuple(self.names), self.joint_width)
        return blocks

    def set_targets(self, x: dict[str, torch.Tensor], aux: dict[str, torch.Tensor | None],
                    mask: dict[str, torch.Tensor]) -> None:
        super().set_targets(x, aux, mask)
        if not EQUAL or JOINT not in self.targets:
            return
        views, valid, k = self._block_inputs(x, aux, mask)[JOINT]
        out = torch.zeros(valid.shape[0], k)
        out[valid] = targets.kernel_matrix_coordinates(
            equal_view_kernel([v[valid] for v in views]), k)
        self.targets[JOINT] = out

    def heads(self, e: dict[str, torch.Tensor]) -> dict:
        h = super().heads(e)
        h["j"] = {n: hd(e[n]) for n, hd in self.joint_heads.items()}
        return h

    def terms(self, batch: Batch, stage: int) -> tuple[dict[str, torch.Tensor], TermCache]:
        terms, cache = super().terms(batch, stage)
        if stage == 1:
            return terms, cache
        for n in self.names:
            rel = self.relational_term(cache.h["j"][n], JOINT, batch, cache.masks[n])
            if rel is not None:
                terms[f"joint_rel/{n}"] = rel
        return terms, cache

    def embed(self, batch: Batch) -> torch.Tensor:
        h = self.heads(self.encode(batch, False))
        masks = {n: batch[n][2].to(torch.float32).unsqueeze(1) for n in self.names}
        parts = self.embedding_blocks(h, masks)
        weight = sum(masks.values())
        parts.append(sum(h["j"][n] * masks[n] for n in self.names) / weight.clamp_min(1.0))
        return self.assemble(parts)


register("cookie_joint", lambda specs, cfg, **kw: JointCookie(specs, cfg, **kw),
         "cookie plus one all-view block (prototype)",
         blocks=lambda m: m + m * (m - 1) // 2 + 1)

seeds = [int(s) for s in sys.argv[1].split(",")]
config = sys.argv[2] if len(sys.argv) > 2 else str(CONFIG)
ds = load_dataset(load_config(Path(config)), cache_dir=Path(".cookie_cache"))
for method in ("cookie_joint",) if EQUAL else ("cookie", "cookie_joint"):
    seed_rows(method, ds, seeds, lambda seed, m=method: CookieEmbedder(
        name=m, seed=seed).fit_transform(ds).to_numpy())
