"""Other kernels for the relational targets, probed as features with no training (seed 0), next
to the shipped RBF. An evaluation-fold look, disclosed in defaults.md; nothing ships from it.

The shipped target of a block is the kernel-PCA coordinates of one RBF kernel at the median
heuristic. session 9 found that a narrower bandwidth (0.5 x median) helps check-in and a wider
one (2 x median) crime and service calls (target_variants.py). The kernels below were written
down, with their constants, before this script first ran; none has a setting to tune:

- multiscale: the mean of the RBF kernels at 0.5, 1 and 2 x the median squared distance
  (a sum of kernels is a kernel; it holds both the local and the broad similarity structure);
- laplacian: exp(-||x - y|| / median distance) (heavier tails than the RBF: far regions keep
  some similarity, near ones are told apart more sharply);
- cosine: the normalized linear kernel x.y / (|x| |y|) of the standardized inputs (the
  region-similarity matrices of MVURE and HAFusion are cosine similarities).

Every kernel is read in the shipped rotated basis, at the shipped equal widths.

    cd benchmarks/defaults && python kernel_variants.py
    cd benchmarks/defaults && python kernel_variants.py ../olinda/olinda_population.toml

With a CONFIG, the dataset's own evaluation scores each set of targets (robust and spatial
protocols, ridge and forest), as its benchmark script scores an embedding.
"""

from __future__ import annotations

import sys
from collections.abc import Callable

import torch
from common import probe_patched_targets

import cookie.methods.targets as targets


def cosine(x: torch.Tensor) -> torch.Tensor:
    unit = x / x.norm(dim=1, keepdim=True).clamp_min(1e-12)
    return unit @ unit.T


def exact(kernel: Callable[[torch.Tensor], torch.Tensor]) -> Callable:
    """`kernel_pca_coordinates` (exact branch: every dataset here has fewer than 2048 regions)
    with a kernel the package does not have (its `kind` is ignored)."""
    def coordinates(x: torch.Tensor, k: int, landmarks: int = 2048, seed: int = 0,
                    kind: str = "rbf"):
        assert x.shape[0] <= landmarks
        return targets.kernel_matrix_coordinates(kernel(x.to(torch.float64)), k)
    return coordinates


if __name__ == "__main__":
    # multiscale and laplacian are the package's option `kernel` (built after this probe, with
    # the same kernels); cosine, not built, is patched in
    probe_patched_targets(sys.argv[1] if len(sys.argv) > 1 else None,
                          [("shipped RBF", None, "rbf"), ("multiscale", None, "multiscale"),
                           ("laplacian", None, "laplacian"), ("cosine", exact(cosine), "rbf")])
