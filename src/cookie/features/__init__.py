"""Featurizers: one per view kind, each turning a layer into a per-region ViewData."""

from __future__ import annotations

import gc
import importlib
import multiprocessing
import os
import signal
import sys
import threading
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Protocol, cast

import geopandas as gpd

from cookie.errors import ConfigError
from cookie.features.view import ViewData


class Featurizer(Protocol):
    """A view kind's featurizer: ``(view_cfg, regions) -> ViewData``, where ``regions`` is a
    GeoDataFrame indexed by region id in the dataset's metric CRS."""

    def __call__(self, cfg: Any, regions: gpd.GeoDataFrame) -> ViewData: ...


class TiledFeaturizer(Protocol):
    """What a vector kind's module offers to be featurized tile by tile (`cookie.features.tiling`):
    the whole layer read once, its class vocabulary fixed from the whole layer, and the
    features of some regions from a window of the layer."""

    def load_layer(self, cfg: Any, regions: gpd.GeoDataFrame) -> gpd.GeoDataFrame: ...

    def layer_vocabulary(self, cfg: Any, gdf: gpd.GeoDataFrame) -> Any: ...

    def featurize_layer(self, cfg: Any, regions: gpd.GeoDataFrame, gdf: gpd.GeoDataFrame,
                        vocabulary: Any) -> ViewData: ...


@dataclass(frozen=True)
class Kind:
    """A registered view kind: the module and function of its featurizer, whether the module
    is a `TiledFeaturizer`, and whether its tiles need guard regions (kinds that assign a
    feature to the first region containing it: POIs, road intersections)."""

    name: str
    module: str
    function: str
    tiled: bool = False
    guarded: bool = False

    def featurizer(self) -> Featurizer:
        return cast(Featurizer, getattr(importlib.import_module(self.module), self.function))

    def tiled_featurizer(self) -> TiledFeaturizer:
        if not self.tiled:
            raise ConfigError(f"view kind {self.name!r} cannot be featurized tile by tile")
        return cast(TiledFeaturizer, importlib.import_module(self.module))


#: the one registry of view kinds (featurizers are imported on first use)
KINDS: dict[str, Kind] = {k.name: k for k in (
    Kind("table", "cookie.features.table", "featurize_table"),
    Kind("flows", "cookie.features.flows", "featurize_flows"),
    Kind("points", "cookie.features.points", "featurize_points", tiled=True, guarded=True),
    Kind("polygons", "cookie.features.polygons", "featurize_polygons", tiled=True),
    Kind("footprints", "cookie.features.footprints", "featurize_footprints", tiled=True),
    Kind("lines", "cookie.features.lines", "featurize_lines", tiled=True, guarded=True),
    Kind("raster", "cookie.features.raster", "featurize_raster"),
)}


def get_kind(kind: str) -> Kind:
    if kind not in KINDS:
        raise ConfigError(f"unknown view kind {kind!r} (known: {', '.join(KINDS)})")
    return KINDS[kind]


def get_featurizer(kind: str) -> Featurizer:
    return get_kind(kind).featurizer()


def featurize(view_cfg: Any, regions: gpd.GeoDataFrame) -> ViewData:
    """Featurize one configured view over the regions."""
    return get_featurizer(view_cfg.kind)(view_cfg, regions)


# heaviest kinds first, so that the workers finish together
_COST_RANK = ["raster", "footprints", "polygons", "lines", "points", "flows", "table"]
_JOB: dict[str, tuple] = {}  # the views a forked worker inherits from its parent


def default_workers(n_views: int) -> int:
    """One worker per view, up to the CPU count (``COOKIE_FEATURIZE_WORKERS`` overrides)."""
    env = os.environ.get("COOKIE_FEATURIZE_WORKERS")
    if env:
        return max(1, int(env))
    return max(1, min(n_views, os.cpu_count() or 1))


def featurize_all(view_cfgs: Sequence, regions: gpd.GeoDataFrame,
                  workers: int | None = None) -> list[ViewData]:
    """Featurize several views side by side on ``workers`` workers (default
    `default_workers`): the heaviest view in this process, the others in forked worker
    processes where `fork_is_safe` (the featurizers' numpy bookkeeping holds the GIL, so
    threads would mostly wait on each other), else in threads."""
    n = len(view_cfgs)
    workers = min(n, default_workers(n) if workers is None else workers)
    with gc_paused():
        if workers <= 1:
            return [featurize(cfg, regions) for cfg in view_cfgs]
        return _featurize_side_by_side(view_cfgs, regions, workers)


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector, and freeze the objects it tracks so that
    forked workers do not copy their pages. Featurizing creates many geometry objects but no
    reference cycles; each full collection would otherwise walk every object of every
    imported library (tens of milliseconds)."""
    enabled = gc.isenabled()
    gc.disable()
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()
        if enabled:
            gc.enable()


def _featurize_side_by_side(view_cfgs: Sequence, regions: gpd.GeoDataFrame,
                            workers: int) -> list[ViewData]:
    n = len(view_cfgs)
    order = sorted(range(n), key=lambda i: _COST_RANK.index(view_cfgs[i].kind)
                   if view_cfgs[i].kind in _COST_RANK else len(_COST_RANK))
    for cfg in view_cfgs:  # import every featurizer once, here, rather than in each worker
        get_featurizer(cfg.kind)
    forked = fork_is_safe()
    pool: ProcessPoolExecutor | ThreadPoolExecutor
    if forked:  # the workers inherit the views and regions (nothing to pickle on the way in)
        pool = ProcessPoolExecutor(workers - 1, mp_context=multiprocessing.get_context("fork"),
                                   initializer=_worker_start, initargs=(os.getpid(),))
        _JOB["views"] = (tuple(view_cfgs), regions)
    else:
        pool = ThreadPoolExecutor(workers - 1, thread_name_prefix="featurize")
    try:
        futures = {i: pool.submit(_featurize_inherited, i) if forked
                   else pool.submit(featurize, view_cfgs[i], regions) for i in order[1:]}
        results = {order[0]: featurize(view_cfgs[order[0]], regions)}
        results.update({i: future.result() for i, future in futures.items()})
    except BaseException:
        _abandon(pool)
        raise
    finally:
        _JOB.pop("views", None)
    pool.shutdown()
    return [results[i] for i in range(n)]


def _abandon(pool: ProcessPoolExecutor | ThreadPoolExecutor) -> None:
    """Stop a pool whose results are no longer wanted (a view failed, or a signal came).

    Worker processes are killed at once (SIGKILL: one just forked may not have set up its
    own signal handling yet, see `_worker_start`) and the pool is waited for, so that none of
    it is left for the interpreter's exit (where Python's `concurrent.futures` exit hook may
    then write to the pool's closed wake-up pipe and print an "Exception ignored" traceback).
    Threads cannot be ended: their queued views are cancelled and the running ones finish
    alone."""
    if isinstance(pool, ProcessPoolExecutor):
        for process in list((getattr(pool, "_processes", None) or {}).values()):
            process.kill()
        pool.shutdown(wait=True, cancel_futures=True)
    else:
        pool.shutdown(wait=False, cancel_futures=True)


def _worker_start(parent: int) -> None:
    """Set up a forked featurization worker: it dies with its parent (Linux
    ``PR_SET_PDEATHSIG``; it would otherwise wait on the parent's queue forever), ignores
    Ctrl-C (the parent handles it and ends its workers) and ends on SIGTERM."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL, 0, 0, 0)  # 1 = PR_SET_PDEATHSIG
    except (OSError, AttributeError):  # not Linux: the parent's end still ends the pool
        pass
    if os.getppid() != parent:  # the parent died before the line above
        os._exit(1)


def fork_is_safe() -> bool:
    """Whether forked workers can be used: on Linux, and only while this is the process's one
    Python thread (a lock that another thread holds at the fork, say a console's while it
    draws a spinner, would stay locked forever in the child)."""
    return sys.platform.startswith("linux") and threading.active_count() == 1


def _featurize_inherited(i: int) -> ViewData:
    view_cfgs, regions = _JOB["views"]
    return featurize(view_cfgs[i], regions)
