"""The check behind the rotated output basis (defaults.md, docs/method.md "Output basis"):
`cookie` fitted once per seed on Manhattan-180, its embedding read in the heads' coordinates
and in the rotated basis (the same fit), scored by the literature probe and the robust ridge
and forest. An evaluation-fold look, disclosed.

    cd benchmarks/defaults && python basis.py 0,1,2
"""

from __future__ import annotations

import logging
import sys

import numpy as np
from common import manhattan, three_probes

from cookie.training.embedder import CookieEmbedder

logging.disable(logging.WARNING)
ds = manhattan()



rows: dict[str, list[np.ndarray]] = {"heads": [], "rotated": []}
for seed in (int(s) for s in sys.argv[1].split(",")):
    model = CookieEmbedder(name="cookie", seed=seed, basis="heads").fit(ds)
    for basis in rows:
        model.objective_.basis_kind = basis
        z = model.transform(ds).to_numpy()
        rows[basis].append(three_probes(ds, z))
        print(basis, seed, "literature", rows[basis][-1][:3], "robust ridge",
              rows[basis][-1][3:6], "robust forest", rows[basis][-1][6:], flush=True)
for basis, r in rows.items():
    mean = np.round(np.mean(r, 0), 3)
    print("mean", basis, "literature", mean[:3], "robust ridge", mean[3:6], "robust forest",
          mean[6:])
