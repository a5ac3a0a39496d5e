"""Featurizing another area for a trained model: the model's class vocabularies, not the
new layers' own.

A class column's features (``count_<class>``, ``share_<class>``,
``length_<class>_km_per_km2``) come from a vocabulary computed from the whole layer, so a
model trained on one area expects another area's columns to be the same classes in the same
order. The model records each view's feature names (`CookieEmbedder.feature_names_`); the
vocabulary is read back from them, the other area's layer is featurized against it (classes
the model never saw go to its ``other`` column, or are left out with a warning when it has
none), and the feature names are checked to match. The input normalization is the model's
own (fitted on the training area, stored in its weights), never refitted.
"""

from __future__ import annotations

import importlib
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

import geopandas as gpd
import numpy as np
import pandas as pd

from cookie.errors import DataError
from cookie.features.vector import ClassVocabulary, _label

if TYPE_CHECKING:
    from cookie.config import DatasetConfig
    from cookie.dataset.dataset import RegionDataset
    from cookie.features.view import ViewData

log = logging.getLogger(__name__)

#: view kinds whose class column gets a vocabulary -> featurizer module
VOCABULARY_KINDS = {"points": "cookie.features.points", "polygons": "cookie.features.polygons",
                    "lines": "cookie.features.lines"}


def classes_from_names(kind: str, names: list[str]) -> list[str]:
    """The class columns of a view, in order, from its feature names."""
    if kind == "points":
        return [n[len("count_"):] for n in names if n.startswith("count_")]
    if kind == "polygons":
        return [n[len("share_"):] for n in names if n.startswith("share_")]
    if kind == "lines":
        head, tail = "length_", "_km_per_km2"
        return [n[len(head):-len(tail)] for n in names
                if n.startswith(head) and n.endswith(tail) and len(n) > len(head) + len(tail)]
    return []


def vocabulary_from_names(kind: str, names: list[str]) -> ClassVocabulary | None:
    """The vocabulary that produced these feature names (None: the view had no class
    column). The last class column is the ``other`` one when it is named ``other`` or
    ``_other``; a real class called 'other' collects the same values either way."""
    classes = classes_from_names(kind, names)
    if not classes:
        return None
    if classes[-1] in ("other", "_other"):
        return ClassVocabulary(tuple(classes[:-1]), classes[-1])
    return ClassVocabulary(tuple(classes), None)


def _drop_unseen(gdf: gpd.GeoDataFrame, column: str, vocab: ClassVocabulary,
                 view: str) -> gpd.GeoDataFrame:
    """Without an ``other`` column, features of classes outside the vocabulary have nowhere
    to go: they are left out, with a warning naming the first class."""
    if vocab.other is not None:
        return gdf
    values = pd.Series(gdf[column].to_numpy(dtype=object))
    labels = values.map(lambda v: _label(v) if pd.notna(v) else None)
    unseen = ~labels.isin(list(vocab.top)).to_numpy()
    if unseen.any():
        first = labels[unseen].iloc[0]
        log.warning("view %r: %d features of classes the model never saw (e.g. %r) are left out",
                    view, int(unseen.sum()), first)
        gdf = gdf.iloc[np.flatnonzero(~unseen)]
    return gdf


def featurize_for_model(view_cfg: Any, regions: gpd.GeoDataFrame, names: list[str]) -> ViewData:
    """One view featurized with the vocabulary that ``names`` (the model's feature names of
    this view) record; a DataError when the columns still differ."""
    module = importlib.import_module(VOCABULARY_KINDS[view_cfg.kind])
    vocab = vocabulary_from_names(view_cfg.kind, names)
    gdf = module.load_layer(view_cfg, regions)
    if vocab is not None and view_cfg.class_column:
        gdf = _drop_unseen(gdf, view_cfg.class_column, vocab, view_cfg.name)
    view = module.featurize_layer(view_cfg, regions, gdf, vocab)
    if list(view.feature_names) != list(names):
        missing = [n for n in names if n not in view.feature_names] or names
        raise DataError(f"{view_cfg.path}: view {view_cfg.name!r} gives other feature columns "
                        f"than the model was trained on (e.g. {missing[0]!r}); check its "
                        "class_column and transform")
    return view


def load_dataset_for_model(cfg: DatasetConfig, feature_names: dict[str, list[str]] | None,
                           cache_dir: Path | None = None,
                           with_labels: bool = False) -> RegionDataset:
    """`load_dataset`, with every class-column view featurized against the model's
    vocabularies (``feature_names``: view -> the model's feature names; None or a view not
    in it: featurized as usual, from its own layer)."""
    from cookie.dataset.dataset import RegionDataset, load_dataset

    feature_names = feature_names or {}
    special = [v for v in cfg.views if v.kind in VOCABULARY_KINDS
               and getattr(v, "class_column", None) and v.name in feature_names]
    if not special:
        return load_dataset(cfg, cache_dir=cache_dir, with_labels=with_labels)
    rest = cfg.model_copy(update={"views": [v for v in cfg.views if v not in special]})
    base = load_dataset(rest, cache_dir=cache_dir, with_labels=with_labels)
    views = dict(base.views)
    for v in special:
        views[v.name] = featurize_for_model(v, base.regions, feature_names[v.name])
    views = {v.name: views[v.name] for v in cfg.views}
    return RegionDataset(cfg, base.regions, views, base.labels)
