"""The `image_inputs` option of the relational targets (docs/method.md, "Relational task
proxy"): the pixel statistics checked by hand on a tiny chip, then end to end on a raster view
(the targets of a fit decompose the kernel of the chosen inputs; an unknown value is refused)."""

from __future__ import annotations

import pytest
import torch

from cookie.config import MethodConfig
from cookie.methods.targets import (
    kernel_matrix_coordinates,
    pixel_statistics,
    relational_inputs,
    similarity,
    standardized_columns,
)
from cookie.training.embedder import CookieEmbedder
from tests.synthetic import ORIGIN, SMALL_METHOD, make_dataset, write_config, write_raster


def tiny_chips() -> torch.Tensor:
    """Two regions, two bands, 4 x 4 chips: region 0 has the pixels 1 2 / 3 4 in the top left
    corner of band 0 and nothing in band 1; region 1 has a single pixel 5 in band 1."""
    x = torch.zeros(2, 2, 4, 4)
    x[0, 0, :2, :2] = torch.tensor([[1.0, 2.0], [3.0, 4.0]])
    x[1, 1, 3, 3] = 5.0
    return x


def test_pixel_statistics_by_hand() -> None:
    stats = pixel_statistics(tiny_chips())
    assert stats.shape == (2, 12)  # 5 quantiles + texture, for each of 2 bands
    # region 0, band 0: the pixels 1, 2, 3, 4; the q-quantile sits at position 3q between them
    # (linear interpolation): q = 0.1 -> 1.3, 0.25 -> 1.75, 0.5 -> 2.5, 0.75 -> 3.25, 0.9 -> 3.7;
    # texture: horizontal |2-1|, |4-3| -> 1, vertical |3-1|, |4-2| -> 2, averaged -> 1.5
    expected0 = torch.tensor([1.3, 0.0, 1.75, 0.0, 2.5, 0.0, 3.25, 0.0, 3.7, 0.0, 1.5, 0.0],
                             dtype=torch.float64)
    assert torch.allclose(stats[0], expected0, atol=1e-12)
    # region 1: band 0 is empty (zeros); band 1 has one pixel, so every quantile is 5 and no
    # adjacent pair exists (texture 0)
    expected1 = torch.tensor([0.0, 5.0] * 5 + [0.0, 0.0], dtype=torch.float64)
    assert torch.allclose(stats[1], expected1, atol=1e-12)


def test_relational_inputs_for_each_choice() -> None:
    chips, aux = tiny_chips(), torch.tensor([[0.5, 1.0], [-0.5, 3.0]])
    vector = torch.randn(2, 3)
    assert relational_inputs(vector, None, "quantiles") is vector  # vector views: unchanged
    assert relational_inputs(chips, aux, "stats") is aux  # the statistics alone
    assert relational_inputs(chips, None, "stats") is None
    both = relational_inputs(chips, aux)  # the default: quantiles
    assert both is not None and both.shape == (2, 14)
    by_hand = standardized_columns(torch.cat([aux.double(), pixel_statistics(chips)], 1))
    assert torch.allclose(both.double(), by_hand, atol=1e-6)
    # two regions: a column a, b becomes +-(a - b)/2 over its std |a - b|/sqrt(2), that is
    # +-1/sqrt(2); band 1's texture is 0 in both regions, a constant column, so it stays 0
    half = 2 ** -0.5
    assert torch.allclose(both[:, 0], torch.tensor([half, -half]), atol=1e-6)
    assert torch.allclose(both[:, 2], torch.tensor([half, -half]), atol=1e-6)  # 1.3 against 0
    assert torch.equal(both[:, 13], torch.zeros(2))
    # images without statistics still get inputs from their pixels
    pixels_only = relational_inputs(chips, None, "quantiles")
    assert pixels_only is not None and pixels_only.shape == (2, 12)
    with pytest.raises(ValueError, match="unknown image_inputs 'pixels'"):
        relational_inputs(chips, aux, "pixels")


def raster_dataset(root):
    """16 regions with one table view and one 2-band raster view over them."""
    from cookie.dataset.dataset import load_dataset

    path, cfg = make_dataset(root, n=16, dims=(4,), tasks=False)
    write_raster(root / "img.tif", (ORIGIN[0], ORIGIN[1], ORIGIN[0] + 400, ORIGIN[1] + 400),
                 size=32, bands=2)
    import numpy as np
    import rasterio

    with rasterio.open(root / "img.tif", "r+") as dst:  # varied pixels, not a ramp
        dst.write(np.random.default_rng(0).gamma(2.0, size=(2, 32, 32)).astype(np.float32))
    cfg["views"].append({"name": "img", "kind": "raster", "path": "img.tif", "bands": [1, 2],
                         "image_size": 8})
    write_config(path, cfg)
    return load_dataset(path)


def test_the_option_reaches_every_image_block_of_a_fit(tmp_path) -> None:
    from cookie.training.data import RegionTensors

    ds = raster_dataset(tmp_path / "data")
    model = CookieEmbedder(**SMALL_METHOD).fit(ds)  # the default: quantiles
    obj = model.objective_
    assert obj.cfg.image_inputs == "quantiles"
    tensors = RegionTensors(ds.views)
    found = obj._block_inputs(tensors.x, tensors.aux, tensors.mask)
    image_blocks = [key for key in found if "img" in key]
    assert image_blocks
    stats = CookieEmbedder(**SMALL_METHOD, image_inputs="stats").fit(ds).objective_
    for key in image_blocks:
        inputs, valid, k = found[key]
        x = torch.cat(inputs, 1)[valid].double()
        assert x.shape[1] > ds.views["img"].aux.shape[1]  # the pixel statistics are in
        d2 = torch.cdist(x, x).pow(2)
        med = float(d2[torch.triu(torch.ones_like(d2, dtype=torch.bool), 1)].median())
        expected = kernel_matrix_coordinates(similarity(x, x, med), k)
        assert torch.allclose(obj.targets[key][valid], expected, atol=1e-4), key
        assert not torch.allclose(stats.targets[key], obj.targets[key], atol=1e-3), key
    # the table view's own block does not change
    assert torch.allclose(stats.targets["unique/v0"], obj.targets["unique/v0"])


def test_config_refuses_an_unknown_choice() -> None:
    assert MethodConfig().image_inputs == "quantiles"
    with pytest.raises(ValueError, match="image_inputs"):
        MethodConfig(image_inputs="pixels")


def test_the_raw_baseline_sees_the_same_pixel_statistics(tmp_path) -> None:
    import numpy as np

    ds = raster_dataset(tmp_path / "data")
    plain = CookieEmbedder(name="raw", image_inputs="stats").fit(ds).transform(ds)
    richer = CookieEmbedder(name="raw").fit(ds).transform(ds)  # the default: quantiles
    img = ds.views["img"]
    assert richer.shape[1] == plain.shape[1] + 2 * 6  # 5 quantiles + texture for 2 bands
    # the first columns are the plain baseline's; the new ones are the pixel statistics,
    # standardized over the regions that have the view (ddof 1)
    assert np.allclose(richer.to_numpy()[:, :plain.shape[1]], plain.to_numpy(), atol=1e-5)
    stats = pixel_statistics(torch.as_tensor(img.values)).numpy()[img.mask]
    sd = stats.std(0, ddof=1)
    expected = (stats - stats.mean(0)) / np.where(sd > 0, sd, 1.0)
    assert np.allclose(richer.to_numpy()[img.mask][:, plain.shape[1]:], expected, atol=1e-4)
