"""CooKIE: pairwise inter-view information factorization (see docs/method.md).

For views i < j (P = M(M-1)/2 pairs), with x' an augmentation standing in for the task y:

    shared (per pair):  NCE(s_ij^i, s_ij^j)  +  CLUB([s_i, s_i'], [s_j, s_j'])
    unique (per view):  NCE(u_i, u_i')
    unique (per pair):  CLUB(u_i, u_j)  +  NCE([u_i, u_i'], [u_j, u_j'])
    L = alpha * sum_i NCE_intra(e_i, e_i') + shared + unique

NCE(.) is the InfoNCE loss (minimizing it maximizes the lower bound log N - NCE); CLUB(.) is
the upper bound of an NCE-trained critic, which the encoders minimize. Embedding: the M unique
heads and, per pair, the mean of its two shared heads, concatenated (total `embedding_dim`).

With the relational proxy (``proxy = "relational"``, the default of `cookie`; `cookie_paper`
always uses augmentations), y is each block's relational target T (`cookie.methods.targets`):
NCE(u_i, u_i') becomes REL(u_i, T_i) = mean ||u_i - T_i||^2, each shared pair adds
REL(s_ij^i, T_ij) + REL(s_ij^j, T_ij), and T takes the place of the augmented heads where the
terms condition on y: CLUB([s_i, T_ij], [s_j, T_ij]) and NCE([u_i, T_i], [u_j, T_j]).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from cookie.features.view import ViewSpec
from cookie.methods.base import (
    Batch,
    MultiViewObjective,
    TermCache,
    club_term,
    nce_term,
    pair_key,
)
from cookie.methods.settings import MethodSettings
from cookie.nn.heads import group, head, make_critic, out_dim


class CookieObjective(MultiViewObjective):
    """CooKIE with switches for the ablations (unique / shared parts, pretraining)."""

    def __init__(self, *args: Any, use_unique: bool = True, use_shared: bool = True,
                 pretrain: bool = True, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if not (use_unique or use_shared):
            raise ValueError("CooKIE needs unique or shared terms")
        self.use_unique, self.use_shared = use_unique, use_shared
        self.uses_pretraining = pretrain
        cfg, d = self.cfg, self.cfg.encoder_dim
        blocks = (len(self.names) if use_unique else 0) + (len(self.pairs) if use_shared else 0)
        sizes = iter(self.block_widths(blocks))

        def critic(a: int, b: int) -> nn.Module:
            return make_critic(cfg, a, b)

        self.unique_heads, self.unique_nce = nn.ModuleDict(), nn.ModuleDict()
        self.unique_club, self.unique_cond = nn.ModuleDict(), nn.ModuleDict()
        if use_unique:
            for n in self.names:
                k = next(sizes)
                self.unique_heads[n] = head(d, k)
                self.unique_nce[n] = critic(k, k)
            for a, b in self.pairs:
                ka, kb = out_dim(self.unique_heads[a]), out_dim(self.unique_heads[b])
                self.unique_club[pair_key(a, b)] = critic(ka, kb)
                self.unique_cond[pair_key(a, b)] = critic(2 * ka, 2 * kb)
        self.shared_heads, self.shared_nce, self.shared_club = (
            nn.ModuleDict(), nn.ModuleDict(), nn.ModuleDict()
        )
        if use_shared:
            for a, b in self.pairs:
                k, key = next(sizes), pair_key(a, b)
                self.shared_heads[key] = nn.ModuleDict({"a": head(d, k), "b": head(d, k)})
                self.shared_nce[key] = critic(k, k)
                self.shared_club[key] = critic(2 * k, 2 * k)

    # ------------------------------------------------------------------ representations
    def target_blocks(self) -> dict[str, tuple[tuple[str, ...], int]]:
        blocks: dict[str, tuple[tuple[str, ...], int]] = {
            f"unique/{n}": ((n,), out_dim(h)) for n, h in self.unique_heads.items()}
        for a, b in self.pairs if self.use_shared else []:
            key = pair_key(a, b)
            blocks[f"shared/{key}"] = ((a, b), out_dim(group(self.shared_heads, key)["a"]))
        return blocks

    def proxy(self, key: str, batch: Batch, augmented: torch.Tensor) -> torch.Tensor:
        """What stands for y in a conditional term: the block's relational target rows, or the
        augmented head (the paper's proxy, and the fallback for blocks without a target)."""
        target = self.target_rows(key, batch)
        return augmented if target is None else target

    def heads(self, e: dict[str, torch.Tensor]) -> dict:
        u = {n: h(e[n]) for n, h in self.unique_heads.items()}
        s = {}
        for a, b in self.pairs if self.use_shared else []:
            hs = group(self.shared_heads, pair_key(a, b))
            s[pair_key(a, b)] = (hs["a"](e[a]), hs["b"](e[b]))
        return {"u": u, "s": s}

    def terms(self, batch: Batch, stage: int) -> tuple[dict[str, torch.Tensor], TermCache]:
        terms, cache = self.terms_with_heads(batch, stage)
        if stage == 1:
            return terms, cache
        masks, h, h_aug = cache.masks, cache.h, cache.h_aug
        u, u_aug = h["u"], h_aug["u"]
        for n in self.unique_heads:
            kind, value = self.proxy_term(u[n], u_aug[n], f"unique/{n}", self.unique_nce[n],
                                          batch, masks[n])
            terms[f"unique_{kind}/{n}"] = value
        for a, b in self.pairs:
            key, valid = pair_key(a, b), masks[a] & masks[b]
            if self.use_unique:
                ya = self.proxy(f"unique/{a}", batch, u_aug[a])
                yb = self.proxy(f"unique/{b}", batch, u_aug[b])
                terms[f"unique_club/{key}"] = club_term(self.unique_club[key], u[a], u[b], valid)
                terms[f"unique_cond/{key}"] = nce_term(
                    self.unique_cond[key], torch.cat([u[a], ya], 1), torch.cat([u[b], yb], 1),
                    valid)
            if self.use_shared:
                (sa, sb), (sa2, sb2) = h["s"][key], h_aug["s"][key]
                ya, yb = (self.proxy(f"shared/{key}", batch, s2) for s2 in (sa2, sb2))
                terms[f"shared_nce/{key}"] = nce_term(self.shared_nce[key], sa, sb, valid)
                terms[f"shared_club/{key}"] = club_term(
                    self.shared_club[key], torch.cat([sa, ya], 1), torch.cat([sb, yb], 1), valid)
                rel_a = self.relational_term(sa, f"shared/{key}", batch, valid)
                rel_b = self.relational_term(sb, f"shared/{key}", batch, valid)
                if rel_a is not None and rel_b is not None:
                    terms[f"shared_rel/{key}"] = rel_a + rel_b
        cache.batch = batch
        return terms, cache

    def critic_terms(self, cache: TermCache) -> dict[str, torch.Tensor]:
        if cache.h is None:
            return {}
        h, h_aug, masks = cache.h, cache.h_aug, cache.masks
        out = {}
        for a, b in self.pairs:
            key, valid = pair_key(a, b), masks[a] & masks[b]
            if self.use_unique:
                ua, ub = h["u"][a].detach(), h["u"][b].detach()
                out[f"critic/unique_club/{key}"] = nce_term(self.unique_club[key], ua, ub, valid)
            if self.use_shared:
                (sa, sb), (sa2, sb2) = h["s"][key], h_aug["s"][key]
                batch = cache.batch or {}
                ya, yb = (self.proxy(f"shared/{key}", batch, s2) for s2 in (sa2, sb2))
                out[f"critic/shared_club/{key}"] = nce_term(
                    self.shared_club[key], torch.cat([sa, ya], 1).detach(),
                    torch.cat([sb, yb], 1).detach(), valid)
        return out

    def club_critics(self) -> list[nn.Module]:
        return [*self.unique_club.values(), *self.shared_club.values()]

    def embed(self, batch: Batch) -> torch.Tensor:
        """Unique heads and per-pair mean shared heads of clean inputs.

        A region missing from a view (mask false, e.g. a view dropped at inference) gets zeros
        for that view's unique block, and each shared block with that view falls back to the
        other view's shared head (zeros when both are missing).
        """
        h = self.heads(self.encode(batch, False))
        masks = {n: batch[n][2].to(torch.float32).unsqueeze(1) for n in self.names}
        return self.assemble(self.embedding_blocks(h, masks))

    def embedding_blocks(self, h: dict, masks: dict[str, torch.Tensor]) -> list[torch.Tensor]:
        """The blocks `embed` assembles from heads ``h``, given each view's presence mask (n, 1)."""
        parts = [h["u"][n] * masks[n] for n in self.unique_heads]
        for (a, b), (sa, sb) in zip(self.pairs, h["s"].values(), strict=False):
            wa, wb = masks[a], masks[b]
            parts.append((sa * wa + sb * wb) / (wa + wb).clamp_min(1.0))
        return parts

    @property
    def embedding_dim(self) -> int:
        return self.cfg.embedding_dim


# ---------------------------------------------------------------- registered builders
def build_cookie(specs: list[ViewSpec], cfg: MethodSettings, **kwargs: Any) -> CookieObjective:
    return CookieObjective(specs, cfg, **kwargs)


def build_cookie_paper(specs: list[ViewSpec], cfg: MethodSettings,
                       **kwargs: Any) -> CookieObjective:
    """The paper's CooKIE: augmentations as the task proxy, no region context and the heads'
    own coordinates, whatever the settings say."""
    return CookieObjective(specs, cfg, proxy="augment", context="none", basis="heads",
                           **kwargs)


def build_cookie_no_pretrain(specs: list[ViewSpec], cfg: MethodSettings,
                             **kwargs: Any) -> CookieObjective:
    return CookieObjective(specs, cfg, pretrain=False, **kwargs)


def build_cookie_shared_only(specs: list[ViewSpec], cfg: MethodSettings,
                             **kwargs: Any) -> CookieObjective:
    return CookieObjective(specs, cfg, use_unique=False, **kwargs)


def build_cookie_unique_only(specs: list[ViewSpec], cfg: MethodSettings,
                             **kwargs: Any) -> CookieObjective:
    return CookieObjective(specs, cfg, use_shared=False, **kwargs)
