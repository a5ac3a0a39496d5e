"""One view as an ``.npz`` file (values, mask, optional aux, a JSON ``meta``; no pickles): the
codec of the feature cache (`cache.py`) and of frozen datasets (`frozen.py`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import IO

import numpy as np
import pandas as pd

from cookie.features.view import ViewData


def write_view(view: ViewData, target: Path | IO[bytes], compressed: bool = False) -> None:
    meta = json.dumps({"kind": view.kind, "feature_names": view.feature_names,
                       "aux_names": view.aux_names})
    arrays = {"values": view.values, "mask": view.mask, "meta": np.array(meta)}
    if view.aux is not None:
        arrays["aux"] = view.aux
    save = np.savez_compressed if compressed else np.savez
    save(target, **arrays)  # type: ignore[arg-type]  # numpy stubs: **kwds


def read_view(path: Path, name: str, region_ids: pd.Index) -> ViewData:
    """View ``name`` over ``region_ids`` from a file `write_view` wrote."""
    with np.load(path, allow_pickle=False) as npz:
        meta = json.loads(str(npz["meta"]))
        aux = npz["aux"] if "aux" in npz.files else None
        return ViewData(name, meta["kind"], region_ids, npz["values"], npz["mask"],
                        meta["feature_names"], aux, meta.get("aux_names", []))
