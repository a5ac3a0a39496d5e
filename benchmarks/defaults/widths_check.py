"""A candidate setting (default: `block_widths = "spectrum"`) on a benchmark dataset, scored by
the benchmarks' own evaluation (`benchmarks/seedruns.py`: robust and spatial protocols, ridge and
forest), as the dataset's benchmark script scores the shipped default (compare with its results
file). An optional third argument gives other keyword settings of `CookieEmbedder`, as
candidate.py takes them.

    cd benchmarks/defaults && python widths_check.py ../helsinki/helsinki.toml 0,1,2
    cd benchmarks/defaults && python widths_check.py ../olinda/olinda_population.toml 0,1,2,3,4 \
        "kernel='laplacian'"
"""

from __future__ import annotations

import ast
import logging
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from seedruns import method_table, run_seeds  # noqa: E402 - benchmarks/seedruns.py

from cookie.config import load_config  # noqa: E402
from cookie.dataset.dataset import load_dataset  # noqa: E402

logging.disable(logging.WARNING)
ds = load_dataset(load_config(Path(sys.argv[1])), cache_dir=Path(".cookie_cache"))
seeds = [int(s) for s in sys.argv[2].split(",")]
settings = ({k: ast.literal_eval(v) for k, v in (kv.split("=") for kv in sys.argv[3].split(","))}
            if len(sys.argv) > 3 else {"block_widths": "spectrum"})
label = ", ".join(f"{k} {v}" for k, v in settings.items())
runs = {label: run_seeds(ds, "cookie", seeds, settings)}
print("widths", runs[label].model.widths_)
for seed, report in zip(seeds, runs[label].reports, strict=True):
    from cookie.evaluation.aggregate import aggregate_seeds  # noqa: E402

    agg = aggregate_seeds([report])
    rows = agg[(agg.metric == "r2") & (agg.protocol.isin(["robust", "spatial"]))]
    print("seed", seed, "; ".join(f"{r.task} {r.protocol} {r.probe} {r['mean']:.3f}"
                                  for _, r in rows.iterrows()), flush=True)
print("\n".join(method_table(runs, [t.name for t in ds.config.tasks if t.type == "regression"])))
