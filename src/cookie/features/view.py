"""The per-region tensor of one view (`ViewData`) and its shape (`ViewSpec`): the contract
between featurizers and methods."""

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
    Image views may carry ``aux``, an ``(N, K)`` vector of per-region statistics (e.g. footprint
    morphology, band means) that the image encoder concatenates to its pooled features.
    """

    name: str
    kind: str
    region_ids: pd.Index
    values: np.ndarray
    mask: np.ndarray
    feature_names: list[str] = field(default_factory=list)
    aux: np.ndarray | None = None
    aux_names: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.values = np.asarray(self.values, dtype=np.float32)
        if self.aux is not None:
            self.aux = np.asarray(self.aux, dtype=np.float32)
            if self.aux.ndim != 2 or self.aux.shape[0] != len(self.region_ids):
                raise ValueError(f"view {self.name!r}: aux must be (N, K), got {self.aux.shape}")
            if not np.isfinite(self.aux).all():
                raise DataError(f"view {self.name!r}: NaN or infinite auxiliary features")
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

    def to_frame(self, flatten_images: bool = False) -> pd.DataFrame:
        """Vector features as a frame indexed by region id (for baselines and probes).

        For image views this is ``aux`` (the per-region statistics), or the flattened pixels
        when ``flatten_images`` is set or there is no ``aux``.
        """
        if self.is_image and self.aux is not None and not flatten_images:
            flat, names = self.aux, self.aux_names
        else:
            flat, names = self.values.reshape(len(self.region_ids), -1), self.feature_names
        if len(names) != flat.shape[1]:
            names = [f"{self.name}_{i}" for i in range(flat.shape[1])]
        return pd.DataFrame(flat, index=self.region_ids, columns=names)

    def subset(self, region_ids: pd.Index) -> ViewData:
        pos = self.region_ids.get_indexer(region_ids)
        if (pos < 0).any():
            raise DataError(f"view {self.name!r}: {int((pos < 0).sum())} regions not featurized")
        return ViewData(
            self.name, self.kind, pd.Index(region_ids, name=self.region_ids.name),
            self.values[pos], self.mask[pos], list(self.feature_names),
            None if self.aux is None else self.aux[pos], list(self.aux_names),
        )


@dataclass
class ViewSpec:
    """What an encoder needs to know about a view."""

    name: str
    kind: str
    input_shape: tuple[int, ...]
    aux_dim: int

    @property
    def is_image(self) -> bool:
        return len(self.input_shape) == 3

    @classmethod
    def from_view(cls, view: ViewData) -> ViewSpec:
        aux = 0 if view.aux is None or not view.is_image else view.aux.shape[1]
        return cls(view.name, view.kind, view.input_shape, aux)

    def to_dict(self) -> dict:
        return {"name": self.name, "kind": self.kind, "input_shape": list(self.input_shape),
                "aux_dim": self.aux_dim}

    @classmethod
    def from_dict(cls, d: dict) -> ViewSpec:
        return cls(d["name"], d["kind"], tuple(d["input_shape"]), int(d["aux_dim"]))
