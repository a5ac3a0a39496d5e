"""A per-dataset feature cache: one .npz per view (`cookie.dataset.codec`), keyed by config,
files and regions."""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd

from cookie.dataset.codec import read_view, write_view
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
            view = read_view(path, name, region_ids)
        except Exception as exc:  # noqa: BLE001 - a broken cache entry is recomputed
            log.warning("%s: unreadable cache entry (%s); recomputing", path, exc)
            return None
        log.info("view %r: features loaded from cache %s", name, path)
        return view

    def put(self, key: str, view: ViewData) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        with atomic_file(self._path(key, view.name)) as tmp:
            with open(tmp, "wb") as fh:
                write_view(view, fh)
