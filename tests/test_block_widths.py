"""Block widths from the targets' spectra (docs/method.md, "Block widths"): the spectrum, the
participation ratio and the widths checked against values computed by hand, then the option
end to end (widths used by the heads, kept by save/load, equal where it does not apply)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from cookie.config import MethodConfig
from cookie.features.view import ViewSpec
from cookie.methods.cookie import CookieObjective
from cookie.methods.targets import kernel_spectrum, participation_ratio, spectrum_widths
from cookie.nn.heads import out_dim
from cookie.training.embedder import CookieEmbedder
from tests.synthetic import SMALL_METHOD, make_dataset


def test_kernel_spectrum_of_two_regions_by_hand() -> None:
    """Two regions 1 apart: median squared distance 1, K = [[1, e^-1], [e^-1, 1]]; centred,
    (1 - e^-1) / 2 [[1, -1], [-1, 1]], whose eigenvalues are 1 - e^-1 and 0."""
    spectrum = kernel_spectrum(torch.tensor([[0.0], [1.0]]))
    assert spectrum.tolist() == pytest.approx([1 - math.exp(-1), 0.0], abs=1e-12)


def test_kernel_spectrum_beyond_the_landmarks_is_that_of_a_landmark_subset() -> None:
    torch.manual_seed(0)
    x = torch.randn(30, 2)
    sub = kernel_spectrum(x, landmarks=10)
    assert sub.shape == (10,) and bool((sub[:-1] >= sub[1:]).all()) and bool((sub >= 0).all())


def test_participation_ratio_by_hand() -> None:
    assert participation_ratio(torch.tensor([3.0, 1.0])) == pytest.approx(16 / 10)
    assert participation_ratio(torch.tensor([2.0, 2.0, 2.0])) == pytest.approx(3.0)
    assert participation_ratio(torch.tensor([5.0, 0.0])) == pytest.approx(1.0)
    assert participation_ratio(torch.zeros(3)) == 1.0


def test_spectrum_widths_by_hand() -> None:
    # ratios 1, 2, 4 -> weights 1, 1/2, 1/4; one unit each, the other 7 by weight: 4, 2, 1
    assert spectrum_widths([1.0, 2.0, 4.0], 10) == [5, 3, 2]
    # equal ratios: 1 + 7/3 each -> 3, 3, 3 and the leftover unit to the first block
    assert spectrum_widths([2.0, 2.0, 2.0], 10) == [4, 3, 3]
    # every block keeps at least one dimension
    assert spectrum_widths([1.0, 1000.0], 2) == [1, 1]
    with pytest.raises(ValueError, match="cannot split"):
        spectrum_widths([1.0, 1.0, 1.0], 2)


def test_objective_heads_take_the_given_widths() -> None:
    specs = [ViewSpec(f"v{i}", "table", (2,), 0) for i in range(2)]
    cfg = MethodConfig(embedding_dim=10, encoder_dim=4, hidden_dim=8, critic_dim=4)
    obj = CookieObjective(specs, cfg, widths=[5, 3, 2])
    assert [k for _, k in obj.target_blocks().values()] == [5, 3, 2]
    assert out_dim(obj.unique_heads["v1"]) == 3 and obj.embedding_dim == 10
    with pytest.raises(ValueError, match="do not split"):
        CookieObjective(specs, cfg, widths=[5, 3, 3])


def test_spectrum_widths_end_to_end(tmp_path) -> None:
    from cookie.dataset.dataset import load_dataset

    config, _ = make_dataset(tmp_path / "data", n=16, tasks=False)
    ds = load_dataset(config)
    small = dict(SMALL_METHOD, embedding_dim=24)
    model = CookieEmbedder(**small, block_widths="spectrum").fit(ds)
    widths = model.widths_
    assert widths is not None and sum(widths) == 24
    obj = model.objective_
    assert [k for _, k in obj.target_blocks().values()] == widths
    # the widths are 1 / participation ratio of each block's kernel, on the inputs the
    # targets are computed from
    from cookie.training.data import RegionTensors

    tensors = RegionTensors(ds.views)
    found = obj._block_inputs(tensors.x, tensors.aux, tensors.mask)
    ratios = [participation_ratio(kernel_spectrum(torch.cat(found[key][0], 1)[found[key][1]]))
              for key in obj.target_blocks()]
    assert widths == spectrum_widths(ratios, 24)
    assert len(set(widths)) > 1  # not the equal split
    emb = model.transform(ds)
    assert emb.shape == (16, 24)
    model.save(tmp_path / "model")
    loaded = CookieEmbedder.load(tmp_path / "model")
    assert loaded.widths_ == widths
    np.testing.assert_array_equal(loaded.transform(ds).to_numpy(), emb.to_numpy())
    # equal widths by default, and for the paper's augmentation proxy
    assert CookieEmbedder(**small).fit(ds).widths_ is None
    paper = dict(small, name="cookie_paper")
    assert CookieEmbedder(**paper, block_widths="spectrum").fit(ds).widths_ is None
