"""Evaluate region embeddings on a dataset's tasks under every protocol; tidy reports."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import geopandas as gpd
import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from cookie.config import EvaluationConfig, TaskConfig
from cookie.constants import REGION_INDEX
from cookie.errors import DataError
from cookie.evaluation import protocols as P
from cookie.evaluation.probes import N_TREES
from cookie.evaluation.report import (
    COLUMNS,
    EvaluationReport,
    PredKey,
    _plain,
    _std,
    fmt_number,
)
from cookie.sources.labels import task_target
from cookie.sources.readers import as_region_ids

if TYPE_CHECKING:
    from cookie.dataset.dataset import RegionDataset

log = logging.getLogger(__name__)

BLAS_THREADS = 1

Progress = Callable[[str], None]


# ---------------------------------------------------------------- evaluation
def _check_embeddings(embeddings: pd.DataFrame, source: str) -> pd.DataFrame:
    if not isinstance(embeddings, pd.DataFrame):
        raise DataError(f"{source}: embeddings must be a DataFrame indexed by region id")
    if embeddings.shape[0] == 0 or embeddings.shape[1] == 0:
        raise DataError(f"{source}: embeddings are empty (shape {embeddings.shape})")
    if embeddings.index.has_duplicates:
        dup = embeddings.index[embeddings.index.duplicated()][0]
        raise DataError(f"{source}: region id {_plain(dup)!r} appears more than once")
    bad = [c for c in embeddings.columns if not pd.api.types.is_numeric_dtype(embeddings[c])]
    if bad:
        raise DataError(f"{source}: embedding column {bad[0]!r} is not numeric")
    values = embeddings.to_numpy(dtype=float)
    finite = np.isfinite(values)
    if not finite.all():
        row, col = np.argwhere(~finite)[0]
        raise DataError(f"{source}: {int((~finite).sum())} NaN/inf embedding values (first: "
                        f"region {_plain(embeddings.index[row])!r}, column "
                        f"{_plain(embeddings.columns[col])!r})")
    return pd.DataFrame(values, index=embeddings.index, columns=embeddings.columns)


def _align_index(emb: pd.DataFrame, index: pd.Index, source: str) -> pd.DataFrame:
    """The embeddings' ids matched exactly to the regions' id dtype ('7' -> 7; 2.9 or '007'
    for integer ids are refused)."""
    if emb.index.dtype == index.dtype:
        return emb
    emb = emb.copy()
    emb.index = as_region_ids(emb.index, index, source, str(emb.index.name or REGION_INDEX))
    return emb


def _centroids(regions: gpd.GeoDataFrame, ids: pd.Index) -> np.ndarray:
    geo = regions.geometry.loc[ids]
    if geo.crs is not None and geo.crs.is_geographic:
        geo = geo.to_crs(geo.estimate_utm_crs())
    c = geo.centroid
    return np.column_stack([c.x.to_numpy(), c.y.to_numpy()])


def _class_labels(y: pd.Series) -> np.ndarray:
    values = y.to_numpy()
    if values.dtype.kind == "f" and np.all(values == np.round(values)):
        return values.astype(np.int64)
    if values.dtype == object:
        return values.astype(str)
    return values


def evaluate_embeddings(embeddings: pd.DataFrame, labels: pd.DataFrame,
                        regions: gpd.GeoDataFrame, tasks: list[TaskConfig],
                        cfg: EvaluationConfig, source: str = "embeddings", *,
                        progress: Progress | None = None,
                        n_trees: int = N_TREES) -> EvaluationReport:
    """Score ``embeddings`` (rows indexed by region id) on every task under every protocol.

    Rows are matched to ``labels`` (indexed like ``regions``) by region id; regions with a
    NaN target are dropped for that task. Raises :class:`DataError` for NaN/inf embeddings
    or when fewer than half of a task's labeled regions have an embedding.

    BLAS/OpenMP pools are limited to ``BLAS_THREADS`` meanwhile: on these small matrices extra
    threads only add overhead (k-means and ridge ran 10x slower with 2 busy shared cores).
    """
    with threadpool_limits(limits=BLAS_THREADS):
        return _evaluate(embeddings, labels, regions, tasks, cfg, source, progress, n_trees)


def evaluate_dataset(embeddings: pd.DataFrame, dataset: RegionDataset,
                     source: str = "embeddings", *, progress: Progress | None = None,
                     n_trees: int = N_TREES) -> EvaluationReport:
    """:func:`evaluate_embeddings` on a dataset's labels, regions, tasks and evaluation config."""
    return evaluate_embeddings(embeddings, dataset.labels, dataset.regions,
                               list(dataset.config.tasks), dataset.config.evaluation, source,
                               progress=progress, n_trees=n_trees)


def _evaluate(embeddings: pd.DataFrame, labels: pd.DataFrame, regions: gpd.GeoDataFrame,
              tasks: list[TaskConfig], cfg: EvaluationConfig, source: str,
              progress: Progress | None, n_trees: int) -> EvaluationReport:
    emb = _align_index(_check_embeddings(embeddings, source), labels.index, source)
    say = progress or (lambda msg: None)
    rows: list[dict[str, Any]] = []
    preds: dict[PredKey, pd.DataFrame] = {}
    targets = {t.name: task_target(t, labels) for t in tasks}
    labels_source = labels.attrs.get("source", "labels")  # what task errors are about

    labeled_any = pd.Index([])
    for y in targets.values():
        labeled_any = labeled_any.union(y.dropna().index)
    missing = labeled_any.difference(emb.index)
    if len(missing):
        log.warning("%s: %d of %d labeled regions have no embedding and are left out "
                    "(first: %r)", source, len(missing), len(labeled_any), _plain(missing[0]))

    def add(task: TaskConfig, ids: pd.Index, res: P.ProbeResult) -> None:
        if res.flagged:
            log.warning("%s: task %r, %s %s: %d fold(s) blew up and were clipped to the "
                        "training targets' range widened by its span (first: %s); marked "
                        "(!) in the report", source, task.name, res.protocol, res.probe,
                        len(res.flagged), res.flagged[0])
        for metric, values in res.scores.items():
            rows.append({"task": task.name, "task_type": task.type, "protocol": res.protocol,
                         "probe": res.probe, "metric": metric,
                         "mean": float(np.mean(values)), "std": _std(values),
                         "n_regions": len(ids), "n_folds": res.n_folds,
                         "n_repeats": res.n_repeats, "n_flagged": len(res.flagged)})
        frame = res.predictions.drop(columns="row")
        frame.index = ids[res.predictions["row"].to_numpy()]
        frame.index.name = REGION_INDEX
        preds[(task.name, res.protocol, res.probe)] = frame

    def chosen(known: Any) -> list[str] | None:
        if cfg.probes is None:
            return None
        picked = [p for p in cfg.probes if p in known]
        return picked or None

    reg_probes, cls_probes = chosen(P.REGRESSION_PROBES), chosen(P.CLASSIFICATION_PROBES)
    for task in tasks:
        y = targets[task.name].dropna()
        ids = y.index[y.index.isin(emb.index)]
        if len(ids) < 0.5 * len(y):
            raise DataError(f"{source}: embeddings cover only {len(ids)} of the {len(y)} "
                            f"labeled regions of task {task.name!r}")
        X = emb.loc[ids].to_numpy()
        yv = y.loc[ids]
        needed = max([cfg.folds, cfg.spatial_folds]
                     + ([cfg.literature_splits] if cfg.literature else []))
        if task.type != "clustering" and len(ids) < needed:
            raise DataError(f"{labels_source}: task {task.name!r} has {len(ids)} labeled "
                            f"regions with embeddings, fewer than the {needed} folds asked for")
        if task.type == "regression":
            yf = yv.to_numpy(dtype=float)
            if np.all(yf == yf[0]):
                log.warning("%s: task %r: the target is constant (%s in all %d regions); R2 "
                            "is undefined and reported as n/a", source, task.name,
                            fmt_number(float(yf[0])), len(yf))
            if cfg.literature:
                say(f"{task.name}: literature protocol")
                add(task, ids, P.literature_regression(X, yf, cfg.literature_splits))
            say(f"{task.name}: robust protocol ({cfg.folds}-fold x {cfg.repeats})")
            for res in P.robust_regression(X, yf, cfg.folds, cfg.repeats, cfg.seed,
                                           log_target=task.log, probes=reg_probes,
                                           n_trees=n_trees):
                add(task, ids, res)
            if cfg.spatial:
                say(f"{task.name}: spatial-block protocol ({cfg.spatial_folds} blocks)")
                xy = _centroids(regions, ids)
                for res in P.spatial_regression(X, yf, xy, cfg.spatial_folds, cfg.seed,
                                                log_target=task.log, probes=reg_probes,
                                                n_trees=n_trees):
                    add(task, ids, res)
        elif task.type == "classification":
            yc = _class_labels(yv)
            classes, counts = np.unique(yc, return_counts=True)
            if len(classes) < 2:
                raise DataError(f"{labels_source}: task {task.name!r} has a single class")
            if counts.max() < cfg.folds:
                raise DataError(f"{labels_source}: task {task.name!r}: every class has fewer than "
                                f"{cfg.folds} regions; cannot stratify")
            small = classes[counts < cfg.folds]
            if len(small):
                log.warning("%s: task %r: %d classes have fewer regions than the %d folds "
                            "(e.g. %s); they cannot appear in every fold", labels_source, task.name,
                            len(small), cfg.folds, _plain(small[0]))
            say(f"{task.name}: stratified protocol ({cfg.folds}-fold x {cfg.repeats})")
            for res in P.classification_protocol(X, yc, cfg.folds, cfg.repeats, cfg.seed,
                                                 probes=cls_probes, n_trees=n_trees):
                add(task, ids, res)
        elif task.type == "clustering":
            yc = _class_labels(yv)
            if len(np.unique(yc)) < 2:
                raise DataError(f"{labels_source}: task {task.name!r} has a single class")
            say(f"{task.name}: k-means clustering ({P.N_KMEANS_SEEDS} seeds)")
            add(task, ids, P.clustering_protocol(X, yc, cfg.seed))
        else:  # pragma: no cover - TaskConfig validates the type
            raise DataError(f"{source}: unknown task type {task.type!r}")

    table = pd.DataFrame(rows, columns=COLUMNS)
    meta = {"source": source, "n_embedding_rows": int(len(emb)),
            "embedding_dim": int(emb.shape[1]), "evaluation": cfg.model_dump(mode="json"),
            "tasks": [t.model_dump(mode="json") for t in tasks], "n_trees": n_trees}
    return EvaluationReport(table, preds, meta)
