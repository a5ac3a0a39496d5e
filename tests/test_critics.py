"""Critics: separable and concatenation scores against hand-computed 3 x 3 matrices, the
`critic` setting in every method, and the default (separable) objective left unchanged."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from cookie.config import MethodConfig
from cookie.features.view import ViewSpec
from cookie.losses import club_upper_bound
from cookie.methods.base import INDEX_KEY
from cookie.methods.registry import build_objective
from cookie.nn.heads import ConcatCritic, SeparableCritic, make_critic


def _set(linear: nn.Linear, weight: list, bias: list | None) -> None:
    with torch.no_grad():
        linear.weight.copy_(torch.tensor(weight))
        if bias is not None:
            linear.bias.copy_(torch.tensor(bias))


def test_separable_critic_by_hand() -> None:
    """g = h = identity on the first two hidden units: the normalized projections of
    (2, 0), (0, 2), (1, 1) are e1, e2, (e1 + e2) / sqrt 2 whatever GELU's magnitude."""
    critic = SeparableCritic(2, 2, out_dim=2, temperature=0.5)
    for net in (critic.g, critic.h):
        first = torch.zeros(32, 2)
        first[0, 0] = first[1, 1] = 1.0
        second = torch.zeros(2, 32)
        second[0, 0] = second[1, 1] = 1.0
        _set(net[0], first.tolist(), [0.0] * 32)
        _set(net[2], second.tolist(), [0.0, 0.0])
    a = torch.tensor([[2.0, 0.0], [0.0, 2.0], [1.0, 1.0]])
    b = torch.tensor([[0.0, 3.0], [3.0, 0.0], [1.0, 1.0]])
    r = math.sqrt(2.0)
    # <g(a_k), h(b_l)> / 0.5 with g(a) = e1, e2, (e1+e2)/r and h(b) = e2, e1, (e1+e2)/r
    expected = torch.tensor([[0.0, 2.0, r], [2.0, 0.0, r], [r, r, 2.0]])
    assert torch.allclose(critic(a, b), expected, atol=1e-6)


def _hand_concat() -> ConcatCritic:
    """hidden 2: W_a = (1, -1), c_1 = 0, W_b = (1, 1); W_2 = [[1, 1], [0, 1]], c_2 = (0, -1);
    w_3 = (1, 2), c_3 = 0.5."""
    critic = ConcatCritic(1, 1, hidden=2)
    _set(critic.first_a, [[1.0], [-1.0]], [0.0, 0.0])
    _set(critic.first_b, [[1.0], [1.0]], None)
    _set(critic.rest[1], [[1.0, 1.0], [0.0, 1.0]], [0.0, -1.0])
    _set(critic.rest[3], [[1.0, 2.0]], [0.5])
    return critic


def test_concat_critic_by_hand() -> None:
    """S_kl = w_3 . relu(W_2 relu(W_1 [a_k; b_l]) + c_2) + c_3, worked out on paper, e.g.
    (a, b) = (0, 3): relu((3, 3)) = (3, 3) -> relu((6, 2)) -> 6 + 4 + 0.5 = 10.5;
    (a, b) = (2, 1): first layer (3, -1) -> (3, 0) -> relu((3, -1)) = (3, 0) -> 3.5."""
    a = torch.tensor([[0.0], [1.0], [2.0]])
    b = torch.tensor([[1.0], [-1.0], [3.0]])
    expected = torch.tensor([[2.5, 0.5, 10.5],
                             [2.5, 0.5, 8.5],
                             [3.5, 1.5, 6.5]])
    scores = _hand_concat()(a, b)
    assert torch.allclose(scores, expected, atol=1e-6)
    # the estimators act on the matrix as on a separable one: CLUB = 9.5/3 - 36.5/9 = -8/9
    assert club_upper_bound(scores).item() == pytest.approx(-8.0 / 9.0, abs=1e-6)


def test_concat_critic_equals_the_materialized_concatenation() -> None:
    """The split first layer gives FactorCL's scores: its MLP on the tiled [a_k, b_l]."""
    torch.manual_seed(0)
    critic = ConcatCritic(3, 5, hidden=7)
    a, b = torch.randn(4, 3), torch.randn(4, 5)
    mlp = nn.Sequential(nn.Linear(8, 7), *critic.rest)
    with torch.no_grad():
        mlp[0].weight.copy_(torch.cat([critic.first_a.weight, critic.first_b.weight], 1))
        mlp[0].bias.copy_(critic.first_a.bias)
    pairs = torch.cat([a.unsqueeze(1).expand(4, 4, 3), b.unsqueeze(0).expand(4, 4, 5)], 2)
    assert torch.allclose(critic(a, b), mlp(pairs).squeeze(-1), atol=1e-5)
    critic.materialize = True  # FactorCL's way, for counting its cost: the same scores
    assert torch.allclose(critic(a, b), mlp(pairs).squeeze(-1), atol=1e-5)
    # FactorCL's parameter count: mlp(dim_a + dim_b, hidden, 1, layers=1)
    assert sum(p.numel() for p in critic.parameters()) == (3 + 5) * 7 + 7 + 7 * 7 + 7 + 7 + 1


def test_shared_concat_critic_is_symmetric() -> None:
    torch.manual_seed(0)
    critic = ConcatCritic(3, 3, hidden=6, shared=True)
    a, b = torch.randn(5, 3), torch.randn(5, 3)
    assert torch.allclose(critic(a, b), critic(b, a).T, atol=1e-6)
    with pytest.raises(ValueError, match="equal input sizes"):
        ConcatCritic(3, 4, shared=True)


def test_make_critic_follows_the_setting() -> None:
    sep = make_critic(MethodConfig(critic_dim=8), 3, 4)
    cat = make_critic(MethodConfig(critic="concat", critic_dim=8), 3, 4)
    assert isinstance(sep, SeparableCritic) and isinstance(cat, ConcatCritic)
    assert cat.rest[1].in_features == 32  # hidden width max(critic_dim, 32)
    assert make_critic(MethodConfig(critic="concat"), 3, 3, shared=True).first_b is None


# ---------------------------------------------------------------------------- in the methods
def _objective(method: str, m: int, **cfg_kwargs) -> tuple[nn.Module, dict]:
    torch.manual_seed(0)
    specs = [ViewSpec(f"v{i}", "table", (3 + i,), 0) for i in range(m)]
    cfg = MethodConfig(name=method, embedding_dim=60, encoder_dim=8, hidden_dim=16,
                       critic_dim=8, **cfg_kwargs)
    obj = build_objective(method, specs, cfg)
    batch = {s.name: (torch.randn(6, *s.input_shape), None, torch.ones(6, dtype=torch.bool))
             for s in specs}
    return obj, batch


#: stage-2 terms and critic terms of the default (separable) critic, recorded before the
#: `critic` setting existed (proxy "augment", no region context, seeds 0 / 1 as in `_terms`)
GOLDEN = {
    ("cookie", 2): {
        "intra/v0": 1.576898, "intra/v1": 1.255954, "unique_nce/v0": 1.79835,
        "unique_nce/v1": 1.822951, "unique_club/v0~v1": -0.018034,
        "unique_cond/v0~v1": 1.791091, "shared_nce/v0~v1": 1.801527,
        "shared_club/v0~v1": 0.001908, "critic/unique_club/v0~v1": 1.843664,
        "critic/shared_club/v0~v1": 1.824884},
    ("gfactorcl", 2): {
        "intra/v0": 1.34939, "intra/v1": 1.240429, "unique_nce/v0": 1.816198,
        "unique_club/v0": -0.030743, "unique_cond/v0": 1.749987, "unique_nce/v1": 1.830278,
        "unique_club/v1": -0.007641, "unique_cond/v1": 2.375158,
        "shared_nce/v0~v1/v0~v1": 1.812016, "shared_club/v0~v1/v0~v1": 0.003988,
        "critic/unique_club/v0": 2.152433, "critic/unique_club/v1": 2.173556,
        "critic/shared_club/v0~v1/v0~v1": 1.805206},
    ("shared_pairwise", 3): {
        "pair_nce/v0~v1": 1.80387, "pair_nce/v0~v2": 1.804625, "pair_nce/v1~v2": 1.796139},
}


def _terms(obj: nn.Module, batch: dict) -> dict[str, float]:
    torch.manual_seed(1)
    terms, cache = obj.terms(batch, 2)
    return {k: v.item() for k, v in {**terms, **obj.critic_terms(cache)}.items()}


@pytest.mark.parametrize("key", list(GOLDEN))
def test_default_critic_terms_are_unchanged(key: tuple[str, int]) -> None:
    obj, batch = _objective(*key, proxy="augment", context="none")
    got = _terms(obj, batch)
    assert got.keys() == GOLDEN[key].keys()
    for name, value in GOLDEN[key].items():
        assert got[name] == pytest.approx(value, abs=2e-6), name
    assert not any(isinstance(m, ConcatCritic) for m in obj.modules())


@pytest.mark.parametrize("method", ["cookie", "gfactorcl", "shared_pairwise", "cookie_paper"])
@pytest.mark.parametrize("proxy", ["augment", "relational"])
def test_every_method_runs_with_concat_critics(method: str, proxy: str) -> None:
    """Every critic is a ConcatCritic, sized for the inputs the terms pass (relational
    targets included), and a training step gives finite terms and critic gradients."""
    obj, batch = _objective(method, 3, proxy=proxy, critic="concat")
    batch[INDEX_KEY] = torch.arange(6)
    obj.set_targets({n: batch[n][0] for n in obj.names}, {n: None for n in obj.names},
                    {n: batch[n][2] for n in obj.names})
    critics = [m for m in obj.modules() if isinstance(m, (SeparableCritic, ConcatCritic))]
    assert critics and all(isinstance(c, ConcatCritic) for c in critics)
    assert obj.term_count()["critics"] == len(critics)
    terms, cache = obj.terms(batch, 2)
    scored = [k for k in terms if "_rel/" not in k]
    assert scored and all(torch.isfinite(v) for v in terms.values())
    obj.total(terms, 2).backward()
    critic_terms = obj.critic_terms(cache)
    assert all(torch.isfinite(v) for v in critic_terms.values())
    if critic_terms:
        sum(critic_terms.values()).backward()
    for c in obj.club_critics():
        assert c.first_a.weight.grad is not None
