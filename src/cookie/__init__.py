"""cookie: multimodal region embeddings with CooKIE, and honest evaluation.

The public API (imported on first use, so that ``import cookie`` and the command line stay
light)::

    from cookie import CookieEmbedder, load_config, load_dataset, evaluate_dataset

    ds = load_dataset("benchmarks/manhattan180/manhattan180.toml")
    model = CookieEmbedder.from_config(ds.config, seed=0).fit(ds)
    emb = model.transform(ds)                     # DataFrame indexed by region_id
"""

from __future__ import annotations

import importlib
import os
from typing import Any

# OpenMP threads that spin while waiting make every small torch operation crawl when the cores
# are shared with other work (one training step went from 0.25 s to 17 s); waiting passively
# costs nothing measurable when the machine is idle. Set before torch loads its runtime.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

__version__ = "0.1.0"

#: public name -> the module that defines it
_EXPORTS = {
    "REGION_INDEX": "cookie.constants",
    "CookieError": "cookie.errors",
    "ConfigError": "cookie.errors",
    "DataError": "cookie.errors",
    "DatasetConfig": "cookie.config",
    "MethodConfig": "cookie.config",
    "load_config": "cookie.config",
    "RegionDataset": "cookie.dataset.dataset",
    "load_dataset": "cookie.dataset.dataset",
    "ViewData": "cookie.features.view",
    "featurize": "cookie.features",
    "CookieEmbedder": "cookie.training.embedder",
    "register": "cookie.methods.registry",
    "method_names": "cookie.methods.registry",
    "EvaluationReport": "cookie.evaluation.report",
    "evaluate_dataset": "cookie.evaluation.evaluate",
    "evaluate_embeddings": "cookie.evaluation.evaluate",
    "similar_regions": "cookie.evaluation.analysis",
    "urban_types": "cookie.evaluation.analysis",
}

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'cookie' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
