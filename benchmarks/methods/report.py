"""Every method on every benchmark, with parameters and FLOPs: benchmarks/results/methods.md.

    python benchmarks/methods/report.py --grid benchmarks/results/raw/grid.jsonl.gz \
        --frozen-root .frozen --machine "..."

Scores come from the job grid (benchmarks/grid/run.py --plan methods: same encoders, same
budget for every method, 5 seeds). Parameters and FLOPs of one full-batch training step
(forward + backward, CLUB critic step included, torch.utils.flop_counter) are measured here on
each frozen dataset.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

import pandas as pd

from cookie.evaluation.plots import plot_method_bars

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from seedruns import fmt, read_grid  # noqa: E402 - benchmarks/seedruns.py

ORDER = ["raw", "intra", "shared_pairwise", "cookie_no_pretrain", "cookie_shared_only",
         "cookie_unique_only", "cookie", "gfactorcl"]
COLUMNS = {  # dataset -> [(heading, task, protocol, probe, metric)]
    "manhattan180": [("check-in lit.", "checkin", "literature", "ridge_alpha1", "r2"),
                     ("crime lit.", "crime", "literature", "ridge_alpha1", "r2"),
                     ("service lit.", "service_call", "literature", "ridge_alpha1", "r2"),
                     ("check-in", "checkin", "robust", "ridge_cv", "r2"),
                     ("crime", "crime", "robust", "ridge_cv", "r2"),
                     ("service", "service_call", "robust", "ridge_cv", "r2"),
                     ("district acc.", "district", "stratified", "logistic", "accuracy"),
                     ("district NMI", "district_clusters", "clustering", "kmeans", "nmi")],
    "helsinki": [("log density", "density", "robust", "ridge_cv", "r2")],
    "olinda_population": [("log density", "density", "robust", "ridge_cv", "r2")],
    "olinda_greenness": [("greenness", "greenness", "robust", "ridge_cv", "r2")],
}


def costs(frozen_root: Path, dataset: str) -> dict[str, tuple[int, int]]:
    """(trainable parameters, FLOPs of one training step) per learned method."""
    import torch

    from cookie.apps.profile import measure
    from cookie.config import MethodConfig
    from cookie.dataset.frozen import load_frozen
    from cookie.features.view import ViewSpec
    from cookie.training.data import RegionTensors

    ds = load_frozen(frozen_root / dataset)
    specs = [ViewSpec.from_view(v) for v in ds.views.values()]
    tensors = RegionTensors(ds.views)
    data = {k: v for k, v in tensors.gather(torch.arange(len(tensors))).items()
            if k in ds.views}  # no region positions: the step `cookie profile` counts
    cfg = MethodConfig.model_validate(ds.config.method.model_dump())
    out = {"raw": (0, 0)}
    for method in ORDER[1:]:
        row = measure(method, specs, data, cfg, warmup=0, repeats=1, budget_s=5.0)
        out[method] = (row.params_total, row.flops_step)
    return out


def first_budget(frozen_root: Path, grid: pd.DataFrame) -> str:
    """The training budget of the first dataset in the grid, in words."""
    from cookie.dataset.frozen import load_frozen

    m = load_frozen(frozen_root / str(grid.dataset.iloc[0])).config.method
    batch = "full batch" if m.batch_size == 0 else f"batches of {m.batch_size}"
    return (f"{m.pretrain_epochs} intra-view epochs + {m.epochs} joint epochs, {batch}, "
            f"proxy {m.proxy}, context {m.context}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--grid", type=Path, default=Path("benchmarks/results/raw/grid.jsonl.gz"))
    ap.add_argument("--frozen-root", type=Path, default=Path(".frozen"))
    ap.add_argument("--machine", default="see the grid command")
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    ap.add_argument("--grid-command", default="python benchmarks/grid/run.py --frozen-root "
                    ".frozen --out grid.jsonl --plan methods --seeds 5",
                    help="the command that ran the grid, for the report")
    ap.add_argument("--note", default="", help="a paragraph placed under the header")
    args = ap.parse_args()
    t = read_grid(args.grid, "methods")
    budget = first_budget(args.frozen_root, t)
    lines = ["# Methods compared: every method on every benchmark", "",
             f"Summary command: `python {shlex.join(sys.argv)}`  ",
             f"Grid command: `{args.grid_command}`  ",
             f"Grid machine: {args.machine}", "",
             *([args.note, ""] if args.note else []),
             "Same encoders, heads sizes, critics and budget (the config's `[method]`: "
             f"{budget}) for every learned method; 5 "
             "training seeds (raw: no training, one run). Scores: robust protocol (5-fold "
             "shuffled x 3 repeats) with ridge (internal alpha search), literature protocol "
             "where the benchmark has one, logistic regression for district, k-means NMI. "
             "Mean ± std over seeds. Parameters: trainable, all heads and critics included. "
             "FLOPs: one full-batch training step (encoder step forward + backward, plus the "
             "CLUB-critic step), counted with `torch.utils.flop_counter` on this dataset, as "
             "`cookie profile` counts it: with the augmentation proxy, so without the "
             "relational targets' regression terms and the flow terms.", ""]
    bars = []
    for dataset, cols in COLUMNS.items():
        sub = t[t.dataset == dataset]
        if sub.empty:
            continue
        cost = costs(args.frozen_root, dataset)
        head = ["method", *[c[0] for c in cols], "params", "GFLOP/step", "fit s"]
        lines += [f"## {dataset}", "", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        for method in ORDER:
            m = sub[sub.label == method]
            if m.empty:
                continue
            cells = []
            for _, task, protocol, probe, metric in cols:
                v = m[(m.task == task) & (m.protocol == protocol) & (m.probe == probe)
                      & (m.metric == metric)]["mean"]
                cells.append(fmt(v.mean(), v.std()) if len(v) > 1 else
                             (fmt(v.mean(), float("nan")) if len(v) else "n/a"))
                if (task, protocol) == (cols[0][1], cols[0][2]):
                    bars.append({"task": dataset, "method": method, "mean": v.mean(),
                                 "std": v.std() if len(v) > 1 else 0.0})
            params, flops = cost[method]
            fit = m.drop_duplicates("seed")["fit_seconds"]
            lines.append(f"| {method} | " + " | ".join(cells)
                         + f" | {params:,} | {flops / 1e9:.2f} | {fit.mean():.1f} |")
        lines.append("")
    frame = pd.DataFrame(bars)
    plot_method_bars(frame, args.out / "methods.png", "main task per benchmark (first column)",
                     "R2")
    lines += ["![methods](methods.png)", "",
              "Fit seconds were measured on the grid machine with its jobs running at once "
              "(see the grid command's --workers), so they compare methods with each other, "
              "not machines.", ""]
    (args.out / "methods.md").write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
