"""The isolated worker: one measurement in a fresh process (clean peak-memory accounting),
run as ``python -m cookie.apps.profile.worker JOB OUT``."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from dataclasses import asdict
from pathlib import Path

import torch

from cookie.apps.profile.rows import ProfileRow
from cookie.config import MethodConfig
from cookie.features.view import ViewSpec


def _measure_in_worker(job: dict) -> ProfileRow:
    """Run `measure` in a fresh Python process (clean peak-memory accounting)."""
    with tempfile.TemporaryDirectory(prefix="cookie-profile-") as tmp:
        job_path, out_path = Path(tmp) / "job.pt", Path(tmp) / "row.json"
        torch.save(job, job_path)
        proc = subprocess.run([sys.executable, "-m", "cookie.apps.profile.worker", str(job_path),
                               str(out_path)], capture_output=True, text=True)
        if proc.returncode != 0 or not out_path.is_file():
            raise RuntimeError(f"profiling worker for {job['method']} at M = "
                               f"{len(job['specs'])} failed:\n{proc.stderr[-3000:]}")
        return ProfileRow(**json.loads(out_path.read_text()))


def _worker_main(job_path: str, out_path: str) -> None:
    from cookie.apps.profile.measure import measure  # measure runs workers: import late

    job = torch.load(job_path, weights_only=False)
    specs = [ViewSpec.from_dict(d) for d in job["specs"]]
    row = measure(job["method"], specs, job["data"], MethodConfig.model_validate(job["cfg"]),
                  job["warmup"], job["repeats"], job["budget_s"], job["device"], isolated=True,
                  threads=job["threads"])
    Path(out_path).write_text(json.dumps(asdict(row)))


if __name__ == "__main__":  # python -m cookie.apps.profile.worker JOB OUT
    _worker_main(sys.argv[1], sys.argv[2])
