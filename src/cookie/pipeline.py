"""The jobs behind the CLI: fit a run directory, evaluate an embeddings table."""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

from cookie.config import DatasetConfig, load_config, with_method
from cookie.dataset import RegionDataset, load_dataset
from cookie.errors import TrainingDiverged
from cookie.evaluation.evaluate import evaluate_dataset
from cookie.io.atomic import atomic_dir
from cookie.io.outputs import (
    data_files,
    package_versions,
    read_embeddings,
    sha256_file,
    write_embeddings,
    write_json,
)


def checkpoint_dir_for(out: Path) -> Path:
    """Checkpoints live beside the run directory until the run completes."""
    out = Path(out)
    return out.parent / f".{out.name}.checkpoints"


def run_record(cfg: DatasetConfig, seconds: float, extra: dict[str, Any]) -> dict[str, Any]:
    return {
        "config": str(cfg.source),
        "config_sha256": sha256_file(cfg.source) if cfg.source else None,
        "method": cfg.method.model_dump(mode="json"),
        "seed": cfg.method.seed,
        "versions": package_versions(),
        "data_files": {str(p): sha256_file(p) for p in data_files(cfg)},
        "fit_seconds": round(seconds, 2),
        **extra,
    }


def check_tasks(ds: RegionDataset) -> None:
    """Compute every task's target once, so that a missing label column or a bad expression
    is a `CookieError` before training rather than after it."""
    from cookie.labels import task_target

    for task in ds.config.tasks:
        task_target(task, ds.labels)


def summary_frame(report) -> pd.DataFrame:
    """Main metric per task, protocol and probe: a long, narrow frame for terminals."""
    from cookie.evaluation.evaluate import MAIN_METRIC
    from cookie.experiments import fmt

    t = report.table
    main = t[t.metric == t.task_type.map(MAIN_METRIC)]
    return pd.DataFrame({
        "task": main.task, "protocol": main.protocol, "probe": main.probe,
        "metric": main.metric,
        "score": [fmt(m, s) for m, s in zip(main["mean"], main["std"], strict=True)],
    })


def fit_run(config: Path | str, out: Path | str, overrides: dict[str, Any] | None = None,
            resume: bool = False, cache_dir: Path | None = Path(".cookie_cache"),
            evaluate: bool = True, log: Callable[[str], None] = print,
            progress: bool = True) -> pd.DataFrame | None:
    """Featurize, train, write `out/` atomically: model/, config snapshot, embeddings, report."""
    from cookie.embedder import CookieEmbedder

    out = Path(out)
    cfg = load_config(config)
    cfg = with_method(cfg, **(overrides or {}))
    ds = load_dataset(cfg, cache_dir=cache_dir)
    log(f"dataset {cfg.name}: {len(ds.regions)} regions, views "
        + ", ".join(f"{n} {tuple(v.input_shape)}" for n, v in ds.views.items()))
    if evaluate:
        check_tasks(ds)  # a bad task target fails now, not after training
    ckpt = checkpoint_dir_for(out)
    if not resume and ckpt.exists():
        shutil.rmtree(ckpt)
    start = time.perf_counter()
    try:
        embedder = CookieEmbedder().fit(
            ds, checkpoint_dir=ckpt if cfg.method.name != "raw" else None, resume=resume,
            progress=progress)
        seconds = time.perf_counter() - start
        if getattr(embedder, "global_rank_", 0) != 0:
            return None  # a DDP worker process: rank 0 writes the run
        if getattr(embedder, "resumed_from_", None):
            log(f"resumed from {embedder.resumed_from_}")
        emb = embedder.transform(ds)
    except TrainingDiverged:
        if not resume:  # this run's own checkpoints of a diverging model: nothing to keep
            shutil.rmtree(ckpt, ignore_errors=True)
        raise
    summary = None
    with atomic_dir(out) as tmp:
        embedder.save(tmp / "model")
        shutil.copyfile(cfg.source, tmp / f"config{Path(cfg.source).suffix}")
        write_json(cfg.model_dump(mode="json"), tmp / "config.resolved.json")
        write_embeddings(emb, tmp / "embeddings.parquet", ds.regions)
        write_json(run_record(cfg, seconds, {"regions": len(emb), "dim": emb.shape[1]}),
                   tmp / "run.json")
        if evaluate and cfg.tasks:
            report = evaluate_dataset(emb, ds, str(out / "embeddings.parquet"))
            report.to_json(tmp / "report.json")
            (tmp / "report.md").write_text(report.to_markdown())
            summary = summary_frame(report)
    shutil.rmtree(ckpt, ignore_errors=True)
    log(f"trained {cfg.method.name} in {seconds:.1f} s")
    return summary


def evaluate_run(config: Path | str, embeddings: Path, out: Path | None,
                 log: Callable[[str], None] = print,
                 id_column: str | None = None) -> pd.DataFrame:
    """Evaluate an embeddings table keyed by `id_column` (default: `region_id`, else the
    config's regions or labels id column)."""
    cfg = load_config(config)
    names = (id_column,) if id_column else ("region_id", cfg.regions.id_column,
                                            cfg.labels.id_column)
    emb = read_embeddings(embeddings, tuple(dict.fromkeys(n for n in names if n)))
    from cookie.labels import load_labels
    from cookie.regions import load_regions

    regions = load_regions(cfg)
    ds = RegionDataset(cfg, regions, {}, load_labels(cfg, regions))
    report = evaluate_dataset(emb, ds, str(embeddings))
    if out is not None:
        with atomic_dir(Path(out)) as tmp:
            report.to_json(tmp / "report.json")
            (tmp / "report.md").write_text(report.to_markdown())
    return summary_frame(report)
