"""Benchmark helpers: multi-seed runs of one or more methods on a dataset, evaluated and
aggregated, Markdown rows, grid results, replicated layers. Imported by the scripts beside it
(`sys.path` gets this folder); not part of the library."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from cookie.dataset.dataset import RegionDataset
from cookie.evaluation.report import fmt
from cookie.io.outputs import machine_description  # noqa: F401 - re-exported for the scripts


@dataclass
class SeedRuns:
    """Per-seed evaluation reports, fit times and the last seed's embeddings of a method."""

    method: str
    overrides: dict[str, Any]
    reports: list = field(default_factory=list)
    fit_seconds: list[float] = field(default_factory=list)
    embeddings: pd.DataFrame | None = None
    model: Any = None

    def aggregate(self) -> pd.DataFrame:
        from cookie.evaluation.aggregate import aggregate_seeds

        return aggregate_seeds(self.reports)


def run_seeds(ds: RegionDataset, method: str, seeds: list[int],
              overrides: dict[str, Any] | None = None,
              say: Callable[[str], None] = print, evaluate: bool = True) -> SeedRuns:
    """Fit `method` once per seed with the same budget and evaluate each embedding."""
    from cookie.evaluation.evaluate import evaluate_dataset
    from cookie.training.embedder import CookieEmbedder

    overrides = dict(overrides or {})
    runs = SeedRuns(method, overrides)
    for seed in seeds:
        start = time.perf_counter()
        model = CookieEmbedder.from_config(ds.config, **{**overrides, "name": method,
                                                         "seed": seed}).fit(ds)
        runs.fit_seconds.append(time.perf_counter() - start)
        emb = model.transform(ds)
        if evaluate:
            runs.reports.append(evaluate_dataset(emb, ds, f"{method} seed {seed}"))
        runs.embeddings, runs.model = emb, model
        say(f"{method} seed {seed}: fit {runs.fit_seconds[-1]:.1f} s")
    return runs


def pick(agg: pd.DataFrame, task: str, protocol: str, probe: str, metric: str = "r2") -> str:
    row = agg[(agg.task == task) & (agg.protocol == protocol) & (agg.probe == probe)
              & (agg.metric == metric)]
    if row.empty:
        return "n/a"
    return fmt(float(row["mean"].iloc[0]), float(row["std"].iloc[0]))


def method_table(runs: dict[str, SeedRuns], tasks: list[str],
                 protocols: tuple[str, ...] = ("robust", "spatial"),
                 probes: tuple[str, ...] = ("ridge_cv", "random_forest"),
                 metric: str = "r2") -> list[str]:
    """Markdown rows: one per (method, probe), one column per (task, protocol)."""
    head = ["method", "probe"] + [f"{t} {p} {metric.upper()}" for t in tasks for p in protocols]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for label, r in runs.items():
        agg = r.aggregate()
        n = len(r.reports)
        for probe in probes:
            cells = [pick(agg, t, p, probe, metric) for t in tasks for p in protocols]
            lines.append(f"| {label} ({n} seed{'s' if n > 1 else ''}) | {probe} | "
                         + " | ".join(cells) + " |")
    return lines


def budget_text(cfg, seeds: list[int], runs: SeedRuns) -> str:
    import numpy as np

    m = cfg.method
    secs = runs.fit_seconds
    return (f"Budget (fixed in the config before any evaluation): {m.pretrain_epochs} intra-view "
            f"epochs, then {m.epochs} joint epochs, batch "
            f"{'full' if m.batch_size == 0 else m.batch_size}"
            f", lr {m.lr}, alpha {m.alpha}, temperature {m.temperature}, embedding "
            f"{m.embedding_dim}. Seeds {seeds}. Fit time per seed "
            f"{np.mean(secs):.1f} ± {np.std(secs):.1f} s. No epoch, seed or setting was chosen "
            "by evaluation folds.")


def read_grid(path: Path, plan: str) -> pd.DataFrame:
    """One row per score of every finished job of `plan` in a grid results file (.jsonl[.gz])."""
    import gzip
    import json

    opener = gzip.open if path.suffix == ".gz" else open
    rows = []
    with opener(path, "rt") as fh:
        for line in fh:
            job = json.loads(line)
            if job["plan"] != plan:
                continue
            for rec in job["table"]:
                rows.append({**rec, "dataset": job["dataset"], "label": job["label"],
                             "seed": job["seed"], "fit_seconds": job["fit_seconds"],
                             "accelerator": job["accelerator"],
                             "experiment": job.get("experiment", ""),
                             "group": job.get("group", "")})
    return pd.DataFrame(rows)


def replicate_layers(src: Path, dst: Path, layers: tuple[str, ...], copies: int,
                     shift_m: float, per_row: int | None = None, suffix: str = ".gpkg",
                     id_layer: str = "cells", id_column: str = "cell_id") -> dict[str, int]:
    """Write `copies` translated copies of every layer `src/<name>.gpkg` to `dst/<name><suffix>`,
    `per_row` copies side by side per row (default: all in one row), `shift_m` apart; the
    region ids of `id_layer` get a `_<copy>` suffix. Returns the feature count per layer."""
    import geopandas as gpd

    from cookie.sources.readers import read_vector

    dst.mkdir(parents=True, exist_ok=True)
    per_row = per_row or copies
    sizes = {}
    for name in layers:
        gdf = read_vector(src / f"{name}.gpkg")
        parts = []
        for i in range(copies):
            part = gdf.copy()
            part["geometry"] = gdf.geometry.translate(xoff=(i % per_row) * shift_m,
                                                      yoff=(i // per_row) * shift_m)
            if name == id_layer:
                part[id_column] = part[id_column].astype(str) + f"_{i}"
            parts.append(part)
        out = gpd.GeoDataFrame(pd.concat(parts, ignore_index=True), crs=gdf.crs)
        out.to_file(dst / f"{name}{suffix}", engine="pyogrio")
        sizes[name] = len(out)
    return sizes
