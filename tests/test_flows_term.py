"""The flow-distribution term of `flows` views (docs/method.md, "Flow-distribution terms"),
checked against a value computed by hand on a 3-region batch, and its wiring in the methods."""

from __future__ import annotations

import math

import pytest
import torch

from cookie.config import MethodConfig
from cookie.features.view import ViewSpec
from cookie.methods.base import INDEX_KEY
from cookie.methods.cookie import CookieObjective
from cookie.methods.flows import flow_matrix, flow_term
from cookie.methods.gfactorcl import GFactorCLObjective
from cookie.methods.pairwise import SharedPairwiseObjective

# s_r . d_q: rows r0 [1, 0, 1], r1 [0, 1, 1], r2 [0, 0, 0]
SOURCE = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.0, 0.0]])
DESTINATION = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
# trips: r0 -> r1 (2), r0 -> r2 (2), r1 -> r0 (1); r2 sends nothing
TRIPS = torch.tensor([[0.0, 2.0, 2.0], [1.0, 0.0, 0.0], [0.0, 0.0, 0.0]])
ALL = torch.tensor([True, True, True])


def test_flow_term_by_hand() -> None:
    e = math.e
    big = math.log(2 * e + 1)  # log-normalizer of the logits [1, 0, 1] and [0, 1, 1]
    # out: r0 shares [0, .5, .5] against softmax [1, 0, 1]; r1 [1, 0, 0] against [0, 1, 1]
    out = ((math.log(0.5) + big - 0.5) + big) / 2
    # in (columns): q0 receives from r1 only, logits d_0 . s_r = [1, 0, 0];
    # q1 from r0 only, [0, 1, 0]; q2 from r0 only, [1, 1, 0]
    into = (math.log(e + 2) + math.log(e + 2) + (big - 1)) / 3
    value = flow_term(SOURCE, DESTINATION, TRIPS, ALL)
    assert value.item() == pytest.approx(0.5 * (out + into), rel=1e-6)


def test_flow_term_is_zero_when_the_decoder_reproduces_the_shares() -> None:
    # one trip destination per origin and a decoder that is sure of it: KL -> 0
    trips = torch.tensor([[0.0, 3.0, 0.0], [0.0, 0.0, 1.0], [5.0, 0.0, 0.0]])
    logits_source = 40.0 * torch.eye(3)
    destination = torch.roll(torch.eye(3), shifts=1, dims=0)  # d_q = e_{q-1}: s_r . d_q = [q = r+1]
    value = flow_term(logits_source, destination, trips, ALL)
    assert value.item() == pytest.approx(0.0, abs=1e-6)


def test_absent_regions_neither_send_nor_receive() -> None:
    # r2 absent: its trips (r0 -> r2) are dropped and it is no destination; by hand:
    # out r0 [0, 1] against softmax over {r0, r1} of [1, 0]; r1 [1, 0] against [0, 1]
    valid = torch.tensor([True, True, False])
    out = ((math.log(1 + math.e) - 0.0) + math.log(1 + math.e)) / 2
    # in: q0 from r1 (logits d_0 . s_r over r0, r1 = [1, 0]), q1 from r0 ([0, 1])
    into = (math.log(1 + math.e) + math.log(1 + math.e)) / 2
    value = flow_term(SOURCE, DESTINATION, TRIPS, valid)
    assert value.item() == pytest.approx(0.5 * (out + into), rel=1e-6)


def test_flow_matrix_is_the_out_flow_half() -> None:
    values = torch.cat([TRIPS, TRIPS.T], dim=1)
    assert torch.equal(flow_matrix(values), TRIPS)
    with pytest.raises(ValueError, match="2 x 3 columns"):
        flow_matrix(TRIPS)


def _batch(specs):
    torch.manual_seed(1)
    x = {"t": torch.randn(3, 2), "f": torch.cat([TRIPS, TRIPS.T], dim=1)}
    batch = {s.name: (x[s.name], None, ALL) for s in specs}
    batch[INDEX_KEY] = torch.arange(3)
    return x, batch


@pytest.mark.parametrize("cls", [CookieObjective, GFactorCLObjective, SharedPairwiseObjective])
def test_every_method_adds_the_flow_term_in_the_joint_stage(cls) -> None:
    specs = [ViewSpec("t", "table", (2,), 0), ViewSpec("f", "flows", (6,), 0)]
    cfg = MethodConfig(embedding_dim=6, encoder_dim=4, hidden_dim=8, critic_dim=4)
    torch.manual_seed(0)
    objective = cls(specs, cfg)
    x, batch = _batch(specs)
    objective.set_targets(x, {"t": None, "f": None}, {"t": ALL, "f": ALL})
    terms, _ = objective.terms(batch, stage=2)
    e = objective.encoders["f"](*batch["f"], augmented=False)
    dec = objective.flow_decoders["f"]
    expected = flow_term(dec.source(e), dec.destination(e), TRIPS, ALL)
    assert terms["flow/f"].item() == pytest.approx(expected.item(), rel=1e-6)
    assert "flow/t" not in terms
    if objective.uses_pretraining:
        stage1, _ = objective.terms(batch, stage=1)
        assert not any(k.startswith("flow/") for k in stage1)


@pytest.mark.parametrize("settings", [{"proxy": "augment"}, {"flow_weight": 0.0}])
def test_no_flow_term_with_the_augmentation_proxy_or_weight_zero(settings) -> None:
    specs = [ViewSpec("t", "table", (2,), 0), ViewSpec("f", "flows", (6,), 0)]
    cfg = MethodConfig(embedding_dim=6, encoder_dim=4, hidden_dim=8, critic_dim=4, **settings)
    objective = CookieObjective(specs, cfg)
    x, batch = _batch(specs)
    objective.set_targets(x, {"t": None, "f": None}, {"t": ALL, "f": ALL})
    terms, _ = objective.terms(batch, stage=2)
    assert not any(k.startswith("flow/") for k in terms)
    assert len(objective.flow_decoders) == 0
