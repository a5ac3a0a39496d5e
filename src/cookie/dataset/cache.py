"""A per-dataset feature cache: one .npz per view, keyed by config, files and regions."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pandas as pd

from cookie.errors import ConfigError
from cookie.features.view import ViewData
from cookie.io.atomic import atomic_file, resolve_path

log = logging.getLogger(__name__)


class FeatureCache:
    def __init__(self, root: Path | str) -> None:
        """A cache in folder ``root`` (created on first use); a file or a symlink loop there
        is a `ConfigError`, before any featurizing."""
        self.root = resolve_path(root, "cache folder")
        if self.root.exists() and not self.root.is_dir():
            raise ConfigError(f"--cache-dir {root}: is a file, not a folder")

    def _path(self, key: str, name: str) -> Path:
        return self.root / f"{name}-{key}.npz"

    def get(self, key: str, name: str, region_ids: pd.Index) -> ViewData | None:
        path = self._path(key, name)
        if not path.exists():
            return None
        try:
            with np.load(path, allow_pickle=False) as npz:
                meta = json.loads(str(npz["meta"]))
                aux = npz["aux"] if "aux" in npz.files else None
                view = ViewData(name, meta["kind"], region_ids, npz["values"], npz["mask"],
                                meta["feature_names"], aux, meta.get("aux_names", []))
        except Exception as exc:  # noqa: BLE001 - a broken cache entry is recomputed
            log.warning("%s: unreadable cache entry (%s); recomputing", path, exc)
            return None
        log.info("view %r: features loaded from cache %s", name, path)
        return view

    def put(self, key: str, view: ViewData) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        meta = json.dumps({"kind": view.kind, "feature_names": view.feature_names,
                           "aux_names": view.aux_names})
        arrays = {"values": view.values, "mask": view.mask, "meta": np.array(meta)}
        if view.aux is not None:
            arrays["aux"] = view.aux
        with atomic_file(self._path(key, view.name)) as tmp:
            with open(tmp, "wb") as fh:
                np.savez(fh, **arrays)  # type: ignore[arg-type]  # numpy stubs: **kwds
