"""The evaluation report: its table, predictions, JSON and Markdown forms."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from cookie.constants import REGION_INDEX
from cookie.io.atomic import atomic_file

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

PredKey = tuple[str, ...]


def _std(values: Sequence[float]) -> float:
    """Sample standard deviation; NaN for a single value (no spread was measured)."""
    return float(np.std(values, ddof=1)) if len(values) > 1 else float("nan")


def fmt_number(value: float, digits: int = 3) -> str:
    """``digits`` decimals, or ``digits`` significant digits beyond 1e4 (a blown-up score is
    '-1.5e+200', not 200 digits)."""
    return f"{value:.{digits}f}" if abs(value) < 1e4 else f"{value:.{digits}g}"


def fmt(mean: float, std: float, digits: int = 3) -> str:
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
            preds.append({"key": list(key), REGION_INDEX: frame.index.tolist(),
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
            ids = item.pop(REGION_INDEX)
            preds[key] = pd.DataFrame(item, index=pd.Index(ids, name=REGION_INDEX))
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
                    cells.append(fmt(by_metric.at[m, "mean"], by_metric.at[m, "std"])
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
        main["cell"] = [fmt(m, s) for m, s in zip(main["mean"], main["std"], strict=True)]
        index = _id_columns(t) + ["task", "metric"]
        wide = main.pivot_table(index=index, columns="column", values="cell", aggfunc="first",
                                sort=False)
        order = sorted(wide.columns, key=lambda c: (
            PROTOCOL_ORDER.index(c.split("/")[0]) if c.split("/")[0] in PROTOCOL_ORDER else 99,
            c))
        wide = wide[order].fillna("")
        wide.columns.name = None
        return wide


