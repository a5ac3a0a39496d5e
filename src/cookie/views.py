"""The per-region tensor of one view: the contract between featurizers and methods."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from cookie.errors import DataError


@dataclass
class ViewData:
    """Features of one view, aligned to a region index.

    ``values`` is ``(N, D)`` for vector views or ``(N, C, H, W)`` for image views;
    ``mask[r]`` is False where region ``r`` had no data in this view (its row is zeros).
    """

    name: str
    kind: str
    region_ids: pd.Index
    values: np.ndarray
    mask: np.ndarray
    feature_names: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.values = np.asarray(self.values, dtype=np.float32)
        self.mask = np.asarray(self.mask, dtype=bool)
        n = len(self.region_ids)
        if self.values.shape[0] != n or self.mask.shape != (n,):
            raise ValueError(
                f"view {self.name!r}: values {self.values.shape} / mask {self.mask.shape} "
                f"do not match {n} regions"
            )
        if not np.isfinite(self.values).all():
            bad = int((~np.isfinite(self.values.reshape(n, -1))).any(axis=1).sum())
            raise DataError(f"view {self.name!r}: {bad} regions have NaN or infinite features")

    @property
    def is_image(self) -> bool:
        return self.values.ndim == 4

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.values.shape[1:])

    def to_frame(self) -> pd.DataFrame:
        """Flattened features as a frame indexed by region id (for baselines and probes)."""
        flat = self.values.reshape(len(self.region_ids), -1)
        names = self.feature_names if len(self.feature_names) == flat.shape[1] else [
            f"{self.name}_{i}" for i in range(flat.shape[1])
        ]
        return pd.DataFrame(flat, index=self.region_ids, columns=names)

    def subset(self, region_ids: pd.Index) -> ViewData:
        pos = self.region_ids.get_indexer(region_ids)
        if (pos < 0).any():
            raise DataError(f"view {self.name!r}: {int((pos < 0).sum())} regions not featurized")
        return ViewData(
            self.name, self.kind, pd.Index(region_ids, name=self.region_ids.name),
            self.values[pos], self.mask[pos], list(self.feature_names),
        )
