"""Tiny synthetic datasets for the reliability tests: square regions, tables, rasters, configs.

Everything is written under a caller's folder in EPSG:3067 (a metric CRS); configs use paths
relative to the config file, like real ones.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import tomli_w
from shapely.geometry import box

CRS = "EPSG:3067"
ORIGIN = (380000.0, 6670000.0)  # around Helsinki in EPSG:3067
CELL = 100.0

# A model small enough to train in well under a second per epoch on one CPU core.
SMALL_METHOD: dict[str, Any] = {
    "name": "cookie", "embedding_dim": 8, "hidden_dim": 8, "encoder_dim": 8, "critic_dim": 4,
    "pretrain_epochs": 0, "epochs": 1, "batch_size": 0, "seed": 0,
}


def square_regions(n: int, ids: list[Any] | None = None, cols: int | None = None,
                   origin: tuple[float, float] = ORIGIN) -> gpd.GeoDataFrame:
    """`n` adjacent 100 m squares in rows of `cols`, with a `region_id` and a `population`."""
    cols = cols or max(1, int(np.ceil(np.sqrt(n))))
    geoms = [box(origin[0] + (i % cols) * CELL, origin[1] + (i // cols) * CELL,
                 origin[0] + (i % cols + 1) * CELL, origin[1] + (i // cols + 1) * CELL)
             for i in range(n)]
    rng = np.random.default_rng(0)
    return gpd.GeoDataFrame({"region_id": ids if ids is not None else [f"r{i}" for i in range(n)],
                             "population": rng.integers(0, 1000, n).astype(float)},
                            geometry=geoms, crs=CRS)


def feature_table(ids: list[Any], dim: int, seed: int, prefix: str) -> pd.DataFrame:
    """A per-region table of `dim` non-negative features with some structure across views."""
    rng = np.random.default_rng(seed)
    latent = np.random.default_rng(123).normal(size=(len(ids), 2))
    mix = rng.normal(size=(2, dim))
    values = np.abs(latent @ mix + 0.3 * rng.normal(size=(len(ids), dim)))
    frame = pd.DataFrame(values, columns=[f"{prefix}_{i}" for i in range(dim)])
    frame.insert(0, "region_id", ids)
    return frame


def write_config(path: Path, cfg: dict[str, Any]) -> Path:
    """Write a TOML config (keys with None values are left out)."""
    def clean(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: clean(v) for k, v in value.items() if v is not None}
        if isinstance(value, list):
            return [clean(v) for v in value]
        return value

    path.write_text(tomli_w.dumps(clean(cfg)))
    return path


def make_dataset(root: Path, n: int = 16, dims: tuple[int, ...] = (4, 3), tasks: bool = True,
                 method: dict[str, Any] | None = None) -> tuple[Path, dict[str, Any]]:
    """Regions (GeoPackage), one table view (Parquet / CSV alternately) per entry of `dims`,
    labels in the regions file; returns the config path and the config dict (to edit and
    rewrite with `write_config`)."""
    root.mkdir(parents=True, exist_ok=True)
    regions = square_regions(n)
    regions.to_file(root / "regions.gpkg", driver="GPKG")
    ids = list(regions.region_id)
    views = []
    for k, dim in enumerate(dims):
        table = feature_table(ids, dim, seed=k, prefix=f"v{k}")
        name = f"view{k}.parquet" if k % 2 == 0 else f"view{k}.csv"
        if name.endswith(".parquet"):
            table.to_parquet(root / name)
        else:
            table.to_csv(root / name, index=False)
        views.append({"name": f"v{k}", "kind": "table", "path": name, "transform": "log1p"})
    cfg: dict[str, Any] = {
        "name": "synthetic", "crs": CRS,
        "regions": {"path": "regions.gpkg", "id_column": "region_id"},
        "views": views,
        "method": dict(SMALL_METHOD, **(method or {})),
        "evaluation": {"folds": 2, "repeats": 1, "spatial_folds": 2},
    }
    if tasks:
        cfg["tasks"] = [{"name": "pop", "target": "population", "type": "regression"}]
    return write_config(root / "config.toml", cfg), cfg


def write_raster(path: Path, bounds: tuple[float, float, float, float], size: int = 8,
                 crs: str | None = CRS, bands: int = 1) -> Path:
    """A small float32 GeoTIFF covering `bounds`."""
    import rasterio
    from rasterio.transform import from_bounds

    data = np.arange(bands * size * size, dtype=np.float32).reshape(bands, size, size)
    with rasterio.open(path, "w", driver="GTiff", width=size, height=size, count=bands,
                       dtype="float32", crs=crs,
                       transform=from_bounds(*bounds, size, size)) as dst:
        dst.write(data)
    return path
