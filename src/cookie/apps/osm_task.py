"""The task `cookie prepare` and `cookie demo` make from an OSM extract: the buildings layer is
held out of the inputs and becomes the label, the built share of each region (the fraction of
its area under a footprint, the land-cover featurizer's ``covered`` of the buildings), with the
building count and count per km2 beside it in ``labels.parquet``. No input view is a label."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from cookie.config import PolygonsView, config_from_dict
from cookie.constants import REGION_INDEX
from cookie.features.polygons import featurize_polygons
from cookie.sources.osm import osm_config_dict
from cookie.sources.regions import load_regions

#: the layer that becomes the task of `osm_task_config`, never one of its input views
TASK_LAYER = "buildings"
#: the share of each region's area under a building footprint: every region has a value, and
#: the other layers predict it (see `cookie.apps.demo` for why it is the demo's task)
TASK = {"name": "built_share", "target": "built_share", "log": False,
        "units": "fraction of the cell under buildings"}
LABELS = "labels.parquet"


def building_labels(regions: gpd.GeoDataFrame, buildings_path: Path) -> pd.DataFrame:
    """Per region: ``buildings`` (footprints whose representative point lies in it),
    ``buildings_per_km2``, and ``built_share``, the fraction of its area under a footprint
    (footprints unioned, so overlaps are not counted twice): the task of `osm_task_config`."""
    view = featurize_polygons(PolygonsView(name=TASK_LAYER, kind="polygons",
                                           path=Path(buildings_path)), regions)
    buildings = gpd.read_file(buildings_path).to_crs(regions.crs)
    points = gpd.GeoDataFrame(geometry=buildings.geometry.representative_point(), crs=regions.crs)
    hits = regions.sindex.query(points.geometry, predicate="within")
    counts = np.bincount(hits[1], minlength=len(regions)).astype(float)
    frame = pd.DataFrame({"buildings": counts}, index=regions.index)
    frame["buildings_per_km2"] = counts / (regions.geometry.area.to_numpy() / 1e6)
    frame["built_share"] = view.values[:, view.feature_names.index("covered")].astype(float)
    return frame


def osm_task_config(layers: dict[str, Path], base: Path, regions: dict[str, Any],
                    name: str = "osm", crs: str | None = None) -> dict[str, Any]:
    """A config dict over the written layers (paths relative to ``base``, where the config
    goes) whose task is the built share of each region (``base/labels.parquet``, written
    here) and whose views are the other layers: the buildings layer is never an input."""
    base = Path(base)
    rel: dict[str, str | Path] = {k: Path(v).relative_to(base) for k, v in layers.items()}
    cfg = osm_config_dict(rel, regions, name=name, crs=crs)
    cfg["views"] = [v for v in cfg["views"] if v["name"] != TASK_LAYER]
    cfg["labels"] = {"path": LABELS, "id_column": REGION_INDEX}
    cfg["tasks"] = [dict(TASK)]
    parsed = config_from_dict(cfg, base, base / "config.toml")
    units = load_regions(parsed)
    building_labels(units, Path(layers[TASK_LAYER])).rename_axis(
        REGION_INDEX).reset_index().to_parquet(base / LABELS)
    return cfg
