"""A finished run folder (`cookie fit` or `cookie demo`) read back for maps and similar
regions: its config, regions, embeddings and evaluation report."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import geopandas as gpd
import pandas as pd

from cookie.errors import DataError

if TYPE_CHECKING:
    from cookie.config import DatasetConfig
    from cookie.dataset.dataset import RegionDataset
    from cookie.evaluation.report import EvaluationReport

EMBEDDINGS = "embeddings.parquet"


@dataclass
class Run:
    path: Path
    cfg: DatasetConfig
    regions: gpd.GeoDataFrame
    embeddings: pd.DataFrame
    report: EvaluationReport | None

    def dataset(self, cache_dir: Path | None = None) -> RegionDataset:
        """The featurized dataset of the run's config (for the raw view features)."""
        from cookie.dataset.dataset import load_dataset

        return load_dataset(self.cfg, cache_dir=cache_dir)


def run_config(run: Path) -> DatasetConfig:
    """The run's config: ``config.resolved.json`` (absolute paths, written by `fit`), else
    the ``config.toml`` / ``.yaml`` beside the outputs (the demo's, paths relative to it)."""
    from cookie.config import config_from_dict, load_config

    resolved = run / "config.resolved.json"
    if resolved.is_file():
        data = json.loads(resolved.read_text(encoding="utf-8"))
        return config_from_dict(data, run.resolve(), resolved)
    for name in ("config.toml", "config.yaml", "config.yml"):
        if (run / name).is_file():
            return load_config(run / name)
    raise DataError(f"{run}: no config.resolved.json or config.toml (not a `cookie fit` or "
                    "`cookie demo` run folder)")


def load_run(run: str | Path) -> Run:
    """Read a run folder; a DataError naming what is missing when it is not one."""
    from cookie.evaluation.evaluate import EvaluationReport
    from cookie.io.outputs import read_embeddings
    from cookie.sources.regions import load_regions

    run = Path(run)
    if not run.is_dir():
        raise DataError(f"{run}: run folder not found (write one with `cookie fit` or "
                        "`cookie demo`)")
    if not (run / EMBEDDINGS).is_file():
        raise DataError(f"{run / EMBEDDINGS}: not found ({run} is not a finished run folder)")
    cfg = run_config(run)
    regions = load_regions(cfg)
    emb = read_embeddings(run / EMBEDDINGS)
    if emb.index.dtype != regions.index.dtype:
        from cookie.sources.readers import as_region_ids

        emb.index = as_region_ids(emb.index, regions.index, run / EMBEDDINGS, "region_id")
    report = None
    if (run / "report.json").is_file():
        try:
            report = EvaluationReport.from_json(run / "report.json")
        except (ValueError, KeyError) as exc:
            raise DataError(f"{run / 'report.json'}: unreadable report ({exc})") from None
        for key, frame in list(report.predictions.items()):
            if frame.index.dtype != regions.index.dtype:
                from cookie.sources.readers import as_region_ids

                frame.index = as_region_ids(frame.index, regions.index, run / "report.json",
                                            "region_id")
                report.predictions[key] = frame
    return Run(run, cfg, regions, emb, report)


def write_run_maps(run: str | Path, out: str | Path | None = None,
                   cache_dir: Path | None = Path(".cookie_cache"),
                   overwrite: bool = False) -> dict[str, Path]:
    """`cookie map RUN [--out DIR]`: every map of a run folder, into the run folder itself
    (replacing its maps) or into ``out`` (a new folder, or an earlier output with
    ``overwrite``, written atomically)."""
    from cookie.apps.maps import write_maps
    from cookie.evaluation.analysis import view_features
    from cookie.io.atomic import output_dir

    r = load_run(run)
    if out is None:
        ds = r.dataset(cache_dir)
        return write_maps(r.path, ds.regions, r.embeddings, r.report, r.cfg,
                          view_features(ds), seed=r.cfg.method.seed)
    with output_dir(out, overwrite, [r.path], what="map") as staging:
        ds = r.dataset(cache_dir)
        written = write_maps(staging.path, ds.regions, r.embeddings, r.report, r.cfg,
                             view_features(ds), seed=r.cfg.method.seed)
    return {k: Path(out) / p.name for k, p in written.items()}
