"""Scale: featurization time and peak memory as the data grows (single process against tiled
dask workers), and training throughput with one and two DDP processes.

Run from the repository root (about 10 minutes on the 2-core dev machine):

    .venv/bin/python benchmarks/scale/run.py

1. Featurization. The Helsinki layers (cells, buildings, land cover, roads, stops) replicated
   1x, 4x, 16x in area: translated copies side by side on a square grid, 13 km apart, written
   as FlatGeobuf. Each measurement runs in its own child process that reads the files and
   featurizes the four views of benchmarks/helsinki/helsinki.toml (footprint images included):
   - single: `cookie.features.featurize`, one process;
   - tiled: `cookie.features.tiling` with 3 km tiles on a dask LocalCluster of 2 single-threaded
     worker processes (cluster start, including importing the package on the workers, is reported
     apart from the featurization time), and on dask's threaded scheduler with 2 threads.
   Peak memory: ``ru_maxrss`` of the child process (and, for tiled, of each worker).
   A fourth series keeps the 1x layers and splits every cell into 2x2 and 4x4 sub-cells, so
   that the regions grow without the features: with it, time = a + b * features + c * regions
   is fitted and extrapolated to 10^6 buildings (other layers in Helsinki's proportion) over
   10^5 regions.
2. Training throughput (regions per second, stage 2 of CooKIE with the default sizes, global
   batch 512) on a synthetic dataset of 4096 regions and four 32-d table views, with
   ``devices=1`` and with ``devices=2, strategy="ddp"`` (gloo, CPU), through
   `CookieEmbedder.fit`. Each setting is trained for E1 and E2 epochs; the throughput is
   regions * (E2 - E1) / (t(E2) - t(E1)), which removes process start-up and set-up costs.
   Training children run with OMP_WAIT_POLICY=PASSIVE (see TRAIN_ENV).

Writes benchmarks/results/scale.md and the raw numbers in scale.json (`--report-only`
rewrites the Markdown from them).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT.parent / "shared" / "data" / "helsinki"
OUT = ROOT / "benchmarks" / "results" / "scale.md"
LAYERS = ("cells", "buildings", "landcover", "roads", "stops")
FEATURE_LAYERS = ("buildings", "landcover", "roads", "stops")
SHIFT_M = 13_000.0
TRAIN_REGIONS, TRAIN_DIM, TRAIN_VIEWS, TRAIN_BATCH = 4096, 32, 4, 512
# OpenMP threads that spin-wait crawl when other jobs share the 2 cores (a CooKIE step with 2
# torch threads took 17.5 s instead of 0.25 s here); sleeping waits avoid it
TRAIN_ENV = {"OMP_WAIT_POLICY": "PASSIVE"}


def maxrss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


# ---------------------------------------------------------------- data
def replicate(dst: Path, copies: int) -> dict[str, int]:
    """`copies` translated copies of every layer on a square grid (cells get suffixed ids)."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from seedruns import replicate_layers

    return replicate_layers(DATA, dst, LAYERS, copies, SHIFT_M,
                            per_row=math.ceil(math.sqrt(copies)), suffix=".fgb")


def subdivide(dst: Path, k: int) -> dict[str, int]:
    """The 1x layers with every cell split into k x k sub-cells (its bounding box cut in k x k,
    clipped to the cell)."""
    from cookie.sources.readers import read_vector

    dst.mkdir(parents=True, exist_ok=True)
    cells = read_vector(DATA / "cells.gpkg")
    x0, y0, x1, y1 = cells.geometry.bounds.to_numpy().T
    geoms, ids = [], []
    for i in range(k):
        for j in range(k):
            boxes = shapely.box(x0 + (x1 - x0) * i / k, y0 + (y1 - y0) * j / k,
                                x0 + (x1 - x0) * (i + 1) / k, y0 + (y1 - y0) * (j + 1) / k)
            geoms.append(shapely.intersection(cells.geometry.to_numpy(), boxes))
            ids.append(cells["cell_id"].astype(str) + f"_{i}{j}")
    sub = gpd.GeoDataFrame({"cell_id": pd.concat(ids, ignore_index=True)},
                           geometry=np.concatenate(geoms), crs=cells.crs)
    sub = sub[shapely.area(sub.geometry.to_numpy()) > 1.0]
    sub.to_file(dst / "cells.fgb", engine="pyogrio")
    sizes = {"cells": len(sub)}
    for name in FEATURE_LAYERS:
        gdf = read_vector(DATA / f"{name}.gpkg")
        gdf.to_file(dst / f"{name}.fgb", engine="pyogrio")
        sizes[name] = len(gdf)
    return sizes


def featurize_config(folder: Path) -> Path:
    """benchmarks/helsinki/helsinki.toml pointing at the folder's FlatGeobuf files."""
    text = (ROOT / "benchmarks" / "helsinki" / "helsinki.toml").read_text()
    for name in LAYERS:
        text = text.replace(f"../../../shared/data/helsinki/{name}.gpkg",
                            str(folder / f"{name}.fgb"))
    path = folder / "config.toml"
    path.write_text(text)
    return path


def training_config(folder: Path) -> Path:
    """A synthetic dataset: square regions and four table views with shared latent structure."""
    import tomli_w

    folder.mkdir(parents=True, exist_ok=True)
    n, side = TRAIN_REGIONS, int(math.ceil(math.sqrt(TRAIN_REGIONS)))
    ids = [f"r{i}" for i in range(n)]
    geoms = shapely.box(np.arange(n) % side * 100.0, np.arange(n) // side * 100.0,
                        np.arange(n) % side * 100.0 + 100, np.arange(n) // side * 100.0 + 100)
    gpd.GeoDataFrame({"region_id": ids}, geometry=geoms, crs="EPSG:3067").to_file(
        folder / "regions.gpkg")
    rng = np.random.default_rng(0)
    latent = rng.normal(size=(n, 8))
    views = []
    for k in range(TRAIN_VIEWS):
        values = latent @ rng.normal(size=(8, TRAIN_DIM)) + 0.5 * rng.normal(size=(n, TRAIN_DIM))
        frame = pd.DataFrame(values, columns=[f"v{k}_{j}" for j in range(TRAIN_DIM)])
        frame.insert(0, "region_id", ids)
        frame.to_parquet(folder / f"view{k}.parquet")
        views.append({"name": f"v{k}", "kind": "table", "path": f"view{k}.parquet"})
    cfg = {"name": "synthetic", "crs": "EPSG:3067",
           "regions": {"path": "regions.gpkg", "id_column": "region_id"}, "views": views,
           "method": {"name": "cookie", "pretrain_epochs": 0, "batch_size": TRAIN_BATCH}}
    (folder / "config.toml").write_text(tomli_w.dumps(cfg))
    return folder / "config.toml"


# ---------------------------------------------------------------- children
def child_featurize(args: argparse.Namespace) -> dict:
    from cookie.config import load_config
    from cookie.sources.regions import load_regions

    base = maxrss_mb()
    t0 = time.perf_counter()
    cfg = load_config(args.config)
    regions = load_regions(cfg)
    out: dict = {"regions": len(regions), "baseline_mb": base}
    if args.mode == "single":
        from cookie.features import featurize

        t1 = time.perf_counter()
        for v in cfg.views:
            featurize(v, regions)
        out["featurize_s"] = time.perf_counter() - t1
    elif args.mode in ("threads", "sync"):
        from cookie.features.tiling import dask_runner, featurize_tiled, tile_count, tile_keys

        keys = tile_keys(regions, size_m=args.tile_m)
        out["tiles"] = tile_count(keys)
        t1 = time.perf_counter()
        with dask_runner(args.mode, args.workers) as run:
            for v in cfg.views:
                featurize_tiled(v, regions, keys, run)
        out["featurize_s"] = time.perf_counter() - t1
    else:
        import importlib

        from distributed import get_client

        from cookie.features.tiling import dask_runner, featurize_tiled, tile_count, tile_keys

        keys = tile_keys(regions, size_m=args.tile_m)
        out["tiles"] = tile_count(keys)
        t1 = time.perf_counter()
        with dask_runner(None, args.workers) as run:
            client = get_client()
            client.run(importlib.import_module, "cookie.features.tiling")  # warm the workers
            out["cluster_start_s"] = time.perf_counter() - t1
            t2 = time.perf_counter()
            for v in cfg.views:
                featurize_tiled(v, regions, keys, run)
            out["featurize_s"] = time.perf_counter() - t2
            peaks = client.run(maxrss_mb)
            out["worker_peak_mb"] = sorted(peaks.values())
    out["total_s"] = time.perf_counter() - t0
    out["peak_mb"] = maxrss_mb()
    return out


def child_train(args: argparse.Namespace) -> dict | None:
    from cookie.config import load_config, with_method
    from cookie.dataset.dataset import load_dataset
    from cookie.training.embedder import CookieEmbedder

    cfg = with_method(load_config(args.config), epochs=args.train_epochs, devices=args.devices,
                      strategy="ddp" if args.devices > 1 else "auto")
    ds = load_dataset(cfg, cache_dir=None)
    t0 = time.perf_counter()
    model = CookieEmbedder.from_config(cfg).fit(ds)
    seconds = time.perf_counter() - t0
    if getattr(model, "global_rank_", 0) != 0:
        return None
    return {"seconds": seconds, "epochs": args.train_epochs, "devices": args.devices}


LOAD: list[float] = []


def run_child(*argv: str, timeout: float = 600, env: dict | None = None) -> dict:
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as fh:
        out = Path(fh.name)
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", *argv, "--json", str(out)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=ROOT,
                          env=None if env is None else os.environ | env)
    if proc.returncode != 0:
        raise RuntimeError(f"{shlex.join(cmd)} failed:\n{proc.stderr[-3000:]}")
    result = json.loads(out.read_text())
    out.unlink()
    LOAD.append(round(os.getloadavg()[0], 2))
    return result


# ---------------------------------------------------------------- report
def fit_line(x: list[float], y: list[float]) -> tuple[float, float]:
    slope, intercept = np.polyfit(np.asarray(x, float), np.asarray(y, float), 1)
    return float(intercept), float(slope)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, nargs="+", default=[1, 4, 16])
    parser.add_argument("--split", type=int, nargs="+", default=[2, 4],
                        help="k for the k x k sub-cell series (regions only)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--tile-m", type=float, default=3000.0)
    parser.add_argument("--epochs", type=int, nargs=2, default=[2, 6])
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--report-only", action="store_true",
                        help="rewrite the Markdown from the raw results (<out>.json)")
    parser.add_argument("--child", choices=["featurize", "train"])
    parser.add_argument("--config", type=Path)
    parser.add_argument("--mode", choices=["single", "sync", "threads", "tiled"],
                        default="single")
    parser.add_argument("--devices", type=int, default=1)
    parser.add_argument("--train-epochs", type=int, default=1)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    if args.child:
        result = child_featurize(args) if args.child == "featurize" else child_train(args)
        if result is not None:
            args.json.write_text(json.dumps(result))
        return
    raw_path = args.out.with_suffix(".json")
    if args.report_only:
        raw = json.loads(raw_path.read_text())
        args.tile_m, args.workers, args.epochs = raw["tile_m"], raw["workers"], raw["epochs"]
        args.copies = [r["copies"] for r in raw["rows"]]
        text = report(raw["rows"], raw["split_rows"], {int(k): v for k, v in
                                                        raw["train"].items()},
                      args, raw["command"], raw["machine"], raw["elapsed_s"],
                      raw.get("load"))
        args.out.write_text(text, encoding="utf-8")
        print(text)
        return
    if not (DATA / "cells.gpkg").exists():
        sys.exit(f"{DATA}: Helsinki data not found")
    from cookie.io.outputs import machine_description

    command = ".venv/bin/python benchmarks/scale/run.py" + "".join(
        f" {a}" for a in sys.argv[1:])
    start = time.perf_counter()
    rows, split_rows = [], []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for k in args.copies:
            folder = tmp / f"x{k}"
            sizes = replicate(folder, k)
            config = featurize_config(folder)
            single = run_child("featurize", "--config", str(config), "--mode", "single")
            tiled = run_child("featurize", "--config", str(config), "--mode", "tiled",
                              "--workers", str(args.workers), "--tile-m", str(args.tile_m))
            threads = run_child("featurize", "--config", str(config), "--mode", "threads",
                                "--workers", str(args.workers), "--tile-m", str(args.tile_m))
            sync = run_child("featurize", "--config", str(config), "--mode", "sync",
                             "--tile-m", str(args.tile_m))
            rows.append({"copies": k, "sizes": sizes, "single": single, "tiled": tiled,
                         "threads": threads, "sync": sync})
            print(f"{k}x: single {single['featurize_s']:.1f} s, tiled "
                  f"{tiled['featurize_s']:.1f} s, threads {threads['featurize_s']:.1f} s, "
                  f"sync {sync['featurize_s']:.1f} s", flush=True)
        for k in args.split:
            folder = tmp / f"split{k}"
            sizes = subdivide(folder, k)
            single = run_child("featurize", "--config", str(featurize_config(folder)),
                               "--mode", "single")
            split_rows.append({"split": k, "sizes": sizes, "single": single})
            print(f"split {k}x{k}: single {single['featurize_s']:.1f} s", flush=True)
        train_cfg = training_config(tmp / "train")
        train = {}
        for devices in (1, 2):
            runs = [run_child("train", "--config", str(train_cfg), "--devices", str(devices),
                              "--train-epochs", str(e), env=TRAIN_ENV) for e in args.epochs]
            train[devices] = runs
            print(f"train devices={devices}: {[round(r['seconds'], 1) for r in runs]}",
                  flush=True)
    elapsed = time.perf_counter() - start
    machine = machine_description()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    raw_path.write_text(json.dumps({
        "command": command, "machine": machine, "elapsed_s": elapsed, "tile_m": args.tile_m,
        "workers": args.workers, "epochs": args.epochs, "rows": rows,
        "split_rows": split_rows, "train": train, "load": LOAD}, indent=1))
    text = report(rows, split_rows, train, args, command, machine, elapsed, LOAD)
    args.out.write_text(text, encoding="utf-8")
    print(text)


def n_features(sizes: dict[str, int]) -> int:
    return sum(sizes[n] for n in FEATURE_LAYERS)


def load_text(load: list[float] | None) -> str:
    if not load:
        return "not recorded"
    return f"{min(load):.1f} to {max(load):.1f}, sampled between runs"


def report(rows: list[dict], split_rows: list[dict], train: dict, args: argparse.Namespace,
           command: str, machine: str, elapsed: float,
           raw_load: list[float] | None = None) -> str:
    lines = [
        "# Scale: partitioned featurization and distributed training", "",
        f"Command: `{command}`  ", f"Machine: {machine}  ",
        f"Whole benchmark: {elapsed / 60:.1f} min. One run per cell (no repeats: the budget "
        "is about 10 minutes). The machine was shared with other jobs (1-minute load average "
        f"{load_text(raw_load)}), so single numbers are noisy: two full runs of this script "
        "differed by up to 2x in training throughput and about 10 % in featurization "
        "times.", "",
        "## Featurization (four Helsinki views, footprint images included)", "",
        f"Helsinki layers replicated side by side; tiled = {args.tile_m / 1000:g} km tiles on "
        f"a dask LocalCluster of {args.workers} single-threaded worker processes, or on dask's "
        f"threaded scheduler with {args.workers} threads. Seconds "
        "exclude reading the region file; they include reading the layers (FlatGeobuf). "
        "Peak memory is the child process's maximum resident set (tiled: the driver process, "
        "plus the largest worker).", "",
        "| copies | regions | buildings | features | tiles | single s | single peak MB | "
        "tiled, sync s | tiled, 2 threads s | threads peak MB | tiled, 2 processes s | "
        "cluster start s | processes peak MB (driver + largest worker) |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        s, t, h, y, z = r["single"], r["tiled"], r["threads"], r["sync"], r["sizes"]
        lines.append(
            f"| {r['copies']}x | {z['cells']} | {z['buildings']} | {n_features(z)} | "
            f"{t['tiles']} | {s['featurize_s']:.1f} | {s['peak_mb']:.0f} | "
            f"{y['featurize_s']:.1f} | {h['featurize_s']:.1f} | {h['peak_mb']:.0f} | "
            f"{t['featurize_s']:.1f} | {t['cluster_start_s']:.1f} | "
            f"{t['peak_mb']:.0f} + {max(t['worker_peak_mb']):.0f} |")
    lines += ["", f"Baseline resident set of a child after imports: about "
              f"{rows[0]['single']['baseline_mb']:.0f} MB. \"tiled, sync\" runs the same "
              "tiles one after the other in one process: its gap to \"single\" is the cost "
              "of tiling itself (windows, guard regions, reassembly). The parallel runs can "
              "only gain what the machine has to spare: with other jobs keeping both cores "
              f"busy (load average {load_text(raw_load)}), two workers get little more CPU "
              "than one, and the process cluster also pays for shipping each tile's features "
              "to the workers (pickling) and the results back. Memory: with tiles, the "
              "driver holds the layers and the assembled features, a worker only the "
              "windows and intermediate geometries of its current tile.", "",
              "Regions only (1x layers, every cell split into k x k sub-cells), single "
              "process:", "",
              "| split | regions | features | single s | single peak MB |",
              "|---:|---:|---:|---:|---:|"]
    for r in split_rows:
        s, z = r["single"], r["sizes"]
        lines.append(f"| {r['split']}x{r['split']} | {z['cells']} | {n_features(z)} | "
                     f"{s['featurize_s']:.1f} | {s['peak_mb']:.0f} |")
    # fits
    feats = [n_features(r["sizes"]) for r in rows]
    a_s, b_s = fit_line(feats, [r["single"]["featurize_s"] for r in rows])
    a_t, b_t = fit_line(feats, [r["tiled"]["featurize_s"] for r in rows])
    one = rows[0]["sizes"]
    scale = 1e6 / one["buildings"]
    f_target, r_helsinki = n_features(one) * scale, one["cells"] * scale
    x = [(n_features(r["sizes"]), r["sizes"]["cells"]) for r in rows + split_rows]
    y = [r["single"]["featurize_s"] for r in rows + split_rows]
    design = np.column_stack([np.ones(len(x)), np.asarray(x, float)])
    coef, *_ = np.linalg.lstsq(design, np.asarray(y, float), rcond=None)
    pred = float(coef @ [1.0, f_target, 1e5])
    lines += [
        "", "## Linear fits and extrapolation", "",
        f"Replicated series (regions grow with the features, {one['cells']} regions per "
        f"{one['buildings']} buildings):", "",
        f"- single process: time = {a_s:.2f} s + {b_s * 1e6:.1f} s per million features",
        f"- tiled, {args.workers} processes: time = {a_t:.2f} s + {b_t * 1e6:.1f} s per "
        "million features",
        f"- 10^6 buildings with the other layers in Helsinki's proportion = "
        f"{f_target / 1e6:.2f} M features over {r_helsinki:,.0f} regions: single "
        f"{a_s + b_s * f_target:.0f} s, tiled on 2 processes {a_t + b_t * f_target:.0f} s "
        "on this machine (" + (
            f"extrapolated {f_target / max(feats):.1f}x beyond the largest measured size)"
            if f_target > max(feats) else "inside the measured range)"), "",
        "Two-variable fit on all single-process runs (replicated + sub-cell series): "
        f"time = {coef[0]:.2f} s + {coef[1] * 1e6:.1f} s per million features + "
        f"{coef[2] * 1e3:.2f} s per thousand regions. For 10^6 buildings "
        f"({f_target / 1e6:.2f} M features) over 10^5 regions: about {pred:.0f} s in one "
        "process (a per-region cost dominated by the 32x32 footprint images).",
    ]
    # training
    e1, e2 = args.epochs
    lines += ["", "## Training throughput (synthetic, CPU)", "",
              f"{TRAIN_REGIONS} regions, {TRAIN_VIEWS} table views of {TRAIN_DIM} features, "
              f"CooKIE stage 2 with the default sizes, global batch {TRAIN_BATCH} (per process "
              f"{TRAIN_BATCH} / devices). Throughput = regions x ({e2} - {e1}) epochs / "
              f"(t({e2}) - t({e1})). One process uses 2 torch threads, each DDP process 1 "
              "(Lightning's default). Run with OMP_WAIT_POLICY=PASSIVE: with OpenMP's default "
              "spin-waiting, one CooKIE step with 2 threads took 17.5 s instead of 0.25 s on "
              "this shared machine (a trial run measured 24 regions/s for one process).", "",
              f"| processes | fit s ({e1} epochs) | fit s ({e2} epochs) | regions / s |",
              "|---:|---:|---:|---:|"]
    for devices, runs in train.items():
        t1, t2 = runs[0]["seconds"], runs[1]["seconds"]
        thr = TRAIN_REGIONS * (e2 - e1) / (t2 - t1) if t2 > t1 else float("nan")
        label = "1" if devices == 1 else f"{devices} (DDP, gloo)"
        lines.append(f"| {label} | {t1:.1f} | {t2:.1f} | {thr:,.0f} |")
    f64 = n_features(one) * 64
    m0, m1 = fit_line(feats, [r["single"]["peak_mb"] for r in rows])
    a_h, b_h = fit_line(feats, [r["threads"]["featurize_s"] for r in rows])
    lines += ["", "## Not run", ""]
    if 64 not in args.copies:
        lines.append(
            f"- 64x ({one['buildings'] * 64:,} buildings, {one['cells'] * 64:,} regions): "
            f"projected from the fits, single {a_s + b_s * f64:.0f} s, 2 processes "
            f"{a_t + b_t * f64:.0f} s, 2 threads {a_h + b_h * f64:.0f} s, about "
            f"{(m0 + m1 * f64) / 1024:.1f} GB peak in one process, plus writing the replicated "
            "files: with the runs above, beyond the ~10-minute budget of this benchmark on "
            "the shared 2-core machine, so it was not measured (`--copies 1 4 16 64` runs "
            "it).")
    lines += [
              "- Multi-machine runs (a dask scheduler address, DDP across nodes): only one "
              "machine here.", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
