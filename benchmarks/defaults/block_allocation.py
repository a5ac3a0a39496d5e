"""How the embedding's width is shared among its blocks, probed on the targets with no
training (Manhattan-180, seed 0): every block gets the same width today (512 / 10 at M = 4);
against widths proportional to a label-free measure of each block kernel's size, its
participation ratio (sum of eigenvalues)^2 / sum of squared eigenvalues, or the number of
components holding 90% of its variance. Each set of targets is read in the rotated basis. An
evaluation-fold look, disclosed in defaults.md; nothing ships from it.

    cd benchmarks/defaults && python block_allocation.py
"""

from __future__ import annotations

import logging

import numpy as np
from common import manhattan, three_probes

from cookie.nn.basis import rotate_blocks
from cookie.training.embedder import CookieEmbedder

logging.disable(logging.WARNING)
TOTAL = 512

ds = manhattan()
model = CookieEmbedder(name="cookie", seed=0, pretrain_epochs=0, epochs=1,
                       embedding_dim=1800).fit(ds)  # every block's full spectrum (N = 180)
o = model.objective_
full = {k: o.targets[k] for k in o.target_blocks()}
eig = {k: t.pow(2).sum(0).numpy() for k, t in full.items()}  # column energies = eigenvalues
ratio = {k: e.sum() ** 2 / (e ** 2).sum() for k, e in eig.items()}
count90 = {k: int(np.searchsorted(np.cumsum(e) / e.sum(), 0.9) + 1) for k, e in eig.items()}
for k in full:
    print(f"{k}: participation ratio {ratio[k]:.1f}, components for 90% {count90[k]}")


def widths(measure: dict[str, float]) -> dict[str, int]:
    total = sum(measure.values())
    return {k: max(1, round(TOTAL * v / total)) for k, v in measure.items()}


for label, w in (("equal widths", {k: TOTAL // len(full) for k in full}),
                 ("widths by participation ratio", widths(ratio)),
                 ("widths by 90% count", widths(count90))):
    x = rotate_blocks([full[k][:, :w[k]] for k in full]).numpy()
    print(label, [w[k] for k in full], three_probes(ds, x), flush=True)
inverse = widths({k: 1 / v for k, v in ratio.items()})
x = rotate_blocks([full[k][:, :inverse[k]] for k in full]).numpy()
print("widths by 1 / participation ratio", [inverse[k] for k in full], three_probes(ds, x),
      flush=True)
