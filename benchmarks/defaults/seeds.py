"""Fit one method on Manhattan-180 over a few seeds; print each seed's literature R2 and the mean.

    python benchmarks/defaults/seeds.py METHOD "flow_weight=0,context='none'" 1,2

The second argument is keyword settings of `CookieEmbedder` (may be empty: ""); the third the
seeds. The checks of defaults.md that compare a setting over seeds ran this loop.
"""

from __future__ import annotations

import ast
import logging
import sys

import numpy as np
from common import literature_r2, manhattan

from cookie.training.embedder import CookieEmbedder

logging.disable(logging.WARNING)
method = sys.argv[1]
settings = {k: ast.literal_eval(v) for k, v in
            (kv.split("=") for kv in (sys.argv[2].split(",") if sys.argv[2] else []))}
seeds = [int(s) for s in sys.argv[3].split(",")]
ds = manhattan()
rows = []
for seed in seeds:
    z = CookieEmbedder(name=method, seed=seed, **settings).fit(ds).transform(ds).to_numpy()
    rows.append(literature_r2(ds, z))
    print(method, settings, seed, rows[-1], flush=True)
print("mean", np.round(np.mean(rows, 0), 3))
