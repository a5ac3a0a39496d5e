"""ViewEncoder: standardization, augmentation and the encoder network of one view."""

from __future__ import annotations

from typing import Protocol

import torch
from torch import nn

from cookie.features.view import ViewSpec
from cookie.nn.augment import Augmentation, augment, augment_vector
from cookie.nn.networks import CNNEncoder, MLPEncoder, Standardize


class EncoderSettings(Protocol):
    """The settings an encoder is built from (a `cookie.methods.settings.MethodSettings`)."""

    @property
    def encoder_dim(self) -> int: ...
    @property
    def hidden_dim(self) -> int: ...
    @property
    def dropout(self) -> float: ...


class ViewEncoder(nn.Module):
    """One view's encoder: standardizes its input (statistics from `fit_normalization`), zeroes
    the rows of regions missing from the view, augments when asked, then runs the network."""

    def __init__(self, spec: ViewSpec, cfg: EncoderSettings, augment_cfg: Augmentation,
                 encoder: str = "auto") -> None:
        super().__init__()
        self.spec = spec
        self.augment_cfg = augment_cfg
        shape = spec.input_shape
        self.x_norm = Standardize(torch.zeros(1, *shape), torch.ones(1, *shape))
        self.aux_norm = Standardize(torch.zeros(1, spec.aux_dim), torch.ones(1, spec.aux_dim))
        use_cnn = encoder == "cnn" or (encoder == "auto" and spec.is_image)
        if use_cnn:
            if not spec.is_image:
                raise ValueError(f"view {spec.name!r}: a CNN encoder needs an image view")
            self.net: nn.Module = CNNEncoder(shape[0], cfg.encoder_dim, spec.aux_dim,
                                             hidden=cfg.hidden_dim, dropout=cfg.dropout)
        else:
            in_dim = int(torch.tensor(shape).prod())
            self.net = MLPEncoder(in_dim, cfg.hidden_dim, cfg.encoder_dim, cfg.dropout)
        self.flatten = not use_cnn

    def fit_normalization(self, x: torch.Tensor, aux: torch.Tensor | None,
                          mask: torch.Tensor) -> None:
        """Per-feature (per-channel for images) statistics over regions that have data."""
        xs = x[mask] if mask.sum() > 1 else x
        dims = (0, 2, 3) if xs.ndim == 4 else (0,)
        fitted = Standardize.fit(xs, dims)
        shape = (1, *self.spec.input_shape)
        self.x_norm.mean.copy_(fitted.mean.expand(shape))
        self.x_norm.std.copy_(fitted.std.expand(shape))
        if aux is not None and self.spec.aux_dim:
            aux_s = aux[mask] if mask.sum() > 1 else aux
            fitted = Standardize.fit(aux_s, (0,))
            self.aux_norm.mean.copy_(fitted.mean)
            self.aux_norm.std.copy_(fitted.std)

    def forward(self, x: torch.Tensor, aux: torch.Tensor | None, mask: torch.Tensor,
                augmented: bool = False) -> torch.Tensor:
        x = self.x_norm(x) * mask.view(-1, *([1] * (x.ndim - 1)))
        if aux is not None and self.spec.aux_dim:
            aux = self.aux_norm(aux) * mask.view(-1, 1)
        if augmented:
            x = augment(x, self.augment_cfg)
            if aux is not None and self.spec.aux_dim:
                aux = augment_vector(aux, self.augment_cfg)
        if self.flatten:
            x = x.reshape(x.shape[0], -1)
        return self.net(x, aux)
