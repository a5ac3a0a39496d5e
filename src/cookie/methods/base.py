"""The shared shape of every learned method: per-view encoders, named loss terms, an embedding.

An objective computes a dict of named scalar loss terms from a batch (encoder side) and a
dict of critic-training terms (for CLUB critics, trained on detached inputs with their own
optimizer). `embed` maps clean inputs to the final region embedding.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from itertools import combinations
from typing import Any, cast

import torch
from torch import nn

from cookie.features.view import ViewSpec
from cookie.losses import club_upper_bound, infonce_loss
from cookie.losses.distributed import gather_rows
from cookie.methods.flows import FlowDecoder, flow_matrix, flow_term
from cookie.methods.settings import MethodSettings
from cookie.methods.targets import (
    block_target,
    kernel_spectrum,
    participation_ratio,
    relational_inputs,
    spectrum_widths,
)
from cookie.nn.augment import Augmentation
from cookie.nn.basis import rotate_blocks
from cookie.nn.context import RegionContext, context_rows
from cookie.nn.heads import CRITICS, block_sizes, make_critic
from cookie.nn.view_encoder import ViewEncoder

Batch = dict[str, tuple[torch.Tensor, torch.Tensor | None, torch.Tensor]]
#: batch key of the region positions (into the training tensors) of a batch's rows
INDEX_KEY = "@index"


def relative_error(out: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """mean_r ||out(r) - T(r)||^2 / mean_r ||T(r)||^2: REL's error, 1 when ``out`` is zero."""
    err = (out - target).pow(2).sum(1).mean()
    return err / target.pow(2).sum(1).mean().clamp_min(1e-12)


@dataclass
class TermCache:
    """What an objective's `terms` computed and its `critic_terms` reuse for one batch: the
    encodings of the clean (``e``) and augmented (``e_aug``) inputs, the views' masks, in stage
    2 the heads of both (``h``, ``h_aug``; each method's own structure, see its `heads`), and
    the batch itself (for the relational targets)."""

    e: dict[str, torch.Tensor]
    masks: dict[str, torch.Tensor]
    e_aug: dict[str, torch.Tensor] | None = None
    h: Any = None
    h_aug: Any = None
    batch: Batch | None = None


def pair_key(a: str, b: str) -> str:
    return f"{a}~{b}"


def masked_scores(critic: nn.Module, a: torch.Tensor, b: torch.Tensor,
                  valid: torch.Tensor) -> torch.Tensor | None:
    """Critic scores over the rows valid in both inputs (None when fewer than two).

    Under torch.distributed (world size > 1) the rows of every process are gathered first, so
    each process scores the global batch (see `cookie.losses.distributed`)."""
    a, b, valid = gather_rows(a, b, valid)
    if int(valid.sum()) < 2:
        return None
    if bool(valid.all()):
        return critic(a, b)
    return critic(a[valid], b[valid])


def nce_term(critic: nn.Module, a: torch.Tensor, b: torch.Tensor,
             valid: torch.Tensor) -> torch.Tensor:
    scores = masked_scores(critic, a, b, valid)
    return a.new_zeros(()) if scores is None else infonce_loss(scores)


def club_term(critic: nn.Module, a: torch.Tensor, b: torch.Tensor,
              valid: torch.Tensor) -> torch.Tensor:
    """CLUB upper bound of a critic on the rows valid in both views (zero when fewer than two)."""
    scores = masked_scores(critic, a, b, valid)
    return a.new_zeros(()) if scores is None else club_upper_bound(scores)


class MultiViewObjective(nn.Module):
    """Base: encoders, intra-view critics and the stage-1 loss."""

    #: whether stage 1 (intra-view pretraining) runs before the joint stage
    uses_pretraining = True
    #: the fewest views the method trains on
    min_views = 2

    def __init__(self, specs: list[ViewSpec], cfg: MethodSettings,
                 augments: dict[str, Augmentation] | None = None,
                 encoders: dict[str, str] | None = None, proxy: str | None = None,
                 context: str | None = None, basis: str | None = None,
                 widths: list[int] | None = None) -> None:
        super().__init__()
        if len(specs) < self.min_views:
            raise ValueError(f"{type(self).__name__} needs at least {self.min_views} views")
        self.specs = specs
        self.cfg = cfg
        #: the task proxy, ``cfg.proxy`` unless the method fixes it (cookie_paper: augment)
        self.proxy_kind = proxy or cfg.proxy
        #: the region context stage, ``cfg.context`` unless the method fixes it (cookie_paper)
        self.context_kind = context or cfg.context
        #: the embedding blocks' coordinates, ``cfg.basis`` unless the method fixes it
        #: (cookie_paper: the heads' own)
        self.basis_kind = basis or cfg.basis
        #: the blocks' widths in `target_blocks` order (`block_widths = "spectrum"`, from
        #: `spectrum_widths`); None: equal widths
        self.fixed_widths = list(widths) if widths is not None else None
        self.names = [s.name for s in specs]
        augments = augments or {}
        encoders = encoders or {}
        self.encoders = nn.ModuleDict({
            s.name: ViewEncoder(s, cfg, augments.get(s.name, Augmentation()),
                                encoders.get(s.name, "auto"))
            for s in specs
        })
        d = cfg.encoder_dim
        self.intra_critics = nn.ModuleDict({
            n: make_critic(cfg, d, d, shared=True)
            for n in self.names
        })
        #: relational targets per block key (region position -> row), set by `set_targets`
        self.targets: dict[str, torch.Tensor] = {}
        #: per view, the attention across regions after its encoder (`context = "attention"`)
        self.contexts = nn.ModuleDict({
            s.name: RegionContext(d) for s in specs if self.context_kind == "attention"
        })
        #: when embedding in chunks, per view the context set's encodings and mask
        #: (from `context_memory_of`); None: each batch is its own context
        self.context_memory: dict[str, tuple[torch.Tensor, torch.Tensor]] | None = None
        #: flows views' trip matrices (origin position x destination position), same source
        self.flow_weights: dict[str, torch.Tensor] = {}
        #: per flows view, the source and destination maps of its flow decoder (FLOW terms)
        self.flow_decoders = nn.ModuleDict({
            s.name: FlowDecoder(d) for s in specs
            if s.kind == "flows" and self.relational and cfg.flow_weight > 0
        })

    # ------------------------------------------------------------------ relational proxy
    @property
    def relational(self) -> bool:
        return self.proxy_kind == "relational"

    def target_blocks(self) -> dict[str, tuple[tuple[str, ...], int]]:
        """Blocks that get a relational target: key -> (views, size). None by default."""
        return {}

    def block_widths(self, blocks: int) -> list[int]:
        """The widths of the method's ``blocks`` embedding blocks: the fitted ones of
        ``block_widths = "spectrum"`` where given, else equal (differing by at most one)."""
        if self.fixed_widths is None:
            return block_sizes(self.cfg.embedding_dim, blocks)
        if len(self.fixed_widths) != blocks or sum(self.fixed_widths) != self.cfg.embedding_dim:
            raise ValueError(f"block widths {self.fixed_widths} do not split embedding size "
                             f"{self.cfg.embedding_dim} into {blocks} blocks")
        return list(self.fixed_widths)

    def _block_inputs(self, x: dict[str, torch.Tensor], aux: dict[str, torch.Tensor | None],
                      mask: dict[str, torch.Tensor]) -> dict[str, tuple[list[torch.Tensor],
                                                                         torch.Tensor, int]]:
        """Per target block: its views' relational inputs, the regions present in all of
        them, and its width; blocks with an image view without relational inputs (no statistics,
        `image_inputs = "stats"`) are left out."""
        inputs: dict[str, torch.Tensor | None] = {}
        for n in self.names:
            enc = cast(ViewEncoder, self.encoders[n])
            xn = enc.x_norm(x[n]) if x[n].ndim == 2 else x[n]  # images: their aux stats
            an = enc.aux_norm(aux[n]) if aux[n] is not None and enc.spec.aux_dim else None
            inputs[n] = relational_inputs(xn, an, self.cfg.image_inputs)
        out = {}
        for key, (views, k) in self.target_blocks().items():
            if any(inputs[v] is None for v in views):
                continue
            valid = mask[views[0]].clone()
            for v in views[1:]:
                valid &= mask[v]
            out[key] = ([cast(torch.Tensor, inputs[v]) for v in views], valid, k)
        return out

    def set_targets(self, x: dict[str, torch.Tensor], aux: dict[str, torch.Tensor | None],
                    mask: dict[str, torch.Tensor]) -> None:
        """Compute every block's relational target from the training regions' inputs (after
        `fit_normalization`); blocks with an image view without statistics get none."""
        self.targets = {}
        self.flow_weights = {n: flow_matrix(x[n]) for n in self.flow_decoders}
        if not self.relational:
            return
        with torch.no_grad():
            for key, (blocks, valid, k) in self._block_inputs(x, aux, mask).items():
                self.targets[key] = block_target(blocks, valid, k, self.cfg.landmarks,
                                                 self.cfg.seed, self.cfg.kernel)

    def spectrum_widths(self, x: dict[str, torch.Tensor], aux: dict[str, torch.Tensor | None],
                        mask: dict[str, torch.Tensor]) -> list[int] | None:
        """`block_widths = "spectrum"`: widths proportional to 1 / the participation ratio of
        each block's target kernel, from the inputs alone (docs/method.md, "Block widths").
        None (equal widths) without the relational proxy or where a block has no target."""
        keys = list(self.target_blocks())
        if not self.relational or not keys:
            return None
        with torch.no_grad():
            found = self._block_inputs(x, aux, mask)
            if sorted(found) != sorted(keys):
                return None
            ratios = []
            for key in keys:
                blocks, valid, _ = found[key]
                rows = torch.cat(blocks, dim=1)[valid]
                spectrum = (kernel_spectrum(rows, self.cfg.landmarks, self.cfg.seed,
                                            self.cfg.kernel)
                            if rows.shape[0] >= 2 else torch.ones(1))
                ratios.append(participation_ratio(spectrum))
        return spectrum_widths(ratios, self.cfg.embedding_dim)

    def target_rows(self, key: str, batch: Batch) -> torch.Tensor | None:
        """The batch's rows of block ``key``'s relational target (None without one)."""
        target = self.targets.get(key)
        if target is None or INDEX_KEY not in batch:
            return None
        index = cast(torch.Tensor, batch[INDEX_KEY])
        return target.to(index.device)[index]

    def relational_term(self, out: torch.Tensor, key: str, batch: Batch,
                        valid: torch.Tensor) -> torch.Tensor | None:
        """REL = w log(N) * mean_r ||out(r) - T(r)||^2 / mean_r ||T(r)||^2 over the N valid rows
        of the batch: the relative error of the block's prediction of its target, on the scale
        of an InfoNCE term (both are log N at chance). None when the block has no target."""
        target = self.target_rows(key, batch)
        if target is None:
            return None
        count = int(valid.sum())
        if count < 2:
            return out.new_zeros(())
        return (self.cfg.relational_weight * math.log(count)
                * relative_error(out[valid], target[valid]))

    def flow_terms(self, e: dict[str, torch.Tensor], batch: Batch,
                   masks: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """FLOW terms of every flows view: how well its encoder output predicts where the
        region's trips go and come from (`flow_term`), weighted by ``flow_weight``."""
        out: dict[str, torch.Tensor] = {}
        if INDEX_KEY not in batch:
            return out
        for n, decoder in self.flow_decoders.items():
            index = cast(torch.Tensor, batch[INDEX_KEY]).to(e[n].device)
            trips = self.flow_weights[n].to(e[n].device)[index][:, index]
            dec = cast(FlowDecoder, decoder)
            out[f"flow/{n}"] = self.cfg.flow_weight * flow_term(
                dec.source(e[n]), dec.destination(e[n]), trips, masks[n])
        return out

    # ------------------------------------------------------------------ helpers
    @property
    def pairs(self) -> list[tuple[str, str]]:
        return list(combinations(self.names, 2))

    def encode(self, batch: Batch, augmented: bool) -> dict[str, torch.Tensor]:
        """Each view's encoding of the batch's regions, in context of the other regions (the
        batch's own, or the `context_memory` built by `context_memory_of`) when the method has
        a context stage."""
        e = {n: self.encoders[n](*batch[n], augmented=augmented) for n in self.names}
        if not self.contexts:
            return e
        out = {}
        for n, context in self.contexts.items():
            if self.context_memory is not None and not augmented:
                keys, key_mask = self.context_memory[n]
            else:  # the batch's regions: the global batch under DDP (gradients flow back)
                keys, key_mask = gather_rows(e[n], batch[n][2])
                rows = context_rows(len(keys), self.cfg.context_keys, self.training,
                                    self.cfg.seed)
                if rows is not None:
                    keys, key_mask = keys[rows.to(keys.device)], key_mask[rows.to(keys.device)]
            out[n] = context(e[n], keys, key_mask)
        return out

    @torch.no_grad()
    def context_memory_of(self, batch: Batch) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
        """The encodings (before the context stage) and masks of ``batch``'s regions, per
        view: the context set for embedding other batches (the caller picks its rows)."""
        return {n: (self.encoders[n](*batch[n], augmented=False), batch[n][2])
                for n in self.contexts}

    @staticmethod
    def masks(batch: Batch) -> dict[str, torch.Tensor]:
        return {n: v[2] for n, v in batch.items() if n != INDEX_KEY}

    def intra_terms(self, e: dict, e_aug: dict, masks: dict) -> dict[str, torch.Tensor]:
        return {f"intra/{n}": nce_term(self.intra_critics[n], e[n], e_aug[n], masks[n])
                for n in self.names}

    # ------------------------------------------------------------------ interface
    def terms(self, batch: Batch, stage: int) -> tuple[dict[str, torch.Tensor], TermCache]:
        """Encoder-side loss terms and the cache that `critic_terms` reuses."""
        e, e_aug, masks = self.encode(batch, False), self.encode(batch, True), self.masks(batch)
        terms = self.intra_terms(e, e_aug, masks)
        if stage != 1:
            terms.update(self.flow_terms(e, batch, masks))
        return terms, TermCache(e, masks, e_aug)

    def heads(self, e: dict[str, torch.Tensor]) -> Any:
        """The projection heads of encodings ``e`` (factorized methods define them)."""
        raise NotImplementedError(f"{type(self).__name__} has no projection heads")

    def terms_with_heads(self, batch: Batch,
                         stage: int) -> tuple[dict[str, torch.Tensor], TermCache]:
        """The intra terms; in stage 2 the cache also holds the heads (`heads`) of the clean
        (``h``) and augmented (``h_aug``) encodings, for factorized methods."""
        terms, cache = MultiViewObjective.terms(self, batch, stage)
        if stage != 1:
            assert cache.e_aug is not None
            cache.h, cache.h_aug = self.heads(cache.e), self.heads(cache.e_aug)
        return terms, cache

    def total(self, terms: dict[str, torch.Tensor], stage: int) -> torch.Tensor:
        """Stage 1: the intra terms alone; stage 2: alpha * intra + every other term."""
        intra = cast(torch.Tensor, sum(v for k, v in terms.items() if k.startswith("intra/")))
        if stage == 1:
            return intra
        rest = sum(v for k, v in terms.items() if not k.startswith("intra/"))
        return self.cfg.alpha * intra + rest

    def critic_terms(self, cache: TermCache) -> dict[str, torch.Tensor]:
        """NCE losses that train the CLUB critics on detached inputs (none by default)."""
        return {}

    def club_critics(self) -> list[nn.Module]:
        return []

    def main_parameters(self) -> list[nn.Parameter]:
        critic_ids = {id(p) for c in self.club_critics() for p in c.parameters()}
        return [p for p in self.parameters() if id(p) not in critic_ids]

    def critic_parameters(self) -> list[nn.Parameter]:
        return [p for c in self.club_critics() for p in c.parameters()]

    def embed(self, batch: Batch) -> torch.Tensor:
        """Final embedding of clean inputs (default: concatenated encoder outputs, zeros for
        regions missing from a view)."""
        return self.concat_present(self.encode(batch, False), batch)

    def concat_present(self, parts: dict[str, torch.Tensor], batch: Batch) -> torch.Tensor:
        """Per-view outputs as the embedding's blocks in view order (`assemble`), zeros where a
        region misses the view."""
        return self.assemble([parts[n] * batch[n][2].to(parts[n].dtype).unsqueeze(1)
                            for n in self.names])

    def assemble(self, blocks: list[torch.Tensor]) -> torch.Tensor:
        """The embedding from its blocks: each in its fixed rotated basis (`basis =
        "rotated"`, `cookie.nn.basis`) or as the heads give it, concatenated."""
        if self.basis_kind == "rotated":
            return rotate_blocks(blocks)
        return torch.cat(blocks, dim=1)

    def proxy_term(self, out: torch.Tensor, out_aug: torch.Tensor, key: str, critic: nn.Module,
                   batch: Batch, mask: torch.Tensor) -> tuple[str, torch.Tensor]:
        """The term that ties a head to its task proxy: ("rel", REL(out, T_key)) where block
        ``key`` has a relational target, else ("nce", NCE(out, out_aug)) on the augmentation."""
        rel = self.relational_term(out, key, batch, mask)
        if rel is None:
            return "nce", nce_term(critic, out, out_aug, mask)
        return "rel", rel

    @property
    def embedding_dim(self) -> int:
        return self.cfg.encoder_dim * len(self.names)

    def term_count(self) -> dict[str, int]:
        """Number of loss terms and critics (counted from the modules)."""
        return {"critics": sum(1 for m in self.modules() if isinstance(m, CRITICS))}


class IntraOnly(MultiViewObjective):
    """Baseline: stage 1 alone; embedding = concatenated encoder outputs."""

    def total(self, terms: dict[str, torch.Tensor], stage: int) -> torch.Tensor:
        return cast(torch.Tensor, sum(terms.values()))
