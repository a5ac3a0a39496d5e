"""The output basis (`basis`, docs/method.md "Output basis"): each embedding block is the heads'
block times a fixed orthonormal matrix that depends only on the block's width."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from cookie.nn.basis import block_rotation, rotate_blocks
from cookie.nn.heads import block_sizes
from tests.synthetic import make_dataset

SETTINGS = {"embedding_dim": 14, "hidden_dim": 8, "encoder_dim": 8, "critic_dim": 4,
            "pretrain_epochs": 1, "epochs": 2, "seed": 3}


def test_block_rotation_is_orthonormal_fixed_and_width_specific() -> None:
    for width in (1, 2, 5, 51):
        q = block_rotation(width)
        assert q.shape == (width, width) and q.dtype == torch.float64
        torch.testing.assert_close(q.T @ q, torch.eye(width, dtype=torch.float64))
        torch.testing.assert_close(q, block_rotation(width), rtol=0, atol=0)
    assert block_rotation(1).item() == 1.0  # a 1 x 1 basis with diag(R) > 0 is the identity
    assert not torch.allclose(block_rotation(5)[:4, :4], block_rotation(4))
    q = block_rotation(3)
    q[0, 0] = 99.0  # a caller cannot change the cached basis
    assert block_rotation(3)[0, 0] != 99.0
    with pytest.raises(ValueError, match="positive"):
        block_rotation(0)


def test_rotate_blocks_by_hand() -> None:
    a = torch.tensor([[1.0, 0.0], [0.0, 2.0]])
    b = torch.tensor([[3.0], [-1.0]])
    got = rotate_blocks([a, b])
    q2 = block_rotation(2).to(torch.float32)
    expected = torch.cat([a @ q2, b], dim=1)  # the width-1 basis is [[1]]
    torch.testing.assert_close(got, expected)
    torch.testing.assert_close(got @ got.T, torch.cat([a, b], 1) @ torch.cat([a, b], 1).T)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    from cookie.dataset.dataset import load_dataset

    config, _ = make_dataset(tmp_path_factory.mktemp("basis"), n=16, dims=(4, 3, 5),
                             tasks=False)
    return load_dataset(config)


@pytest.mark.parametrize("method", ["cookie", "gfactorcl", "shared_pairwise", "intra",
                                    "mvure_style"])
def test_rotated_embedding_is_the_heads_blocks_rotated(dataset, method: str) -> None:
    from cookie.training.embedder import CookieEmbedder

    model = CookieEmbedder(name=method, **SETTINGS, basis="heads").fit(dataset)
    heads = model.transform(dataset).to_numpy(np.float64)
    model.objective_.basis_kind = "rotated"
    rotated = model.transform(dataset).to_numpy(np.float64)
    if method == "cookie":
        widths = block_sizes(14, 3 + 3)  # 3 unique + 3 shared blocks
    elif method in ("shared_pairwise",):
        widths = block_sizes(14, 3)
    elif method == "intra":
        widths = [8, 8, 8]  # one encoder output per view
    elif method == "mvure_style":
        widths = [14]  # one fused vector
    else:
        widths = [int(w) for w in _gfactorcl_widths(model)]
    assert sum(widths) == heads.shape[1]
    edges = np.cumsum([0, *widths])
    expected = np.concatenate([heads[:, s:e] @ block_rotation(int(e - s)).numpy()
                               for s, e in zip(edges[:-1], edges[1:], strict=True)], 1)
    np.testing.assert_allclose(rotated, expected, atol=2e-6)
    np.testing.assert_allclose(rotated @ rotated.T, heads @ heads.T, atol=2e-5)


def _gfactorcl_widths(model) -> list[int]:
    from cookie.nn.heads import out_dim

    obj = model.objective_
    widths = [out_dim(obj.unique_heads[n]) for n in obj.names]
    for key in obj.shared_heads:
        first = next(iter(obj.shared_heads[key].values()))
        widths.append(out_dim(first))
    return widths


def test_a_dropped_view_keeps_its_unique_block_zero(dataset) -> None:
    from cookie.training.embedder import CookieEmbedder

    model = CookieEmbedder(name="cookie", **SETTINGS).fit(dataset)
    emb = model.transform(dataset, drop_views=("v1",)).to_numpy()
    first, second = block_sizes(14, 6)[:2]
    assert np.abs(emb[:, first:first + second]).max() == 0.0  # v1's unique block


def test_cookie_paper_keeps_the_heads_coordinates(dataset) -> None:
    from cookie.training.embedder import CookieEmbedder

    a = CookieEmbedder(name="cookie_paper", **SETTINGS, basis="rotated").fit(dataset)
    b = CookieEmbedder(name="cookie_paper", **SETTINGS, basis="heads").fit(dataset)
    np.testing.assert_array_equal(a.transform(dataset).to_numpy(), b.transform(dataset).to_numpy())


def test_a_model_saved_before_the_setting_loads_in_the_heads_basis(dataset,
                                                                   tmp_path: Path) -> None:
    from cookie.training.embedder import CookieEmbedder

    model = CookieEmbedder(name="cookie", **SETTINGS, basis="heads").fit(dataset)
    model.save(tmp_path / "m")
    meta_file = next((tmp_path / "m").glob("*.json"))
    meta = json.loads(meta_file.read_text())
    del meta["method"]["basis"]  # as an older version wrote it
    meta_file.write_text(json.dumps(meta))
    again = CookieEmbedder.load(tmp_path / "m")
    assert again.config_.basis == "heads"
    np.testing.assert_array_equal(again.transform(dataset).to_numpy(),
                                  model.transform(dataset).to_numpy())
