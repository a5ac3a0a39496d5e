"""PNG figures: residual maps, embedding maps (PCA as RGB) and method bar charts.

Figures are drawn on a bare ``matplotlib.figure.Figure`` with the Agg canvas (no pyplot
state, no global backend switch) and written atomically.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import TwoSlopeNorm
from matplotlib.figure import Figure

from cookie.io.atomic import atomic_file

MISSING_COLOR = "#d9d9d9"


def _save(fig: Figure, path: str | Path) -> Path:
    path = Path(path)
    FigureCanvasAgg(fig)
    with atomic_file(path) as tmp:
        fig.savefig(tmp, format="png", dpi=120, bbox_inches="tight")
    return path


def _aligned(values: Any, regions: gpd.GeoDataFrame, name: str) -> pd.Series:
    """Values as a float Series indexed like ``regions`` (NaN where absent)."""
    if isinstance(values, pd.Series):
        return values.astype(float).reindex(regions.index)
    arr = np.asarray(values, dtype=float)
    if len(arr) != len(regions):
        raise ValueError(f"{name}: {len(arr)} values for {len(regions)} regions; pass a Series "
                         "indexed by region id")
    return pd.Series(arr, index=regions.index)


def _map_axes(fig: Figure, title: str) -> Any:
    ax = fig.add_subplot(1, 1, 1)
    ax.set_axis_off()
    ax.set_aspect("equal")
    if title:
        ax.set_title(title)
    return ax


def plot_predictions_map(regions: gpd.GeoDataFrame, y_true: Any, y_pred: Any, path: str | Path,
                         title: str = "") -> Path:
    """Choropleth of out-of-fold residuals (prediction - target), diverging around 0.

    ``y_true``/``y_pred`` are Series indexed by region id (or arrays in region order);
    regions without a prediction are grey.
    """
    resid = _aligned(y_pred, regions, "y_pred") - _aligned(y_true, regions, "y_true")
    frame = gpd.GeoDataFrame({"residual": resid.to_numpy()}, geometry=regions.geometry.values,
                             crs=regions.crs)
    fig = Figure(figsize=(7, 7))
    ax = _map_axes(fig, title or "out-of-fold residual (prediction - target)")
    finite = resid[np.isfinite(resid)]
    if len(finite):
        m = float(np.abs(finite).max()) or 1.0
        has = frame[np.isfinite(frame["residual"])]
        has.plot(ax=ax, column="residual", cmap="RdBu_r", norm=TwoSlopeNorm(0.0, -m, m),
                 edgecolor="white", linewidth=0.2)
        sm = ax.collections[-1]
        fig.colorbar(sm, ax=ax, shrink=0.6, label="prediction - target")
    lacking = frame[~np.isfinite(frame["residual"])]
    if len(lacking):
        lacking.plot(ax=ax, color=MISSING_COLOR, edgecolor="white", linewidth=0.2)
    return _save(fig, path)


def embedding_rgb(embeddings: pd.DataFrame | np.ndarray) -> np.ndarray:
    """(n, 3) colours in [0, 1]: the first three principal components of the standardized
    embedding, each stretched between its 2nd and 98th percentile."""
    X = np.asarray(embeddings, dtype=float)
    sd = X.std(axis=0)
    Z = (X - X.mean(axis=0)) / np.where(sd > 0, sd, 1.0)
    _, _, vt = np.linalg.svd(Z, full_matrices=False)
    pcs = Z @ vt[:3].T
    if pcs.shape[1] < 3:
        pcs = np.hstack([pcs, np.zeros((len(pcs), 3 - pcs.shape[1]))])
    lo, hi = np.percentile(pcs, 2, axis=0), np.percentile(pcs, 98, axis=0)
    span = np.where(hi > lo, hi - lo, 1.0)
    return np.clip((pcs - lo) / span, 0.0, 1.0)


def plot_embedding_map(regions: gpd.GeoDataFrame, embeddings: pd.DataFrame, path: str | Path,
                       title: str = "") -> Path:
    """Regions coloured by the first three principal components of their embedding (RGB);
    regions without an embedding are grey."""
    emb = embeddings.loc[embeddings.index.intersection(regions.index)]
    if len(emb) < 2:
        raise ValueError("fewer than 2 regions have an embedding; nothing to plot")
    rgb = pd.DataFrame(embedding_rgb(emb), index=emb.index)
    fig = Figure(figsize=(7, 7))
    ax = _map_axes(fig, title or "embedding: first three principal components as RGB")
    has = regions.index.isin(emb.index)
    shown = gpd.GeoDataFrame(geometry=regions.geometry[has].values, crs=regions.crs)
    shown.plot(ax=ax, color=rgb.loc[regions.index[has]].to_numpy(), edgecolor="none")
    if (~has).any():
        gpd.GeoDataFrame(geometry=regions.geometry[~has].values, crs=regions.crs).plot(
            ax=ax, color=MISSING_COLOR, edgecolor="white", linewidth=0.2)
    return _save(fig, path)


def plot_method_bars(frame: pd.DataFrame, path: str | Path, title: str = "",
                     ylabel: str = "", method_col: str | None = None) -> Path:
    """Grouped bars of ``mean`` with ``std`` error bars: one group per task, one bar per method.

    ``frame`` needs ``task``, ``mean``, ``std`` and a method column (``method_col``, else the
    first of ``method``, ``seed``, ``probe``), with one row per (task, method): filter the
    metric / protocol / probe first.
    """
    if method_col is None:
        method_col = next((c for c in ("method", "seed", "probe") if c in frame.columns), None)
    if method_col is None:
        raise ValueError("plot_method_bars: frame has no method column (method, seed, probe)")
    missing = [c for c in ("task", "mean", "std", method_col) if c not in frame.columns]
    if missing:
        raise ValueError(f"plot_method_bars: frame lacks column {missing[0]!r}")
    if frame.duplicated(["task", method_col]).any():
        raise ValueError("plot_method_bars: several rows per (task, method); filter the metric, "
                         "protocol and probe first")
    tasks = list(dict.fromkeys(frame["task"]))
    methods = list(dict.fromkeys(frame[method_col]))
    width = 0.8 / max(len(methods), 1)
    fig = Figure(figsize=(max(5.0, 1.2 * len(tasks) * max(1, len(methods)) ** 0.5 + 2), 4.5))
    ax = fig.add_subplot(1, 1, 1)
    x = np.arange(len(tasks))
    for i, method in enumerate(methods):
        sub = frame[frame[method_col] == method].set_index("task").reindex(tasks)
        err = sub["std"].astype(float).fillna(0.0).to_numpy()
        ax.bar(x + (i - (len(methods) - 1) / 2) * width, sub["mean"].astype(float).to_numpy(),
               width, yerr=err, capsize=3, label=str(method))
    ax.set_xticks(x, tasks)
    ax.axhline(0.0, color="black", linewidth=0.6)
    if ylabel:
        ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    if len(methods) > 1:  # beside the axes, so that it covers no bar
        ax.legend(fontsize="small", frameon=False, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return _save(fig, path)
