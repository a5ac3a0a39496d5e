"""Literature peers with one fused embedding: MVURE-style and HAFusion-style baselines, written
from the papers' descriptions (docs/method.md, "Fusion peers"), trained with the same encoders,
budget and settings as every other method.

Each view's encoder gives e_v(r) (HAFusion-style: after the region context stage, attention
across regions inside the view, `cookie.nn.context`). View attention fuses them per region,

    u_v(r) = tanh(W_a e_v(r) + b_a)      a_v(r) = softmax_v(q . u_v(r))   (views r is in)
    f(r)   = sum_v a_v(r) e_v(r)         z(r)   = W_z f(r)

and z is the embedding. (HAFusion's fusion module also attends across regions after the view
fusion; that second region stage is left out here, so that chunked embedding sees the same
context set as training through the per-view stage alone.)
The targets are relational, one per view:

- a flows view: FLOW (`cookie.methods.flows`) on z, weighted by ``flow_weight``;
- any other view with a similarity vector (its features as featurized, not standardized, or
  an image's statistics): SIM_v = mean over pairs (r, q) of regions in the view of
  (cos(P_v z(r), P_v z(q)) - cos(x_v(r), x_v(q)))^2, the reconstruction of the view's
  cosine-similarity matrix.

The loss is the sum of the terms. No intra-view stage, no contrastive term, no critic.
"""

from __future__ import annotations

from typing import Any, cast

import torch
import torch.nn.functional as F
from torch import nn

from cookie.features.view import ViewSpec
from cookie.methods.base import INDEX_KEY, Batch, MultiViewObjective, TermCache
from cookie.methods.flows import FlowDecoder, flow_term
from cookie.methods.settings import MethodSettings
from cookie.methods.targets import relational_inputs
from cookie.nn.view_encoder import ViewEncoder


class ViewAttention(nn.Module):
    """Per-region attention weights over the views (MVURE's view attention)."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.project = nn.Linear(dim, dim)
        self.query = nn.Linear(dim, 1, bias=False)

    def forward(self, e: torch.Tensor, present: torch.Tensor) -> torch.Tensor:
        """Weights (B, M) of encodings ``e`` (B, M, d); views a region is missing from
        (``present`` (B, M) False) get weight 0; a region in no view gets zeros."""
        scores = self.query(torch.tanh(self.project(e))).squeeze(-1)
        scores = scores.masked_fill(~present, float("-inf"))
        weights = torch.softmax(scores, dim=1)
        return torch.nan_to_num(weights, nan=0.0)


def similarity_term(pred: torch.Tensor, x: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """SIM: mean squared difference between the cosine-similarity matrices of ``pred`` and
    ``x`` over the pairs of ``valid`` rows (zero with fewer than two)."""
    if int(valid.sum()) < 2:
        return pred.new_zeros(())
    p, t = F.normalize(pred[valid], dim=1), F.normalize(x[valid], dim=1)
    return (p @ p.T - t @ t.T).pow(2).mean()


class FusionObjective(MultiViewObjective):
    """One fused embedding trained to reconstruct every view's relational structure."""

    uses_pretraining = False

    def __init__(self, specs: list[ViewSpec], cfg: MethodSettings,
                 region_attention: bool = False, **kwargs: Any) -> None:
        kwargs["context"] = "attention" if region_attention else "none"
        super().__init__(specs, cfg, **kwargs)
        d = cfg.encoder_dim
        self.intra_critics = nn.ModuleDict()  # no intra-view term
        self.view_attention = ViewAttention(d)
        self.output = nn.Linear(d, cfg.embedding_dim)
        self.flow_decoders = nn.ModuleDict({
            s.name: FlowDecoder(cfg.embedding_dim) for s in specs
            if s.kind == "flows" and cfg.flow_weight > 0})
        self.similarity_heads = nn.ModuleDict({
            s.name: nn.Linear(cfg.embedding_dim, cfg.embedding_dim) for s in specs
            if s.kind != "flows" and (not s.is_image or s.aux_dim > 0)})

    def fuse(self, e: dict[str, torch.Tensor], masks: dict[str, torch.Tensor]) -> torch.Tensor:
        """z: the view-attention fusion of the encodings."""
        stacked = torch.stack([e[n] for n in self.names], dim=1)
        present = torch.stack([masks[n] for n in self.names], dim=1)
        weights = self.view_attention(stacked, present)
        return self.output((weights.unsqueeze(-1) * stacked).sum(1))

    def similarity_inputs(self, batch: Batch, name: str) -> torch.Tensor | None:
        """The vector view ``name``'s similarity is measured on, for the batch's regions: its
        features as featurized (counts, shares, as the papers' POI and land-use vectors; not
        standardized) or an image view's statistics."""
        enc = cast(ViewEncoder, self.encoders[name])
        x, aux, _ = batch[name]
        return relational_inputs(x, aux if aux is not None and enc.spec.aux_dim else None,
                                 self.cfg.image_inputs)

    def terms(self, batch: Batch, stage: int) -> tuple[dict[str, torch.Tensor], TermCache]:
        e, masks = self.encode(batch, False), self.masks(batch)
        z = self.fuse(e, masks)
        terms: dict[str, torch.Tensor] = {}
        if INDEX_KEY in batch:
            index = cast(torch.Tensor, batch[INDEX_KEY]).to(z.device)
            for n, decoder in self.flow_decoders.items():
                trips = self.flow_weights[n].to(z.device)[index][:, index]
                dec = cast(FlowDecoder, decoder)
                terms[f"flow/{n}"] = self.cfg.flow_weight * flow_term(
                    dec.source(z), dec.destination(z), trips, masks[n])
        for n, project in self.similarity_heads.items():
            x = self.similarity_inputs(batch, n)
            if x is not None:
                terms[f"sim/{n}"] = similarity_term(project(z), x, masks[n])
        return terms, TermCache(e, masks, h=z)

    def total(self, terms: dict[str, torch.Tensor], stage: int) -> torch.Tensor:
        return cast(torch.Tensor, sum(terms.values()))

    def embed(self, batch: Batch) -> torch.Tensor:
        return self.assemble([self.fuse(self.encode(batch, False), self.masks(batch))])

    @property
    def embedding_dim(self) -> int:
        return self.cfg.embedding_dim


def build_mvure_style(specs: list[ViewSpec], cfg: MethodSettings,
                      **kwargs: Any) -> FusionObjective:
    """MVURE-style: per-region encoders, view attention, flow and similarity reconstruction."""
    return FusionObjective(specs, cfg, region_attention=False, **kwargs)


def build_hafusion_style(specs: list[ViewSpec], cfg: MethodSettings,
                         **kwargs: Any) -> FusionObjective:
    """HAFusion-style: as MVURE-style, with attention across regions inside every view."""
    return FusionObjective(specs, cfg, region_attention=True, **kwargs)
