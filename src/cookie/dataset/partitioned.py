"""Partitioned outputs: featurized views as one GeoParquet file per spatial tile, embeddings as
one Parquet file per batch of regions, each folder described by a ``manifest.json``.

Layout of `cookie featurize --out DIR`::

    DIR/manifest.json                       views, tiles, files, feature names, timings
    DIR/<view>/tile=<key>/part.parquet      GeoParquet: region_id, _position, _mask,
                                            one column per feature (image views: one list
                                            column _pixels, C*H*W values in C order, and the
                                            statistics as aux:<name>), geometry (the
                                            regions' CRS)

The ``tile=<key>`` folders are Hive-style partitions, so pyarrow, DuckDB or Spark read a view
folder as one table with a ``tile`` column; `read_partitioned_view` rebuilds the `ViewData`
in region order (``_position``).

Layout of `cookie embed --partitioned --out DIR`: ``DIR/part-00000.parquet``, ... (regions in
order, ``region_id`` column + e000...) and ``DIR/manifest.json``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from cookie.constants import REGION_INDEX
from cookie.errors import DataError
from cookie.features.view import ViewData

MANIFEST = "manifest.json"
PIXELS = "_pixels"
RESERVED = (REGION_INDEX, "_position", "_mask", "geometry", "tile", PIXELS)


def _view_frame(view: ViewData, rows: np.ndarray, regions: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    flat = view.values[rows].reshape(len(rows), -1)
    cols: dict[str, Any] = {REGION_INDEX: np.asarray(view.region_ids[rows]),
                            "_position": rows.astype(np.int64), "_mask": view.mask[rows]}
    if view.is_image:  # one list column (C*H*W values, C order), not thousands of columns
        frame = pd.DataFrame({PIXELS: list(flat)})
    else:
        names = view.feature_names if len(view.feature_names) == flat.shape[1] else [
            f"{view.name}_{i}" for i in range(flat.shape[1])]
        clash = [c for c in names if c in RESERVED]
        if clash:
            raise DataError(f"view {view.name!r}: feature name {clash[0]!r} is reserved in "
                            "partitioned outputs")
        frame = pd.DataFrame(flat, columns=names)
    if view.aux is not None:
        aux = pd.DataFrame(view.aux[rows], columns=[f"aux:{n}" for n in view.aux_names])
        frame = pd.concat([frame, aux], axis=1)
    frame = pd.concat([pd.DataFrame(cols), frame], axis=1)
    geom = regions.geometry.to_numpy()[rows]
    return gpd.GeoDataFrame(frame, geometry=geom, crs=regions.crs)


def write_partitioned_views(views: dict[str, ViewData], regions: gpd.GeoDataFrame,
                            tiles: np.ndarray, out: Path, info: dict | None = None,
                            view_info: dict[str, dict] | None = None) -> Path:
    """Write every view as one GeoParquet file per tile under ``out/<view>/tile=<key>/`` and
    ``out/manifest.json`` (``info`` and, per view, ``view_info[name]`` are added to the
    manifest). ``tiles[i]`` is the tile of region ``i``; ``out`` should be a fresh folder (see
    `cookie.io.atomic.output_dir`)."""
    out = Path(out)
    keys, inverse = np.unique(np.asarray(tiles, dtype=str), return_inverse=True)
    groups = [np.flatnonzero(inverse == k) for k in range(len(keys))]
    manifest: dict[str, Any] = {
        "format": 1, "regions": len(regions), "crs": regions.crs.to_string(),
        "tiles": [{"key": str(k), "regions": int(len(g))} for k, g in zip(keys, groups,
                                                                          strict=True)],
        "views": {}, **(info or {}),
    }
    for name, view in views.items():
        if list(view.region_ids) != list(regions.index):
            raise ValueError(f"view {name!r} is not aligned to the regions")
        files = []
        for key, rows in zip(keys, groups, strict=True):
            rel = Path(name) / f"tile={key}" / "part.parquet"
            (out / rel).parent.mkdir(parents=True, exist_ok=True)
            _view_frame(view, rows, regions).to_parquet(out / rel)
            files.append(str(rel))
        manifest["views"][name] = {
            "kind": view.kind, "input_shape": list(view.input_shape),
            "feature_names": list(view.feature_names), "aux_names": list(view.aux_names),
            "files": files,
        } | (view_info or {}).get(name, {})
    (out / MANIFEST).write_text(json.dumps(manifest, indent=2, default=str))
    return out


def read_manifest(folder: Path) -> dict:
    path = Path(folder) / MANIFEST
    if not path.is_file():
        raise DataError(f"{path}: manifest not found (not a partitioned output folder)")
    return json.loads(path.read_text())


def read_partitioned_view(folder: Path, name: str) -> ViewData:
    """One view of a `write_partitioned_views` folder, in region order."""
    folder = Path(folder)
    manifest = read_manifest(folder)
    if name not in manifest["views"]:
        raise DataError(f"{folder}: no view {name!r} (views: {', '.join(manifest['views'])})")
    meta = manifest["views"][name]
    frame = pd.concat([pd.read_parquet(folder / f) for f in meta["files"]])
    frame = frame.sort_values("_position")
    aux_cols = [f"aux:{n}" for n in meta["aux_names"]]
    n = len(frame)
    if PIXELS in frame.columns:
        flat = np.stack(frame[PIXELS].to_numpy()) if n else np.zeros((0, 0), np.float32)
    else:
        feat = [c for c in frame.columns if c not in RESERVED and c not in aux_cols]
        flat = frame[feat].to_numpy(np.float32)
    values = flat.astype(np.float32).reshape(n, *meta["input_shape"])
    aux = frame[aux_cols].to_numpy(np.float32) if aux_cols else None
    index = pd.Index(frame[REGION_INDEX].to_numpy(), name=REGION_INDEX)
    return ViewData(name, meta["kind"], index, values, frame["_mask"].to_numpy(bool),
                    list(meta["feature_names"]), aux, list(meta["aux_names"]))


def write_partitioned_embeddings(batches: Iterable[pd.DataFrame], out: Path,
                                 info: dict | None = None,
                                 regions: gpd.GeoDataFrame | None = None) -> dict:
    """Write each embeddings batch (indexed by region id) as ``out/part-NNNNN.parquet`` as it
    arrives (memory: one batch), then ``out/manifest.json``; returns the manifest. With
    ``regions``, parts are GeoParquet with the region geometry in EPSG:4326 (as
    `cookie.io.outputs.write_embeddings`)."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    files, rows, dim = [], 0, None
    for i, batch in enumerate(batches):
        frame = batch.copy()
        frame.index.name = REGION_INDEX
        if regions is not None:
            geom = regions.geometry.reindex(frame.index).to_crs(4326)
            frame = gpd.GeoDataFrame(frame, geometry=geom.values, crs=4326)
        name = f"part-{i:05d}.parquet"
        frame.to_parquet(out / name)
        files.append({"file": name, "regions": len(frame)})
        rows, dim = rows + len(frame), batch.shape[1]
    manifest = {"format": 1, "regions": rows, "dim": dim, "files": files, **(info or {})}
    (out / MANIFEST).write_text(json.dumps(manifest, indent=2, default=str))
    return manifest


def read_partitioned_embeddings(folder: Path) -> pd.DataFrame:
    """All parts of a `write_partitioned_embeddings` folder, in order, indexed by region id."""
    folder = Path(folder)
    manifest = read_manifest(folder)
    return pd.concat([pd.read_parquet(folder / f["file"]) for f in manifest["files"]])
