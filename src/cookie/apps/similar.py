"""`cookie similar RUN REGION_ID`: the regions most similar to one region, as a table and a
map (`cookie.evaluation.analysis.similar_regions` does the computing)."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from cookie.errors import DataError


def similar_file_name(region_id: object) -> str:
    return f"similar_{re.sub(r'[^A-Za-z0-9_.-]+', '_', str(region_id)).strip('_') or 'region'}.png"


def similar_in_run(run: str | Path, region_id: str, k: int = 10, out: str | Path | None = None,
                   overwrite: bool = False) -> tuple[pd.DataFrame, object, Path]:
    """The ``k`` regions of a run most similar to ``region_id`` (rank, region_id,
    similarity, distance_km), the query's id as the run spells it, and the map written
    (``similar_<id>.png`` in the run folder, or in ``out``: a new folder, or an earlier output
    with ``overwrite``)."""
    from cookie.apps.maps import load_backdrop, similar_map
    from cookie.apps.runs import load_run
    from cookie.evaluation.analysis import find_region, similar_regions
    from cookie.io.atomic import output_dir

    if k < 1:
        raise DataError(f"-k {k}: must be at least 1")
    r = load_run(run)
    query = find_region(r.embeddings.index, region_id)
    table = similar_regions(r.embeddings, query, k, r.regions)
    name = similar_file_name(query)
    regions = r.regions.loc[r.regions.index.isin(r.embeddings.index)]
    if out is None:
        path = similar_map(regions, query, table, r.path / name, load_backdrop(r.cfg, regions))
        return table, query, path
    with output_dir(out, overwrite, [r.path], what="similar") as staging:
        similar_map(regions, query, table, staging.path / name, load_backdrop(r.cfg, regions))
    return table, query, Path(out) / name
