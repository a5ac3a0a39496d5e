"""The fusion peers (`mvure_style`, `hafusion_style`; docs/method.md, "Fusion peers"): the
similarity term against values computed by hand, the view attention's weights, the flow term on
the fused embedding, and a fit through the estimator."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from cookie.config import MethodConfig
from cookie.features.view import ViewSpec
from cookie.methods.base import INDEX_KEY
from cookie.methods.flows import flow_term
from cookie.methods.fusion import (
    FusionObjective,
    ViewAttention,
    build_hafusion_style,
    build_mvure_style,
    similarity_term,
)
from cookie.nn.basis import block_rotation
from cookie.training.embedder import CookieEmbedder
from tests.synthetic import make_dataset

PRED = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
X = torch.tensor([[2.0, 0.0], [1.0, 0.0], [0.0, 3.0]])


def test_similarity_term_by_hand() -> None:
    # cos of PRED rows: [[1, 0, h], [0, 1, h], [h, h, 1]] with h = 1/sqrt(2);
    # cos of X rows: [[1, 1, 0], [1, 1, 0], [0, 0, 1]]; squared differences: the two (0, 1)
    # entries 1 each, the four (., 2) entries 1/2 each -> 4 over 9 entries
    value = similarity_term(PRED, X, torch.tensor([True, True, True]))
    assert value.item() == pytest.approx(4 / 9, rel=1e-6)
    # without region 2: [[1, 0], [0, 1]] against [[1, 1], [1, 1]] -> 2 over 4
    value = similarity_term(PRED, X, torch.tensor([True, True, False]))
    assert value.item() == pytest.approx(0.5, rel=1e-6)
    assert similarity_term(PRED, X, torch.tensor([True, False, False])).item() == 0.0


def test_view_attention_weights() -> None:
    torch.manual_seed(0)
    attention = ViewAttention(3)
    e = torch.randn(4, 2, 3)
    present = torch.tensor([[True, True], [True, False], [False, True], [False, False]])
    w = attention(e, present)
    assert torch.allclose(w[:3].sum(1), torch.ones(3))
    assert w[1, 1] == 0 and w[2, 0] == 0 and torch.equal(w[3], torch.zeros(2))
    # by hand for region 0: softmax over views of q . tanh(W e_v + b)
    scores = attention.query(torch.tanh(attention.project(e[0]))).squeeze(-1)
    assert torch.allclose(w[0], torch.softmax(scores, 0))


TRIPS = torch.tensor([[0.0, 2.0, 2.0], [1.0, 0.0, 0.0], [0.0, 0.0, 0.0]])
ALL = torch.tensor([True, True, True])


@pytest.mark.parametrize("build", [build_mvure_style, build_hafusion_style])
def test_terms_are_flow_and_similarity_of_the_fused_embedding(build) -> None:
    specs = [ViewSpec("t", "table", (2,), 0), ViewSpec("f", "flows", (6,), 0)]
    cfg = MethodConfig(embedding_dim=6, encoder_dim=4, hidden_dim=8, critic_dim=4)
    torch.manual_seed(0)
    objective = build(specs, cfg)
    assert isinstance(objective, FusionObjective)
    assert bool(objective.contexts) == (build is build_hafusion_style)
    x = {"t": X, "f": torch.cat([TRIPS, TRIPS.T], dim=1)}
    batch = {s.name: (x[s.name], None, ALL) for s in specs}
    batch[INDEX_KEY] = torch.arange(3)
    objective.set_targets(x, {"t": None, "f": None}, {"t": ALL, "f": ALL})
    terms, _ = objective.terms(batch, stage=2)
    assert sorted(terms) == ["flow/f", "sim/t"]  # a flows view gets FLOW, not SIM
    z = objective.fuse(objective.encode(batch, False), objective.masks(batch))
    assert z.shape == (3, 6)  # the terms read the fused vector; the embedding rotates it
    torch.testing.assert_close(objective.embed(batch), z @ block_rotation(6).to(z.dtype))
    dec = objective.flow_decoders["f"]
    assert terms["flow/f"].item() == pytest.approx(
        flow_term(dec.source(z), dec.destination(z), TRIPS, ALL).item(), rel=1e-6)
    # the similarity of the view's features as featurized, not of the standardized ones
    objective.encoders["t"].fit_normalization(X, None, ALL)
    terms, _ = objective.terms(batch, stage=2)
    z = objective.fuse(objective.encode(batch, False), objective.masks(batch))
    sim = similarity_term(objective.similarity_heads["t"](z), X, ALL)
    assert terms["sim/t"].item() == pytest.approx(sim.item(), rel=1e-6)
    assert objective.total(terms, 2).item() == pytest.approx(
        sum(v.item() for v in terms.values()), rel=1e-6)
    assert math.isfinite(objective.total(terms, 2).item())


@pytest.mark.parametrize("method", ["mvure_style", "hafusion_style"])
def test_fusion_peers_fit_and_embed(tmp_path, method) -> None:
    from cookie.config import load_config
    from cookie.dataset.dataset import load_dataset

    config, _ = make_dataset(tmp_path / "data", n=40, dims=(5, 4), tasks=False)
    ds = load_dataset(load_config(config))
    model = CookieEmbedder.from_config(ds.config, name=method, epochs=5, embedding_dim=8,
                                       seed=0).fit(ds)
    z = model.transform(ds)
    assert z.shape == (40, 8) and np.isfinite(z.to_numpy()).all()
    assert set(model.final_terms_) == {"sim/v0", "sim/v1"}
