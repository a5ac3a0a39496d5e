"""Kill a real `cookie fit` process mid-training (SIGKILL), resume it, and get the embeddings of
an uninterrupted run.

Exact equality is expected, not closeness: both runs execute the same deterministic CPU code
with the same thread count, the resumed run restarts from the weights and optimizer states of
the end of an epoch (`last.ckpt`), and every source of randomness during training is derived
from (seed, epoch) alone (the shuffling sampler and torch's global generator, reseeded at each
epoch start), so the remaining epochs replay bit for bit.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from tests.synthetic import make_dataset

# long enough that the kill lands mid-run, short enough for a fast test
METHOD = {"pretrain_epochs": 2, "epochs": 6, "batch_size": 100, "seed": 3}
KILL_AFTER_EPOCH = 2  # kill once last.ckpt holds an epoch > 1 (0-based index >= 2)
#: how often the checkpoint's modification time is looked at (an epoch takes about a second)
POLL_S = 0.1


def cookie_command() -> list[str]:
    """The `cookie` console script beside this Python, else `python -m cookie.cli`."""
    script = Path(sys.executable).with_name("cookie")
    return [str(script)] if script.is_file() else [sys.executable, "-m", "cookie.cli"]


def fit_command(config: Path, out: Path, cache: Path, *extra: str) -> list[str]:
    return [*cookie_command(), "fit", str(config), "--out", str(out), "--no-evaluate",
            "--cache-dir", str(cache), *extra]


def quiet_env(tmp: Path) -> dict[str, str]:
    """One thread per process (the same arithmetic in every run, and kind to shared CPUs), a
    wide console (log lines unwrapped) and a private TMPDIR (what a killed run left there is
    removed with the test's folder)."""
    tmp.mkdir(parents=True, exist_ok=True)
    return dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", COLUMNS="1000",
                PYTHONWARNINGS="ignore", TMPDIR=str(tmp))


def checkpoint_epoch(path: Path) -> int | None:
    """The epoch stored in a Lightning checkpoint (None if absent or being replaced)."""
    try:
        return int(torch.load(path, map_location="cpu", weights_only=True)["epoch"])
    except (FileNotFoundError, EOFError, RuntimeError, KeyError):
        return None


def embeddings(out: Path) -> pd.DataFrame:
    return pd.read_parquet(out / "embeddings.parquet").drop(columns="geometry")


def test_kill_and_resume_matches_uninterrupted_run(tmp_path: Path) -> None:
    config, _ = make_dataset(tmp_path / "data", n=300, dims=(6, 5), tasks=False, method=METHOD)
    cache = tmp_path / "cache"
    runs = tmp_path / "runs"
    out, ref = runs / "run", runs / "ref"
    ckpt = runs / ".run.checkpoints" / "last.ckpt"
    env = quiet_env(tmp_path / "tmp")

    # the uninterrupted reference runs alongside the run that gets killed
    reference = subprocess.Popen(fit_command(config, ref, cache), env=env,
                                 stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    victim = subprocess.Popen(fit_command(config, out, cache), env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    killed_at = None
    try:
        deadline, seen = time.monotonic() + 120, None
        while time.monotonic() < deadline and victim.poll() is None:
            # read the checkpoint only when it was rewritten (once per epoch), else wait
            stamp = ckpt.stat().st_mtime_ns if ckpt.exists() else None
            if stamp is not None and stamp != seen:
                seen, epoch = stamp, checkpoint_epoch(ckpt)
                if epoch is not None and epoch >= KILL_AFTER_EPOCH:
                    victim.send_signal(signal.SIGKILL)
                    killed_at = epoch
                    break
            time.sleep(POLL_S)
    finally:
        if victim.poll() is None and killed_at is None:
            victim.kill()
        victim.wait()
    assert killed_at is not None, "the run ended (or timed out) before it could be killed"
    assert victim.returncode == -signal.SIGKILL
    assert killed_at < METHOD["pretrain_epochs"] + METHOD["epochs"] - 1, "killed after the end"

    # nothing that looks finished; the checkpoint survived
    assert not out.exists()
    assert not list(runs.glob(".run.tmp-*"))
    assert ckpt.is_file()
    saved = checkpoint_epoch(ckpt)
    assert saved is not None and saved >= KILL_AFTER_EPOCH

    resumed = subprocess.run(fit_command(config, out, cache, "--resume"), env=env,
                             capture_output=True, text=True, timeout=180)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert f"resumed from {ckpt}" in resumed.stdout + resumed.stderr
    assert (out / "embeddings.parquet").is_file() and (out / "run.json").is_file()
    assert not ckpt.parent.exists(), "checkpoints kept after a successful run"

    ref_output, _ = reference.communicate(timeout=180)
    assert reference.returncode == 0, ref_output
    got, want = embeddings(out), embeddings(ref)
    assert list(got.index) == list(want.index)
    np.testing.assert_array_equal(got.to_numpy(), want.to_numpy())
    assert sorted(p.name for p in runs.iterdir()) == ["ref", "run"]


def test_resume_without_checkpoint_trains_from_start(tmp_path: Path) -> None:
    """`--resume` with nothing to resume warns and trains normally (in-process, tiny)."""
    from typer.testing import CliRunner

    from cookie.cli import app

    config, _ = make_dataset(tmp_path / "data", tasks=False)
    out = tmp_path / "runs" / "run"
    res = CliRunner().invoke(app, ["fit", str(config), "--out", str(out), "--no-evaluate",
                                   "--cache-dir", str(tmp_path / "cache"), "--resume"])
    assert res.exit_code == 0, res.output
    assert "resumed from" not in res.output
    assert (out / "embeddings.parquet").is_file()
    shutil.rmtree(out)


def test_resume_from_corrupt_checkpoint_is_a_clean_error(tmp_path: Path) -> None:
    """A damaged `last.ckpt` gives one line naming it (and exit code 2), not a traceback."""
    from typer.testing import CliRunner

    from cookie.cli import app

    config, _ = make_dataset(tmp_path / "data", tasks=False)
    runs = tmp_path / "runs"
    ckpt_dir = runs / ".run.checkpoints"
    ckpt_dir.mkdir(parents=True)
    (ckpt_dir / "last.ckpt").write_bytes(b"truncated checkpoint")
    res = CliRunner().invoke(app, ["fit", str(config), "--out", str(runs / "run"),
                                   "--no-evaluate", "--cache-dir", str(tmp_path / "cache"),
                                   "--resume"])
    assert res.exit_code == 2, res.output
    assert "Traceback" not in res.output
    assert "last.ckpt: cannot resume from this checkpoint" in res.output
    assert not (runs / "run").exists()
