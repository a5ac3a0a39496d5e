"""cookie: multimodal region embeddings with CooKIE, and honest evaluation."""

from __future__ import annotations

import os

# OpenMP threads that spin while waiting make every small torch operation crawl when the cores
# are shared with other work (one training step went from 0.25 s to 17 s); waiting passively
# costs nothing measurable when the machine is idle. Set before torch loads its runtime.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

__version__ = "0.1.0"

__all__ = ["__version__", "similar_regions", "urban_types"]


def __getattr__(name: str):
    """`cookie.similar_regions` and `cookie.urban_types`, imported on first use (so that
    `import cookie` stays light)."""
    if name in ("similar_regions", "urban_types"):
        from cookie.evaluation import analysis

        return getattr(analysis, name)
    raise AttributeError(f"module 'cookie' has no attribute {name!r}")
