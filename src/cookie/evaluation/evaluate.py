"""Evaluate region embeddings on a dataset's tasks under every protocol; tidy reports."""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import geopandas as gpd
import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from cookie.config import EvaluationConfig, TaskConfig
from cookie.errors import DataError
from cookie.evaluation import protocols as P
from cookie.evaluation.probes import N_TREES
from cookie.io.atomic import atomic_file
from cookie.io.readers import as_region_ids
from cookie.labels import task_target

if TYPE_CHECKING:
    from cookie.dataset import RegionDataset

log = logging.getLogger(__name__)

COLUMNS = ["task", "task_type", "protocol", "probe", "metric", "mean", "std", "n_regions",
           "n_folds", "n_repeats", "n_flagged"]
KEY_COLUMNS = ["task", "task_type", "protocol", "probe", "metric"]
METRIC_ORDER = {
    "regression": ["r2", "mae", "rmse", "r2_original"],
    "classification": ["accuracy", "macro_f1"],
    "clustering": ["nmi", "ari"],
}
MAIN_METRIC = {"regression": "r2", "classification": "accuracy", "clustering": "nmi"}
REGRESSION_PROTOCOLS = ("literature", "robust", "spatial")
PROTOCOL_ORDER = ["literature", "robust", "spatial", "stratified", "clustering"]
TYPE_ORDER = ["regression", "classification", "clustering"]

BLAS_THREADS = 1

Progress = Callable[[str], None]
PredKey = tuple[str, ...]


def _std(values: Sequence[float]) -> float:
    """Sample standard deviation; NaN for a single value (no spread was measured)."""
    return float(np.std(values, ddof=1)) if len(values) > 1 else float("nan")


def fmt_number(value: float, digits: int = 3) -> str:
    """``digits`` decimals, or ``digits`` significant digits beyond 1e4 (a blown-up score is
    '-1.5e+200', not 200 digits)."""
    return f"{value:.{digits}f}" if abs(value) < 1e4 else f"{value:.{digits}g}"


def _fmt(mean: float, std: float, digits: int = 3) -> str:
    if mean is None or pd.isna(mean):
        return "n/a"
    if std is None or pd.isna(std):
        return fmt_number(mean, digits)
    return f"{fmt_number(mean, digits)} ± {fmt_number(std, digits)}"


FLAG_NOTE = ("(!) some folds predicted outside the training targets' range widened by its "
             "span on each side; those predictions were clipped to it (see the warnings)")
R2_ORIGINAL_NOTE = ("r2_original: R2 on the label's original scale, of expm1(prediction) "
                    "against expm1(target), for tasks trained and scored on log1p(label)")


def _id_columns(table: pd.DataFrame) -> list[str]:
    """Extra identifying columns (e.g. ``method``, ``seed``) that precede the standard ones."""
    return [c for c in table.columns if c not in COLUMNS and c not in ("n_seeds", "within_std")]


def _plain(value: Any) -> Any:
    """A numpy scalar as the Python value (for readable messages)."""
    return value.item() if isinstance(value, np.generic) else value


def jsonable(value: Any) -> Any:
    """Nested dicts / lists of numpy scalars, paths and non-finite floats as JSON values."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Path):
        return str(value)
    return value


@dataclass
class EvaluationReport:
    """Scores as a tidy long table plus every out-of-fold prediction.

    ``table`` has one row per (task, protocol, probe, metric) with the mean and std over
    repeats (NaN std where a protocol gives a single score). ``predictions`` maps
    ``(task, protocol, probe)`` to a frame indexed by region id with columns
    ``repeat, fold, y_true, y_pred`` (one row per region and repeat).
    """

    table: pd.DataFrame
    predictions: dict[PredKey, pd.DataFrame] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)

    # ------------------------------------------------------------ access
    def score(self, task: str, protocol: str, probe: str, metric: str) -> tuple[float, float]:
        """(mean, std) of one metric."""
        t = self.table
        row = t[(t.task == task) & (t.protocol == protocol) & (t.probe == probe)
                & (t.metric == metric)]
        if len(row) != 1:
            raise KeyError(f"no unique score for {(task, protocol, probe, metric)}")
        return float(row["mean"].iloc[0]), float(row["std"].iloc[0])

    def oof(self, task: str, protocol: str, probe: str) -> pd.DataFrame:
        """Per-region ``y_true, y_pred``: the mean over repeats for regression, the first
        repeat (or k-means seed) otherwise."""
        frame = self.predictions[(task, protocol, probe)]
        if protocol in REGRESSION_PROTOCOLS:
            g = frame.groupby(level=0, sort=False)
            return pd.DataFrame({"y_true": g["y_true"].first(), "y_pred": g["y_pred"].mean()})
        first = frame[frame["repeat"] == frame["repeat"].min()]
        return first[["y_true", "y_pred"]].copy()

    # ------------------------------------------------------------ output
    def to_dict(self) -> dict[str, Any]:
        preds = []
        for key, frame in self.predictions.items():
            preds.append({"key": list(key), "region_id": frame.index.tolist(),
                          **{c: frame[c].tolist() for c in frame.columns}})
        return jsonable({"meta": self.meta, "table": self.table.to_dict(orient="records"),
                          "predictions": preds})

    def to_json(self, path: str | Path) -> Path:
        """Write scores, predictions and meta as JSON (atomically)."""
        path = Path(path)
        text = json.dumps(self.to_dict(), indent=1, allow_nan=False)
        with atomic_file(path) as tmp:
            tmp.write_text(text, encoding="utf-8")
        return path

    @classmethod
    def from_json(cls, path: str | Path) -> EvaluationReport:
        """Read a report written by :meth:`to_json`."""
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        table = pd.DataFrame.from_records(data["table"])
        for col in ("mean", "std"):
            if col in table:
                table[col] = table[col].astype(float)
        preds = {}
        for item in data.get("predictions", []):
            key = tuple(item.pop("key"))
            ids = item.pop("region_id")
            preds[key] = pd.DataFrame(item, index=pd.Index(ids, name="region_id"))
        return cls(table, preds, data.get("meta", {}))

    def to_markdown(self) -> str:
        """One Markdown table per task type; cells are ``mean ± std``."""
        t = self.table
        if t.empty:
            return "_no scores_\n"
        ids = _id_columns(t)
        parts, notes = [], set()
        for ttype in [x for x in TYPE_ORDER if x in set(t.task_type)]:
            sub = t[t.task_type == ttype]
            metrics = [m for m in METRIC_ORDER[ttype] if m in set(sub.metric)]
            metrics += sorted(set(sub.metric) - set(metrics))
            head = ids + ["task", "protocol", "probe"] + metrics + ["n"]
            lines = [f"### {ttype.capitalize()}", "", "| " + " | ".join(head) + " |",
                     "|" + "---|" * len(head)]
            group_cols = ids + ["task", "protocol", "probe"]
            for keys, g in sub.groupby(group_cols, sort=False):
                cells = [str(k) for k in (keys if isinstance(keys, tuple) else (keys,))]
                if "n_flagged" in g and (g["n_flagged"].fillna(0) > 0).any():
                    cells[-1] += " (!)"
                    notes.add(FLAG_NOTE)
                if "r2_original" in set(g.metric):
                    notes.add(R2_ORIGINAL_NOTE)
                by_metric = g.set_index("metric")
                for m in metrics:
                    cells.append(_fmt(by_metric.at[m, "mean"], by_metric.at[m, "std"])
                                 if m in by_metric.index else "")
                cells.append(str(int(g["n_regions"].iloc[0])))
                lines.append("| " + " | ".join(cells) + " |")
            parts.append("\n".join(lines))
        parts += sorted(notes)
        if self.meta.get("baseline"):  # first: the embedding next to the raw views, in words
            from cookie.evaluation.baseline import baseline_markdown

            parts.insert(0, baseline_markdown(self.meta["baseline"]).rstrip("\n")
                         + "\n\n## All scores of the embedding")
        return "\n\n".join(parts) + "\n"

    def summary_table(self) -> pd.DataFrame:
        """Compact frame: rows task (with its main metric), columns ``protocol/probe``,
        cells ``mean ± std`` of the main metric (R2, accuracy, NMI)."""
        t = self.table
        if t.empty:
            return pd.DataFrame()
        main = t[t.metric == t.task_type.map(MAIN_METRIC)].copy()
        main["column"] = main.protocol + "/" + main.probe
        main["cell"] = [_fmt(m, s) for m, s in zip(main["mean"], main["std"], strict=True)]
        index = _id_columns(t) + ["task", "metric"]
        wide = main.pivot_table(index=index, columns="column", values="cell", aggfunc="first",
                                sort=False)
        order = sorted(wide.columns, key=lambda c: (
            PROTOCOL_ORDER.index(c.split("/")[0]) if c.split("/")[0] in PROTOCOL_ORDER else 99,
            c))
        wide = wide[order].fillna("")
        wide.columns.name = None
        return wide


# ---------------------------------------------------------------- combining reports
def combine_reports(reports: dict[str, EvaluationReport], key: str = "method"
                    ) -> EvaluationReport:
    """One report from several (e.g. per method or per seed) with a ``key`` column first;
    prediction keys become ``(name, task, protocol, probe)``."""
    tables, preds, meta = [], {}, {}
    for name, rep in reports.items():
        t = rep.table.copy()
        t.insert(0, key, name)
        tables.append(t)
        preds.update({(str(name), *k): v for k, v in rep.predictions.items()})
        meta[str(name)] = rep.meta
    table = pd.concat(tables, ignore_index=True) if tables else pd.DataFrame(
        columns=[key, *COLUMNS])
    return EvaluationReport(table, preds, {key: meta})


def aggregate_seeds(reports_per_seed: list[EvaluationReport]) -> pd.DataFrame:
    """Mean and std across seeds of each (task, protocol, probe, metric) mean.

    Columns: the identifying columns, ``mean``, ``std`` (across seeds, ddof=1),
    ``n_seeds``, ``within_std`` (mean of the per-seed std over repeats) and ``n_regions``.
    """
    if not reports_per_seed:
        raise ValueError("no reports to aggregate")
    tables = [r.table.assign(_seed=i) for i, r in enumerate(reports_per_seed)]
    t = pd.concat(tables, ignore_index=True)
    keys = [c for c in _id_columns(t) if c != "_seed"] + KEY_COLUMNS
    g = t.groupby(keys, sort=False)
    out = g.agg(mean=("mean", "mean"), std=("mean", lambda s: _std(list(s))),
                n_seeds=("_seed", "nunique"), within_std=("std", "mean"),
                n_regions=("n_regions", "first")).reset_index()
    return out


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
    emb.index = as_region_ids(emb.index, index, source, str(emb.index.name or "region_id"))
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
        frame.index.name = "region_id"
        preds[(task.name, res.protocol, res.probe)] = frame

    def chosen(known) -> list[str] | None:
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
