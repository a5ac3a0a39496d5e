"""Stochastic augmentations x -> x' (the self-supervised stand-in for the task y).

Vector views (standardized inputs): Gaussian noise, feature dropout, per-feature scaling,
mixing with another region of the batch. Image views: random flips, 90-degree rotations,
random crops resized back to the full size, and Gaussian noise. All randomness comes from
torch's global generator, which training reseeds from (seed, epoch) at every epoch start, so
a seed fixes every draw, and a run resumed from a checkpoint draws what an uninterrupted one
would.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class Augmentation:
    """One view's augmentation settings (validated as `cookie.config.AugmentConfig`, same
    fields and defaults): noise std, feature dropout probability, per-feature scale range,
    batch mixing weight; for images flips, 90-degree rotations and the crop fraction."""

    noise: float = 0.1
    dropout: float = 0.1
    scale: float = 0.1
    mix: float = 0.0
    flip: bool = True
    rotate: bool = True
    crop: float = 0.1


def augment_vector(x: torch.Tensor, cfg: Augmentation) -> torch.Tensor:
    out = x
    if cfg.scale > 0:
        out = out * (1 + (torch.rand_like(out) * 2 - 1) * cfg.scale)
    if cfg.mix > 0 and len(out) > 1:
        perm = torch.randperm(len(out), device=out.device)
        lam = torch.rand(len(out), 1, device=out.device) * cfg.mix
        out = (1 - lam) * out + lam * out[perm]
    if cfg.noise > 0:
        out = out + torch.randn_like(out) * cfg.noise
    if cfg.dropout > 0:
        keep = (torch.rand_like(out) >= cfg.dropout).to(out.dtype)
        out = out * keep
    return out


def random_crop_resize(x: torch.Tensor, max_crop: float) -> torch.Tensor:
    """Crop each image to a random window of side (1 - c) with c in [0, max_crop], resize back."""
    n = x.shape[0]
    scale = 1 - torch.rand(n, device=x.device) * max_crop
    shift = (torch.rand(n, 2, device=x.device) * 2 - 1) * (1 - scale)[:, None]
    theta = torch.zeros(n, 2, 3, device=x.device, dtype=x.dtype)
    theta[:, 0, 0] = scale
    theta[:, 1, 1] = scale
    theta[:, :, 2] = shift
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def augment_image(x: torch.Tensor, cfg: Augmentation) -> torch.Tensor:
    out = x
    n = out.shape[0]
    if cfg.flip:
        flip = torch.rand(n, device=out.device) < 0.5
        out = torch.where(flip[:, None, None, None], out.flip(-1), out)
    if cfg.rotate and out.shape[-1] == out.shape[-2]:
        k = torch.randint(0, 4, (n,), device=out.device)
        rotated = torch.stack([torch.rot90(out, int(r), dims=(-2, -1)) for r in range(4)])
        out = rotated[k, torch.arange(n, device=out.device)]
    if cfg.crop > 0:
        out = random_crop_resize(out, cfg.crop)
    if cfg.noise > 0:
        out = out + torch.randn_like(out) * cfg.noise
    return out


def augment(x: torch.Tensor, cfg: Augmentation) -> torch.Tensor:
    """Augment a batch of one view (vector or image)."""
    return augment_image(x, cfg) if x.ndim == 4 else augment_vector(x, cfg)
