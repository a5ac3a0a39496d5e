"""`raw`: no learning, the featurized views standardized and concatenated (a baseline).

Per view the vector features (image views: their per-region statistics ``aux`` when they have
them, else the flattened pixels; with ``image_inputs = "quantiles"`` also the pixel statistics
of `cookie.methods.targets.pixel_statistics`, the inputs the learned methods' targets then
see), standardized with the mean and standard deviation (ddof 1;
a constant column keeps scale 1) over the regions that have the view. A region missing from a
view gets zeros in that view's columns (the standardized value of "no information"), as the
learned methods' encoders see it (see docs/method.md, "A missing view").
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from cookie.features.view import ViewData, ViewSpec
from cookie.methods.targets import PIXEL_QUANTILES, pixel_statistics

Batch = dict[str, Any]


def _width(spec: ViewSpec, pixel_stats: bool) -> int:
    base = spec.aux_dim if spec.is_image and spec.aux_dim else int(np.prod(spec.input_shape))
    extra = len(PIXEL_QUANTILES) + 1  # the quantiles and the texture, per band
    return base + (extra * spec.input_shape[0] if spec.is_image and pixel_stats else 0)


def _features(spec: ViewSpec, x: torch.Tensor, aux: torch.Tensor | None,
              pixel_stats: bool) -> np.ndarray:
    """One view's raw columns for a batch: vector features, or an image view's statistics
    (else its flattened pixels), then its pixel statistics with ``pixel_stats``."""
    flat = aux if spec.is_image and spec.aux_dim and aux is not None else x
    flat = flat.reshape(len(flat), -1)
    if spec.is_image and pixel_stats:
        flat = torch.cat([flat.to(torch.float64), pixel_statistics(x)], dim=1)
    return flat.numpy().astype(np.float32)


class RawViews(nn.Module):
    """The standardized concatenation of the views; ``mean`` / ``std`` are its only state."""

    #: nothing to train: `fit_statistics` is the whole fit
    uses_pretraining = False

    def __init__(self, specs: list[ViewSpec], cfg: Any = None, augments: Any = None,
                 encoders: Any = None) -> None:
        super().__init__()
        self.specs = list(specs)
        self.names = [s.name for s in self.specs]
        self.pixel_stats = getattr(cfg, "image_inputs", "quantiles") == "quantiles"
        self.widths = [_width(s, self.pixel_stats) for s in self.specs]
        width = sum(self.widths)
        self.mean: torch.Tensor
        self.std: torch.Tensor
        self.register_buffer("mean", torch.zeros(width, dtype=torch.float32))
        self.register_buffer("std", torch.ones(width, dtype=torch.float32))

    def frame(self, views: dict[str, ViewData]) -> pd.DataFrame:
        """The views' raw columns side by side (as `embed` computes them, unstandardized)."""
        parts = []
        for spec in self.specs:
            v = views[spec.name]
            aux = torch.from_numpy(np.array(v.aux)) if v.aux is not None else None
            values = torch.from_numpy(np.array(v.values))  # a writable copy
            cols = _features(spec, values, aux, self.pixel_stats)
            parts.append(pd.DataFrame(cols, index=v.region_ids).add_prefix(f"{spec.name}:"))
        return pd.concat(parts, axis=1)

    def fit_statistics(self, views: dict[str, ViewData]) -> None:
        frame = self.frame({n: views[n] for n in self.names})
        present = np.concatenate([np.repeat(views[n].mask[:, None], w, axis=1)
                                  for n, w in zip(self.names, self.widths, strict=True)], axis=1)
        if not present.all():  # regions missing from a view are left out of its statistics
            frame = frame.where(present)
        self.mean.copy_(torch.tensor(frame.mean().to_numpy(np.float32)))
        self.std.copy_(torch.tensor(frame.std().replace(0, 1).fillna(1).to_numpy(np.float32)))

    def embed(self, batch: Batch) -> torch.Tensor:
        """Standardized features of a batch (`_view_batch` rows); zeros where a region lacks
        the view (its mask is false: missing, or the view dropped)."""
        mean, std = self.mean.numpy(), self.std.numpy()
        parts, start = [], 0
        for spec, width in zip(self.specs, self.widths, strict=True):
            x, aux, mask = batch[spec.name]
            flat = _features(spec, x, aux, self.pixel_stats)
            z = (flat - mean[start:start + width]) / std[start:start + width]
            m = mask.numpy()
            if not m.all():
                z = np.where(m[:, None], z, 0.0).astype(z.dtype)
            parts.append(z)
            start += width
        return torch.from_numpy(np.concatenate(parts, axis=1))

    @property
    def embedding_dim(self) -> int:
        return int(sum(self.widths))
