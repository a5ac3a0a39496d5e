"""What a forest on the raw views reads, and whether the embedding holds it: the 12 raw columns
with the largest impurity importance of a forest fitted to a task on every region, and for
each the cross-validated R2 with which a ridge and a forest recover that column from the
seed-0 `cookie` embedding; then the 5-fold forest R2 of the task on the raw views, their top 10
columns, the embedding, and the embedding with those columns. An evaluation-fold look,
disclosed in defaults.md ("A data-chosen output basis"); nothing ships from it.

    cd benchmarks/defaults && python what_forest_reads.py [CONFIG] [TASK]
(default: the peers' three views, check-in)
"""

from __future__ import annotations

import logging
import sys

import numpy as np
from common import dataset_or_manhattan
from sklearn.ensemble import RandomForestRegressor
from sklearn.linear_model import RidgeCV
from sklearn.metrics import r2_score
from sklearn.model_selection import KFold, cross_val_predict

from cookie.training.embedder import CookieEmbedder

logging.disable(logging.WARNING)


def main(config: str, task: str) -> None:
    ds = dataset_or_manhattan(config)
    raw = CookieEmbedder.from_config(ds.config, name="raw").fit_transform(ds)
    z = CookieEmbedder.from_config(ds.config, name="cookie", seed=0).fit_transform(ds).to_numpy()
    x, names = raw.to_numpy(), list(raw.columns)
    y = ds.labels[task].to_numpy(float)
    importance = RandomForestRegressor(500, random_state=0, n_jobs=2).fit(x, y).feature_importances_
    order = np.argsort(-importance)[:12]
    folds = KFold(5, shuffle=True, random_state=0)
    for f in order:
        ridge = cross_val_predict(RidgeCV(np.logspace(-3, 3, 13)), z, x[:, f], cv=folds)
        forest = cross_val_predict(RandomForestRegressor(300, random_state=0, n_jobs=2), z,
                                   x[:, f], cv=folds)
        print(f"{names[f]}: importance {importance[f]:.3f}, from the embedding: ridge "
              f"{r2_score(x[:, f], ridge):.3f}, forest {r2_score(x[:, f], forest):.3f}", flush=True)
    top = order[:10]
    for label, features in (("raw views", x), ("their top 10 columns", x[:, top]),
                            ("embedding", z), ("embedding + top 10", np.hstack([z, x[:, top]]))):
        pred = cross_val_predict(RandomForestRegressor(500, random_state=0, n_jobs=2), features,
                                 y, cv=folds)
        print(f"{label}: forest R2 {r2_score(y, pred):.3f}", flush=True)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "../manhattan180/manhattan180_peer_views.toml",
         sys.argv[2] if len(sys.argv) > 2 else "checkin")
