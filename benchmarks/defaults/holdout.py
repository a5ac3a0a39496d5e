"""Budget selection on held-out regions (`holdout`), Manhattan-180: the epoch it picks, and the
literature R2 of a fit on every region for that many joint epochs.

    python benchmarks/defaults/holdout.py [SEEDS]       # default 0,1,2,3,4

Per seed: `holdout = 0.1` over the default 100 joint epochs gives t* (the epoch with the lowest
held-out stage-2 loss S) and S at epochs 1, t* and 100; then a fit with no hold-out and
`epochs = t*` is scored. The embedding of the held-out run itself is scored by
`seeds.py cookie "holdout=0.1" 0,1,2,3,4`.
"""

from __future__ import annotations

import logging
import sys

import numpy as np
from common import literature_r2, manhattan

from cookie.training.embedder import CookieEmbedder

logging.disable(logging.WARNING)
seeds = [int(s) for s in (sys.argv[1] if len(sys.argv) > 1 else "0,1,2,3,4").split(",")]
ds = manhattan()
rows = []
for seed in seeds:
    selected = CookieEmbedder(seed=seed, holdout=0.1).fit(ds)
    t, history = selected.selected_epoch_, selected.holdout_history_
    z = CookieEmbedder(seed=seed, epochs=t).fit(ds).transform(ds).to_numpy()
    rows.append(literature_r2(ds, z))
    print(seed, "t*", t, "S(1)", round(history[1], 3), "S(t*)", round(history[t], 3),
          "S(100)", round(history[100], 3), "refit for t* epochs:", rows[-1], flush=True)
print("mean", np.round(np.mean(rows, 0), 3))
