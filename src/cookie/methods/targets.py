"""Relational targets: how regions relate inside a view, the task proxy y of relational methods.

For a set of views S (one view for a unique block, a pair or subset for a shared block), the
relational target of every region is its row of kernel-PCA coordinates of the views' similarity
structure (see docs/method.md, "Relational task proxy"):

    x_S(r)   the region's standardized inputs of the views in S, concatenated
    K_S      RBF kernel, K(r, q) = exp(-||x_S(r) - x_S(q)||^2 / med), med = median squared
             distance between regions (the median heuristic: no bandwidth to tune); the
             option `kernel` swaps it for the mean of RBF kernels at 0.5, 1 and 2 x med
             (`multiscale`), exp(-||x_S(r) - x_S(q)|| / sqrt(med)) (`laplacian`) or the
             mean of the RBF and the linear kernel x_S(r) . x_S(q) / d_S (`rbf_linear`)
    T_S      top-k kernel-PCA coordinates of the centred kernel: T_S T_S^T ~ H K_S H

A block trained to predict T_S carries the similarity structure in a form a linear probe can
read (a ridge on T_S is kernel ridge regression on K_S restricted to its top-k components).
Beyond `landmarks` regions the coordinates come from the Nystroem approximation on a random
landmark subset, so memory is O(n * landmarks) instead of O(n^2).
"""

from __future__ import annotations

import torch


def median_sq_distance(x: torch.Tensor, sample: int = 2048, seed: int = 0) -> float:
    """Median squared Euclidean distance between distinct rows (on a row sample if large)."""
    n = x.shape[0]
    if n > sample:
        gen = torch.Generator().manual_seed(seed)
        x = x[torch.randperm(n, generator=gen)[:sample]]
    d2 = torch.cdist(x, x).pow(2)
    upper = d2[torch.triu(torch.ones_like(d2, dtype=torch.bool), diagonal=1)]
    med = float(upper.median()) if upper.numel() else 0.0
    return med if med > 0 else 1.0


def rbf_kernel(a: torch.Tensor, b: torch.Tensor, bandwidth: float) -> torch.Tensor:
    """exp(-||a_i - b_j||^2 / bandwidth)."""
    return torch.exp(-torch.cdist(a, b).pow(2) / bandwidth)


#: the similarity measures a relational target can decompose (`kernel`, docs/method.md)
KERNELS = ("rbf", "multiscale", "laplacian", "rbf_linear")


def similarity(a: torch.Tensor, b: torch.Tensor, bandwidth: float,
               kind: str = "rbf") -> torch.Tensor:
    """The kernel ``kind`` between the rows of ``a`` and ``b``, scaled by ``bandwidth`` (the
    median squared distance): `rbf` exp(-d^2 / bw), `multiscale` the mean of the RBF kernels
    at 0.5, 1 and 2 x bw, `laplacian` exp(-d / sqrt(bw)), `rbf_linear` the mean of the RBF and
    the linear kernel a . b / (number of columns)."""
    if kind == "rbf":
        return rbf_kernel(a, b, bandwidth)
    d2 = torch.cdist(a, b).pow(2)
    if kind == "multiscale":
        return torch.stack([torch.exp(-d2 / (f * bandwidth)) for f in (0.5, 1.0, 2.0)]).mean(0)
    if kind == "laplacian":
        return torch.exp(-(d2 / bandwidth).sqrt())
    if kind == "rbf_linear":
        return (torch.exp(-d2 / bandwidth) + a @ b.T / a.shape[1]) / 2
    raise ValueError(f"unknown kernel {kind!r}: expected one of {', '.join(KERNELS)}")


def centred_kernel(kern: torch.Tensor) -> torch.Tensor:
    """H K H for a symmetric kernel matrix K (H the centring matrix)."""
    row = kern.mean(0, keepdim=True)
    return kern - row - row.T + kern.mean()


def landmark_rows(x: torch.Tensor, landmarks: int, seed: int) -> torch.Tensor:
    """The Nystroem landmarks: ``landmarks`` rows of ``x`` drawn with a generator seeded with
    ``seed`` (the same rows for the coordinates and the spectrum)."""
    gen = torch.Generator().manual_seed(seed)
    return x[torch.randperm(x.shape[0], generator=gen)[:landmarks]]


def kernel_pca_coordinates(x: torch.Tensor, k: int, landmarks: int = 2048,
                           seed: int = 0, kind: str = "rbf") -> torch.Tensor:
    """(n, k) kernel-PCA coordinates of the median-heuristic kernel ``kind`` (`similarity`)
    of the rows of ``x``.

    Exact (eigen-decomposition of the centred n x n kernel) for n <= ``landmarks``; otherwise the
    Nystroem extension from ``landmarks`` random rows. Columns are ordered by decreasing
    eigenvalue, each signed so that its largest-magnitude entry is positive (deterministic);
    columns beyond the kernel's rank are zeros.
    """
    x = x.to(torch.float64)
    n = x.shape[0]
    bandwidth = median_sq_distance(x, seed=seed)
    if n <= landmarks:
        return kernel_matrix_coordinates(similarity(x, x, bandwidth, kind), k)
    z = landmark_rows(x, landmarks, seed)
    kmm = similarity(z, z, bandwidth, kind)
    col = kmm.mean(0, keepdim=True)
    w, u = torch.linalg.eigh(centred_kernel(kmm))
    w, u = w.flip(0)[:k], u.flip(1)[:, :k]
    keep = w > 1e-9 * max(float(w[0]), 1e-300)
    parts = []
    for start in range(0, n, 8192):  # bounded memory: one chunk of the n x m kernel
        knm = similarity(x[start:start + 8192], z, bandwidth, kind)
        knm = knm - knm.mean(1, keepdim=True) - col + kmm.mean()
        parts.append(knm @ (u[:, keep] / w[keep].sqrt()))
    coords = torch.cat(parts)  # T T^T = K_nm K_mm^-1 K_mn ~ K (Nystroem)
    return signed_coordinates(coords - coords.mean(0, keepdim=True), k)


def kernel_matrix_coordinates(kern: torch.Tensor, k: int) -> torch.Tensor:
    """(n, k) kernel-PCA coordinates of an n x n kernel matrix: the exact eigen-decomposition
    of the centred kernel, ordered and signed as `signed_coordinates` says."""
    w, u = torch.linalg.eigh(centred_kernel(kern))
    w, u = w.flip(0)[:k].clamp_min(0), u.flip(1)[:, :k]
    return signed_coordinates(u * w.sqrt(), k)


def signed_coordinates(coords: torch.Tensor, k: int) -> torch.Tensor:
    """``coords`` padded with zero columns to ``k``, each column signed so that its
    largest-magnitude entry is positive (deterministic), as float32."""
    if coords.shape[1] < k:
        coords = torch.cat([coords, coords.new_zeros(coords.shape[0], k - coords.shape[1])], 1)
    sign = torch.sign(coords.gather(0, coords.abs().argmax(0, keepdim=True)))
    sign[sign == 0] = 1
    return (coords * sign).to(torch.float32)


#: what an image view's similarity is measured on (`image_inputs`, docs/method.md)
IMAGE_INPUTS = ("stats", "quantiles")
#: the in-region pixel quantiles of `pixel_statistics`, per band
PIXEL_QUANTILES = (0.1, 0.25, 0.5, 0.75, 0.9)


def standardized_columns(a: torch.Tensor) -> torch.Tensor:
    """Every column centred and scaled to unit standard deviation; constant columns zero."""
    sd = a.std(0)
    return torch.where(sd > 0, (a - a.mean(0)) / torch.where(sd > 0, sd, 1.0), 0.0)


def pixel_statistics(chips: torch.Tensor) -> torch.Tensor:
    """(n, 6 C) per band of the (n, C, H, W) ``chips``: the 10, 25, 50, 75 and 90 % quantiles of
    the in-region (non-zero) pixels, then the texture t = the mean absolute difference between
    horizontally and vertically adjacent in-region pixels (the two directions averaged); zeros
    for a band without such pixels."""
    n, c = chips.shape[:2]
    x = chips.to(torch.float64)
    flat = x.reshape(n, c, -1)
    inside = torch.where(flat != 0, flat, torch.nan)
    cols = [torch.nan_to_num(inside.nanquantile(q, dim=2), nan=0.0) for q in PIXEL_QUANTILES]
    texture = []
    for a, b in ((x[..., :, 1:], x[..., :, :-1]), (x[..., 1:, :], x[..., :-1, :])):
        both = (a != 0) & (b != 0)
        texture.append(((a - b).abs() * both).flatten(2).sum(2)
                       / both.flatten(2).sum(2).clamp_min(1))
    cols.append((texture[0] + texture[1]) / 2)
    return torch.cat(cols, dim=1)


def relational_inputs(x: torch.Tensor, aux: torch.Tensor | None,
                      image_inputs: str = "quantiles") -> torch.Tensor | None:
    """The vector a view's similarity is measured on: its standardized features (vector views);
    for image views its per-region statistics ``aux`` (`stats`; None without them) or, with
    `quantiles`, ``aux`` and `pixel_statistics` of the chips, every column standardized."""
    if x.ndim == 2:
        return x
    has_aux = aux is not None and aux.shape[1] > 0
    if image_inputs == "stats":
        return aux if has_aux else None
    if image_inputs != "quantiles":
        raise ValueError(f"unknown image_inputs {image_inputs!r}: expected one of "
                         f"{', '.join(IMAGE_INPUTS)}")
    parts = ([aux.to(torch.float64)] if has_aux and aux is not None else []) + [
        pixel_statistics(x)]
    return standardized_columns(torch.cat(parts, dim=1)).to(x.dtype)


def block_target(inputs: list[torch.Tensor], mask: torch.Tensor, k: int, landmarks: int,
                 seed: int, kind: str = "rbf") -> torch.Tensor:
    """Relational target of one block: kernel-PCA coordinates of the concatenated inputs of its
    views, computed over the regions present in all of them (zeros elsewhere)."""
    x = torch.cat(inputs, dim=1)
    out = torch.zeros(x.shape[0], k)
    if int(mask.sum()) >= 2:
        out[mask] = kernel_pca_coordinates(x[mask], k, landmarks, seed, kind)
    return out


def kernel_spectrum(x: torch.Tensor, landmarks: int = 2048, seed: int = 0,
                    kind: str = "rbf") -> torch.Tensor:
    """Eigenvalues, in decreasing order and at least 0, of the centred median-heuristic
    kernel ``kind`` of the rows of ``x`` (what `kernel_pca_coordinates` decomposes); beyond
    ``landmarks`` rows, those of the kernel of a random landmark subset (Nystroem)."""
    x = x.to(torch.float64)
    bandwidth = median_sq_distance(x, seed=seed)
    if x.shape[0] > landmarks:
        x = landmark_rows(x, landmarks, seed)
    kern = similarity(x, x, bandwidth, kind)
    return torch.linalg.eigvalsh(centred_kernel(kern)).flip(0).clamp_min(0)


def participation_ratio(eigenvalues: torch.Tensor) -> float:
    """(sum of eigenvalues)^2 / sum of squared eigenvalues: the number of equal components
    the spectrum is worth (1 for a rank-1 kernel, n for a flat one); 1 for a zero kernel."""
    total, squares = float(eigenvalues.sum()), float(eigenvalues.pow(2).sum())
    return total * total / squares if squares > 0 else 1.0


def spectrum_widths(ratios: list[float], total: int) -> list[int]:
    """Block widths proportional to 1 / participation ratio, each at least 1, summing to
    ``total`` (largest remainders get the leftover units; ties to the earlier block)."""
    if total < len(ratios) or not ratios:
        raise ValueError(f"cannot split embedding size {total} into {len(ratios)} blocks")
    weights = [1.0 / max(r, 1e-12) for r in ratios]
    spare = total - len(ratios)  # one unit each first, then the rest by weight
    shares = [spare * w / sum(weights) for w in weights]
    widths = [1 + int(s) for s in shares]
    order = sorted(range(len(ratios)), key=lambda i: (-(shares[i] - int(shares[i])), i))
    for i in order[:total - sum(widths)]:
        widths[i] += 1
    return widths
