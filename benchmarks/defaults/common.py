"""Shared by the scripts of benchmarks/defaults: Manhattan-180 and its literature protocol.

The scripts here are the checks behind benchmarks/results/defaults.md. They look at the
literature protocol's evaluation folds, so they are disclosures of how defaults were set,
never a way to report a result.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from cookie.dataset.dataset import load_dataset
from cookie.evaluation.protocols import literature_regression, robust_regression

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


def robust_r2(ds, x: np.ndarray, probe: str) -> np.ndarray:
    """Robust-protocol R2 (mean over repeats) of the three tasks with ``probe``."""
    return np.round([np.mean(robust_regression(np.asarray(x, float), ds.labels[t].to_numpy(
        float), probes=[probe])[0].scores["r2"]) for t in TASKS], 3)


def dataset_or_manhattan(config: str | None):
    """The dataset of ``config`` (a script's optional CONFIG argument), else Manhattan-180."""
    if config is None:
        return manhattan()
    from cookie.config import load_config

    return load_dataset(load_config(Path(config)), cache_dir=Path(".cookie_cache"))


def feature_probes(ds, x: np.ndarray, own_evaluation: bool) -> str:
    """Manhattan's three probes of features ``x``, or with ``own_evaluation`` the dataset's own
    evaluation (its robust and spatial R2 rows), as its benchmark script scores an embedding."""
    if not own_evaluation:
        return str(three_probes(ds, x))
    import pandas as pd

    from cookie.evaluation.evaluate import evaluate_dataset

    table = evaluate_dataset(pd.DataFrame(x, index=ds.labels.index), ds, "targets").table
    rows = table[(table.metric == "r2") & table.protocol.isin(["robust", "spatial"])]
    return "; ".join(f"{r.task} {r.protocol} {r.probe} {r['mean']:.3f}" for _, r in rows.iterrows())


def three_probes(ds, x: np.ndarray) -> np.ndarray:
    """Literature, robust-ridge and robust-forest R2 of the three tasks, in one row of 9."""
    return np.concatenate([literature_r2(ds, x), robust_r2(ds, x, "ridge_cv"),
                           robust_r2(ds, x, "random_forest")])


def seed_rows(label: str, ds, seeds, embed) -> None:
    """``embed(seed)`` for every seed, its three probes printed per seed, then the mean."""
    rows = []
    for seed in seeds:
        rows.append(three_probes(ds, embed(seed)))
        print(label, seed, "literature", rows[-1][:3], "robust ridge", rows[-1][3:6],
              "robust forest", rows[-1][6:], flush=True)
    mean = np.round(np.mean(rows, 0), 3)
    print("mean", label, "literature", mean[:3], "robust ridge", mean[3:6], "robust forest",
          mean[6:])


def probe_patched_targets(config: str | None, variants) -> None:
    """For each (label, coordinates, kernel kind) of ``variants``: fit `cookie` for one epoch
    with ``targets.kernel_pca_coordinates`` replaced by ``coordinates`` and the option `kernel`
    at ``kind``, and print the probes of its relational targets (as features, no training),
    on the dataset of ``config`` (its own evaluation) or Manhattan-180 (three probes)."""
    import logging
    import time

    import cookie.methods.targets as targets
    from cookie.training.embedder import CookieEmbedder

    logging.disable(logging.WARNING)
    ds = dataset_or_manhattan(config)
    shipped = targets.kernel_pca_coordinates
    try:
        for label, coordinates, kind in variants:
            start = time.time()
            targets.kernel_pca_coordinates = coordinates or shipped
            settings = dict(name="cookie", seed=0, pretrain_epochs=0, epochs=1, kernel=kind)
            model = (CookieEmbedder.from_config(ds.config, **settings) if config
                     else CookieEmbedder(**settings)).fit(ds)
            o = model.objective_
            x = o.assemble([o.targets[k] for k in o.target_blocks()]).numpy()
            print(label, feature_probes(ds, x, own_evaluation=config is not None),
                  f"({time.time() - start:.0f} s)", flush=True)
    finally:
        targets.kernel_pca_coordinates = shipped
