"""CooKIE's objective: term inventory as a function of M, each term recomputed by hand."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from cookie.config import MethodConfig
from cookie.features.view import ViewSpec
from cookie.losses import infonce_loss
from cookie.methods.cookie import CookieObjective
from tests.reference_formulas import club, nce


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


# ---------------------------------------------------------------- the equations, by hand
# A 3-region batch of two views whose encodings and heads are fixed numbers, scored by a
# parameter-free critic S_kl = <a_k, b_l>: every term of docs/method.md ("CooKIE") is then a
# closed formula of these numbers, computed below with plain numpy, never with the code's
# estimators or critics.
E = {"v0": [[1.0, 0.0, 0.5, 0.0], [0.0, 1.0, 0.0, 0.5], [0.5, 0.5, 1.0, 0.0]],
     "v1": [[0.0, 1.0, 1.0, 0.0], [1.0, 0.0, 0.0, 1.0], [0.5, 0.0, 0.5, 0.5]]}
E_AUG = {"v0": [[0.9, 0.1, 0.5, 0.0], [0.0, 0.8, 0.1, 0.5], [0.5, 0.4, 1.0, 0.2]],
         "v1": [[0.1, 1.0, 0.9, 0.0], [1.0, 0.2, 0.0, 0.8], [0.4, 0.0, 0.5, 0.6]]}


def test_the_reference_formulas_on_paper() -> None:
    """The two formulas on the identity score matrix: NCE = log(1 + 2/e), CLUB = 1 - 1/3."""
    assert nce(np.eye(3)) == pytest.approx(0.5514447139320511, abs=1e-12)
    assert club(np.eye(3)) == pytest.approx(2 / 3, abs=1e-12)


class Dot(torch.nn.Module):
    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return a @ b.T


def fixed_objective(mask_v1: list[bool]) -> tuple[CookieObjective, dict]:
    specs = [ViewSpec(f"v{i}", "table", (4,), 0) for i in range(2)]
    obj = CookieObjective(specs, MethodConfig(embedding_dim=6, encoder_dim=4, hidden_dim=4,
                                              critic_dim=4, proxy="augment"))
    for group in (obj.intra_critics, obj.unique_nce, obj.unique_club, obj.unique_cond,
                  obj.shared_nce, obj.shared_club):
        for key in list(group):
            group[key] = Dot()
    tensors = {False: {n: torch.tensor(v) for n, v in E.items()},
               True: {n: torch.tensor(v) for n, v in E_AUG.items()}}
    obj.encode = lambda batch, augmented: tensors[augmented]  # type: ignore[method-assign]
    # u_i: the first two coordinates of e_i; s_01: the last two of each view's encoding
    obj.heads = lambda e: {"u": {n: x[:, :2] for n, x in e.items()},  # type: ignore[method-assign]
                           "s": {"v0~v1": (e["v0"][:, 2:], e["v1"][:, 2:])}}
    batch = {"v0": (torch.zeros(3, 4), None, torch.ones(3, dtype=torch.bool)),
             "v1": (torch.zeros(3, 4), None, torch.tensor(mask_v1))}
    return obj, batch


@pytest.mark.parametrize("mask_v1", [[True, True, True], [True, False, True]])
def test_every_term_matches_its_equation(mask_v1: list[bool]) -> None:
    """Each of CooKIE's 2 M^2 = 8 terms at M = 2 against its equation; with region 1 missing
    from v1, the terms of v1 and of the pair use regions 0 and 2 only."""
    obj, batch = fixed_objective(mask_v1)
    terms, _ = obj.terms(batch, stage=2)
    e = {n: np.array(v) for n, v in E.items()}
    ea = {n: np.array(v) for n, v in E_AUG.items()}
    rows = {"v0": [0, 1, 2], "v1": [i for i, m in enumerate(mask_v1) if m]}
    pair = rows["v1"]  # rows valid in both views
    u = {n: x[:, :2] for n, x in e.items()}
    ua = {n: x[:, :2] for n, x in ea.items()}
    s, sa = (e["v0"][:, 2:], e["v1"][:, 2:]), (ea["v0"][:, 2:], ea["v1"][:, 2:])

    def score(a: np.ndarray, b: np.ndarray, r: list[int]) -> np.ndarray:
        return a[r] @ b[r].T

    expected = {f"intra/{n}": nce(score(e[n], ea[n], rows[n])) for n in e}
    expected |= {f"unique_nce/{n}": nce(score(u[n], ua[n], rows[n])) for n in e}
    expected["unique_club/v0~v1"] = club(score(u["v0"], u["v1"], pair))
    expected["unique_cond/v0~v1"] = nce(score(np.hstack([u["v0"], ua["v0"]]),
                                              np.hstack([u["v1"], ua["v1"]]), pair))
    expected["shared_nce/v0~v1"] = nce(score(s[0], s[1], pair))
    expected["shared_club/v0~v1"] = club(score(np.hstack([s[0], sa[0]]),
                                               np.hstack([s[1], sa[1]]), pair))
    assert set(terms) == set(expected)
    for key, value in expected.items():
        assert terms[key].item() == pytest.approx(value, abs=1e-6), key


def test_one_term_by_hand() -> None:
    """shared_nce at full mask, on paper: s_0 = e_0[:, 2:], s_1 = e_1[:, 2:] give
    S = [[0.5, 0, 0.25], [0, 0.5, 0.25], [1, 0, 0.5]]. Rows: -log(e^.5 / (e^.5 + 1 + e^.25))
    = 0.869310 for rows 0 and 1, -log(e^.5 / (e + 1 + e^.5)) = 1.180327 for row 2, mean
    0.972982; columns likewise 0.971239; NCE = their mean, 0.972110."""
    obj, batch = fixed_objective([True, True, True])
    terms, _ = obj.terms(batch, stage=2)
    assert terms["shared_nce/v0~v1"].item() == pytest.approx(0.972110, abs=1e-6)


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
