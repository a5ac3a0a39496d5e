"""Helpers shared by featurizers: alignment to regions, masks, warnings."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from cookie.errors import DataError
from cookie.features.view import ViewData
from cookie.sources.readers import plain_scalar

log = logging.getLogger(__name__)


def align_to_regions(name: str, kind: str, frame: pd.DataFrame, regions_index: pd.Index,
                     source: object) -> ViewData:
    """Reindex a region-keyed feature frame to the regions; absent regions get zeros + mask."""
    unknown = frame.index.difference(regions_index)
    if len(unknown):
        log.warning("%s: %d rows for unknown regions ignored (first: %r)", source, len(unknown),
                    unknown[0])
    present = regions_index.isin(frame.index)
    if len(frame) and not present.any():
        raise DataError(
            f"{source}: no row matches a region id (view {name!r}; ids like "
            f"{plain_scalar(frame.index[0])!r}, regions like "
            f"{plain_scalar(regions_index[0])!r})"
        )
    missing = int((~present).sum())
    if missing:
        log.warning("view %r: %d of %d regions have no data (zero vector + mask)", name,
                    missing, len(regions_index))
    values = frame.reindex(regions_index).fillna(0.0).to_numpy(dtype=np.float32)
    return ViewData(name, kind, regions_index, values, present, [str(c) for c in frame.columns])
