"""Shared by the scripts of benchmarks/defaults: Manhattan-180 and its literature protocol.

The scripts here are the checks behind benchmarks/results/defaults.md. They look at the
literature protocol's evaluation folds, so they are disclosures of how defaults were set,
never a way to report a result.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from cookie.dataset.dataset import load_dataset
from cookie.evaluation.protocols import literature_regression

HERE = Path(__file__).parent
CONFIG = HERE.parent / "manhattan180" / "manhattan180.toml"
TASKS = ("checkin", "crime", "service_call")


def manhattan():
    return load_dataset(CONFIG, cache_dir=Path(".cookie_cache"))


def literature_r2(ds, x: np.ndarray) -> np.ndarray:
    """Literature-protocol R2 of check-in, crime and service calls for features ``x``."""
    scores = [literature_regression(np.asarray(x, float), ds.labels[t].to_numpy(float))
              .scores["r2"] for t in TASKS]
    return np.round(np.ravel(scores), 3)
