"""Writing and reading embeddings tables and run records."""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import os
import platform
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd

from cookie.constants import REGION_INDEX
from cookie.errors import DataError
from cookie.io.atomic import atomic_file
from cookie.sources.readers import check_finite, require_file


def write_embeddings(embeddings: pd.DataFrame, path: Path,
                     regions: gpd.GeoDataFrame | None = None) -> Path:
    """Parquet keyed by `region_id`; GeoParquet (EPSG:4326 geometry) when regions are given."""
    frame = embeddings.copy()
    frame.index.name = REGION_INDEX
    if regions is not None:
        geom = regions.geometry.reindex(frame.index).to_crs(4326)
        frame = gpd.GeoDataFrame(frame, geometry=geom.values, crs=4326)
    with atomic_file(path) as tmp:
        frame.to_parquet(tmp)
    return path


def read_embeddings(path: Path, id_columns: tuple[str, ...] = (REGION_INDEX,)) -> pd.DataFrame:
    """An embeddings table keyed by region id: the first of ``id_columns`` that is a column
    (or the named index) of the file; numeric only. A table with none of them is refused
    rather than keyed by row order."""
    path = require_file(Path(path))
    try:
        frame = pd.read_parquet(path) if path.suffix.lower() in (".parquet", ".pq") else (
            pd.read_csv(path, dtype=dict.fromkeys(id_columns, str)))
    except Exception as exc:  # noqa: BLE001
        raise DataError(f"{path}: cannot read embeddings ({type(exc).__name__})") from None
    if frame.index.name is not None:
        frame = frame.reset_index()
    id_col = next((c for c in id_columns if c in frame.columns), None)
    if id_col is None:
        looked = ", ".join(repr(c) for c in id_columns)
        raise DataError(f"{path}: no region id column (looked for {looked}); name it with "
                        "--id-column")
    frame = frame.set_index(id_col).rename_axis(REGION_INDEX)
    frame = frame.drop(columns=[c for c in ("geometry",) if c in frame.columns])
    bad = [c for c in frame.columns if not pd.api.types.is_numeric_dtype(frame[c])]
    if bad:
        raise DataError(f"{path}: column {bad[0]!r} is not numeric")
    if frame.index.duplicated().any():
        first = frame.index[frame.index.duplicated()][0]
        raise DataError(f"{path}: duplicate region ids (first: {first!r})")
    check_finite(frame, path)
    return frame


_SHA256_MEMO: dict[tuple, str] = {}


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    """SHA-256 of a file's content, memoized within the process on its full stat (the change
    time and inode as well, which `cp -p`, `rsync -a` and `tar` cannot restore)."""
    st = Path(path).stat()
    key = (str(path), st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino)
    if key in _SHA256_MEMO:
        return _SHA256_MEMO[key]
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    _SHA256_MEMO[key] = h.hexdigest()
    return _SHA256_MEMO[key]


# files read together with a layer: shapefile attributes, index, CRS and encoding; a
# GeoPackage's uncommitted writes; a raster's statistics, masks and overviews
_SIDECARS = {".shp": ("dbf", "shx", "prj", "cpg")}
_APPENDED = {".gpkg": ("-wal",), ".tif": (".aux.xml", ".msk", ".ovr"),
             ".tiff": (".aux.xml", ".msk", ".ovr")}


def layer_files(path: Path) -> list[Path]:
    """`path` and every existing sidecar file it is read with."""
    path = Path(path)
    suffix = path.suffix.lower()
    candidates = [path.with_suffix(f".{ext}") for ext in _SIDECARS.get(suffix, ())]
    candidates += [path.with_suffix(f".{ext.upper()}") for ext in _SIDECARS.get(suffix, ())]
    candidates += [Path(f"{path}{tail}") for tail in _APPENDED.get(suffix, ())]
    return [path] + [c for c in candidates if c.is_file()]


def package_versions() -> dict[str, str]:
    names = ["cookie-rrl", "torch", "lightning", "numpy", "pandas", "geopandas", "shapely",
             "scikit-learn", "rasterio", "pyproj", "h3"]
    out = {"python": platform.python_version()}
    for n in names:
        try:
            out[n] = importlib.metadata.version(n)
        except importlib.metadata.PackageNotFoundError:
            pass
    return out


def data_files(cfg: Any) -> list[Path]:
    """Every existing file a dataset (or view) config points at, with its sidecars."""
    found: list[Path] = []

    def walk(value: Any) -> None:
        if isinstance(value, Path) and value.is_file():
            found.extend(f for f in layer_files(value) if f not in found)
        elif isinstance(value, dict):
            for v in value.values():
                walk(v)
        elif isinstance(value, list):
            for v in value:
                walk(v)

    walk(cfg.model_dump())
    return found


def write_json(obj: Any, path: Path) -> None:
    with atomic_file(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, default=str))


def machine_description() -> str:
    """CPU model, core count and OS, for results files."""
    cpu = platform.processor() or "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    # the CPUs this process may run on (`nproc` would report OMP_NUM_THREADS instead)
    cores = str(len(os.sched_getaffinity(0))) if hasattr(os, "sched_getaffinity") \
        else str(os.cpu_count() or "?")
    gpu = ""
    try:
        import torch

        if torch.cuda.is_available():
            gpu = f", GPU {torch.cuda.get_device_name(0)}"
    except Exception:  # noqa: BLE001 - a description, never a failure
        pass
    return f"{cpu}, {cores} cores{gpu}, {platform.system()} {platform.release()}, " \
           f"Python {platform.python_version()}"
