"""Whether seed noise limits the embedding: the three probes of each of 5 seeds' `cookie`
embeddings on Manhattan-180, and of their mean (the blocks of every seed predict the same
relational targets in the same fixed basis, so the embeddings are aligned and can be averaged).
An evaluation-fold look, disclosed in defaults.md; nothing ships from it.

    cd benchmarks/defaults && python seed_mean.py
"""

from __future__ import annotations

import logging

import numpy as np
from common import manhattan, three_probes

from cookie.training.embedder import CookieEmbedder

logging.disable(logging.WARNING)
ds = manhattan()
embeddings = [CookieEmbedder(name="cookie", seed=s).fit_transform(ds).to_numpy()
              for s in range(5)]
for seed, z in enumerate(embeddings):
    print("seed", seed, three_probes(ds, z), flush=True)
print("mean of the 5 seeds' embeddings", three_probes(ds, np.mean(embeddings, 0)), flush=True)
print("mean of seeds 0 and 1", three_probes(ds, np.mean(embeddings[:2], 0)), flush=True)
