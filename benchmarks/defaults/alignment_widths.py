"""Block widths that also weigh how much a block's similarity structure agrees with the other
blocks', probed on the targets with no training (Manhattan-180, seed 0), next to the equal and
the shipped-option (1 / participation ratio) widths. An evaluation-fold look, disclosed in
defaults.md; nothing ships from it.

`spectrum` widths follow 1 / PR alone, blind to whether a block's structure is shared with the
rest of the data: a smooth, low-dimensional view that relates to nothing else still gets a wide
block (Olinda's elevation). The rules below were written down before this script first ran:

- a_b = mean centred kernel alignment (CKA) of block b's target kernel with every other block's;
- widths proportional to a_b;
- widths proportional to a_b / PR_b;
- widths proportional to 1 / sqrt(PR_b) (half way, in logs, between equal and `spectrum`).

    cd benchmarks/defaults && python alignment_widths.py
    cd benchmarks/defaults && python alignment_widths.py ../olinda/olinda_greenness.toml

With a CONFIG, the dataset's own evaluation scores each set of targets (robust and spatial
protocols, ridge and forest), as its benchmark script scores an embedding.
"""

from __future__ import annotations

import logging
import sys

import numpy as np
from common import dataset_or_manhattan, feature_probes

from cookie.nn.basis import rotate_blocks
from cookie.training.embedder import CookieEmbedder

logging.disable(logging.WARNING)
TOTAL = 512

ds = dataset_or_manhattan(sys.argv[1] if len(sys.argv) > 1 else None)


def probes(x: np.ndarray) -> str:
    return feature_probes(ds, x, own_evaluation=len(sys.argv) > 1)


m = len(ds.config.views)
full_dim = (m + m * (m - 1) // 2) * len(ds.labels)  # every block's full spectrum
if len(sys.argv) > 1:
    model = CookieEmbedder.from_config(ds.config, name="cookie", seed=0, pretrain_epochs=0,
                                       epochs=1, embedding_dim=full_dim).fit(ds)
else:
    model = CookieEmbedder(name="cookie", seed=0, pretrain_epochs=0, epochs=1,
                           embedding_dim=1800).fit(ds)  # every block's full spectrum (N = 180)
o = model.objective_
full = {k: o.targets[k].double() for k in o.target_blocks()}
names = list(full)


def cka(a, b) -> float:
    """Alignment of the linear kernels of two centred coordinate sets."""
    cross = (a.T @ b).pow(2).sum()
    return float(cross / ((a.T @ a).pow(2).sum().sqrt() * (b.T @ b).pow(2).sum().sqrt()))


eig = {k: t.pow(2).sum(0).numpy() for k, t in full.items()}
ratio = {k: e.sum() ** 2 / (e ** 2).sum() for k, e in eig.items()}
align = {k: float(np.mean([cka(full[k], full[j]) for j in names if j != k])) for k in names}
for k in names:
    print(f"{k}: PR {ratio[k]:.1f}, mean CKA with the other blocks {align[k]:.3f}")


def widths(measure: dict[str, float]) -> dict[str, int]:
    total = sum(measure.values())
    return {k: max(1, round(TOTAL * v / total)) for k, v in measure.items()}


rules = {
    "equal widths": {k: TOTAL // len(names) for k in names},
    "1 / PR (the spectrum option)": widths({k: 1 / ratio[k] for k in names}),
    "mean CKA": widths(align),
    "mean CKA / PR": widths({k: align[k] / ratio[k] for k in names}),
    "1 / sqrt(PR)": widths({k: ratio[k] ** -0.5 for k in names}),
}
for label, w in rules.items():
    x = rotate_blocks([full[k][:, :w[k]].float() for k in names]).numpy()
    print(label, [w[k] for k in names], probes(x), flush=True)
