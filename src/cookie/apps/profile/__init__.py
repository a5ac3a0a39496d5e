"""Cost of CooKIE against GFactorCL as the number of views M grows (`cookie profile`).

For each M and method, with identical encoders: trainable parameters (encoders / heads /
critics), FLOPs of one full stage-2 training step (encoder-side forward + backward + AdamW
step, then the CLUB critic step forward + backward + AdamW step) counted by
`torch.utils.flop_counter.FlopCounterMode`, wall time per full-batch epoch (mean of a few
steps after a warm-up, one intra-op CPU thread by default: stable on a shared machine) and
peak memory.

Peak memory on CPU is the increase of the resident set size of a fresh worker process:
``VmHWM`` (peak RSS, from /proc/self/status; ``ru_maxrss`` elsewhere) at the end minus
``VmRSS`` after the imports and data loading, before the model is built. It therefore covers
parameters, gradients, AdamW state, activations and allocator overhead. On CUDA it is
``torch.cuda.max_memory_allocated`` minus the memory allocated before the model is built.
Each (method, M) runs in its own subprocess (``isolate=True``, the CLI default), so that
peaks do not mix; in-process runs (``isolate=False``, for tests) report the ``ru_maxrss``
increase of the current process, which is 0 whenever an earlier run peaked higher.

The parts: `inputs` (the views profiled), `step` (the training step as measured), `measure`
(one measurement, and the loop over M), `worker` (the isolated subprocess), `report` (the
Markdown), `plots` (the figure), `rows` (`ProfileRow` and shared settings); `run_profile`
here writes both files.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from cookie.apps.profile.inputs import view_inputs
from cookie.apps.profile.measure import measure, profile_inputs, profile_methods
from cookie.apps.profile.report import reductions, write_profile
from cookie.apps.profile.rows import CRITIC_KINDS, ProfileRow

__all__ = ["ProfileRow", "measure", "profile_inputs", "profile_methods", "reductions",
           "run_profile", "view_inputs", "write_profile"]


def run_profile(config: str | Path | None, max_views: int, out: str | Path, command: str,
                n: int | None = None, device: str = "cpu", isolate: bool = True,
                cache_dir: Path | None = None, budget_s: float = 20.0, threads: int = 1,
                critics: tuple[str, ...] = CRITIC_KINDS, max_memory_mb: float | None = None,
                say: Callable[[str], None] = print,
                overwrite: bool = False) -> tuple[list[ProfileRow], Path, Path]:
    """Profile both methods with each critic kind for M = 2..max_views and write profile.md /
    profile.png into ``out`` (checked before any work; earlier files are replaced only with
    ``overwrite``)."""
    from cookie.io.atomic import output_files

    if max_views < 2:
        raise ValueError(f"--max-views must be at least 2, got {max_views}")
    start = time.perf_counter()
    md, png = Path(out) / "profile.md", Path(out) / "profile.png"
    with output_files([md, png], overwrite, [config] if config else []) as staged:
        specs, data, cfg, source = view_inputs(config, n, cache_dir, max_views)
        rows = profile_inputs(specs, data, cfg, range(2, max_views + 1), device=device,
                              isolate=isolate, budget_s=budget_s, threads=threads,
                              critics=critics, max_memory_mb=max_memory_mb, say=say)
        write_profile(rows, out, command, source, time.perf_counter() - start, device,
                      budget_s, cfg.epochs, max_memory_mb, paths=(staged[0], staged[1]))
    return rows, md, png
