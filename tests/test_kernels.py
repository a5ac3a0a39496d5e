"""The `kernel` option of the relational targets (docs/method.md, "Relational task proxy"):
the multiscale, Laplacian and RBF + linear kernels checked by hand on 3 regions, then end to
end (the targets of a fit decompose the chosen kernel; an unknown kernel is refused)."""

from __future__ import annotations

import math

import pytest
import torch

from cookie.config import MethodConfig
from cookie.errors import ConfigError
from cookie.methods.targets import (
    kernel_matrix_coordinates,
    kernel_pca_coordinates,
    kernel_spectrum,
    similarity,
)
from cookie.training.embedder import CookieEmbedder
from tests.synthetic import SMALL_METHOD, make_dataset

# three regions on a line at 0, 1 and 3: squared distances 1, 9, 4 -> median 4
X3 = torch.tensor([[0.0], [1.0], [3.0]], dtype=torch.float64)
D2 = {(0, 1): 1.0, (0, 2): 9.0, (1, 2): 4.0}


def by_hand(value) -> torch.Tensor:
    """The 3 x 3 kernel with ``value(d2)`` off the diagonal and ``value(0)`` on it."""
    k = torch.full((3, 3), value(0.0), dtype=torch.float64)
    for (i, j), d2 in D2.items():
        k[i, j] = k[j, i] = value(d2)
    return k


def test_multiscale_kernel_by_hand() -> None:
    # mean of exp(-d2 / 2), exp(-d2 / 4), exp(-d2 / 8): at d2 = 1, (e^-0.5 + e^-0.25 + e^-0.125)/3
    expected = by_hand(lambda d2: (math.exp(-d2 / 2) + math.exp(-d2 / 4) + math.exp(-d2 / 8)) / 3)
    assert expected[0, 1].item() == pytest.approx(
        (math.exp(-0.5) + math.exp(-0.25) + math.exp(-0.125)) / 3)
    assert torch.allclose(similarity(X3, X3, 4.0, "multiscale"), expected, atol=1e-12)


def test_laplacian_kernel_by_hand() -> None:
    # exp(-d / sqrt(4)): distances 1, 3, 2 -> e^-0.5, e^-1.5, e^-1
    expected = by_hand(lambda d2: math.exp(-math.sqrt(d2) / 2))
    assert expected[0, 2].item() == pytest.approx(math.exp(-1.5))
    assert torch.allclose(similarity(X3, X3, 4.0, "laplacian"), expected, atol=1e-12)


def test_rbf_linear_kernel_by_hand() -> None:
    # (exp(-d2 / 4) + x_r x_q / 1) / 2 on the points 0, 1, 3 (one column)
    e = math.exp
    expected = torch.tensor([[1.0, e(-0.25), e(-2.25)],
                             [e(-0.25), 1 + 1, e(-1) + 3],
                             [e(-2.25), e(-1) + 3, 1 + 9]], dtype=torch.float64) / 2
    assert torch.allclose(similarity(X3, X3, 4.0, "rbf_linear"), expected, atol=1e-12)
    # the linear part is divided by the number of columns: (1, 2) . (3, -1) / 2 = 0.5, and the
    # squared distance 4 + 9 = 13 at bandwidth 13 gives exp(-1)
    a = torch.tensor([[1.0, 2.0]], dtype=torch.float64)
    b = torch.tensor([[3.0, -1.0]], dtype=torch.float64)
    assert similarity(a, b, 13.0, "rbf_linear").item() == pytest.approx((math.exp(-1) + 0.5) / 2)


def test_rbf_is_the_default_and_unknown_kernels_are_refused() -> None:
    assert torch.allclose(similarity(X3, X3, 4.0), by_hand(lambda d2: math.exp(-d2 / 4)),
                          atol=1e-12)
    with pytest.raises(ValueError, match="unknown kernel 'cosine'"):
        similarity(X3, X3, 4.0, "cosine")


@pytest.mark.parametrize("kind", ["multiscale", "laplacian", "rbf_linear"])
def test_coordinates_and_spectrum_decompose_the_chosen_kernel(kind: str) -> None:
    kern = similarity(X3, X3, 4.0, kind)  # the median squared distance of X3 is 4
    h = torch.eye(3, dtype=torch.float64) - 1 / 3
    t = kernel_pca_coordinates(X3, k=3, kind=kind).double()
    assert torch.allclose(t @ t.T, h @ kern @ h, atol=1e-6)
    eig = torch.linalg.eigvalsh(h @ kern @ h).flip(0).clamp_min(0)
    assert torch.allclose(kernel_spectrum(X3, kind=kind), eig, atol=1e-10)
    # Nystroem with every region but one as a landmark stays close to the exact coordinates
    torch.manual_seed(0)
    x = torch.randn(40, 3)
    exact = kernel_pca_coordinates(x, k=5, landmarks=40, kind=kind)
    approx = kernel_pca_coordinates(x, k=5, landmarks=39, kind=kind)
    rel = (exact @ exact.T - approx @ approx.T).norm() / (exact @ exact.T).norm()
    assert rel < 0.1


def test_the_kernel_option_reaches_every_target_of_a_fit(tmp_path) -> None:
    from cookie.dataset.dataset import load_dataset
    from cookie.training.data import RegionTensors

    config, _ = make_dataset(tmp_path / "data", n=16, tasks=False)
    ds = load_dataset(config)
    model = CookieEmbedder(**SMALL_METHOD, kernel="laplacian").fit(ds)
    obj = model.objective_
    assert obj.cfg.kernel == "laplacian"
    tensors = RegionTensors(ds.views)
    found = obj._block_inputs(tensors.x, tensors.aux, tensors.mask)
    assert found
    for key, (inputs, valid, k) in found.items():
        x = torch.cat(inputs, 1)[valid].double()
        d2 = torch.cdist(x, x).pow(2)
        med = float(d2[torch.triu(torch.ones_like(d2, dtype=torch.bool), 1)].median())
        expected = kernel_matrix_coordinates(similarity(x, x, med, "laplacian"), k)
        assert torch.allclose(obj.targets[key][valid], expected, atol=1e-4), key
    rbf = CookieEmbedder(**SMALL_METHOD).fit(ds).objective_
    key = next(iter(found))
    assert not torch.allclose(rbf.targets[key], obj.targets[key], atol=1e-3)


def test_config_refuses_an_unknown_kernel(tmp_path) -> None:
    from cookie.dataset.dataset import load_dataset

    with pytest.raises(ValueError, match="kernel"):
        MethodConfig(kernel="cosine")
    config, _ = make_dataset(tmp_path / "data", n=8, tasks=False)
    with pytest.raises(ConfigError, match="kernel"):
        CookieEmbedder(**SMALL_METHOD, kernel="cosine").fit(load_dataset(config))
