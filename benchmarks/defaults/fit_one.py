"""Fit one method on Manhattan-180 (seed 0) and print its literature R2 and final terms.

    python benchmarks/defaults/fit_one.py METHOD "epochs=300" [TAG]

The second argument is keyword settings of `CookieEmbedder`; with TAG the embedding is saved
to runs/defaults/Z_TAG.npy (for scale.py).
"""

from __future__ import annotations

import ast
import logging
import sys
import time
from pathlib import Path

import numpy as np
from common import literature_r2, manhattan

from cookie.training.embedder import CookieEmbedder

logging.disable(logging.WARNING)
method = sys.argv[1]
settings = {k: ast.literal_eval(v) for k, v in
            (kv.split("=") for kv in (sys.argv[2].split(",") if len(sys.argv) > 2 else []))}
ds = manhattan()
start = time.time()
model = CookieEmbedder.from_config(ds.config, name=method, seed=0, **settings).fit(ds)
z = model.transform(ds).to_numpy()
if len(sys.argv) > 3:
    Path("runs/defaults").mkdir(parents=True, exist_ok=True)
    np.save(f"runs/defaults/Z_{sys.argv[3]}.npy", z)
print(method, settings, literature_r2(ds, z), f"{time.time() - start:.1f}s")
totals: dict[str, float] = {}
for key, value in model.final_terms_.items():
    totals[key.split("/")[0]] = totals.get(key.split("/")[0], 0.0) + value
print({k: round(v, 3) for k, v in totals.items()})
