"""Does spatial context help the raw views? Manhattan-180's raw features (log1p of the count
views, satellite as is, standardized), alone and with the mean of the adjacent regions' rows
(polygon adjacency), and 2 hops; literature and robust protocols, no training.

    python benchmarks/defaults/neighbours.py      (from benchmarks/defaults/)
"""

from __future__ import annotations

import numpy as np
import shapely
from common import TASKS, literature_r2, manhattan

from cookie.evaluation.protocols import robust_regression

ds = manhattan()
views = {n: v.values.reshape(len(v.values), -1) for n, v in ds.views.items()}
x = np.concatenate([v if n == "satellite" else np.log1p(np.clip(v, 0, None))
                    for n, v in views.items()], 1)
x = (x - x.mean(0)) / (x.std(0) + 1e-9)
geoms = ds.regions.geometry.to_numpy()
a, b = shapely.STRtree(geoms).query(geoms, predicate="touches")
adjacency = np.zeros((len(geoms), len(geoms)))
adjacency[a, b] = 1
np.fill_diagonal(adjacency, 0)
degree = adjacency.sum(1, keepdims=True)
print("mean degree", round(float(degree.mean()), 2), "isolated", int((degree == 0).sum()))
mean_of_neighbours = adjacency / np.clip(degree, 1, None)


def robust(z: np.ndarray, probe: str) -> np.ndarray:
    return np.round([np.mean(robust_regression(z, ds.labels[t].to_numpy(float), probes=[probe])
                             [0].scores["r2"]) for t in TASKS], 3)


one_hop = mean_of_neighbours @ x
for name, z in (("raw", x), ("raw + neighbour mean", np.concatenate([x, one_hop], 1)),
                ("raw + 2 hops", np.concatenate([x, one_hop, mean_of_neighbours @ one_hop], 1))):
    print(name, "literature", literature_r2(ds, z), "robust ridge", robust(z, "ridge_cv"),
          "robust forest", robust(z, "random_forest"), flush=True)
