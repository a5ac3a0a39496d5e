"""The paper's experiments as one command each: alpha sweep, modality dropout, augmentations.

Each experiment is a list of cells (a training variant, optionally embedded with views missing
at inference), run for every seed with the same budget. Every (cell, seed) result is stored as
soon as it is done, so an interrupted run resumes where it stopped. Evaluation: the robust
protocol (and the literature protocol where the benchmark has one) with the fast probes
(ridge with internal alpha search, logistic regression); nothing is chosen by the folds.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from cookie.dataset.dataset import RegionDataset
from cookie.errors import ConfigError
from cookie.io.atomic import atomic_file

ALPHAS = (0.1, 0.5, 1.0, 2.0)
VECTOR_AUGMENTS = ("noise", "dropout", "scale", "mix")
IMAGE_AUGMENTS = ("flip", "rotate", "crop", "noise")
EXPERIMENTS = ("alpha", "dropout", "augment")
NO_AUGMENT = {"noise": 0.0, "dropout": 0.0, "scale": 0.0, "mix": 0.0, "flip": False,
              "rotate": False, "crop": 0.0}
ON = {"noise": 0.1, "dropout": 0.1, "scale": 0.1, "mix": 0.2, "flip": True, "rotate": True,
      "crop": 0.1}


@dataclass
class Cell:
    """One variant: how to train (method overrides, view subset) and which views to drop at
    inference."""

    label: str
    overrides: dict[str, Any] = field(default_factory=dict)
    views: list[str] | None = None
    drop_at_inference: tuple[str, ...] = ()
    group: str = ""

    @property
    def train_key(self) -> str:
        return json.dumps([self.overrides, self.views], sort_keys=True, default=str)

    @property
    def slug(self) -> str:
        return re.sub(r"[^A-Za-z0-9_.=-]+", "_", self.label)


def experiment_cells(name: str, ds: RegionDataset) -> list[Cell]:
    """The cells of experiment `name` on this dataset's views."""
    views = list(ds.views)
    if name == "alpha":
        return [Cell(f"alpha={a}", {"alpha": a}, group="alpha") for a in ALPHAS]
    if name == "dropout":
        cells = [Cell("all views", group="all")]
        cells += [Cell(f"trained without {v}", views=[w for w in views if w != v],
                       group="train without") for v in views if len(views) > 2]
        cells += [Cell(f"{v} missing at inference", drop_at_inference=(v,),
                       group="missing at inference") for v in views]
        return cells
    if name == "augment":
        kinds = {"image" if ds.views[v].is_image else "vector" for v in views}
        types = sorted(set(VECTOR_AUGMENTS if "vector" in kinds else ())
                       | set(IMAGE_AUGMENTS if "image" in kinds else ()))
        cells = [Cell("none", {"augment": dict(NO_AUGMENT)}, group="none")]
        cells += [Cell(f"{t} only", {"augment": NO_AUGMENT | {t: ON[t]}}, group="one type")
                  for t in types]
        cells.append(Cell("all together", {"augment": dict(ON)}, group="all"))
        return cells
    raise ConfigError(f"unknown experiment {name!r} (known: {', '.join(EXPERIMENTS)})")


def _fast_evaluation(ds: RegionDataset) -> RegionDataset:
    ev = ds.config.evaluation.model_copy(update={"probes": ["ridge_cv", "logistic"],
                                                 "spatial": False})
    return RegionDataset(ds.config.model_copy(update={"evaluation": ev}), ds.regions, ds.views,
                         ds.labels)


def run_experiment(name: str, ds: RegionDataset, seeds: list[int], out_dir: Path,
                   progress: Callable[[str], None] = print) -> pd.DataFrame:
    """Run (or resume) every (cell, seed); returns the tidy table of all results."""
    from cookie.evaluation.evaluate import evaluate_dataset
    from cookie.training.embedder import CookieEmbedder

    cells = experiment_cells(name, ds)
    eval_ds = _fast_evaluation(ds)
    cell_dir = Path(out_dir) / "cells"
    cell_dir.mkdir(parents=True, exist_ok=True)
    tables = []
    todo = [(c, s) for s in seeds for c in cells]
    models: dict[tuple[str, int], CookieEmbedder] = {}
    for i, (cell, seed) in enumerate(todo, 1):
        path = cell_dir / f"{cell.slug}-s{seed}.json"
        if path.exists():
            table = pd.DataFrame(json.loads(path.read_text()))
            progress(f"[{i}/{len(todo)}] {cell.label} seed {seed}: done before (resumed)")
        else:
            train_ds = eval_ds.select_views(cell.views) if cell.views else eval_ds
            key = (cell.train_key, seed)
            if key not in models:
                models.clear()  # cells sharing a training run are consecutive
                model = CookieEmbedder.from_config(train_ds.config, **{**cell.overrides,
                                                                       "seed": seed})
                models[key] = model.fit(train_ds)
            emb = models[key].transform(train_ds, drop_views=cell.drop_at_inference)
            table = evaluate_dataset(emb, eval_ds, f"{cell.label} seed {seed}").table
            with atomic_file(path) as tmp:
                tmp.write_text(table.to_json(orient="records"))
            progress(f"[{i}/{len(todo)}] {cell.label} seed {seed}")
        tables.append(table.assign(cell=cell.label, group=cell.group, seed=seed))
    return pd.concat(tables, ignore_index=True)


def experiment_stem(dataset_name: str, experiment: str) -> str:
    """File stem of an experiment's results, ``<dataset>_<experiment>``, with the dataset's
    name reduced to letters, digits, '.', '_' and '-' (so a name like '../x' cannot lead the
    files out of --out)."""
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "-", dataset_name).strip(".-") or "dataset"
    return f"{safe}_{experiment}"


def write_experiment(name: str, ds: RegionDataset, seeds: int, run_dir: Path, md: Path,
                     png: Path, progress: Callable[[str], None] = print) -> str:
    """Run (or resume) experiment ``name`` with cells under ``run_dir``, write its picture to
    ``png`` and its Markdown to ``md`` (staged paths: the text links the picture by
    ``run_dir.name``); returns the Markdown."""
    results = run_experiment(name, ds, list(range(seeds)), run_dir, progress=progress)
    summary = summarize(results)
    title = f"{name} on {ds.config.name}"
    plot_experiment(name, summary, png, title)
    text = "\n".join([f"### {title} ({seeds} seeds)", "", *markdown_table(summary), "",
                      *(["Which views each task depends on (change against all views):", "",
                         *dependence_lines(summary), ""] if name == "dropout" else []),
                      f"![{name}]({run_dir.name}.png)", ""])
    md.write_text(text)
    return text


def summarize(results: pd.DataFrame) -> pd.DataFrame:
    """Mean and std over seeds of each cell's main score per task and protocol/probe."""
    from cookie.evaluation.report import MAIN_METRIC

    main = results[results.metric == results.task_type.map(MAIN_METRIC)]
    g = main.groupby(["cell", "group", "task", "protocol", "probe"], sort=False)["mean"]
    out = g.agg(["mean", "std", "count"]).reset_index()
    out = out.assign(_order=[cell_order(c) for c in out.cell]).sort_values(
        "_order", kind="stable").drop(columns="_order")
    return out.rename(columns={"count": "n_seeds"}).reset_index(drop=True)


def cell_order(label: str) -> tuple:
    """A stable reading order: alpha ascending; all views, trained without, missing at
    inference; none, single augmentations, all together."""
    if label.startswith("alpha="):
        return (0, float(label.split("=")[1]), label)
    ranks = [("all views", 1), ("trained without", 2), ("missing at inference", 3),
             ("none", 4), (" only", 5), ("all together", 6)]
    for key, rank in ranks:
        if key in label:
            return (rank, 0.0, label)
    return (9, 0.0, label)


def markdown_table(summary: pd.DataFrame, protocol: str = "robust") -> list[str]:
    from cookie.evaluation.report import fmt

    sub = summary[(summary.protocol.isin([protocol, "stratified", "clustering"]))]
    tasks = list(dict.fromkeys(sub.task))
    lines = ["| variant | " + " | ".join(tasks) + " |", "|---|" + "---|" * len(tasks)]
    for cell in dict.fromkeys(sub.cell):
        row = sub[sub.cell == cell].drop_duplicates("task").set_index("task")
        lines.append(f"| {cell} | " + " | ".join(
            fmt(row.at[t, "mean"], row.at[t, "std"]) if t in row.index else "n/a"
            for t in tasks) + " |")
    return lines


def plot_experiment(name: str, summary: pd.DataFrame, path: Path, title: str) -> Path:
    """Alpha: one curve per task; other experiments: grouped bars per task."""
    from cookie.evaluation.plots import plot_method_bars

    sub = summary[summary.protocol.isin(["robust", "stratified", "clustering"])]
    sub = sub.drop_duplicates(["cell", "task"])
    if name != "alpha":
        return plot_method_bars(sub.rename(columns={"cell": "method"}), path, title,
                                "score (R2 / accuracy / NMI)")
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6, 4))
    ax = fig.add_subplot(1, 1, 1)
    for task, g in sub.groupby("task", sort=False):
        x = [float(c.split("=")[1]) for c in g.cell]
        ax.errorbar(x, g["mean"], yerr=g["std"].fillna(0), marker="o", capsize=3, label=task)
    ax.set_xscale("log")
    ax.set_xlabel("alpha (weight of the intra-view loss)")
    ax.set_ylabel("score (robust protocol)")
    ax.set_title(title)
    ax.legend(fontsize=8)
    fig.tight_layout()
    with atomic_file(path) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    return path


def dependence_lines(summary: pd.DataFrame, protocol: str = "robust") -> list[str]:
    """For the dropout experiment: per task, the score lost when each view is removed."""
    sub = summary[summary.protocol.isin([protocol, "stratified", "clustering"])]
    sub = sub.drop_duplicates(["cell", "task"]).set_index(["cell", "task"])["mean"]
    if "all views" not in sub.index.get_level_values(0):
        return []
    lines = []
    for task in dict.fromkeys(sub.index.get_level_values(1)):
        base = sub.get(("all views", task))
        losses = {}
        for cell in dict.fromkeys(sub.index.get_level_values(0)):
            if cell != "all views" and (cell, task) in sub.index:
                losses[cell] = base - sub[(cell, task)]
        if not losses:
            continue
        worst = max(losses, key=lambda k: losses[k])
        lines.append(f"- {task}: largest loss when {worst} ({-losses[worst]:+.3f}); "
                     + ", ".join(f"{k}: {-v:+.3f}" for k, v in losses.items()))
    return lines


def experiment_run(name: str, config: Path | str, seeds: int, out: Path, cache_dir: Path | None,
                   overwrite: bool = False,
                   progress: Callable[[str], None] = print) -> str:
    """`cookie experiment`: run (or resume) experiment ``name`` on a config's dataset and write
    ``out/<dataset>_<name>.md`` / ``.png`` (checked before any work); returns the Markdown."""
    from cookie.config import load_config, with_method
    from cookie.dataset.dataset import load_dataset
    from cookie.io.atomic import output_files
    from cookie.io.outputs import data_files

    if name not in EXPERIMENTS:
        raise ConfigError(f"unknown experiment {name!r} (known: {', '.join(EXPERIMENTS)})")
    cfg = with_method(load_config(config))
    stem = experiment_stem(cfg.name, name)
    with output_files([out / f"{stem}.md", out / f"{stem}.png"], overwrite,
                      [cfg.source, *data_files(cfg)]) as (md, png):
        ds = load_dataset(cfg, cache_dir=cache_dir)
        progress(f"{name} on {ds.config.name}")
        return write_experiment(name, ds, seeds, out / stem, md, png, progress=progress)
