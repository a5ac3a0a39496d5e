"""Partitioned featurization: regions split into spatial tiles, featurized tile by tile in
parallel with dask, reassembled in region order.

Tiles. Each region belongs to one tile, chosen from its representative point: a square grid of
``size_m`` metres in the regions' metric CRS (key ``E<x0>_N<y0>``, the tile's lower-left
corner), or the H3 parent cell at ``h3_resolution`` (key: the cell id).

What a tile computes (`featurize_tile`, a pure function of its inputs):
- its *own* regions, plus, for points and lines, *guard* regions: every other region meeting
  the own regions' bounding box, in the global region order. Guard rows are computed and
  dropped; they make the rule "a point on the edge between two regions goes to the region
  listed first" (POIs, road intersections) give the same answer as on the whole region set
  (polygon and footprint features are per region and need no guard);
- the *feature window*: every feature of the layer meeting the own regions' bounding box grown
  by `WINDOW_MARGIN_M` (a query of the layer's STRtree), in layer order. It holds every feature
  meeting an own region, and every road end that can merge into a node inside one (nodes merge
  within 1 cm), so the features of the own regions do not depend on the tiling;
- the class vocabulary (top ``max_classes`` classes), computed once from the whole layer and
  passed in, so that all tiles have the same columns.

Only the vector kinds (points, polygons, lines, footprints) are tiled; table, flows and raster
views are featurized once (a raster is already read window by window, one region at a time).
"""

from __future__ import annotations

import contextlib
import logging
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from cookie.errors import ConfigError
from cookie.features import featurize, get_kind
from cookie.features.view import ViewData

log = logging.getLogger(__name__)

#: how far (m) beyond its regions' bounding box a tile's feature window reaches
WINDOW_MARGIN_M = 1.0
#: seconds `cookie featurize --scheduler tcp://...` waits for the cluster to answer
CONNECT_TIMEOUT_S = 10.0

Runner = Callable[[list[tuple]], list]


# ---------------------------------------------------------------- tiles
def tile_keys(regions: gpd.GeoDataFrame, size_m: float | None = None,
              h3_resolution: int | None = None) -> np.ndarray:
    """The tile key of every region (from its representative point): a ``size_m`` square grid
    in the regions' CRS, or the H3 cell at ``h3_resolution`` containing the point."""
    if (size_m is None) == (h3_resolution is None):
        raise ConfigError("give exactly one of a tile size in metres or an H3 resolution")
    points = shapely.point_on_surface(regions.geometry.to_numpy())
    if size_m is not None:
        if not (np.isfinite(size_m) and size_m > 0):
            raise ConfigError(f"tile size must be a positive number of metres, got {size_m}")
        xy = shapely.get_coordinates(points)
        corner = np.floor(xy / size_m) * size_m
        return np.array([f"E{x:.0f}_N{y:.0f}" for x, y in corner], dtype=object)
    assert h3_resolution is not None
    if not 0 <= int(h3_resolution) <= 15:
        raise ConfigError(f"H3 resolution must be 0..15, got {h3_resolution}")
    import h3

    lonlat = shapely.get_coordinates(
        gpd.GeoSeries(points, crs=regions.crs).to_crs(4326).to_numpy())
    return np.array([h3.latlng_to_cell(lat, lon, int(h3_resolution)) for lon, lat in lonlat],
                    dtype=object)


@dataclass
class TilePlan:
    """One tile: global positions of its own regions, of the regions it computes (own + guard,
    sorted) and of its feature window in the layer (sorted)."""

    key: str
    own: np.ndarray
    computed: np.ndarray
    window: np.ndarray


def plan_tiles(regions: gpd.GeoDataFrame, keys: np.ndarray,
               layer: gpd.GeoDataFrame | None, guard: bool = True) -> list[TilePlan]:
    """Own regions, guard regions (if ``guard``) and feature window of every tile (see module
    doc)."""
    rgeoms = regions.geometry.to_numpy()
    rtree = shapely.STRtree(rgeoms)
    ltree = shapely.STRtree(layer.geometry.to_numpy()) if layer is not None else None
    codes, uniq = pd.factorize(pd.Series(keys, dtype=object), sort=True)
    plans = []
    for k, key in enumerate(uniq):
        own = np.flatnonzero(codes == k)
        x0, y0, x1, y1 = shapely.total_bounds(rgeoms[own])
        bbox = shapely.box(x0, y0, x1, y1)
        computed = np.union1d(own, rtree.query(bbox, predicate="intersects")) if guard else own
        window = (np.sort(ltree.query(shapely.buffer(bbox, WINDOW_MARGIN_M, join_style="mitre"),
                                      predicate="intersects"))
                  if ltree is not None else np.empty(0, dtype=np.int64))
        plans.append(TilePlan(str(key), own, computed, window))
    return plans


# ---------------------------------------------------------------- the per-tile function
def featurize_tile(kind: str, cfg: Any, regions: gpd.GeoDataFrame, own: np.ndarray,
                   layer: gpd.GeoDataFrame, vocabulary: Any) -> ViewData:
    """Features of the regions flagged ``own`` (a boolean array over ``regions``), computed over
    ``regions`` (own + guard) from the feature window ``layer`` with a fixed ``vocabulary``."""
    view = get_kind(kind).tiled_featurizer().featurize_layer(cfg, regions, layer, vocabulary)
    return view.subset(regions.index[own])


def assemble(parts: list[ViewData], positions: list[np.ndarray], index: pd.Index) -> ViewData:
    """Tile results put back in region order (``positions[t]``: global rows of part t)."""
    first = parts[0]
    for p in parts[1:]:
        if p.feature_names != first.feature_names or p.input_shape != first.input_shape:
            raise ValueError(f"view {first.name!r}: tiles disagree on the feature columns")
    n = len(index)
    values = np.zeros((n, *first.input_shape), dtype=np.float32)
    mask = np.zeros(n, dtype=bool)
    aux = None if first.aux is None else np.zeros((n, first.aux.shape[1]), dtype=np.float32)
    seen = np.zeros(n, dtype=bool)
    for p, pos in zip(parts, positions, strict=True):
        values[pos], mask[pos], seen[pos] = p.values, p.mask, True
        if aux is not None:
            aux[pos] = p.aux
    if not seen.all():
        raise ValueError(f"view {first.name!r}: {int((~seen).sum())} regions in no tile")
    return ViewData(first.name, first.kind, index, values, mask, list(first.feature_names),
                    aux, list(first.aux_names))


# ---------------------------------------------------------------- execution
def _is_address(scheduler: str | None) -> bool:
    return bool(scheduler) and "://" in str(scheduler)


def connect(address: str) -> Any:
    """A `distributed.Client` of the running cluster at `address`; a ConfigError when it
    does not answer within ``CONNECT_TIMEOUT_S``."""
    from distributed import Client

    try:
        return Client(address, timeout=CONNECT_TIMEOUT_S)
    except Exception as exc:  # noqa: BLE001 - timeouts, refusals, bad addresses
        msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ConfigError(f"--scheduler {address}: cannot reach a dask scheduler there within "
                          f"{CONNECT_TIMEOUT_S:g} s ({msg})") from None


@contextlib.contextmanager
def dask_runner(scheduler: str | None = None, workers: int = 1) -> Iterator[Runner]:
    """A function that runs a list of calls ``(func, *args)`` with dask and returns their
    results in order.

    ``scheduler``: None -> a `distributed.LocalCluster` of ``workers`` single-threaded worker
    processes (or, with ``workers <= 1``, dask's synchronous scheduler); ``"threads"`` /
    ``"processes"`` / ``"sync"`` -> dask's local schedulers with ``workers`` workers; an address
    (``tcp://host:8786``) -> a `distributed.Client` of that running cluster (its workers need
    this package installed). With a distributed cluster, tile inputs are scattered to the
    workers, not embedded in the task graph.
    """
    if scheduler is None and workers <= 1:
        scheduler = "sync"
    if scheduler in ("threads", "processes", "sync", "synchronous"):
        import dask

        if scheduler == "threads":  # concurrent rasterize calls report a spurious GDAL state
            warnings.filterwarnings("ignore", message="Dataset has no geotransform",
                                    module="rasterio.features")

        def run_local(calls: list[tuple]) -> list:
            tasks = [dask.delayed(func, pure=False)(*args) for func, *args in calls]
            return list(dask.compute(*tasks, scheduler=scheduler, num_workers=max(1, workers)))

        yield run_local
        return
    if scheduler is not None and not _is_address(scheduler):
        raise ConfigError(f"unknown scheduler {scheduler!r} (use threads, processes, sync or "
                          "an address like tcp://host:8786)")
    from distributed import Client, LocalCluster

    if not log.isEnabledFor(logging.INFO):  # distributed logs every connection at INFO
        logging.getLogger("distributed").setLevel(logging.WARNING)
    with contextlib.ExitStack() as stack:
        if scheduler is None:
            cluster = stack.enter_context(LocalCluster(
                n_workers=workers, threads_per_worker=1, processes=True,
                dashboard_address=":0", silence_logs=logging.WARNING))
            client = stack.enter_context(Client(cluster))
        else:
            client = stack.enter_context(connect(scheduler))

        def run_client(calls: list[tuple]) -> list:
            # frames go to the workers in one scatter, not inside the task graph
            frames = [a for _, *args in calls for a in args if isinstance(a, pd.DataFrame)]
            scattered = iter(client.scatter(frames, hash=False)) if frames else iter(())
            futures = []
            for func, *args in calls:
                args = [next(scattered) if isinstance(a, pd.DataFrame) else a for a in args]
                futures.append(client.submit(func, *args, pure=False))
            return client.gather(futures)

        yield run_client


def featurize_tiled(view_cfg: Any, regions: gpd.GeoDataFrame, keys: np.ndarray,
                    run: Runner) -> ViewData:
    """One view over all regions, tile by tile (vector kinds) or at once (other kinds);
    equal to `cookie.features.featurize` (see module doc)."""
    kind = get_kind(view_cfg.kind)
    if not kind.tiled:
        return featurize(view_cfg, regions)
    module = kind.tiled_featurizer()
    layer = module.load_layer(view_cfg, regions)
    vocab = module.layer_vocabulary(view_cfg, layer)
    plans = plan_tiles(regions, keys, layer, guard=kind.guarded)
    calls = []
    for plan in plans:
        sub = regions.iloc[plan.computed]
        own = np.isin(plan.computed, plan.own)
        calls.append((featurize_tile, view_cfg.kind, view_cfg, sub, own,
                      layer.iloc[plan.window], vocab))
    parts = run(calls)
    return assemble(parts, [p.own for p in plans], regions.index)


def featurize_all_tiled(cfg: Any, regions: gpd.GeoDataFrame, keys: np.ndarray,
                        scheduler: str | None = None, workers: int = 1,
                        say: Callable[[str], None] = log.info,
                        ) -> tuple[dict[str, ViewData], dict[str, float]]:
    """Every view of a dataset config, tiled; returns the views and seconds per view."""
    views, seconds = {}, {}
    with dask_runner(scheduler, workers) as run:
        for view_cfg in cfg.views:
            start = time.perf_counter()
            views[view_cfg.name] = featurize_tiled(view_cfg, regions, keys, run)
            seconds[view_cfg.name] = time.perf_counter() - start
            say(f"featurized {view_cfg.name} ({view_cfg.kind}) in {seconds[view_cfg.name]:.1f} s")
    return views, seconds


def tile_count(keys: np.ndarray) -> int:
    return len(pd.unique(pd.Series(keys, dtype=object)))


def describe_tiling(size_m: float | None, h3_resolution: int | None) -> dict:
    return {"tile_size_m": size_m, "h3_resolution": h3_resolution,
            "window_margin_m": WINDOW_MARGIN_M, "rule": "features meeting the own regions' "
            "bounding box + margin; guard regions meeting that box; global class vocabulary"}
