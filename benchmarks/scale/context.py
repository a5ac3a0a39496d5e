"""Scale of the region context stage: training time per epoch and peak memory of CooKIE at
10^4 and 10^5 regions, with and without the context stage (issue 11, item 1).

    python benchmarks/scale/context.py [--regions 10000 100000] [--batch 512]

Synthetic data: four 32-d table views with shared latent structure (as benchmarks/scale/run.py),
given to `CookieEmbedder.fit` as region-indexed frames. Stage 2 only (no pretraining), batches
of ``--batch`` regions: the context set of a batch is its own regions, so the attention costs
O(batch^2) per view and step, whatever the number of regions. Each setting runs in its own child
process, once for E1 and once for E2 epochs; time per epoch = (t(E2) - t(E1)) / (E2 - E1), which
removes start-up and set-up. Peak memory: the child's maximum resident set. Writes
benchmarks/results/scale_context.md.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "benchmarks" / "results" / "scale_context.md"
VIEWS, DIM = 4, 32
ENV = {"OMP_WAIT_POLICY": "PASSIVE"}  # see benchmarks/scale/run.py


def frames(n: int) -> dict:
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(0)
    latent = rng.normal(size=(n, 8))
    index = pd.Index([f"r{i}" for i in range(n)], name="region_id")
    return {f"v{k}": pd.DataFrame(
        (latent @ rng.normal(size=(8, DIM)) + 0.5 * rng.normal(size=(n, DIM))).astype("float32"),
        index=index, columns=[f"v{k}_{j}" for j in range(DIM)]) for k in range(VIEWS)}


def child(n: int, context: str, epochs: int, batch: int) -> dict:
    import logging

    import numpy as np

    from cookie.training.embedder import CookieEmbedder

    logging.disable(logging.WARNING)
    data = frames(n)
    t0 = time.perf_counter()
    model = CookieEmbedder(pretrain_epochs=0, epochs=epochs, batch_size=batch, context=context,
                           seed=0).fit(data)
    seconds = time.perf_counter() - t0
    z = model.transform(data, batch_size=4096)
    assert np.isfinite(z.to_numpy()).all()
    return {"seconds": seconds,
            "maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0}


def run(n: int, context: str, epochs: int, batch: int) -> dict:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", str(n), context,
           str(epochs), str(batch)]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, env=os.environ | ENV,
                          timeout=1800)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        n, context, epochs, batch = sys.argv[2:6]
        print(json.dumps(child(int(n), context, int(epochs), int(batch))))
        return
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--regions", type=int, nargs="+", default=[10_000, 100_000])
    ap.add_argument("--batch", type=int, default=512)
    ap.add_argument("--epochs", type=int, nargs=2, default=[1, 2], metavar=("E1", "E2"))
    args = ap.parse_args()
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from seedruns import machine_description

    e1, e2 = args.epochs
    rows, start = [], time.perf_counter()
    for n in args.regions:
        for context in ("none", "attention"):
            a, b = run(n, context, e1, args.batch), run(n, context, e2, args.batch)
            per_epoch = (b["seconds"] - a["seconds"]) / (e2 - e1)
            rows.append((n, context, per_epoch, max(a["maxrss_mb"], b["maxrss_mb"])))
            print(f"{n} regions, context {context}: {per_epoch:.1f} s per epoch, peak "
                  f"{rows[-1][3]:.0f} MB", flush=True)
    lines = [
        "# Scale of the region context stage (CooKIE, synthetic, CPU)", "",
        f"Command: `python {' '.join(sys.argv)}`  ",
        f"Machine: {machine_description()}  ",
        f"Date: {time.strftime('%Y-%m-%d')}; whole run {time.perf_counter() - start:.0f} s", "",
        f"Four table views of {DIM} features, CooKIE with the default sizes, stage 2 only, "
        f"batches of {args.batch} regions (the context set of a batch is its own regions). "
        f"Time per epoch = (t({e2}) - t({e1})) / {e2 - e1} from two fits in fresh processes "
        "(one run each, no repeats); peak memory = the larger child's maximum resident set, "
        "data and embedding of every region included.", "",
        "| regions | context | s per epoch | regions / s | peak MB |",
        "|---:|---|---:|---:|---:|",
    ]
    for n, context, per_epoch, peak in rows:
        lines.append(f"| {n:,} | {context} | {per_epoch:.1f} | {n / per_epoch:,.0f} | "
                     f"{peak:.0f} |")
    lines += ["", "Full batches (the default, `batch_size = 0`) put every region in one batch: "
              "InfoNCE score matrices of N x N per critic, fine for the benchmarks here "
              "(at most 802 regions) and not meant for 10^4 regions and more; set "
              "`batch_size` there."]
    OUT.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
