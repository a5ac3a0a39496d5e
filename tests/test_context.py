"""The region context stage (docs/method.md, "Region context"): one residual attention layer
across regions after each view's encoder, checked against the formula written out in numpy, and
embedding in chunks giving the embedding of one full batch."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch

from cookie.dataset.dataset import load_dataset
from cookie.nn.context import RegionContext, context_rows
from cookie.training.embedder import CookieEmbedder
from tests.synthetic import make_dataset


def _layer_norm(a: np.ndarray) -> np.ndarray:
    mu, var = a.mean(1, keepdims=True), a.var(1, keepdims=True)
    return (a - mu) / np.sqrt(var + 1e-5)


def test_context_against_the_formula() -> None:
    torch.manual_seed(0)
    layer = RegionContext(2)
    weights = {"query": [[1.0, 0.0], [0.0, 2.0]], "key": [[0.5, 0.0], [1.0, 1.0]],
               "value": [[1.0, -1.0], [0.0, 1.0]], "out": [[0.5, 0.0], [0.0, -1.0]]}
    with torch.no_grad():
        for name, w in weights.items():
            getattr(layer, name).weight.copy_(torch.tensor(w))
            getattr(layer, name).bias.zero_()
    e = np.array([[1.0, 3.0], [2.0, 0.0], [-1.0, 1.0]])
    mask = np.array([True, True, False])  # the third region is no key
    got = layer(torch.tensor(e, dtype=torch.float32), torch.tensor(e, dtype=torch.float32),
                torch.tensor(mask)).detach().numpy()
    n = _layer_norm(e)  # rows of two features: (a - b) / |a - b| * [1, -1] up to the epsilon
    w = {k: np.array(v) for k, v in weights.items()}
    q, k, v = n @ w["query"].T, n @ w["key"].T, n @ w["value"].T
    scores = q @ k.T / np.sqrt(2)
    scores[:, ~mask] = -np.inf
    attn = np.exp(scores - scores.max(1, keepdims=True))
    attn /= attn.sum(1, keepdims=True)
    expected = e + (attn @ v) @ w["out"].T
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)


def test_a_new_context_layer_is_the_identity_and_absent_keys_do_not_count() -> None:
    torch.manual_seed(0)
    layer = RegionContext(4)
    e = torch.randn(5, 4)
    assert torch.equal(layer(e, e, torch.ones(5, dtype=torch.bool)), e)
    torch.nn.init.normal_(layer.out.weight)
    mask = torch.tensor([True, True, True, False, False])
    moved = e.clone()
    moved[3:] += 100.0  # absent regions' encodings change: the output must not
    assert torch.allclose(layer(e, e, mask), layer(e, moved, mask))
    assert torch.equal(layer(e, e, torch.zeros(5, dtype=torch.bool)), e)


def test_context_rows() -> None:
    assert context_rows(10, 10, training=True) is None
    fixed = context_rows(50, 16, training=False, seed=3)
    assert fixed is not None and len(fixed) == 16 and len(set(fixed.tolist())) == 16
    assert torch.equal(fixed, context_rows(50, 16, training=False, seed=3))
    assert len(context_rows(50, 16, training=True)) == 16


@pytest.mark.parametrize("keys", [2048, 16])
def test_embedding_in_chunks_equals_one_full_batch(tmp_path, keys) -> None:
    """With every region as context (keys >= n) and with a fixed sample of 16 of 23 regions."""
    config, _ = make_dataset(tmp_path / "data", n=23, dims=(4, 3))
    ds = load_dataset(config)
    model = CookieEmbedder(epochs=2, pretrain_epochs=1, context_keys=keys).fit(ds)
    with torch.no_grad():  # a trained-looking context, so that it matters
        for layer in model.objective_.contexts.values():
            torch.nn.init.normal_(layer.out.weight, std=0.5)
    whole = model.transform(ds)
    chunked = pd.concat(list(model.transform_batches(ds, batch_size=5)))
    np.testing.assert_allclose(chunked.to_numpy(), whole.to_numpy(), rtol=1e-5, atol=1e-5)
    without = CookieEmbedder(epochs=2, pretrain_epochs=1, context="none").fit(ds)
    assert not without.objective_.contexts
    assert model.objective_.context_memory is None  # cleared after embedding


def test_a_model_saved_before_the_context_stage_still_loads(tmp_path) -> None:
    config, _ = make_dataset(tmp_path / "data", n=12, dims=(4, 3))
    ds = load_dataset(config)
    model = CookieEmbedder(epochs=1, pretrain_epochs=0, context="none", flow_weight=0.0).fit(ds)
    model.save(tmp_path / "model")
    meta_path = tmp_path / "model" / "model.json"
    meta = json.loads(meta_path.read_text())
    del meta["method"]["context"], meta["method"]["flow_weight"]
    meta_path.write_text(json.dumps(meta))
    loaded = CookieEmbedder.load(tmp_path / "model")
    np.testing.assert_allclose(loaded.transform(ds).to_numpy(), model.transform(ds).to_numpy(),
                               rtol=1e-6)
