"""Budget selection for a model that embeds regions it never saw: fit on the west half of
Helsinki (land cover, roads, stops), embed the east half, score log population density there.

    python benchmarks/defaults/holdout_transfer.py [SEEDS]      # default 0,1,2

Per seed: the fixed budget (20 + 100 epochs) against `holdout = 0.1` (the joint epoch with the
lowest stage-2 loss on held-out west regions). The east half is never trained on; its labels
are used only by the probe (robust protocol, ridge with inner CV). Cells are split at the
median centroid x; layers are clipped to each half's bounding box.
"""

from __future__ import annotations

import logging
import sys
import tempfile
from pathlib import Path

import geopandas as gpd
import numpy as np

from cookie.config import load_config
from cookie.dataset.dataset import load_dataset
from cookie.dataset.transfer import load_dataset_for_model
from cookie.evaluation.protocols import robust_regression
from cookie.sources.labels import task_target
from cookie.training.embedder import CookieEmbedder

DATA = Path(__file__).resolve().parents[3] / "shared" / "data" / "helsinki"
CONFIG = """name = "helsinki-{half}"
crs = "EPSG:3067"
[regions]
path = "cells_{half}.gpkg"
id_column = "cell_id"
[[views]]
name = "landcover"
kind = "polygons"
path = "landcover_{half}.gpkg"
class_column = "class"
[[views]]
name = "roads"
kind = "lines"
path = "roads_{half}.gpkg"
class_column = "class"
transform = "log1p"
[[views]]
name = "stops"
kind = "points"
path = "stops_{half}.gpkg"
transform = "log1p"
[[tasks]]
name = "density"
target = "inhabitants / area_km2"
type = "regression"
log = true
"""


def halves(tmp: Path) -> dict[str, Path]:
    cells = gpd.read_file(DATA / "cells.gpkg")
    x = cells.geometry.centroid.x
    parts = {"west": cells[x < float(np.median(x))], "east": cells[x >= float(np.median(x))]}
    layers = {n: gpd.read_file(DATA / f"{n}.gpkg") for n in ("landcover", "roads", "stops")}
    out = {}
    for half, part in parts.items():
        part.to_file(tmp / f"cells_{half}.gpkg")
        minx, miny, maxx, maxy = part.total_bounds
        for name, gdf in layers.items():
            gdf.cx[minx:maxx, miny:maxy].to_file(tmp / f"{name}_{half}.gpkg")
        out[half] = tmp / f"{half}.toml"
        out[half].write_text(CONFIG.format(half=half))
    return out


def main() -> None:
    logging.disable(logging.WARNING)
    seeds = [int(s) for s in (sys.argv[1] if len(sys.argv) > 1 else "0,1,2").split(",")]
    with tempfile.TemporaryDirectory() as name:
        configs = halves(Path(name))
        west = load_dataset(configs["west"], cache_dir=None)
        east_cfg = load_config(configs["east"])
        results: dict[str, list[float]] = {"fixed budget": [], "holdout = 0.1": []}
        for seed in seeds:
            for label, extra in (("fixed budget", {}), ("holdout = 0.1", {"holdout": 0.1})):
                model = CookieEmbedder.from_config(west.config, seed=seed, **extra).fit(west)
                east = load_dataset_for_model(east_cfg, model.feature_names_, with_labels=True)
                z = model.transform(east)
                y = task_target(east.config.tasks[0], east.labels).dropna()
                y = y[y.index.isin(z.index)]
                r2 = float(np.mean(robust_regression(z.loc[y.index].to_numpy(), y.to_numpy(),
                                                     probes=["ridge_cv"])[0].scores["r2"]))
                results[label].append(r2)
                epoch = getattr(model, "selected_epoch_", None)
                print(seed, label, f"east R2 {r2:.3f}",
                      f"(joint epoch kept: {epoch})" if epoch else "", flush=True)
    for label, vals in results.items():
        print(f"{label}: {np.mean(vals):.3f} ± {np.std(vals, ddof=1):.3f} over seeds {seeds}")


if __name__ == "__main__":
    main()
