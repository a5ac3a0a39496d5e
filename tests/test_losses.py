"""Every loss term against a hand-computed value and a plain reference formula."""

from __future__ import annotations

import math

import pytest
import torch

from cookie.losses import club_upper_bound, infonce_loss, infonce_lower_bound
from cookie.nn.heads import SeparableCritic, block_sizes

S = torch.tensor([[2.0, 0.0], [1.0, 1.0]])


def test_infonce_hand_computed() -> None:
    rows = (math.log(1 + math.exp(-2)) + math.log(2)) / 2  # -log softmax of each row's diagonal
    cols = (math.log(1 + math.exp(-1)) + math.log(1 + math.exp(-1))) / 2
    expected = 0.5 * (rows + cols)
    assert infonce_loss(S).item() == pytest.approx(expected, abs=1e-6)
    assert expected == pytest.approx(0.361650, abs=1e-6)
    assert infonce_lower_bound(S).item() == pytest.approx(math.log(2) - expected, abs=1e-6)


def test_club_hand_computed() -> None:
    # mean of the diagonal (2 + 1) / 2 minus mean of all entries 4 / 4
    assert club_upper_bound(S).item() == pytest.approx(0.5)


def reference_infonce(scores: torch.Tensor) -> float:
    n = scores.shape[0]
    total = 0.0
    for i in range(n):
        row = [math.exp(float(scores[i, j])) for j in range(n)]
        col = [math.exp(float(scores[j, i])) for j in range(n)]
        total += -math.log(row[i] / sum(row)) - math.log(col[i] / sum(col))
    return total / (2 * n)


def reference_club(scores: torch.Tensor) -> float:
    n = scores.shape[0]
    pos = sum(float(scores[i, i]) for i in range(n)) / n
    allp = sum(float(scores[i, j]) for i in range(n) for j in range(n)) / n**2
    return pos - allp


@pytest.mark.parametrize("n", [2, 3, 8, 17])
@pytest.mark.parametrize("temperature", [0.05, 0.1, 0.5, 1.0])
def test_losses_match_reference(n: int, temperature: float) -> None:
    gen = torch.Generator().manual_seed(n)
    a, b = torch.randn(n, 5, generator=gen), torch.randn(n, 5, generator=gen)
    scores = torch.nn.functional.normalize(a, dim=1) @ torch.nn.functional.normalize(b, dim=1).T
    scores = scores / temperature
    expected = reference_infonce(scores)
    assert infonce_loss(scores).item() == pytest.approx(expected, rel=1e-5, abs=1e-6)
    assert club_upper_bound(scores).item() == pytest.approx(reference_club(scores), abs=1e-5)


def test_infonce_perfect_alignment_approaches_bound() -> None:
    scores = torch.eye(6) * 50.0
    assert infonce_loss(scores).item() == pytest.approx(0.0, abs=1e-6)
    assert infonce_lower_bound(scores).item() == pytest.approx(math.log(6), abs=1e-6)


def test_infonce_rejects_non_square() -> None:
    with pytest.raises(ValueError):
        infonce_loss(torch.zeros(2, 3))
    with pytest.raises(ValueError):
        club_upper_bound(torch.zeros(3, 2))


def test_separable_critic_is_cosine_over_temperature() -> None:
    torch.manual_seed(0)
    critic = SeparableCritic(4, 3, out_dim=8, temperature=0.25)
    a, b = torch.randn(5, 4), torch.randn(5, 3)
    ga = torch.nn.functional.normalize(critic.g(a), dim=1)
    hb = torch.nn.functional.normalize(critic.h(b), dim=1)
    expected = torch.stack([torch.stack([ga[i] @ hb[j] for j in range(5)]) for i in range(5)])
    assert torch.allclose(critic(a, b), expected / 0.25, atol=1e-6)
    assert critic(a, b).abs().max() <= 1 / 0.25 + 1e-5


def test_block_sizes_sum_to_total() -> None:
    assert block_sizes(512, 10) == [52, 52] + [51] * 8
    assert sum(block_sizes(512, 10)) == 512
    with pytest.raises(ValueError):
        block_sizes(3, 4)
