"""Per-view encoders: an MLP for vector views, a small CNN for image-like views."""

from __future__ import annotations

import torch
from torch import nn


def mlp(in_dim: int, hidden: int, out_dim: int, dropout: float = 0.0) -> nn.Sequential:
    """Two-layer perceptron with LayerNorm and GELU."""
    return nn.Sequential(
        nn.Linear(in_dim, hidden),
        nn.LayerNorm(hidden),
        nn.GELU(),
        nn.Dropout(dropout),
        nn.Linear(hidden, out_dim),
    )


class Standardize(nn.Module):
    """Fixed per-feature standardization fitted on the training data (stored as buffers)."""

    mean: torch.Tensor
    std: torch.Tensor

    def __init__(self, mean: torch.Tensor, std: torch.Tensor) -> None:
        super().__init__()
        self.register_buffer("mean", mean.clone().float())
        self.register_buffer("std", std.clone().float().clamp_min(1e-6))

    @classmethod
    def fit(cls, x: torch.Tensor, dims: tuple[int, ...]) -> Standardize:
        return cls(x.mean(dim=dims, keepdim=True)[0], x.std(dim=dims, keepdim=True)[0])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std


class MLPEncoder(nn.Module):
    """Vector view encoder: a two-layer MLP on the (already standardized, see
    `cookie.nn.view_encoder.ViewEncoder`) features."""

    def __init__(self, in_dim: int, hidden: int, out_dim: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.in_dim = in_dim
        self.net = mlp(in_dim, min(hidden, max(4 * in_dim, 32)), out_dim, dropout)

    def forward(self, x: torch.Tensor, aux: torch.Tensor | None = None) -> torch.Tensor:
        return self.net(x)


class CNNEncoder(nn.Module):
    """Image view encoder: three conv blocks, global average pooling, optional aux stats."""

    def __init__(self, in_channels: int, out_dim: int, aux_dim: int = 0, width: int = 32,
                 hidden: int = 128, dropout: float = 0.0) -> None:
        super().__init__()

        def block(i: int, o: int) -> nn.Sequential:
            return nn.Sequential(nn.Conv2d(i, o, 3, padding=1), nn.GroupNorm(4, o), nn.GELU())

        self.features = nn.Sequential(
            block(in_channels, width), nn.MaxPool2d(2),
            block(width, 2 * width), nn.MaxPool2d(2),
            block(2 * width, 2 * width), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
        )
        self.aux_dim = aux_dim
        self.head = mlp(2 * width + aux_dim, hidden, out_dim, dropout)

    def forward(self, x: torch.Tensor, aux: torch.Tensor | None = None) -> torch.Tensor:
        h = self.features(x)
        if self.aux_dim:
            assert aux is not None, "this encoder needs the per-region statistics"
            h = torch.cat([h, aux], dim=1)
        return self.head(h)
