"""Run many (dataset, variant, seed) training + evaluation jobs in parallel processes.

    python benchmarks/grid/run.py --frozen-root FROZEN --out results.jsonl --plan methods \
        [--seeds 5] [--workers 14] [--gpu] [--deadline 480] [--datasets manhattan180 ...]

A missing frozen dataset is written first from its benchmark config
(`python benchmarks/grid/run.py --freeze --frozen-root FROZEN [--datasets ...]` does only that).

Datasets are read from frozen, already featurized copies (`cookie.dataset.frozen.save_frozen`), so
this runs on any machine with the Python packages, without the raw layers. One JSON line per
finished job is appended to --out (so a run cut short keeps what it finished). Plans:
- `methods`: every method of the comparison, fast probes (ridge with internal alpha search,
  logistic regression, k-means) plus the literature protocol where the benchmark has one;
- `ablations`: the cells of `cookie experiment alpha|dropout|augment` (see cookie.apps.experiments).
Summaries are written by benchmarks/methods/report.py and benchmarks/ablations/report.py.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import time
from pathlib import Path

METHODS = ["raw", "intra", "shared_pairwise", "cookie_no_pretrain", "cookie_shared_only",
           "cookie_unique_only", "cookie", "gfactorcl"]
DATASETS = ["manhattan180", "helsinki", "olinda_population", "olinda_greenness"]
_CACHE: dict = {}


CONFIGS = {  # dataset -> its benchmark config, relative to benchmarks/
    "manhattan180": "manhattan180/manhattan180.toml",
    "helsinki": "helsinki/helsinki.toml",
    "olinda_population": "olinda/olinda_population.toml",
    "olinda_greenness": "olinda/olinda_greenness.toml",
}


def freeze(frozen_root: Path, datasets: list[str]) -> None:
    """Featurize and freeze every dataset of ``datasets`` not yet under ``frozen_root``."""
    from cookie.dataset.dataset import load_dataset
    from cookie.dataset.frozen import save_frozen

    for name in datasets:
        if not (frozen_root / name).exists():
            config = Path(__file__).resolve().parents[1] / CONFIGS[name]
            save_frozen(load_dataset(config, cache_dir=Path(".cookie_cache")), frozen_root / name)
            print(f"froze {name} into {frozen_root / name}", flush=True)


def plan_jobs(plan: str, frozen_root: Path, seeds: int,
              datasets: list[str] = DATASETS) -> list[dict]:
    from cookie.apps.experiments import experiment_cells
    from cookie.dataset.frozen import load_frozen

    jobs = []
    if plan == "methods":
        for s in range(seeds):
            for ds in datasets:
                for m in METHODS:
                    if m == "raw" and s > 0:
                        continue  # no learning, no seed
                    jobs.append({"plan": plan, "dataset": ds, "label": m, "method": m,
                                 "overrides": {}, "views": None, "drop": [], "seed": s})
    elif plan == "ablations":
        for s in range(seeds):
            for ds in datasets:
                data = load_frozen(frozen_root / ds)
                for exp in ("alpha", "dropout", "augment"):
                    for cell in experiment_cells(exp, data):
                        jobs.append({"plan": plan, "experiment": exp, "dataset": ds,
                                     "label": cell.label, "group": cell.group,
                                     "method": "cookie", "overrides": cell.overrides,
                                     "views": cell.views, "drop": list(cell.drop_at_inference),
                                     "seed": s})
    else:
        raise SystemExit(f"unknown plan {plan!r}")
    return jobs


def _dataset(frozen_root: Path, name: str):
    from cookie.dataset.dataset import RegionDataset
    from cookie.dataset.frozen import load_frozen

    if name not in _CACHE:
        ds = load_frozen(frozen_root / name)
        ev = ds.config.evaluation.model_copy(update={
            "probes": ["ridge_cv", "logistic"], "spatial": False})
        _CACHE[name] = RegionDataset(ds.config.model_copy(update={"evaluation": ev}),
                                     ds.regions, ds.views, ds.labels)
    return _CACHE[name]


def run_job(args: tuple[dict, str, bool]) -> dict:
    job = args[0]
    try:
        return _run_job(*args)
    except Exception as exc:  # noqa: BLE001 - a failed job is recorded, the grid goes on
        return {**job, "error": f"{type(exc).__name__}: {exc}", "fit_seconds": float("nan")}


def _run_job(job: dict, frozen_root: str, gpu: bool) -> dict:
    import torch

    torch.set_num_threads(1)
    from cookie.evaluation.evaluate import evaluate_dataset
    from cookie.training.embedder import CookieEmbedder

    ds = _dataset(Path(frozen_root), job["dataset"])
    train = ds.select_views(job["views"]) if job["views"] else ds
    image = any(v.is_image for v in train.views.values())
    accel = {"accelerator": "gpu"} if (gpu and image) else {}
    start = time.perf_counter()
    params = {**job["overrides"], "name": job["method"], "seed": job["seed"]}
    try:
        model = CookieEmbedder.from_config(train.config, **params, **accel).fit(train)
    except Exception:  # noqa: BLE001 - no usable GPU in this worker: train on the CPU
        if not accel:
            raise
        accel = {}
        start = time.perf_counter()
        model = CookieEmbedder.from_config(train.config, **params).fit(train)
    fit_s = time.perf_counter() - start
    emb = model.transform(train, drop_views=tuple(job["drop"]))
    table = evaluate_dataset(emb, ds, f"{job['label']} seed {job['seed']}").table
    return {**job, "fit_seconds": fit_s, "accelerator": accel.get("accelerator", "cpu"),
            "table": json.loads(table.to_json(orient="records"))}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--frozen-root", type=Path, required=True)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--plan", nargs="+", default=["methods"])
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--workers", type=int, default=max(1, (os.cpu_count() or 2) - 1))
    ap.add_argument("--gpu", action="store_true", help="train image views on the GPU")
    ap.add_argument("--deadline", type=float, default=0, help="stop after this many seconds")
    ap.add_argument("--limit", type=int, default=0, help="run only the first N jobs")
    ap.add_argument("--datasets", nargs="+", choices=DATASETS, default=DATASETS)
    ap.add_argument("--freeze", action="store_true", help="only freeze the missing datasets")
    args = ap.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    freeze(args.frozen_root, args.datasets)
    if args.freeze:
        return
    jobs = [j for p in args.plan
            for j in plan_jobs(p, args.frozen_root, args.seeds, args.datasets)]
    done = set()
    if args.out.exists():
        for line in args.out.read_text().splitlines():
            r = json.loads(line)
            done.add(json.dumps([r["plan"], r["dataset"], r["label"], r["seed"]]))
    jobs = [j for j in jobs if json.dumps([j["plan"], j["dataset"], j["label"], j["seed"]])
            not in done]
    if args.limit:
        jobs = jobs[:args.limit]
    print(f"{len(jobs)} jobs on {args.workers} workers", flush=True)
    t0 = time.perf_counter()
    ctx = mp.get_context("spawn")
    with ctx.Pool(args.workers, maxtasksperchild=20) as pool, open(args.out, "a") as fh:
        it = pool.imap_unordered(run_job, [(j, str(args.frozen_root), args.gpu) for j in jobs])
        for n in range(len(jobs)):
            remaining = args.deadline - (time.perf_counter() - t0) if args.deadline else None
            if remaining is not None and remaining <= 0:
                print("deadline reached", flush=True)
                pool.terminate()
                break
            try:
                res = it.next(timeout=remaining)
            except mp.TimeoutError:
                print("deadline reached", flush=True)
                pool.terminate()
                break
            if "error" in res:
                print(f"FAILED {res['dataset']} {res['label']}: {res['error']}", flush=True)
                continue
            fh.write(json.dumps(res) + "\n")
            fh.flush()
            print(f"[{n + 1}/{len(jobs)}] {res['plan']} {res['dataset']} {res['label']} "
                  f"seed {res['seed']} fit {res['fit_seconds']:.1f}s "
                  f"t={time.perf_counter() - t0:.0f}s", flush=True)


if __name__ == "__main__":
    main()
