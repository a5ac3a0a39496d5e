"""Featurizers: one per view kind, each turning a layer into a per-region ViewData."""

from __future__ import annotations

import gc
import importlib
import multiprocessing
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from contextlib import contextmanager

import geopandas as gpd

from cookie.errors import ConfigError
from cookie.features.view import ViewData

# kind -> "module:function"; each function has signature (view_cfg, regions) -> ViewData,
# where `regions` is a GeoDataFrame indexed by region id in the dataset's metric CRS.
FEATURIZERS: dict[str, str] = {
    "table": "cookie.features.table:featurize_table",
    "flows": "cookie.features.flows:featurize_flows",
    "points": "cookie.features.points:featurize_points",
    "polygons": "cookie.features.polygons:featurize_polygons",
    "footprints": "cookie.features.footprints:featurize_footprints",
    "lines": "cookie.features.lines:featurize_lines",
    "raster": "cookie.features.raster:featurize_raster",
}


def get_featurizer(kind: str) -> Callable[..., ViewData]:
    if kind not in FEATURIZERS:
        raise ConfigError(f"unknown view kind {kind!r} (known: {', '.join(FEATURIZERS)})")
    module, func = FEATURIZERS[kind].split(":")
    return getattr(importlib.import_module(module), func)


def featurize(view_cfg, regions: gpd.GeoDataFrame) -> ViewData:
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

    Worker processes are ended at once and the pool is waited for, so that none of it is left
    for the interpreter's exit (where Python's `concurrent.futures` exit hook may then write
    to the pool's closed wake-up pipe and print an "Exception ignored" traceback). Threads
    cannot be ended: their queued views are cancelled and the running ones finish alone."""
    if isinstance(pool, ProcessPoolExecutor):
        for process in list((getattr(pool, "_processes", None) or {}).values()):
            process.terminate()
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
