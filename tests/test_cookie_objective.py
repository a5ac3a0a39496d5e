"""CooKIE's objective: term inventory as a function of M, each term recomputed by hand."""

from __future__ import annotations

import pytest
import torch

from cookie.config import MethodConfig
from cookie.features.view import ViewSpec
from cookie.losses import club_upper_bound, infonce_loss
from cookie.methods.cookie import CookieObjective


def make(m: int, **kwargs) -> tuple[CookieObjective, dict]:
    torch.manual_seed(0)
    specs = [ViewSpec(f"v{i}", "table", (3 + i,), 0) for i in range(m)]
    cfg = MethodConfig(embedding_dim=60, encoder_dim=8, hidden_dim=16, critic_dim=8)
    obj = CookieObjective(specs, cfg, **kwargs)
    n = 6
    batch = {s.name: (torch.randn(n, *s.input_shape), None, torch.ones(n, dtype=torch.bool))
             for s in specs}
    return obj, batch


@pytest.mark.parametrize("m", [2, 3, 4, 5])
def test_term_count_grows_quadratically(m: int) -> None:
    obj, batch = make(m)
    terms, _ = obj.terms(batch, stage=2)
    p = m * (m - 1) // 2
    kinds = {}
    for key in terms:
        kinds[key.split("/")[0]] = kinds.get(key.split("/")[0], 0) + 1
    assert kinds == {"intra": m, "unique_nce": m, "unique_club": p, "unique_cond": p,
                     "shared_nce": p, "shared_club": p}
    assert len(terms) == 2 * m + 4 * p == 2 * m * m
    assert len(obj.club_critics()) == 2 * p
    assert obj.embed(batch).shape == (6, 60)


def test_stage_one_has_only_intra_terms() -> None:
    obj, batch = make(3)
    terms, _ = obj.terms(batch, stage=1)
    assert set(terms) == {"intra/v0", "intra/v1", "intra/v2"}


def test_every_term_matches_its_formula() -> None:
    obj, batch = make(3)
    torch.manual_seed(1)
    terms, cache = obj.terms(batch, stage=2)
    # replay the same augmentations: recompute from the cached representations
    e, e_aug = cache.e, cache.e_aug
    h, h_aug = cache.h, cache.h_aug
    for n in obj.names:
        ref = infonce_loss(obj.intra_critics[n](e[n], e_aug[n]))
        assert terms[f"intra/{n}"].item() == pytest.approx(ref.item(), abs=1e-6)
        ref = infonce_loss(obj.unique_nce[n](h["u"][n], h_aug["u"][n]))
        assert terms[f"unique_nce/{n}"].item() == pytest.approx(ref.item(), abs=1e-6)
    for a, b in obj.pairs:
        key = f"{a}~{b}"
        ua, ub, ua2, ub2 = h["u"][a], h["u"][b], h_aug["u"][a], h_aug["u"][b]
        ref = club_upper_bound(obj.unique_club[key](ua, ub))
        assert terms[f"unique_club/{key}"].item() == pytest.approx(ref.item(), abs=1e-6)
        ref = infonce_loss(obj.unique_cond[key](torch.cat([ua, ua2], 1), torch.cat([ub, ub2], 1)))
        assert terms[f"unique_cond/{key}"].item() == pytest.approx(ref.item(), abs=1e-6)
        (sa, sb), (sa2, sb2) = h["s"][key], h_aug["s"][key]
        ref = infonce_loss(obj.shared_nce[key](sa, sb))
        assert terms[f"shared_nce/{key}"].item() == pytest.approx(ref.item(), abs=1e-6)
        ref = club_upper_bound(obj.shared_club[key](torch.cat([sa, sa2], 1),
                                                    torch.cat([sb, sb2], 1)))
        assert terms[f"shared_club/{key}"].item() == pytest.approx(ref.item(), abs=1e-6)


def test_total_weights_intra_by_alpha() -> None:
    obj, batch = make(2)
    terms = {"intra/v0": torch.tensor(1.0), "intra/v1": torch.tensor(2.0),
             "shared_nce/v0~v1": torch.tensor(5.0)}
    obj.cfg = obj.cfg.model_copy(update={"alpha": 0.5})
    assert obj.total(terms, stage=1).item() == pytest.approx(3.0)
    assert obj.total(terms, stage=2).item() == pytest.approx(0.5 * 3.0 + 5.0)


def test_club_critics_train_separately() -> None:
    obj, batch = make(2)
    critic_ids = {id(p) for p in obj.critic_parameters()}
    assert critic_ids and not critic_ids & {id(p) for p in obj.main_parameters()}
    _, cache = obj.terms(batch, stage=2)
    loss = sum(obj.critic_terms(cache).values())
    loss.backward()
    # critic-training terms use detached inputs: no gradient reaches encoders or heads
    assert all(p.grad is None for p in obj.encoders.parameters())
    assert any(p.grad is not None for p in obj.critic_parameters())


def test_masked_regions_are_left_out_of_pair_terms() -> None:
    obj, batch = make(2)
    x, aux, mask = batch["v1"]
    mask = mask.clone()
    mask[:3] = False
    batch["v1"] = (x, aux, mask)
    terms, cache = obj.terms(batch, stage=2)
    h = cache.h
    valid = mask
    (sa, sb) = h["s"]["v0~v1"]
    ref = infonce_loss(obj.shared_nce["v0~v1"](sa[valid], sb[valid]))
    assert terms["shared_nce/v0~v1"].item() == pytest.approx(ref.item(), abs=1e-6)


def test_ablation_switches() -> None:
    obj, batch = make(3, use_unique=False)
    terms, _ = obj.terms(batch, stage=2)
    assert not any(k.startswith("unique") for k in terms)
    assert obj.embed(batch).shape[1] == 60
    obj, batch = make(3, use_shared=False)
    terms, _ = obj.terms(batch, stage=2)
    assert not any(k.startswith("shared") for k in terms)
    with pytest.raises(ValueError):
        make(2, use_unique=False, use_shared=False)
