"""A trained embedding against its own relational targets, per kernel: the dataset's own
evaluation of both (seed 0), and per block the relative squared error of the embedding's block
against its target and the target's top variance shares. An evaluation-fold look, disclosed in
defaults.md ("Nested selection of `rbf_linear`"); nothing ships from it.

    cd benchmarks/defaults
    python trained_vs_targets.py ../olinda/olinda_greenness.toml rbf,rbf_linear
"""

from __future__ import annotations

import logging
import sys

import numpy as np
from common import dataset_or_manhattan, feature_probes

from cookie.training.embedder import CookieEmbedder

logging.disable(logging.WARNING)


def main(config: str, kinds: list[str]) -> None:
    ds = dataset_or_manhattan(config)
    for kind in kinds:
        model = CookieEmbedder.from_config(ds.config, name="cookie", seed=0, kernel=kind)
        z = model.fit_transform(ds).to_numpy()
        o = model.objective_
        t = o.assemble([o.targets[k] for k in o.target_blocks()]).numpy()
        print(kind, "embedding:", feature_probes(ds, z, True), flush=True)
        print(kind, "targets:", feature_probes(ds, t, True), flush=True)
        start = 0
        for key in o.target_blocks():
            width = o.targets[key].shape[1]
            zc = z[:, start:start + width] - z[:, start:start + width].mean(0)
            tc = t[:, start:start + width] - t[:, start:start + width].mean(0)
            start += width
            rel = np.linalg.norm(zc - tc) ** 2 / np.linalg.norm(tc) ** 2
            shares = np.linalg.svd(tc, compute_uv=False) ** 2
            print(f"  {key}: width {width}, relative squared error {rel:.3f}, top-3 variance "
                  f"shares {np.round(shares[:3] / shares.sum(), 3)}", flush=True)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2].split(",") if len(sys.argv) > 2 else ["rbf"])
