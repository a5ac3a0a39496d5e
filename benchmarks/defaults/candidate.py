"""A setting picked by the nested selection (`cookie tune`), read on Manhattan-180's evaluation
folds with all three probes before it is adopted, next to the shipped default (same seeds).

    cd benchmarks/defaults && python candidate.py "relational_weight=10" 0,1,2,3,4

The first argument is keyword settings of `CookieEmbedder`, the second the seeds, an optional
third the method (default `cookie`). This is a
disclosed look (defaults.md): the decision to adopt the setting was taken from the inner folds
before this ran, and this output does not change it.
"""

from __future__ import annotations

import ast
import logging
import sys

from common import manhattan, seed_rows

from cookie.training.embedder import CookieEmbedder

logging.disable(logging.WARNING)
settings = {k: ast.literal_eval(v) for k, v in (kv.split("=") for kv in sys.argv[1].split(","))}
seeds = [int(s) for s in sys.argv[2].split(",")]
method = sys.argv[3] if len(sys.argv) > 3 else "cookie"
ds = manhattan()
for label, kwargs in (("shipped", {}), (sys.argv[1], settings)):
    seed_rows(label, ds, seeds, lambda seed, kw=kwargs: CookieEmbedder(
        name=method, seed=seed, **kw).fit_transform(ds).to_numpy())
