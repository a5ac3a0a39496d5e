"""GFactorCL: FactorCL generalized to M views by a full factorization (see docs/method.md).

Every subset S of the views with |S| >= 2 gets a shared factor conditioned on the remaining
views R = V \\ S, and every view i a unique factor conditioned on all the others: 2^M - 1
factors. With e_R the concatenation of the detached encoder outputs of the views in R and x'
an augmentation standing in for the task y:

    shared S (per pair a < b in S):  NCE(s_S^a, s_S^b)
                                     + CLUB([s_S^a, e_R, s_S^a'], [s_S^b, e_R, s_S^b'])
    unique i (R = V \\ {i}):          NCE(u_i, u_i') + CLUB(u_i, e_R)
                                     + NCE([u_i, u_i'], [e_R, e_R'])
    L = alpha * sum_i NCE_intra(e_i, e_i') + shared + unique

With the relational proxy (the default), y is each factor's relational target T
(`cookie.methods.targets`, over the factor's member views): NCE(u_i, u_i') becomes
REL(u_i, T_i), each shared factor adds REL(s_S^a, T_S) for every member a, and T takes the
place of the augmented heads in the conditional terms (CLUB([s_S^a, e_R, T_S], ...),
NCE([u_i, T_i], [e_R, T_i])).

Same encoders, critics, estimators and schedule as CooKIE (`cookie.methods.cookie`), so that
cost differences come from the factorization only. Embedding: the M unique heads, then per
shared factor the mean of its member heads, concatenated (total `embedding_dim`).
"""

from __future__ import annotations

from itertools import combinations
from typing import Any, cast

import torch
from torch import nn

from cookie.methods.base import Batch, MultiViewObjective, TermCache, club_term, nce_term, pair_key
from cookie.nn.heads import group, head, make_critic, out_dim


def factor_key(members: tuple[str, ...], rest: tuple[str, ...]) -> str:
    """Name of a shared factor: ``a~b|c`` for S = {a, b} given R = {c} (``a~b~c`` for R empty)."""
    key = "~".join(members)
    return f"{key}|{'~'.join(rest)}" if rest else key


def all_valid(masks: dict[str, torch.Tensor], names: tuple[str, ...] | list[str]) -> torch.Tensor:
    """Rows present in every one of the named views."""
    out = masks[names[0]]
    for n in names[1:]:
        out = out & masks[n]
    return out


class GFactorCLObjective(MultiViewObjective):
    """Full factorization: 2^M - M - 1 shared factors and M unique factors."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        cfg, d, m = self.cfg, self.cfg.encoder_dim, len(self.names)
        n_factors = 2 ** m - 1
        if cfg.embedding_dim < n_factors:
            raise ValueError(
                f"GFactorCL with {m} views has {n_factors} factors: embedding_dim must be at "
                f"least {n_factors} (one dimension per factor), got {cfg.embedding_dim}")
        sizes = iter(self.block_widths(n_factors))

        def critic(a: int, b: int) -> nn.Module:
            return make_critic(cfg, a, b)

        #: (members S, rest R) of every shared factor, by size then in combination order
        self.factors: list[tuple[tuple[str, ...], tuple[str, ...]]] = [
            (s, tuple(n for n in self.names if n not in s))
            for k in range(2, m + 1) for s in combinations(self.names, k)
        ]
        self.unique_heads, self.unique_nce = nn.ModuleDict(), nn.ModuleDict()
        self.unique_club, self.unique_cond = nn.ModuleDict(), nn.ModuleDict()
        for n in self.names:
            k, r = next(sizes), d * (m - 1)
            self.unique_heads[n] = head(d, k)
            self.unique_nce[n] = critic(k, k)
            self.unique_club[n] = critic(k, r)
            # conditioned on y: [e_R, e_R'] (augmentation) or [e_R, T_i] (relational target)
            self.unique_cond[n] = critic(2 * k, r + (k if self.relational else r))
        self.shared_heads, self.shared_nce, self.shared_club = (
            nn.ModuleDict(), nn.ModuleDict(), nn.ModuleDict()
        )
        for members, rest in self.factors:
            k, key, r = next(sizes), factor_key(members, rest), d * len(rest)
            self.shared_heads[key] = nn.ModuleDict({n: head(d, k) for n in members})
            self.shared_nce[key] = nn.ModuleDict(
                {pair_key(a, b): critic(k, k) for a, b in combinations(members, 2)})
            self.shared_club[key] = nn.ModuleDict(
                {pair_key(a, b): critic(2 * k + r, 2 * k + r)
                 for a, b in combinations(members, 2)})

    # ------------------------------------------------------------------ representations
    def target_blocks(self) -> dict[str, tuple[tuple[str, ...], int]]:
        blocks: dict[str, tuple[tuple[str, ...], int]] = {
            f"unique/{n}": ((n,), out_dim(h)) for n, h in self.unique_heads.items()}
        for members, rest in self.factors:
            key = factor_key(members, rest)
            blocks[f"shared/{key}"] = (members,
                                       out_dim(group(self.shared_heads, key)[members[0]]))
        return blocks

    def heads(self, e: dict[str, torch.Tensor]) -> dict:
        """Unique heads per view; per shared factor, its member heads by view name."""
        u = {n: h(e[n]) for n, h in self.unique_heads.items()}
        s = {key: {n: h(e[n]) for n, h in group(self.shared_heads, key).items()}
             for key in self.shared_heads}
        return {"u": u, "s": s}

    @staticmethod
    def condition(e: dict[str, torch.Tensor], rest: tuple[str, ...] | list[str],
                  like: torch.Tensor) -> torch.Tensor:
        """e_R: the detached encoder outputs of the views in R, concatenated (N x 0 if none)."""
        if not rest:
            return like.new_zeros(like.shape[0], 0)
        return torch.cat([e[n].detach() for n in rest], dim=1)

    def rest_of(self, name: str) -> list[str]:
        return [n for n in self.names if n != name]

    def terms(self, batch: Batch, stage: int) -> tuple[dict[str, torch.Tensor], TermCache]:
        terms, cache = self.terms_with_heads(batch, stage)
        if stage == 1:
            return terms, cache
        e, e_aug = cache.e, cache.e_aug
        assert e_aug is not None
        masks, h, h_aug = cache.masks, cache.h, cache.h_aug
        u, u_aug = h["u"], h_aug["u"]
        for n in self.names:
            others = self.rest_of(n)
            e_r, e_r2 = self.condition(e, others, u[n]), self.condition(e_aug, others, u[n])
            valid = all_valid(masks, [n, *others])
            target = self.target_rows(f"unique/{n}", batch)
            if target is None:
                terms[f"unique_nce/{n}"] = nce_term(self.unique_nce[n], u[n], u_aug[n],
                                                    masks[n])
                # the critic was sized for one side's y: [e_R, e_R'] or, relational, [e_R, y]
                y_u, y_r = u_aug[n], (u_aug[n] if self.relational else e_r2)
            else:
                rel = self.relational_term(u[n], f"unique/{n}", batch, masks[n])
                terms[f"unique_rel/{n}"] = rel if rel is not None else u[n].new_zeros(())
                y_u = y_r = target
            terms[f"unique_club/{n}"] = club_term(self.unique_club[n], u[n], e_r, valid)
            terms[f"unique_cond/{n}"] = nce_term(
                self.unique_cond[n], torch.cat([u[n], y_u], 1), torch.cat([e_r, y_r], 1), valid)
        for members, rest in self.factors:
            key = factor_key(members, rest)
            s, s_aug = h["s"][key], h_aug["s"][key]
            e_r = self.condition(e, rest, s[members[0]])
            target = self.target_rows(f"shared/{key}", batch)
            for a, b in combinations(members, 2):
                pk = pair_key(a, b)
                valid = all_valid(masks, [a, b, *rest])
                ya, yb = (s_aug[a], s_aug[b]) if target is None else (target, target)
                terms[f"shared_nce/{key}/{pk}"] = nce_term(
                    group(self.shared_nce, key)[pk], s[a], s[b], masks[a] & masks[b])
                terms[f"shared_club/{key}/{pk}"] = club_term(
                    group(self.shared_club, key)[pk], torch.cat([s[a], e_r, ya], 1),
                    torch.cat([s[b], e_r, yb], 1), valid)
            if target is not None:
                valid = all_valid(masks, list(members))
                rels = [self.relational_term(s[n], f"shared/{key}", batch, valid)
                        for n in members]
                terms[f"shared_rel/{key}"] = cast(torch.Tensor,
                                                  sum(r for r in rels if r is not None))
        cache.batch = batch
        return terms, cache

    def critic_terms(self, cache: TermCache) -> dict[str, torch.Tensor]:
        """NCE on detached inputs for every CLUB critic (the separate critic step)."""
        if cache.h is None:
            return {}
        e, h, h_aug, masks = cache.e, cache.h, cache.h_aug, cache.masks
        out = {}
        for n in self.names:
            others = self.rest_of(n)
            u = h["u"][n].detach()
            out[f"critic/unique_club/{n}"] = nce_term(
                self.unique_club[n], u, self.condition(e, others, u),
                all_valid(masks, [n, *others]))
        for members, rest in self.factors:
            key = factor_key(members, rest)
            s, s_aug = h["s"][key], h_aug["s"][key]
            e_r = self.condition(e, rest, s[members[0]])
            target = self.target_rows(f"shared/{key}", cache.batch or {})
            for a, b in combinations(members, 2):
                pk = pair_key(a, b)
                ya, yb = (s_aug[a], s_aug[b]) if target is None else (target, target)
                out[f"critic/shared_club/{key}/{pk}"] = nce_term(
                    group(self.shared_club, key)[pk],
                    torch.cat([s[a], e_r, ya], 1).detach(),
                    torch.cat([s[b], e_r, yb], 1).detach(),
                    all_valid(masks, [a, b, *rest]))
        return out

    def club_critics(self) -> list[nn.Module]:
        shared = [c for key in self.shared_club for c in group(self.shared_club, key).values()]
        return [*self.unique_club.values(), *shared]

    def embed(self, batch: Batch) -> torch.Tensor:
        """Unique factors and the member-mean of each shared factor, of clean inputs.

        A region missing from a view (mask false) gets zeros for that view's unique factor,
        and each shared factor is the mean over the member views the region has (zeros when
        it has none): the meaning of a missing view for every method (docs/method.md).
        """
        h = self.heads(self.encode(batch, False))
        masks = {n: batch[n][2].to(torch.float32).unsqueeze(1) for n in self.names}
        parts = [h["u"][n] * masks[n] for n in self.names]
        for s in h["s"].values():
            heads = torch.stack(list(s.values()))
            weights = torch.stack([masks[n] for n in s])
            masked = (heads * weights).sum(0) / weights.sum(0).clamp_min(1.0)
            every = weights.min(0).values.bool()  # rows with every member: the plain mean
            parts.append(torch.where(every, heads.mean(0), masked))
        return self.assemble(parts)

    @property
    def embedding_dim(self) -> int:
        return self.cfg.embedding_dim
