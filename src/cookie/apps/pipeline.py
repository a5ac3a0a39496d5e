"""The jobs behind the CLI: fit a run directory, evaluate an embeddings table."""

from __future__ import annotations

import contextlib
import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

from cookie.config import DatasetConfig, load_config, with_method
from cookie.constants import REGION_INDEX
from cookie.dataset.dataset import RegionDataset, load_dataset
from cookie.errors import ConfigError, DataError, Interrupted, TrainingDiverged
from cookie.evaluation.baseline import evaluate_with_baseline
from cookie.evaluation.report import EvaluationReport
from cookie.io.atomic import Staging, output_dir
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
    from cookie.sources.labels import task_target

    for task in ds.config.tasks:
        task_target(task, ds.labels)


def summary_frame(report: Any) -> pd.DataFrame:
    """Main metric per task, protocol and probe: a long, narrow frame for terminals."""
    from cookie.evaluation.report import MAIN_METRIC, fmt

    t = report.table
    main = t[t.metric == t.task_type.map(MAIN_METRIC)]
    return pd.DataFrame({
        "task": main.task, "protocol": main.protocol, "probe": main.probe,
        "metric": main.metric,
        "score": [fmt(m, s) for m, s in zip(main["mean"], main["std"], strict=True)],
    })


def ddp_worker_process() -> bool:
    """Whether this process is a DDP worker started by Lightning or torchrun (rank > 0): it
    trains but writes nothing (rank 0 writes the run)."""
    return any(os.environ.get(k, "0") != "0" for k in ("RANK", "LOCAL_RANK", "NODE_RANK"))


def check_checkpoint(ckpt: Path, resume: bool, overwrite: bool) -> None:
    """An interrupted run's checkpoint is kept unless the user says what to do with it."""
    if resume or not ckpt.exists():
        return
    if not overwrite:
        raise DataError(f"{ckpt}: checkpoint of an interrupted run; pass --resume to continue "
                        "it or --overwrite to start over")
    shutil.rmtree(ckpt)


def interrupted_note(out: Path, ckpt: Path) -> str:
    kept = (f"the last finished epoch's checkpoint {ckpt / 'last.ckpt'} is kept: rerun with "
            "--resume to continue" if (ckpt / "last.ckpt").is_file()
            else "no epoch had finished, so there is no checkpoint to resume from")
    return f"nothing was written to {out}; {kept}"


def fit_run(config: Path | str, out: Path | str, overrides: dict[str, Any] | None = None,
            resume: bool = False, cache_dir: Path | None = Path(".cookie_cache"),
            evaluate: bool = True, log: Callable[[str], None] = print,
            progress: bool = True, overwrite: bool = False) -> pd.DataFrame | None:
    """Featurize, train, write `out/` atomically: model/, config snapshot, embeddings, report.

    The output is checked (and locked) before any work: see `cookie.io.atomic.output_dir`.
    """
    out = Path(out)
    cfg = load_config(config)
    cfg = with_method(cfg, **(overrides or {}))
    ckpt = checkpoint_dir_for(out)
    if ddp_worker_process():  # rank 0 holds the output's lock and writes it
        return _fit(cfg, out, None, ckpt, resume, cache_dir, evaluate, log, progress)
    with output_dir(out, overwrite, inputs=[cfg.source, *data_files(cfg)], what="fit") as staging:
        check_checkpoint(ckpt, resume, overwrite)
        try:
            summary = _fit(cfg, out, staging, ckpt, resume, cache_dir, evaluate, log, progress)
        except Interrupted as exc:
            exc.note = interrupted_note(out, ckpt)
            raise
        except TrainingDiverged:
            if not resume:  # this run's own checkpoints of a diverging model: nothing to keep
                shutil.rmtree(ckpt, ignore_errors=True)
            raise
    shutil.rmtree(ckpt, ignore_errors=True)
    return summary


def _fit(cfg: DatasetConfig, out: Path, staging: Staging | None, ckpt: Path, resume: bool,
         cache_dir: Path | None, evaluate: bool, log: Callable[[str], None],
         progress: bool) -> pd.DataFrame | None:
    """`fit_run`'s work, writing the run into ``staging`` (None: a DDP worker, which writes
    nothing)."""
    from cookie.methods.registry import get_method
    from cookie.training.embedder import CookieEmbedder

    ds = load_dataset(cfg, cache_dir=cache_dir)
    log(f"dataset {cfg.name}: {len(ds.regions)} regions, views "
        + ", ".join(f"{n} {tuple(v.input_shape)}" for n, v in ds.views.items()))
    if evaluate:
        check_tasks(ds)  # a bad task target fails now, not after training
    start = time.perf_counter()
    trained = get_method(cfg.method.name).trained  # `raw` has nothing to checkpoint
    embedder = CookieEmbedder.from_config(cfg).fit(ds, checkpoint_dir=ckpt if trained else None,
                                                   resume=resume, progress=progress)
    seconds = time.perf_counter() - start
    if staging is None or getattr(embedder, "global_rank_", 0) != 0:
        return None  # a DDP worker process: rank 0 writes the run
    if getattr(embedder, "resumed_from_", None):
        log(f"resumed from {embedder.resumed_from_}")
    emb = embedder.transform(ds)
    summary = None
    tmp = staging.path
    embedder.save(tmp / "model")
    assert cfg.source is not None  # a run's config is read from a file
    shutil.copyfile(cfg.source, tmp / f"config{Path(cfg.source).suffix}")
    write_json(cfg.model_dump(mode="json"), tmp / "config.resolved.json")
    write_embeddings(emb, tmp / "embeddings.parquet", ds.regions)
    write_json(run_record(cfg, seconds, {"regions": len(emb), "dim": emb.shape[1]}),
               tmp / "run.json")
    report = None
    if evaluate and cfg.tasks:
        report = evaluate_with_baseline(emb, ds, str(out / "embeddings.parquet"))
        report.to_json(tmp / "report.json")
        (tmp / "report.md").write_text(report.to_markdown())
        summary = summary_frame(report)
    elif evaluate:
        log(f"note: {cfg.source} defines no tasks, so nothing was evaluated")
    write_run_maps(tmp, ds, emb, report, log)
    log(f"trained {cfg.method.name} in {seconds:.1f} s")
    return summary


def write_run_maps(folder: Path, ds: RegionDataset, emb: pd.DataFrame,
                   report: EvaluationReport | None,
                   log: Callable[[str], None]) -> None:
    """The run's maps (`cookie.apps.maps.write_maps`); a map that cannot be drawn is a
    warning, never a failed run."""
    from cookie.apps.maps import write_maps
    from cookie.evaluation.analysis import view_features

    try:
        write_maps(folder, ds.regions, emb, report, ds.config, view_features(ds),
                   seed=ds.config.method.seed)
    except Exception as exc:  # noqa: BLE001 - the embeddings and report are what matter
        log(f"warning: maps not drawn ({type(exc).__name__}: {exc})")


def _dataset_for_baseline(cfg: DatasetConfig, cache_dir: Path | None,
                          log: Callable[[str], None]) -> RegionDataset | None:
    """The featurized dataset, for the raw-views baseline; None (with a warning) when its
    views cannot be featurized, and the report then has no baseline."""
    from cookie.errors import CookieError

    try:
        return load_dataset(cfg, cache_dir=cache_dir)
    except CookieError as exc:
        log(f"warning: no raw-views baseline in the report: the views cannot be featurized "
            f"({exc})")
        return None


def evaluate_run(config: Path | str, embeddings: Path, out: Path | None,
                 log: Callable[[str], None] = print, overwrite: bool = False,
                 id_column: str | None = None,
                 cache_dir: Path | None = Path(".cookie_cache")) -> pd.DataFrame:
    """Evaluate an embeddings table keyed by `id_column` (default: `region_id`, else the
    config's regions or labels id column) on the config's tasks; with ``out``, write the
    report folder (checked and locked before any work)."""
    from cookie.sources.labels import load_labels
    from cookie.sources.regions import load_regions

    cfg = load_config(config)
    if not cfg.tasks:
        raise ConfigError(f"{cfg.source}: no [[tasks]] to evaluate on (add a [[tasks]] "
                          "section naming a label column as its target)")
    guard = contextlib.nullcontext(None) if out is None else output_dir(
        out, overwrite, inputs=[cfg.source, embeddings, *data_files(cfg)], what="evaluate")
    with guard as staging:
        names = (id_column,) if id_column else (REGION_INDEX, cfg.regions.id_column,
                                                cfg.labels.id_column)
        emb = read_embeddings(embeddings, tuple(dict.fromkeys(n for n in names if n)))
        ds = _dataset_for_baseline(cfg, cache_dir, log)
        if ds is None:
            regions = load_regions(cfg)
            ds = RegionDataset(cfg, regions, {}, load_labels(cfg, regions))
        report = evaluate_with_baseline(emb, ds, str(embeddings))
        if staging is not None:
            report.to_json(staging.path / "report.json")
            (staging.path / "report.md").write_text(report.to_markdown())
    return summary_frame(report)
