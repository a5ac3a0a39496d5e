"""Signals end a real `cookie fit` process with a line, status 128 + signum and a resumable
checkpoint; featurization workers die with their parent and fail quietly (issue #12)."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
from shapely.geometry import Point, box

from tests.synthetic import make_dataset, write_config
from tests.test_resume import (
    METHOD,
    checkpoint_epoch,
    cookie_command,
    fit_command,
    quiet_env,
)


def interrupt_when_checkpointed(config: Path, out: Path, cache: Path, env: dict,
                                sig: signal.Signals) -> subprocess.CompletedProcess:
    """Start `cookie fit`, send ``sig`` once an epoch's checkpoint exists, return the end."""
    ckpt = out.parent / f".{out.name}.checkpoints" / "last.ckpt"
    proc = subprocess.Popen(fit_command(config, out, cache), env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None:
            if ckpt.exists() and checkpoint_epoch(ckpt) is not None:
                proc.send_signal(sig)
                break
            time.sleep(0.05)
        output, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    return subprocess.CompletedProcess(proc.args, proc.returncode, output)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_during_training_is_interrupted_status_and_resumable(tmp_path: Path,
                                                                    sig) -> None:
    config, _ = make_dataset(tmp_path / "data", n=300, dims=(6, 5), tasks=False, method=METHOD)
    runs, cache = tmp_path / "runs", tmp_path / "cache"
    out = runs / "run"
    env = quiet_env(tmp_path / "tmp")
    res = interrupt_when_checkpointed(config, out, cache, env, sig)
    assert res.returncode == 128 + sig, res.stdout
    assert f"interrupted by {sig.name}" in res.stdout
    assert "rerun with --resume" in res.stdout and "Traceback" not in res.stdout
    assert not out.exists()
    assert sorted(p.name for p in runs.iterdir()) == [".run.checkpoints"]  # no staging, lock
    assert checkpoint_epoch(runs / ".run.checkpoints" / "last.ckpt") is not None
    if sig == signal.SIGTERM:  # the checkpoint resumes (equality: tests/test_resume.py)
        resumed = subprocess.run(fit_command(config, out, cache, "--resume"), env=env,
                                 capture_output=True, text=True, timeout=180)
        assert resumed.returncode == 0, resumed.stdout + resumed.stderr
        assert "resumed from" in resumed.stdout + resumed.stderr
        assert sorted(p.name for p in runs.iterdir()) == ["run"]


def test_sigkill_while_writing_leaves_staging_that_the_next_run_removes(tmp_path: Path) -> None:
    """A kill (here: SIGKILL once the staging folder appears, while the run is evaluated
    and written) leaves the hidden staging folder; the next run into the same place removes
    it and finishes."""
    config, _ = make_dataset(tmp_path / "data", n=300, dims=(6, 5), method=METHOD)
    runs, cache = tmp_path / "runs", tmp_path / "cache"
    out = runs / "run"
    env = quiet_env(tmp_path / "tmp")
    command = [*cookie_command(), "fit", str(config), "--out", str(out), "--cache-dir",
               str(cache)]
    proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    staged: list[Path] = []
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None and not staged:
            staged = list(runs.glob(".run.tmp-*")) if runs.exists() else []
            if staged:
                proc.send_signal(signal.SIGKILL)
            time.sleep(0.02)  # the staging folder lives only while the run is written
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
    if proc.returncode != -signal.SIGKILL:
        pytest.skip("the run finished before the kill could land while it was written")
    assert staged[0].exists() and not out.exists()
    again = subprocess.run([*command, "--resume"], env=env, capture_output=True, text=True,
                           timeout=180)
    assert again.returncode == 0, again.stdout + again.stderr
    assert sorted(p.name for p in runs.iterdir()) == ["run"]


def layered_dataset(root: Path, n_polygons: int, bad_worker_view: bool) -> Path:
    """Two table views, a land-use view heavy enough to keep the parent busy, and a points
    view that runs in a forked worker (corrupt when ``bad_worker_view``)."""
    config, cfg = make_dataset(root, n=64, dims=(4, 3), tasks=False)
    rng = np.random.default_rng(0)
    x0, y0 = 380000.0, 6670000.0
    xy = rng.uniform(0, 800, size=(n_polygons, 2))
    gpd.GeoDataFrame({"lu": rng.choice(list("abc"), n_polygons)},
                     geometry=[box(x0 + x, y0 + y, x0 + x + 15, y0 + y + 15) for x, y in xy],
                     crs="EPSG:3067").to_file(root / "lu.gpkg")
    if bad_worker_view:
        (root / "pts.gpkg").write_text("not a GeoPackage")
    else:
        gpd.GeoDataFrame({"cat": ["a", "b"] * 50},
                         geometry=[Point(x0 + 7 * i, y0 + 5 * i) for i in range(100)],
                         crs="EPSG:3067").to_file(root / "pts.gpkg")
    cfg["views"] += [{"name": "lu", "kind": "polygons", "path": "lu.gpkg", "class_column": "lu"},
                     {"name": "pts", "kind": "points", "path": "pts.gpkg",
                      "class_column": "cat"}]
    cfg.setdefault("method", {})["embedding_dim"] = 20  # 4 views: CooKIE needs 10 blocks
    return write_config(config, cfg)


def children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(c) for c in text.split()]


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="needs Linux /proc")
def test_featurize_worker_dies_with_its_parent(tmp_path: Path) -> None:
    config = layered_dataset(tmp_path / "data", n_polygons=30000, bad_worker_view=False)
    env = quiet_env(tmp_path / "tmp") | {"COOKIE_FEATURIZE_WORKERS": "2"}
    proc = subprocess.Popen(fit_command(config, tmp_path / "run", tmp_path / "cache"), env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    workers: list[int] = []
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and proc.poll() is None and not workers:
            workers = children(proc.pid)
            if workers:  # freeze the parent mid-featurization, then kill it
                proc.send_signal(signal.SIGSTOP)
                workers = children(proc.pid)
                proc.send_signal(signal.SIGKILL)
            time.sleep(0.02)  # the workers live while the parent featurizes its own view
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
    if not workers:
        pytest.skip("featurization ended before a worker was seen")
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(alive(w) for w in workers):
        time.sleep(0.1)
    left = [w for w in workers if alive(w)]
    for w in left:  # do not leave them behind if the test fails
        subprocess.run(["kill", "-9", str(w)], check=False)
    assert not left, "featurization worker outlived its killed parent"


def test_failing_view_in_a_forked_worker_leaves_no_pool_behind(tmp_path: Path) -> None:
    """A view failing in a worker used to print, now and then, a 16-line "Exception ignored"
    traceback at exit: the pool, shut down without waiting, was still closing its wake-up
    pipe when the interpreter's exit hook wrote to it. Now the pool is gone (workers ended,
    manager thread joined) by the time the error reaches the caller."""
    config = layered_dataset(tmp_path / "data", n_polygons=2000, bad_worker_view=True)
    # a fresh interpreter: forked workers are used only while the process has one thread
    res = subprocess.run([sys.executable, "-c", POOL_CHECK, str(config)], capture_output=True,
                         text=True, timeout=120, env=quiet_env(tmp_path / "tmp"))
    assert res.returncode == 0, res.stdout + res.stderr
    assert res.stdout.split() == ["forked", "raised", "children=[]", "managers=[]"], res.stdout


POOL_CHECK = """
import multiprocessing, sys, threading
from cookie.config import load_config
from cookie.errors import DataError
from cookie.features import featurize_all, fork_is_safe
from cookie.sources.regions import load_regions

cfg = load_config(sys.argv[1])
regions = load_regions(cfg)
print("forked" if fork_is_safe() else "threads")
try:
    featurize_all(cfg.views, regions, workers=2)
except DataError as exc:
    assert "pts.gpkg" in str(exc), exc
    print("raised")
print(f"children={multiprocessing.active_children()}".replace(" ", ""))
print("managers=" + str([t.name for t in threading.enumerate()
                         if "ExecutorManager" in type(t).__name__]).replace(" ", ""))
"""


def test_failing_view_in_a_forked_worker_is_one_line(tmp_path: Path) -> None:
    config = layered_dataset(tmp_path / "data", n_polygons=2000, bad_worker_view=True)
    env = quiet_env(tmp_path / "tmp") | {"COOKIE_FEATURIZE_WORKERS": "2"}
    res = subprocess.run([*cookie_command(), "fit", str(config), "--out", str(tmp_path / "run"),
                          "--cache-dir", str(tmp_path / "cache")],
                         env=env, capture_output=True, text=True, timeout=120)
    assert res.returncode == 2, res.stdout + res.stderr
    text = (res.stdout + res.stderr).strip()
    assert text.startswith("error:") and "pts.gpkg" in text and len(text.splitlines()) == 1


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_child_forked_during_a_run_ends_on_a_signal_and_never_runs_on(sig):
    """A worker forked by a run inherits the run's signal handler until it sets up its own;
    a signal in that window (the parent abandoning its pool, Ctrl-C to the process group)
    must end the child there, not raise into a copy of the parent's code, which would go on
    running the rest of the command (or of a test session) beside the parent."""
    import os

    from cookie.cli import signals_interrupt

    with signals_interrupt():
        pid = os.fork()
        if pid == 0:  # the child: without the guard the handler raises and we exit 0 below
            try:
                os.kill(os.getpid(), sig)
                time.sleep(5)
            finally:
                os._exit(0)
        _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 128 + sig
