"""Reports combined across methods or seeds (mean and std over training seeds)."""

from __future__ import annotations

import pandas as pd

from cookie.evaluation.report import COLUMNS, KEY_COLUMNS, EvaluationReport, _id_columns, _std


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


