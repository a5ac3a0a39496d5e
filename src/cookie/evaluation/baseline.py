"""The raw-views baseline of every report: the same probes on the same folds, fed the raw
standardized view features instead of the embedding, and the gain in plain words.

`evaluate_with_baseline` evaluates both and stores the comparison in the embedding report's
``meta["baseline"]``: one row per (task, protocol, probe) of the main metric with both
scores, the gain (embedding - raw views) and its spread over folds (the standard deviation
of the per-fold gain, each fold scored on its own held-out regions), plus one sentence per
task. `EvaluationReport.to_markdown` shows them first.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from cookie.evaluation import metrics as M
from cookie.evaluation.evaluate import Progress, evaluate_dataset
from cookie.evaluation.probes import N_TREES
from cookie.evaluation.report import MAIN_METRIC, EvaluationReport, fmt_number

if TYPE_CHECKING:
    from cookie.dataset.dataset import RegionDataset

log = logging.getLogger(__name__)

RAW_SOURCE = "raw views"
#: the protocol each task's sentence is about (first one present); its probe is the one on
#: which the raw views score best: the embedding is measured against the strongest baseline
HEADLINE = {"regression": ["robust", "spatial", "literature"],
            "classification": ["stratified"], "clustering": ["clustering"]}
PROBE_WORDS = {"ridge_cv": "ridge regression", "random_forest": "random forest",
               "logistic": "logistic regression", "ridge_alpha1": "ridge (alpha 1)",
               "kmeans": "k-means"}
PROTOCOL_WORDS = {"robust": "shuffled folds", "spatial": "spatial-block folds",
                  "literature": "the literature's folds", "stratified": "stratified folds",
                  "clustering": "k-means seeds"}


def raw_view_features(dataset: RegionDataset) -> pd.DataFrame:
    """What the `raw` method embeds (every view's features side by side, standardized over
    the regions that have the view, zeros where a region lacks it), computed by it; image
    views as the config's `image_inputs` says (their pixel statistics with `quantiles`)."""
    from cookie.training.embedder import CookieEmbedder

    image_inputs = dataset.config.method.image_inputs
    return CookieEmbedder(name="raw", image_inputs=image_inputs).fit(dataset).transform(dataset)


def _fold_score(metric: str, y: np.ndarray, p: np.ndarray) -> float:
    if metric == "r2":
        if len(y) < 2 or np.all(y == y[0]):
            return float("nan")
        return float(M.r2(y, p))
    if metric == "accuracy":
        return float(M.accuracy(y, p))
    if metric == "nmi":
        return float(M.nmi(y, p))
    raise ValueError(metric)


def per_fold_scores(frame: pd.DataFrame, metric: str) -> pd.Series:
    """The metric on each (repeat, fold)'s held-out regions."""
    out = {}
    for key, g in frame.groupby(["repeat", "fold"], sort=True):
        out[key] = _fold_score(metric, g["y_true"].to_numpy(), g["y_pred"].to_numpy())
    return pd.Series(out, dtype=float)


def _same_folds(a: pd.DataFrame, b: pd.DataFrame) -> bool:
    ka = a.reset_index().sort_values(["region_id", "repeat"])[["region_id", "repeat", "fold"]]
    kb = b.reset_index().sort_values(["region_id", "repeat"])[["region_id", "repeat", "fold"]]
    return len(ka) == len(kb) and (ka.to_numpy() == kb.to_numpy()).all()


def compare(report: EvaluationReport, raw: EvaluationReport) -> list[dict[str, Any]]:
    """One row per (task, protocol, probe): main metric of the embedding and of the raw
    views, the gain and its spread over folds."""
    rows = []
    t = report.table
    main = t[t.metric == t.task_type.map(MAIN_METRIC)]
    for r in main.itertuples(index=False):
        key = (r.task, r.protocol, r.probe)
        try:
            raw_mean, raw_std = raw.score(r.task, r.protocol, r.probe, r.metric)
        except KeyError:
            continue
        gain_std, n_folds = float("nan"), 0
        a, b = report.predictions.get(key), raw.predictions.get(key)
        if a is not None and b is not None and _same_folds(a, b):
            diff = (per_fold_scores(a, r.metric) - per_fold_scores(b, r.metric)).dropna()
            n_folds = len(diff)
            if n_folds > 1:
                gain_std = float(diff.std(ddof=1))
        rows.append({"task": r.task, "task_type": r.task_type, "protocol": r.protocol,
                     "probe": r.probe, "metric": r.metric, "embedding": float(r.mean),
                     "embedding_std": float(r.std), "raw": raw_mean, "raw_std": raw_std,
                     "gain": float(r.mean) - raw_mean, "gain_std_folds": gain_std,
                     "n_folds": n_folds})
    return rows


def _pct(value: float) -> str:
    return f"{100 * value:.0f}%"


def _pts(value: float) -> str:
    return f"{abs(100 * value):.1f} points"


def sentence(row: dict[str, Any]) -> str:
    """One plain sentence about a comparison row."""
    task, gain, spread = row["task"], row["gain"], row["gain_std_folds"]
    probe = PROBE_WORDS.get(row["probe"], row["probe"])
    where = PROTOCOL_WORDS.get(row["protocol"], row["protocol"])
    emb, raw = row["embedding"], row["raw"]
    if any(pd.isna(v) for v in (emb, raw)):
        return f"{task}: the score is undefined (n/a), so no comparison can be made."
    pm = f"; ±{_pts(spread).replace(' points', '')} over {row['n_folds']} folds" \
        if not pd.isna(spread) else ""
    if row["metric"] == "r2":
        head = (f"The embedding explains {_pct(emb)} of the variance of {task}"
                if emb > 0 else f"The embedding explains none of the variance of {task} "
                f"(R2 {fmt_number(emb)})")
    elif row["metric"] == "accuracy":
        head = f"The embedding classifies {task} with {_pct(emb)} accuracy"
    else:
        head = f"k-means on the embedding recovers {task} with NMI {fmt_number(emb)}"
    tail = f" with the same probe ({probe}, {where}{pm})"
    if gain > 0:
        return f"{head}, {_pts(gain)} more than the raw views{tail}."
    if gain == 0:
        return f"{head}, as much as the raw views{tail}: the embedding adds nothing on it."
    return (f"{head}, {_pts(gain)} less than the raw views{tail}: the embedding does not help "
            "on this task.")


def headline_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per task, the row its sentence is about: the first protocol of `HEADLINE` present,
    and on it the probe with the best raw-views score."""
    out = []
    for task in dict.fromkeys(r["task"] for r in rows):
        mine = [r for r in rows if r["task"] == task]
        protocols = [r["protocol"] for r in mine]
        protocol = next((p for p in HEADLINE.get(mine[0]["task_type"], []) if p in protocols),
                        protocols[0])
        cands = [r for r in mine if r["protocol"] == protocol]
        out.append(max(cands, key=lambda r: -np.inf if pd.isna(r["raw"]) else r["raw"]))
    return out


def baseline_summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    wins = sum(r["gain"] > 0 for r in rows)
    return {"features": "raw standardized view features (the `raw` method), same probes and "
                        "folds", "rows": rows,
            "sentences": [sentence(r) for r in headline_rows(rows)],
            "wins": int(wins), "comparisons": len(rows)}


def baseline_markdown(base: dict[str, Any]) -> str:
    """The report's first section: sentences, then the side-by-side table."""
    rows = base.get("rows", [])
    if not rows:
        return ""
    lines = ["## Embedding vs the raw views", ""]
    lines += [f"- {s}" for s in base.get("sentences", [])]
    lines += ["", f"The embedding beats the raw views in {base.get('wins', 0)} of "
              f"{base.get('comparisons', len(rows))} (task, protocol, probe) comparisons. "
              "Same probe, same folds; the raw views are the standardized view features. "
              "Gain = embedding - raw views; ± is its standard deviation over folds.", "",
              "| task | protocol | probe | metric | embedding | raw views | gain |",
              "|---|---|---|---|---|---|---|"]

    def cell(m: float | None, s: float | None) -> str:
        if m is None or pd.isna(m):
            return "n/a"
        return fmt_number(m) + ("" if s is None or pd.isna(s) else f" ± {fmt_number(s)}")

    for r in rows:
        lines.append(f"| {r['task']} | {r['protocol']} | {r['probe']} | {r['metric']} | "
                     f"{cell(r['embedding'], r['embedding_std'])} | "
                     f"{cell(r['raw'], r['raw_std'])} | "
                     f"{cell(r['gain'], r['gain_std_folds'])} |")
    return "\n".join(lines) + "\n"


def evaluate_with_baseline(embeddings: pd.DataFrame, dataset: RegionDataset,
                           source: str = "embeddings", *, progress: Progress | None = None,
                           n_trees: int = N_TREES) -> EvaluationReport:
    """`evaluate_dataset` on the embeddings and on the raw views (when the dataset has
    featurized views), the comparison in ``meta["baseline"]``."""
    report = evaluate_dataset(embeddings, dataset, source, progress=progress, n_trees=n_trees)
    if not dataset.views or report.table.empty:
        return report
    raw = evaluate_dataset(raw_view_features(dataset), dataset, RAW_SOURCE, progress=progress,
                           n_trees=n_trees)
    report.meta["baseline"] = baseline_summary(compare(report, raw))
    return report
