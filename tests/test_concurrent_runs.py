"""Two real `cookie fit` processes into the same `--out`: the second stops at once with one
line naming the first (its pid), which finishes unharmed; a killed run's lock does not block
the next run (issue #12)."""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

from tests.synthetic import make_dataset
from tests.test_resume import METHOD, checkpoint_epoch, fit_command, quiet_env


def wait_for(condition, proc: subprocess.Popen, timeout: float = 120) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        if condition():
            return True
        time.sleep(0.1)
    return False


def test_second_run_into_the_same_out_names_the_first(tmp_path: Path) -> None:
    # long enough to outlast the start of two more processes
    config, _ = make_dataset(tmp_path / "data", n=300, dims=(6, 5), tasks=False,
                             method=METHOD | {"epochs": 60})
    runs, cache = tmp_path / "runs", tmp_path / "cache"
    out = runs / "run"
    ckpt = runs / ".run.checkpoints" / "last.ckpt"
    env = quiet_env(tmp_path / "tmp")
    first = subprocess.Popen(fit_command(config, out, cache), env=env, text=True,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        assert wait_for(lambda: checkpoint_epoch(ckpt) is not None, first), \
            "the first run ended before it could be joined"
        # the same command, and one with --resume --overwrite: the lock is not a question of
        # flags (both start together: a Python start takes seconds on a busy machine)
        others = [subprocess.Popen(fit_command(config, out, cache, *extra), env=env, text=True,
                                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
                  for extra in ([], ["--resume", "--overwrite"])]
        texts = [o.communicate(timeout=120)[0].strip() for o in others]
        assert first.poll() is None, "the first run ended before the others were refused"
        output, _ = first.communicate(timeout=180)
    finally:
        if first.poll() is None:
            first.kill()
    for other, text in zip(others, texts, strict=True):
        assert other.returncode == 2, text
        assert f"another cookie run (pid {first.pid}) is writing this output" in text
        assert len(text.splitlines()) == 1, text
    assert first.returncode == 0, output
    assert "resumed from" not in output
    assert (out / "embeddings.parquet").is_file()
    assert sorted(p.name for p in runs.iterdir()) == ["run"]  # lock, staging, checkpoints gone


def test_lock_of_a_killed_run_does_not_block(tmp_path: Path) -> None:
    config, _ = make_dataset(tmp_path / "data", n=300, dims=(6, 5), tasks=False, method=METHOD)
    runs, cache = tmp_path / "runs", tmp_path / "cache"
    out = runs / "run"
    lock = runs / ".run.lock"
    env = quiet_env(tmp_path / "tmp")
    victim = subprocess.Popen(fit_command(config, out, cache), env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        assert wait_for(lambda: lock.is_file() and lock.read_text().strip(), victim)
        victim.send_signal(signal.SIGKILL)
    finally:
        victim.wait()
    assert lock.read_text().strip() == str(victim.pid)  # left behind by the kill
    again = subprocess.run(fit_command(config, out, cache, "--resume"), env=env,
                           capture_output=True, text=True, timeout=180)
    assert again.returncode == 0, again.stdout + again.stderr
    assert sorted(p.name for p in runs.iterdir()) == ["run"]
