"""Quality next to cost (issue 15): CooKIE and GFactorCL at M = 2, 3, 4 views.

    python benchmarks/cost_quality/run.py [--seeds 5] [--out benchmarks/results]
    python benchmarks/cost_quality/run.py --dataset helsinki [--seeds 5] [--workers 2]

Manhattan-180: the view subsets follow the config's order (poi, landuse, satellite, mobility):
M = 2 is the first two, M = 3 the first three, M = 4 all four; a fixed rule, not a choice by
score. Every fit uses the shipped defaults (`MethodConfig`), the same budget for both methods.
Writes cost_quality.md and cost_quality.png: literature R2 (Ridge(1), 10-fold unshuffled) and
robust R2 (ridge with inner CV, 5-fold x 3), mean ± std over seeds, and the fit time per seed.

Helsinki (802 cells, log density): the table views first in the config's order (landcover,
roads, stops), the image view (buildings) last, so that M = 4 is the only subset that trains
the CNN; again a fixed rule, not a choice by score. The fits take the config's settings, as
benchmarks/helsinki/run.py does; the raw views are shown at each M. Robust protocol only (the
config has no literature protocol). Writes cost_quality_helsinki.md and .png.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from datetime import date
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from cookie.dataset.dataset import load_dataset  # noqa: E402
from cookie.evaluation.protocols import literature_regression, robust_regression  # noqa: E402
from cookie.io.outputs import machine_description  # noqa: E402
from cookie.sources.labels import task_target  # noqa: E402
from cookie.training.embedder import CookieEmbedder  # noqa: E402

HERE = Path(__file__).parent
CONFIG = HERE.parent / "manhattan180" / "manhattan180.toml"
TASKS = ("checkin", "crime", "service_call")
METHODS = ("cookie", "gfactorcl")


def scores(ds, z: np.ndarray) -> dict[str, float]:
    out = {}
    for t in TASKS:
        y = ds.labels[t].to_numpy(float)
        out[f"lit/{t}"] = literature_regression(z, y).scores["r2"][0]
        out[f"rob/{t}"] = float(np.mean(robust_regression(z, y, probes=["ridge_cv"])[0]
                                        .scores["r2"]))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--out", type=Path, default=HERE.parent / "results")
    ap.add_argument("--dataset", choices=["manhattan180", "helsinki"], default="manhattan180")
    ap.add_argument("--workers", type=int, default=1,
                    help="Helsinki only: fits run in this many processes (set "
                         "OMP_NUM_THREADS=1); fit times are then measured side by side")
    args = ap.parse_args()
    logging.disable(logging.WARNING)
    if args.dataset == "helsinki":
        helsinki(args)
        return
    full = load_dataset(CONFIG, cache_dir=Path(".cookie_cache"))
    names = list(full.views)
    results: dict[tuple[int, str], list[dict[str, float]]] = {}
    seconds: dict[tuple[int, str], list[float]] = {}
    t0 = time.perf_counter()
    for m in (2, 3, 4):
        ds = full.select_views(names[:m])
        for method in METHODS:
            for seed in range(args.seeds):
                start = time.perf_counter()
                model = CookieEmbedder(name=method, seed=seed).fit(ds)
                seconds.setdefault((m, method), []).append(time.perf_counter() - start)
                z = model.transform(ds).to_numpy()
                results.setdefault((m, method), []).append(scores(ds, z))
                print(m, method, seed, f"{seconds[(m, method)][-1]:.1f}s",
                      {k: round(v, 3) for k, v in results[(m, method)][-1].items()}, flush=True)
    total = time.perf_counter() - t0

    def cell(m: int, method: str, key: str) -> str:
        vals = [r[key] for r in results[(m, method)]]
        return f"{np.mean(vals):.3f} ± {np.std(vals, ddof=1):.3f}"

    lines = ["# Quality next to cost: CooKIE and GFactorCL at M = 2, 3, 4 (Manhattan-180)", "",
             f"Command: `python {' '.join(sys.argv)}`  ",
             f"Machine: {machine_description()} (shared with other work while it ran)  ",
             f"Date: {date.today().isoformat()}; total {total:.0f} s", "",
             "Views in the config's order: M = 2 is " + " + ".join(names[:2]) + ", M = 3 adds "
             f"{names[2]}, M = 4 adds {names[3]}. Shipped defaults for both methods (the same "
             f"budget), seeds 0..{args.seeds - 1}; nothing chosen by evaluation folds.", "",
             "| M | method | check-in lit | crime lit | service lit | check-in robust | "
             "crime robust | service robust | fit s |", "|---|---|---|---|---|---|---|---|---|"]
    for m in (2, 3, 4):
        for method in METHODS:
            s = seconds[(m, method)]
            lines.append(f"| {m} | {method} | "
                         + " | ".join(cell(m, method, f"lit/{t}") for t in TASKS) + " | "
                         + " | ".join(cell(m, method, f"rob/{t}") for t in TASKS)
                         + f" | {np.mean(s):.1f} |")
    lines += ["", "lit: literature protocol (Ridge(alpha=1), 10-fold unshuffled, clipped); "
              "robust: ridge with inner-CV alpha, 5-fold shuffled x 3 repeats. Mean ± std over "
              "seeds.", "", "## Does CooKIE keep GFactorCL's R2?", ""]
    for m in (2, 3, 4):
        diffs = []
        for t in TASKS:
            a = np.array([r[f"lit/{t}"] for r in results[(m, "cookie")]])
            b = np.array([r[f"lit/{t}"] for r in results[(m, "gfactorcl")]])
            diffs.append((t, a.mean() - b.mean(), np.sqrt(a.var(ddof=1) / len(a)
                                                           + b.var(ddof=1) / len(b))))
        speed = np.mean(seconds[(m, "gfactorcl")]) / np.mean(seconds[(m, "cookie")])
        text = "; ".join(f"{t} {d:+.3f} (± {se:.3f} s.e.)" for t, d, se in diffs)
        lines.append(f"- M = {m}: CooKIE minus GFactorCL, literature R2: {text}. GFactorCL's fit "
                     f"takes {speed:.1f}x CooKIE's.")
    lines += ["", "![quality and fit time against M](cost_quality.png)", ""]
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "cost_quality.md").write_text("\n".join(lines))

    fig, axes = plt.subplots(1, 4, figsize=(15, 3.6))
    for ax, t in zip(axes[:3], TASKS, strict=True):
        for method in METHODS:
            vals = [[r[f"lit/{t}"] for r in results[(m, method)]] for m in (2, 3, 4)]
            ax.errorbar([2, 3, 4], np.mean(vals, 1), yerr=np.std(vals, 1, ddof=1), marker="o",
                        capsize=3, label=method)
        ax.set(title=f"{t} (literature R2)", xlabel="views M", xticks=[2, 3, 4])
        ax.legend()
    for method in METHODS:
        axes[3].plot([2, 3, 4], [np.mean(seconds[(m, method)]) for m in (2, 3, 4)], marker="o",
                     label=method)
    axes[3].set(title="fit time per seed (s)", xlabel="views M", xticks=[2, 3, 4])
    axes[3].legend()
    fig.tight_layout()
    fig.savefig(args.out / "cost_quality.png", dpi=110)
    print("\n".join(lines))


HELSINKI = HERE.parent / "helsinki" / "helsinki.toml"
HELSINKI_METHODS = ("cookie", "gfactorcl", "raw")


_HELSINKI_VIEWS: dict = {}


def _helsinki_load() -> tuple:
    """The Helsinki dataset (loaded once per process), its view order and task target."""
    if not _HELSINKI_VIEWS:
        logging.disable(logging.WARNING)
        full = load_dataset(HELSINKI, cache_dir=None)
        images = [n for n, v in full.views.items() if v.values.ndim == 4]
        names = [n for n in full.views if n not in images] + images
        _HELSINKI_VIEWS["data"] = (full, names, task_target(full.config.tasks[0], full.labels))
    return _HELSINKI_VIEWS["data"]


def _helsinki_fit(m: int, method: str, seed: int) -> tuple[float, float]:
    """One fit on the first m views: (fit seconds, robust ridge R2 of log density)."""
    full, names, y_all = _helsinki_load()
    ds = full.select_views(names[:m])
    start = time.perf_counter()
    model = CookieEmbedder.from_config(ds.config, name=method, seed=seed).fit(ds)
    fit_s = time.perf_counter() - start
    z = model.transform(ds)
    y = y_all.dropna()
    y = y[y.index.isin(z.index)]
    r2 = float(np.mean(robust_regression(z.loc[y.index].to_numpy(), y.to_numpy(),
                                         probes=["ridge_cv"])[0].scores["r2"]))
    return fit_s, r2


def helsinki(args: argparse.Namespace) -> None:
    """The Helsinki variant: robust ridge R2 of log density at M = 2, 3, 4."""
    _, names, _ = _helsinki_load()
    jobs = [(m, method, seed) for m in (2, 3, 4) for method in HELSINKI_METHODS
            for seed in range(1 if method == "raw" else args.seeds)]
    results: dict[tuple[int, str], list[float]] = {}
    seconds: dict[tuple[int, str], list[float]] = {}
    t0 = time.perf_counter()
    if args.workers > 1:
        # Longest fits first (M = 4 trains the CNN), so the pool ends together.
        order = sorted(jobs, key=lambda j: -j[0])
        with ProcessPoolExecutor(args.workers) as pool:
            done = dict(zip(order, pool.map(_helsinki_fit, *zip(*order, strict=True)),
                            strict=True))
    else:
        done = {job: _helsinki_fit(*job) for job in jobs}
    for m, method, seed in jobs:  # collect in seed order, whatever order they ran in
        fit_s, r2 = done[(m, method, seed)]
        seconds.setdefault((m, method), []).append(fit_s)
        results.setdefault((m, method), []).append(r2)
        print(m, method, seed, f"{fit_s:.1f}s", round(r2, 3), flush=True)
    total = time.perf_counter() - t0

    def cell(m: int, method: str) -> str:
        vals = results[(m, method)]
        return f"{np.mean(vals):.3f}" + (f" ± {np.std(vals, ddof=1):.3f}" if len(vals) > 1
                                         else " (1 fit, deterministic)")

    lines = ["# Quality next to cost: CooKIE and GFactorCL at M = 2, 3, 4 (Helsinki)", "",
             f"Command: `python {' '.join(sys.argv)}`  ",
             f"Machine: {machine_description()} (shared with other work while it ran)  ",
             f"Date: {date.today().isoformat()}; total {total:.0f} s", "",
             "Views: the table views in the config's order, the image view last (a fixed rule: "
             "only M = 4 trains the CNN). M = 2 is " + " + ".join(names[:2]) + f", M = 3 adds "
             f"{names[2]}, M = 4 adds {names[3]}. The config's settings for every method (as "
             f"helsinki.md), seeds 0..{args.seeds - 1}; nothing chosen by evaluation folds.", "",
             "| M | method | log density, robust ridge R2 | fit s |", "|---|---|---|---|"]
    for m in (2, 3, 4):
        for method in HELSINKI_METHODS:
            lines.append(f"| {m} | {method} | {cell(m, method)} | "
                         f"{np.mean(seconds[(m, method)]):.1f} |")
    lines += ["", "robust: ridge with inner-CV alpha, 5-fold shuffled x 3 repeats, log1p "
              "density. Mean ± std over seeds; raw: the featurized views, standardized, no "
              "learning.", "", "## Does CooKIE keep GFactorCL's R2?", ""]
    for m in (2, 3, 4):
        a, b = np.array(results[(m, "cookie")]), np.array(results[(m, "gfactorcl")])
        se = np.sqrt(a.var(ddof=1) / len(a) + b.var(ddof=1) / len(b))
        speed = np.mean(seconds[(m, "gfactorcl")]) / np.mean(seconds[(m, "cookie")])
        raw = results[(m, "raw")][0]
        lines.append(f"- M = {m}: CooKIE minus GFactorCL {a.mean() - b.mean():+.3f} "
                     f"(± {se:.3f} s.e.); CooKIE minus the raw views {a.mean() - raw:+.3f}. "
                     f"GFactorCL's fit takes {speed:.1f}x CooKIE's.")
    lines += ["", "![quality and fit time against M](cost_quality_helsinki.png)", ""]
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "cost_quality_helsinki.md").write_text("\n".join(lines))

    fig, axes = plt.subplots(1, 2, figsize=(8, 3.6))
    for method in HELSINKI_METHODS:
        vals = [results[(m, method)] for m in (2, 3, 4)]
        axes[0].errorbar([2, 3, 4], [np.mean(v) for v in vals],
                         yerr=[np.std(v, ddof=1) if len(v) > 1 else 0 for v in vals],
                         marker="o", capsize=3, label=method)
        axes[1].plot([2, 3, 4], [np.mean(seconds[(m, method)]) for m in (2, 3, 4)],
                     marker="o", label=method)
    axes[0].set(title="log density (robust ridge R2)", xlabel="views M", xticks=[2, 3, 4])
    axes[1].set(title="fit time per seed (s)", xlabel="views M", xticks=[2, 3, 4])
    for ax in axes:
        ax.legend()
    fig.tight_layout()
    fig.savefig(args.out / "cost_quality_helsinki.png", dpi=110)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
