"""The relational task proxy (docs/method.md, "Relational task proxy"): targets and terms
checked against values computed by hand on 3-region batches."""

from __future__ import annotations

import math

import pytest
import torch

from cookie.config import MethodConfig
from cookie.features.view import ViewSpec
from cookie.methods.base import INDEX_KEY
from cookie.methods.cookie import CookieObjective
from cookie.methods.gfactorcl import GFactorCLObjective
from cookie.methods.pairwise import SharedPairwiseObjective
from cookie.methods.targets import kernel_pca_coordinates, median_sq_distance

# three regions on a line at 0, 1 and 3: squared distances 1, 9, 4 -> median 4
X3 = torch.tensor([[0.0], [1.0], [3.0]])


def test_median_heuristic_by_hand() -> None:
    assert median_sq_distance(X3) == pytest.approx(4.0)


def test_kernel_pca_reproduces_the_centred_kernel_by_hand() -> None:
    e = math.exp
    k = torch.tensor([[1.0, e(-1 / 4), e(-9 / 4)],
                      [e(-1 / 4), 1.0, e(-4 / 4)],
                      [e(-9 / 4), e(-4 / 4), 1.0]], dtype=torch.float64)
    h = torch.eye(3, dtype=torch.float64) - 1 / 3
    centred = h @ k @ h
    t = kernel_pca_coordinates(X3, k=3).double()
    assert torch.allclose(t @ t.T, centred, atol=1e-6)
    # first coordinate carries the largest eigenvalue; a centred kernel of 3 points has rank 2
    eig = torch.linalg.eigvalsh(centred).flip(0)
    assert t[:, 0].pow(2).sum().item() == pytest.approx(eig[0].item(), rel=1e-5)
    assert t[:, 2].abs().max().item() < 1e-6
    assert torch.allclose(t.sum(0), torch.zeros(3, dtype=torch.float64), atol=1e-6)


def test_nystroem_with_every_region_as_landmark_equals_the_exact_coordinates() -> None:
    torch.manual_seed(0)
    x = torch.randn(40, 3)
    exact = kernel_pca_coordinates(x, k=5, landmarks=40)
    approx = kernel_pca_coordinates(x, k=5, landmarks=39)  # Nystroem path, 39 of 40 rows
    gram_exact, gram_approx = exact @ exact.T, approx @ approx.T
    rel = (gram_exact - gram_approx).norm() / gram_exact.norm()
    assert rel < 0.1


def _objective(cls: type, m: int = 2, **cfg_kwargs) -> tuple:
    specs = [ViewSpec(f"v{i}", "table", (2,), 0) for i in range(m)]
    cfg = MethodConfig(embedding_dim=2 * (2 ** m - 1), encoder_dim=4, hidden_dim=8,
                       critic_dim=4, **cfg_kwargs)
    torch.manual_seed(0)
    return cls(specs, cfg), specs


def test_relational_term_by_hand() -> None:
    """REL = w log(N) mean ||out - T||^2 / mean ||T||^2 on a 3-row batch."""
    obj, _ = _objective(CookieObjective, relational_weight=2.0)
    obj.targets = {"b": torch.tensor([[1.0, 1.0], [0.0, 1.0], [0.0, 0.0], [5.0, 5.0]])}
    out = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    batch = {INDEX_KEY: torch.tensor([0, 1, 2])}
    valid = torch.ones(3, dtype=torch.bool)
    # errors 1, 0, 2 (mean 1); target energies 2, 1, 0 (mean 1)
    rel = obj.relational_term(out, "b", batch, valid)
    assert rel.item() == pytest.approx(2.0 * math.log(3) * 1.0 / 1.0)
    # rows are looked up by region position, and invalid rows are left out
    batch = {INDEX_KEY: torch.tensor([3, 1, 2])}
    valid = torch.tensor([True, True, False])
    # errors ||(1,0)-(5,5)||^2 = 41 and 0 (mean 20.5); energies 50 and 1 (mean 25.5)
    rel = obj.relational_term(out, "b", batch, valid)
    assert rel.item() == pytest.approx(2.0 * math.log(2) * 20.5 / 25.5)
    assert obj.relational_term(out, "missing", batch, valid) is None


def _batch(specs: list[ViewSpec], n: int = 6) -> dict:
    torch.manual_seed(1)
    batch: dict = {s.name: (torch.randn(n, 2), None, torch.ones(n, dtype=torch.bool))
                   for s in specs}
    batch[INDEX_KEY] = torch.arange(n)
    return batch


@pytest.mark.parametrize("cls", [CookieObjective, GFactorCLObjective, SharedPairwiseObjective])
def test_every_method_uses_the_relational_proxy(cls: type) -> None:
    """Every block has a target of its size; the unique InfoNCE on augmentations gives way to
    REL, and each block's REL equals its formula on the cached heads."""
    obj, specs = _objective(cls, m=3)
    batch = _batch(specs)
    obj.set_targets({n: batch[n][0] for n in obj.names}, {n: None for n in obj.names},
                    {n: batch[n][2] for n in obj.names})
    blocks = obj.target_blocks()
    assert blocks and set(obj.targets) == set(blocks)
    for key, (_, k) in blocks.items():
        assert obj.targets[key].shape == (6, k)
    stage = 1 if cls is SharedPairwiseObjective else 2
    terms, cache = obj.terms(batch, stage=stage)
    assert not any(k.startswith("unique_nce/") for k in terms)
    rel_keys = [k for k in terms if "_rel/" in k]
    assert rel_keys
    if cls is CookieObjective:
        w = obj.cfg.relational_weight  # the default weight (REL is linear in it)
        u = cache.h["u"]["v0"]
        t = obj.targets["unique/v0"]
        ref = w * math.log(6) * (u - t).pow(2).sum(1).mean() / t.pow(2).sum(1).mean()
        assert terms["unique_rel/v0"].item() == pytest.approx(ref.item(), rel=1e-5)
        sa, sb = cache.h["s"]["v0~v1"]
        t = obj.targets["shared/v0~v1"]
        ref = sum(w * math.log(6) * (s - t).pow(2).sum(1).mean() / t.pow(2).sum(1).mean()
                  for s in (sa, sb))
        assert terms["shared_rel/v0~v1"].item() == pytest.approx(ref.item(), rel=1e-5)
    total = obj.total(terms, 2)
    total.backward()
    assert torch.isfinite(total)


def test_paper_proxy_keeps_augmentations() -> None:
    obj, specs = _objective(CookieObjective, m=2, proxy="augment")
    batch = _batch(specs)
    obj.set_targets({n: batch[n][0] for n in obj.names}, {n: None for n in obj.names},
                    {n: batch[n][2] for n in obj.names})
    assert obj.targets == {}
    terms, _ = obj.terms(batch, stage=2)
    assert "unique_nce/v0" in terms and not any("_rel/" in k for k in terms)


def test_cookie_paper_ignores_the_relational_setting() -> None:
    """`cookie_paper` is the paper's objective whatever `proxy` and `context` say, and its
    terms equal those of CooKIE with the augmentation proxy and no context at the same seed."""
    from cookie.methods.registry import build_objective

    specs = [ViewSpec(f"v{i}", "table", (2,), 0) for i in range(2)]
    cfg = MethodConfig(embedding_dim=6, encoder_dim=4, hidden_dim=8, critic_dim=4)
    assert cfg.proxy == "relational"
    torch.manual_seed(0)
    paper = build_objective("cookie_paper", specs, cfg)
    torch.manual_seed(0)
    augment = CookieObjective(specs, cfg.model_copy(update={"proxy": "augment",
                                                             "context": "none"}))
    batch = _batch(specs)
    for obj in (paper, augment):
        obj.set_targets({n: batch[n][0] for n in obj.names}, {n: None for n in obj.names},
                        {n: batch[n][2] for n in obj.names})
    assert paper.proxy_kind == "augment" and paper.targets == {} and not paper.contexts
    torch.manual_seed(2)
    t_paper, _ = paper.terms(batch, stage=2)
    torch.manual_seed(2)
    t_aug, _ = augment.terms(batch, stage=2)
    assert t_paper.keys() == t_aug.keys()
    for k in t_paper:
        assert t_paper[k].item() == pytest.approx(t_aug[k].item(), abs=1e-7)
