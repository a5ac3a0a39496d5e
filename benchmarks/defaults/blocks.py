"""What each block of the default `cookie` embedding carries on Manhattan-180 (seed 0): every
unique and shared block probed alone, then the embedding without the blocks of the satellite
view; literature and robust R2. An evaluation-fold look, disclosed in defaults.md; nothing
ships from it.
The embedding is read in the heads' coordinates (`basis = "heads"`), as when it was run,
before the rotated output basis became the default.

    cd benchmarks/defaults && python blocks.py
"""

from __future__ import annotations

import logging

import numpy as np
from common import literature_r2, manhattan, robust_r2

from cookie.nn.heads import block_sizes
from cookie.training.embedder import CookieEmbedder

logging.disable(logging.WARNING)
ds = manhattan()
model = CookieEmbedder(name="cookie", seed=0, basis="heads").fit(ds)
z = model.transform(ds).to_numpy()
names = list(model.objective_.names)
blocks = [(n,) for n in names] + list(model.objective_.pairs)
edges = np.cumsum([0, *block_sizes(z.shape[1], len(blocks))])
columns = {b: np.arange(edges[i], edges[i + 1]) for i, b in enumerate(blocks)}



def show(label: str, keep: list[tuple[str, ...]]) -> None:
    x = z[:, np.concatenate([columns[b] for b in keep])]
    print(f"{label} ({x.shape[1]} dims): literature {literature_r2(ds, x)} robust ridge "
          f"{robust_r2(ds, x, 'ridge_cv')} robust forest "
          f"{robust_r2(ds, x, 'random_forest')}", flush=True)


show("whole embedding", blocks)
for b in blocks:
    show(("unique " if len(b) == 1 else "shared ") + " x ".join(b), [b])
show("without the satellite blocks", [b for b in blocks if "satellite" not in b])
