"""Block widths by 1 / participation ratio, trained (a prototype patched onto the shipped
`cookie`, Manhattan-180): the widths of the heads are set from each block target's spectrum
(the participation ratio (sum of eigenvalues)^2 / sum of squared eigenvalues of the block's
centred kernel, from the training regions' inputs, no labels), proportional to its inverse,
instead of equal. Printed per seed with all three probes, then the mean. An evaluation-fold
look, disclosed in defaults.md (the rule was found by `block_allocation.py` on these folds).

    cd benchmarks/defaults && python widths_prototype.py 0,1,2,3,4
    cd benchmarks/defaults && python widths_prototype.py 0,1,2,3,4 ../olinda/olinda_population.toml

With a config as the third argument, that dataset is fitted instead and scored by the
benchmarks' own evaluation (`benchmarks/seedruns.py`: robust and spatial protocols, ridge and
forest), as its benchmark script scores the shipped default.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

from common import manhattan, seed_rows

import cookie.methods.cookie as cookie_method
from cookie.training.embedder import CookieEmbedder

logging.disable(logging.WARNING)
SHIPPED_SIZES = cookie_method.block_sizes


def inverse_ratio_widths(ds, total: int = 512) -> list[int]:
    probe = CookieEmbedder(name="cookie", seed=0, pretrain_epochs=0, epochs=1,
                           embedding_dim=len(ds.regions) * 10).fit(ds)
    o = probe.objective_
    inverse = []
    for key in o.target_blocks():
        if key not in o.targets:  # a block without a relational target: equal widths
            return SHIPPED_SIZES(total, len(o.target_blocks()))
        e = o.targets[key].pow(2).sum(0)
        inverse.append(float(e.pow(2).sum() / e.sum().pow(2)))
    widths = [max(1, round(total * v / sum(inverse))) for v in inverse]
    widths[widths.index(max(widths))] += total - sum(widths)
    return widths


seeds = [int(s) for s in sys.argv[1].split(",")]
if len(sys.argv) > 2:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from seedruns import method_table, run_seeds

    from cookie.config import load_config
    from cookie.dataset.dataset import load_dataset

    ds = load_dataset(load_config(Path(sys.argv[2])), cache_dir=None)
    widths = inverse_ratio_widths(ds)
    print("widths", widths, flush=True)
    cookie_method.block_sizes = lambda total, blocks: list(widths)
    runs = {"inverse-ratio widths": run_seeds(ds, "cookie", seeds)}
    print("\n".join(method_table(runs, [t.name for t in ds.config.tasks
                                         if t.type == "regression"])))
    sys.exit(0)
ds = manhattan()
widths = inverse_ratio_widths(ds)
print("widths", widths, flush=True)
cookie_method.block_sizes = lambda total, blocks: list(widths)
seed_rows("inverse-ratio widths", ds, seeds, lambda seed: CookieEmbedder(
    name="cookie", seed=seed).fit_transform(ds).to_numpy())
