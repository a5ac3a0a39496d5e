"""Embeddings of one method on Manhattan-180 (seed 0, 20 + 20 epochs) saved for comparison,
e.g. the old `cookie` at commit 39c5b15 against today's `cookie_paper`.

    PYTHONPATH=OLD_TREE/src python benchmarks/defaults/paper_identity.py cookie old.npy
    python benchmarks/defaults/paper_identity.py cookie_paper new.npy
    python -c "import numpy as np; print(abs(np.load('old.npy') - np.load('new.npy')).max())"
"""

from __future__ import annotations

import logging
import sys

import numpy as np
from common import manhattan

from cookie.training.embedder import CookieEmbedder

logging.disable(logging.WARNING)
ds = manhattan()
model = CookieEmbedder.from_config(ds.config, name=sys.argv[1], seed=0, epochs=20)
z = model.fit(ds).transform(ds).to_numpy()
np.save(sys.argv[2], z)
print(sys.argv[1], z.shape)
