"""cookie: multimodal region embeddings with CooKIE, and honest evaluation."""

from __future__ import annotations

import os

# OpenMP threads that spin while waiting make every small torch operation crawl when the cores
# are shared with other work (one training step went from 0.25 s to 17 s); waiting passively
# costs nothing measurable when the machine is idle. Set before torch loads its runtime.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

__version__ = "0.1.0"

__all__ = ["__version__"]
