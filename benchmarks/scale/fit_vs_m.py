"""Full fits as the number of views M grows (issue 15, item 4): wall time and peak memory of
`CookieEmbedder.fit` at the shipped defaults (20 + 100 epochs, full batch), CooKIE against
GFactorCL, M = 2..8.

    python benchmarks/scale/fit_vs_m.py [--max-views 8] [--max-fit-s 900] [--out DIR]

Views: Manhattan-180's four real views (poi, landuse, satellite, mobility), then copies of a
64-d synthetic table view (Gaussian noise, same encoder shape as `cookie profile` uses). Each
fit runs in a fresh process (spawned), so its peak resident set (VmHWM) minus the resident set
before the fit is the memory of that fit alone. A method's next M is skipped when the growth of
its last two fits predicts more than --max-fit-s seconds (reported, not measured). Writes
fit_vs_m.md and fit_vs_m.png.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import sys
import time
from datetime import date
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

HERE = Path(__file__).parent
CONFIG = HERE.parent / "manhattan180" / "manhattan180.toml"
METHODS = ("cookie", "gfactorcl")
SYNTHETIC_DIM = 64


def rss_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def dataset(m: int):
    """Manhattan-180's first min(m, 4) real views plus synthetic table views up to m."""
    import logging

    from cookie.dataset.dataset import RegionDataset, load_dataset
    from cookie.features.view import ViewData

    logging.disable(logging.WARNING)
    full = load_dataset(CONFIG, cache_dir=Path(".cookie_cache"), with_labels=False)
    views = dict(list(full.views.items())[:m])
    rng = np.random.default_rng(0)
    n = len(full.regions)
    for i in range(len(views), m):
        name = f"synthetic{i}"
        views[name] = ViewData(name, "table", full.regions.index,
                               rng.standard_normal((n, SYNTHETIC_DIM)).astype(np.float32),
                               np.ones(n, bool), [f"s{j}" for j in range(SYNTHETIC_DIM)])
    return RegionDataset(full.config, full.regions, views, full.labels)


def one_fit(method: str, m: int, queue) -> None:
    import torch

    from cookie.training.embedder import CookieEmbedder

    torch.set_num_threads(1)
    ds = dataset(m)
    before = rss_kb("VmRSS")
    start = time.perf_counter()
    model = CookieEmbedder(name=method, seed=0).fit(ds)
    seconds = time.perf_counter() - start
    z = model.transform(ds).to_numpy()
    queue.put({"seconds": seconds, "peak_mb": (rss_kb("VmHWM") - before) / 1024,
               "finite": bool(np.isfinite(z).all()), "dim": z.shape[1]})


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--max-views", type=int, default=8)
    ap.add_argument("--max-fit-s", type=float, default=900.0)
    ap.add_argument("--out", type=Path, default=HERE.parent / "results")
    args = ap.parse_args()
    from cookie.io.outputs import machine_description

    dataset(1)  # featurize into the cache once, outside the timed processes
    ctx = mp.get_context("spawn")
    rows: dict[tuple[str, int], dict] = {}
    t0 = time.perf_counter()
    for method in METHODS:
        done: list[float] = []
        for m in range(2, args.max_views + 1):
            if len(done) >= 2 and done[-1] * done[-1] / done[-2] > args.max_fit_s:
                rows[(method, m)] = {"skipped": done[-1] * done[-1] / done[-2]}
                print(method, m, "skipped", flush=True)
                continue
            queue = ctx.Queue()
            proc = ctx.Process(target=one_fit, args=(method, m, queue))
            proc.start()
            result = queue.get()
            proc.join()
            rows[(method, m)] = result
            done.append(result["seconds"])
            print(method, m, result, flush=True)
    total = time.perf_counter() - t0

    lines = ["# Full fits as the number of views grows", "",
             f"Command: `python {' '.join(sys.argv)}`  ",
             f"Machine: {machine_description()}; one torch thread per fit (shared with other "
             f"work while it ran)  ", f"Date: {date.today().isoformat()}; total {total:.0f} s", "",
             "Manhattan-180 (180 regions): the four real views, then 64-d synthetic table views. "
             "Shipped defaults (20 intra-view + 100 joint epochs, full batch), seed 0, one fit "
             "per cell, each in a fresh process. Peak MB: the fit's peak resident set minus the "
             "resident set before it (parameters, optimizer state, activations, relational "
             "targets).", "",
             "| M | method | fit s | peak MB | embedding dim | finite |",
             "|---|---|---|---|---|---|"]
    for m in range(2, args.max_views + 1):
        for method in METHODS:
            r = rows[(method, m)]
            if "skipped" in r:
                lines.append(f"| {m} | {method} | not run (about {r['skipped']:.0f} s predicted) "
                             "| | | |")
            else:
                lines.append(f"| {m} | {method} | {r['seconds']:.1f} | {r['peak_mb']:.0f} | "
                             f"{r['dim']} | {r['finite']} |")
    lines += ["", "GFactorCL's fit grows with its 2^M - 1 factors, CooKIE's with its M(M+1)/2 "
              "blocks. Single runs on a shared machine: a fit that overlapped another job is "
              "slower than its neighbours (times are indicative, memory is not affected).", "",
              "## Largest M within 24 GB (full fit, Manhattan-180 size)", "",
              "Extrapolated from the last two measured fits of each method by their ratio of "
              "peak memory (an estimate: conservative where memory grows polynomially rather "
              "than geometrically; the search stops at 16):", ""]
    for method in METHODS:
        peaks = [(m, rows[(method, m)]["peak_mb"]) for m in range(2, args.max_views + 1)
                 if "peak_mb" in rows[(method, m)]]
        (_, p1), (m2, p2) = peaks[-2], peaks[-1]
        ratio, m, peak = p2 / p1, m2, p2
        while m < 16 and peak * ratio <= 24 * 1024:
            m, peak = m + 1, peak * ratio
        largest = f">= {m}" if m == 16 else str(m)
        lines.append(f"- {method}: {largest} (measured up to M = {m2}: {p2:.0f} MB, x{ratio:.2f} "
                     "per added view at the end)")
    lines += ["", "Per training step, with both critic kinds: profile.md.", "",
              "![fit time and memory against M](fit_vs_m.png)", ""]
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "fit_vs_m.md").write_text("\n".join(lines))
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.6))
    for method in METHODS:
        ms = [m for m in range(2, args.max_views + 1) if "seconds" in rows[(method, m)]]
        axes[0].plot(ms, [rows[(method, m)]["seconds"] for m in ms], marker="o", label=method)
        axes[1].plot(ms, [rows[(method, m)]["peak_mb"] for m in ms], marker="o", label=method)
    axes[0].set(title="full fit (s)", xlabel="views M", yscale="log")
    axes[1].set(title="peak memory of the fit (MB)", xlabel="views M", yscale="log")
    for ax in axes:
        ax.legend()
    fig.tight_layout()
    fig.savefig(args.out / "fit_vs_m.png", dpi=110)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
