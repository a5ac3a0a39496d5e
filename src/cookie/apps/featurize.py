"""`cookie featurize`: every view of a config tile by tile in parallel (dask), written as
partitioned GeoParquet (`cookie.dataset.partitioned`)."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from cookie.config import load_config
from cookie.dataset.partitioned import write_partitioned_views
from cookie.features.tiling import describe_tiling, featurize_all_tiled, tile_count, tile_keys
from cookie.io.atomic import output_dir
from cookie.io.outputs import data_files
from cookie.sources.regions import load_regions


def featurize_run(config: Path | str, out: Path, tiles: float, h3_resolution: int | None,
                  workers: int, scheduler: str | None, overwrite: bool = False,
                  say: Callable[[str], None] = print) -> int:
    """Featurize into ``out`` (checked and locked before any work, written atomically); returns
    the number of views written."""
    cfg = load_config(config)
    with output_dir(out, overwrite, [cfg.source, *data_files(cfg)], what="featurize") as staging:
        regions = load_regions(cfg)
        size = None if h3_resolution is not None else tiles
        keys = tile_keys(regions, size_m=size, h3_resolution=h3_resolution)
        say(f"{len(regions)} regions in {tile_count(keys)} tiles, {workers} worker(s)")
        start = time.perf_counter()
        views, seconds = featurize_all_tiled(cfg, regions, keys, scheduler, workers, say=say)
        info = {"config": str(cfg.source), "tiling": describe_tiling(size, h3_resolution),
                "workers": workers,
                "scheduler": scheduler or ("local-cluster" if workers > 1 else "sync"),
                "seconds": round(time.perf_counter() - start, 3)}
        write_partitioned_views(views, regions, keys, staging.path, info,
                                {n: {"seconds": round(s, 3)} for n, s in seconds.items()})
    return len(views)
