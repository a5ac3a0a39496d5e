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
"""

from __future__ import annotations

import json
import math
import resource
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

from cookie.config import MethodConfig
from cookie.features.view import ViewSpec
from cookie.methods.settings import MethodSettings
from cookie.training.module import make_optimizers

PAPER_PARAM_REDUCTION, PAPER_FLOP_REDUCTION = 56.7, 63.0
SYNTHETIC_DIM, SYNTHETIC_N = 64, 256
METHODS = ("cookie", "gfactorcl")
CRITIC_KINDS = ("separable", "concat")
#: batch sizes of the FLOP extrapolation (three points fit a N^2 + b N + c exactly)
FIT_SIZES = (8, 16, 24)


@dataclass
class ProfileRow:
    """Cost of one method at one number of views."""

    method: str
    views: int
    n: int
    factors: int
    terms: int
    critics: int
    club_critics: int
    params_encoders: int
    params_heads: int
    params_critics: int
    params_total: int
    flops_main: int
    flops_critic: int
    seconds_per_epoch: float
    timing_steps: int
    threads: int
    encoder_dim: int
    peak_memory_mb: float
    memory_kind: str
    #: the critic kind of every critic (`MethodConfig.critic`)
    critic: str = "separable"
    #: FLOPs of a step extrapolated from small batches (a N^2 + b N + c; 0: not computed)
    flops_fit: int = 0
    #: time and memory estimated from the measured growth (a run too large to measure)
    estimated: bool = False
    #: concat rows: FLOPs of a step with the N^2 concatenations built, as FactorCL's code does
    #: (extrapolated like `flops_fit`; 0: not computed)
    flops_materialized: int = 0

    @property
    def flops_step(self) -> int:
        return self.flops_main + self.flops_critic


# ---------------------------------------------------------------------------- inputs
def synthetic_spec(i: int) -> ViewSpec:
    return ViewSpec(f"synthetic{i}", "table", (SYNTHETIC_DIM,), 0)


def view_inputs(config: str | Path | None, n: int | None, cache_dir: Path | None,
                max_views: int, seed: int = 0) -> tuple[list[ViewSpec], dict, MethodConfig, str]:
    """ViewSpecs and full-batch tensors for `max_views` views, the method settings, a label.

    The first views are the config's real views (in config order); the rest, and all of them
    without a config, are 64-d synthetic vector views of the same encoder shape.
    """
    specs: list[ViewSpec] = []
    data: dict[str, tuple[torch.Tensor, torch.Tensor | None, torch.Tensor]] = {}
    cfg, source = MethodConfig(), f"{SYNTHETIC_N if n is None else n} synthetic regions"
    if config is not None:
        from cookie.dataset.dataset import load_dataset
        from cookie.training.data import RegionTensors

        ds = load_dataset(config, cache_dir=cache_dir, with_labels=False)
        cfg = ds.config.method
        tensors = RegionTensors(ds.views)
        size = len(tensors) if n is None else min(n, len(tensors))
        batch = tensors.gather(list(range(size)))
        for view in list(ds.views.values())[:max_views]:
            specs.append(ViewSpec.from_view(view))
            data[view.name] = batch[view.name]
        n = size
        source = (f"{ds.config.name}: {size} regions, real views "
                  f"{', '.join(s.name for s in specs)}")
    n = SYNTHETIC_N if n is None else n
    gen = torch.Generator().manual_seed(seed)
    for i in range(len(specs), max_views):
        spec = synthetic_spec(i)
        specs.append(spec)
        data[spec.name] = (torch.randn(n, SYNTHETIC_DIM, generator=gen), None,
                           torch.ones(n, dtype=torch.bool))
    return specs, data, cfg, source


# ---------------------------------------------------------------------------- measuring
def parameter_split(objective: Any) -> dict[str, int]:
    """Trainable parameters of the encoders, of every critic and of the heads (the rest)."""
    from cookie.nn.heads import CRITICS

    def count(params: Any) -> int:
        return sum(p.numel() for p in params if p.requires_grad)

    total = count(objective.parameters())
    encoders = count(objective.encoders.parameters())
    seen: set[int] = set()
    critic_params = []
    for m in objective.modules():
        if isinstance(m, CRITICS):
            for p in m.parameters():
                if id(p) not in seen:
                    seen.add(id(p))
                    critic_params.append(p)
    critics = count(critic_params)
    return {"params_encoders": encoders, "params_critics": critics,
            "params_heads": total - encoders - critics, "params_total": total}


def main_step(objective: Any, batch: Any, optimizer: Any) -> tuple[dict, Any]:
    """Encoder side of a stage-2 step: forward, backward, AdamW step; terms and cache."""
    terms, cache = objective.terms(batch, 2)
    loss = objective.total(terms, 2)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return terms, cache


def critic_step(objective: Any, cache: Any, optimizer: Any) -> None:
    """The separate CLUB critic step on detached representations."""
    if optimizer is None:
        return
    terms = objective.critic_terms(cache)
    if terms:
        loss = sum(terms.values())
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()


def training_step(objective: Any, batch: Any, optimizers: Any) -> int:
    """One full stage-2 training step, as `ObjectiveModule.training_step` does it; the
    number of encoder-side loss terms."""
    terms, cache = main_step(objective, batch, optimizers[0])
    critic_step(objective, cache, optimizers[1])
    return len(terms)


def _rss_kb(field: str) -> int | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def _peak_rss_kb() -> int:
    return _rss_kb("VmHWM") or resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def measure(method: str, specs: list[ViewSpec], data: dict, cfg: MethodConfig,
            warmup: int = 1, repeats: int = 3, budget_s: float = 20.0,
            device: str = "cpu", isolated: bool = False, threads: int = 1) -> ProfileRow:
    """Build `method` on the views and measure its parameters, FLOPs, time and memory
    (with `threads` intra-op CPU threads; 0 keeps torch's setting)."""
    before = torch.get_num_threads()
    if threads > 0:
        torch.set_num_threads(threads)
    try:
        return _measure(method, specs, data, cfg, warmup, repeats, budget_s, device, isolated)
    finally:
        torch.set_num_threads(before)


def _build(method: str, specs: list[ViewSpec], data: dict, cfg: MethodConfig,
           device: str) -> tuple:
    """The objective (normalization fitted on `data`), the batch, its optimizers, settings."""
    from cookie.methods.registry import build_objective

    torch.manual_seed(cfg.seed)
    cfg = cfg.model_copy(update={"name": method})
    objective = build_objective(method, specs, MethodSettings.from_mapping(cfg.model_dump()))
    for name, enc in objective.encoders.items():
        x, aux, mask = data[name]
        enc.fit_normalization(x, aux, mask)
    objective = objective.to(device).train()
    batch = {k: tuple(None if t is None else t.to(device) for t in v) for k, v in data.items()}
    return objective, batch, make_optimizers(objective, objective.cfg), cfg


def _count_flops(objective: Any, batch: Any, optimizers: Any) -> tuple[int, int, int]:
    """FLOPs of one stage-2 step (encoder side, critic step) and its number of loss terms."""
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter:
        terms, cache = main_step(objective, batch, optimizers[0])
    flops_main, n_terms = counter.get_total_flops(), len(terms)
    del terms
    with FlopCounterMode(display=False) as counter:
        critic_step(objective, cache, optimizers[1])
    return int(flops_main), int(counter.get_total_flops()), n_terms


def _row_counts(method: str, objective: Any) -> dict:
    m = len(objective.names)
    return {"factors": 2 ** m - 1 if method == "gfactorcl" else m + m * (m - 1) // 2,
            "critics": objective.term_count()["critics"],
            "club_critics": len(objective.club_critics()), **parameter_split(objective)}


def fitted_flops(method: str, specs: list[ViewSpec], data: dict, cfg: MethodConfig,
                 sizes: tuple[int, ...] = FIT_SIZES,
                 materialize: bool = False) -> tuple[dict, int, int]:
    """Counts and parameters of `method`, and the FLOPs of one step at the full batch
    extrapolated from steps on the first `sizes` regions: every counted operation is a matrix
    product whose size is constant, linear (per-region MLPs) or quadratic (N x N scores,
    concat critics) in N, so three sizes fit main and critic FLOPs a N^2 + b N + c exactly
    when every region is present in every view (checked against measured rows in the report).
    Cheap in memory: the model is never run on the full batch. ``materialize``: concat
    critics build the N^2 concatenations (FactorCL's implementation)."""
    from cookie.nn.heads import ConcatCritic

    n = next(iter(data.values()))[0].shape[0]
    points: list[tuple[int, int]] = []
    counts: dict = {}
    for size in sizes:
        sub = {k: tuple(None if t is None else t[:size] for t in v) for k, v in data.items()}
        objective, batch, optimizers, _ = _build(method, specs, sub, cfg, "cpu")
        for module in objective.modules():
            if isinstance(module, ConcatCritic):
                module.materialize = materialize
        main, critic, n_terms = _count_flops(objective, batch, optimizers)
        points.append((main, critic))
        counts = {"terms": n_terms, **_row_counts(method, objective)}
        del objective, batch, optimizers
    vander = torch.tensor([[s * s, s, 1.0] for s in sizes], dtype=torch.float64)
    at = torch.tensor([n * n, n, 1.0], dtype=torch.float64)
    main, critic = (int(round(float(at @ torch.linalg.solve(
        vander, torch.tensor([p[i] for p in points], dtype=torch.float64))))) for i in (0, 1))
    return counts, main, critic


def _measure(method: str, specs: list[ViewSpec], data: dict, cfg: MethodConfig, warmup: int,
             repeats: int, budget_s: float, device: str, isolated: bool) -> ProfileRow:
    cuda = device.startswith("cuda")
    if cuda:
        torch.cuda.reset_peak_memory_stats()
        mem0 = torch.cuda.memory_allocated()
    else:
        mem0 = (_rss_kb("VmRSS") if isolated else None) or _peak_rss_kb()
    objective, batch, optimizers, cfg = _build(method, specs, data, cfg, device)
    n = next(iter(batch.values()))[0].shape[0]
    # The FLOP-counted step doubles as the warm-up (allocator, AdamW state).
    flops_main, flops_critic, n_terms = _count_flops(objective, batch, optimizers)
    times: list[float] = []
    for i in range(max(warmup - 1, 0) + max(repeats, 1)):
        start = time.perf_counter()
        training_step(objective, batch, optimizers)
        _sync(device)
        elapsed = time.perf_counter() - start
        if i >= warmup - 1:
            times.append(elapsed)
        if times and sum(times) + elapsed > budget_s:
            break

    if cuda:
        peak_mb, kind = (torch.cuda.max_memory_allocated() - mem0) / 2 ** 20, "cuda-allocated"
    else:
        peak_mb = max(_peak_rss_kb() - mem0, 0) / 1024
        kind = "rss-worker" if isolated else "rss-inprocess"
    return ProfileRow(
        method=method, views=len(specs), n=n, terms=n_terms, **_row_counts(method, objective),
        flops_main=flops_main, flops_critic=flops_critic,
        seconds_per_epoch=sum(times) / len(times), timing_steps=len(times),
        threads=torch.get_num_threads(), encoder_dim=cfg.encoder_dim,
        peak_memory_mb=round(peak_mb, 1), memory_kind=kind, critic=cfg.critic,
    )


def _measure_in_worker(job: dict) -> ProfileRow:
    """Run `measure` in a fresh Python process (clean peak-memory accounting)."""
    with tempfile.TemporaryDirectory(prefix="cookie-profile-") as tmp:
        job_path, out_path = Path(tmp) / "job.pt", Path(tmp) / "row.json"
        torch.save(job, job_path)
        proc = subprocess.run([sys.executable, "-m", "cookie.apps.profile", str(job_path),
                               str(out_path)], capture_output=True, text=True)
        if proc.returncode != 0 or not out_path.is_file():
            raise RuntimeError(f"profiling worker for {job['method']} at M = "
                               f"{len(job['specs'])} failed:\n{proc.stderr[-3000:]}")
        return ProfileRow(**json.loads(out_path.read_text()))


def _worker_main(job_path: str, out_path: str) -> None:
    job = torch.load(job_path, weights_only=False)
    specs = [ViewSpec.from_dict(d) for d in job["specs"]]
    row = measure(job["method"], specs, job["data"], MethodConfig.model_validate(job["cfg"]),
                  job["warmup"], job["repeats"], job["budget_s"], job["device"], isolated=True,
                  threads=job["threads"])
    Path(out_path).write_text(json.dumps(asdict(row)))


def profile_methods(config: str | Path | None = None, max_views: int = 8,
                    n: int | None = None, methods: tuple[str, ...] = METHODS,
                    min_views: int = 2, warmup: int = 1, repeats: int = 3,
                    budget_s: float = 20.0, device: str = "cpu", isolate: bool = False,
                    threads: int = 1, cache_dir: Path | None = None,
                    critics: tuple[str, ...] = ("separable",),
                    max_memory_mb: float | None = None,
                    say: Callable[[str], None] = lambda s: None) -> list[ProfileRow]:
    """Profile `methods` for M = min_views..max_views on identical encoders.

    `n` caps the number of regions (default: all of the config's, or 256 synthetic);
    the FLOP-counted step is the first warm-up step; timing takes up to `repeats` steps after
    `warmup` warm-up steps, and stops early once the timed steps would exceed `budget_s`.
    """
    if max_views < min_views or min_views < 2:
        raise ValueError(f"need 2 <= min_views <= max_views, got {min_views}..{max_views}")
    specs, data, cfg, _ = view_inputs(config, n, cache_dir, max_views)
    return profile_inputs(specs, data, cfg, range(min_views, max_views + 1), methods, warmup,
                          repeats, budget_s, device, isolate, threads, critics, max_memory_mb,
                          say)


def estimated_row(views: int, counts: dict, flops_main: int, flops_critic: int,
                  last: ProfileRow, memory_mb: float) -> ProfileRow:
    """A row too large to run: exact counts and parameters, extrapolated FLOPs, time scaled
    from the last measured row of the same method and critic by the FLOPs of a step."""
    seconds = last.seconds_per_epoch * (flops_main + flops_critic) / last.flops_step
    return ProfileRow(**{**asdict(last), **counts, "views": views, "flops_main": flops_main,
                         "flops_critic": flops_critic, "flops_fit": flops_main + flops_critic,
                         "seconds_per_epoch": seconds, "timing_steps": 0, "estimated": True,
                         "peak_memory_mb": round(memory_mb, 1)})


def profile_inputs(specs: list[ViewSpec], data: dict, cfg: MethodConfig, views: Any,
                   methods: tuple[str, ...] = METHODS, warmup: int = 1, repeats: int = 3,
                   budget_s: float = 20.0, device: str = "cpu", isolate: bool = False,
                   threads: int = 1, critics: tuple[str, ...] = ("separable",),
                   max_memory_mb: float | None = None,
                   say: Callable[[str], None] = lambda s: None) -> list[ProfileRow]:
    """Profile `methods` with every critic kind in `critics` on the first M views of `specs`
    for every M in `views`.

    Concat-critic rows also get FLOPs extrapolated from small batches (`fitted_flops`). With
    `max_memory_mb`, a row whose peak memory, predicted from the last measured row of the same
    method and critic scaled by the encoder-side FLOPs (activations follow the N x N critic
    evaluations), exceeds it is not run: its time and memory are estimates (`estimated`).
    """
    rows: list[ProfileRow] = []
    last: dict[tuple[str, str], ProfileRow] = {}
    for m in views:
        sub_specs = specs[:m]
        sub_data = {s.name: data[s.name] for s in sub_specs}
        for critic in critics:
            ccfg = cfg.model_copy(update={"critic": critic})
            for method in methods:
                start = time.perf_counter()
                fit = None
                if critic == "concat" and len(next(iter(sub_data.values()))[0]) > FIT_SIZES[-1]:
                    before = torch.get_num_threads()
                    torch.set_num_threads(threads or before)
                    try:
                        fit = fitted_flops(method, sub_specs, sub_data, ccfg)
                        materialized = sum(fitted_flops(method, sub_specs, sub_data, ccfg,
                                                        materialize=True)[1:])
                    finally:
                        torch.set_num_threads(before)
                prev = last.get((method, critic))
                predicted = (prev.peak_memory_mb * fit[1] / prev.flops_main
                             if fit is not None and prev is not None else None)
                if (max_memory_mb is not None and predicted is not None
                        and predicted > max_memory_mb):
                    assert fit is not None and prev is not None
                    row = estimated_row(m, fit[0], fit[1], fit[2], prev, predicted)
                else:
                    row = _profile_one(method, sub_specs, sub_data, ccfg, warmup, repeats,
                                       budget_s, device, isolate, threads)
                    if fit is not None:
                        row.flops_fit = fit[1] + fit[2]
                    last[(method, critic)] = row
                if fit is not None:
                    row.flops_materialized = materialized
                rows.append(row)
                say(f"M = {m} {method} ({critic}{', estimated' if row.estimated else ''}): "
                    f"{row.params_total:,} parameters, {row.flops_step / 1e9:.2f} GFLOP/step, "
                    f"{row.seconds_per_epoch:.3f} s/epoch, {row.peak_memory_mb:.0f} MB "
                    f"({time.perf_counter() - start:.1f} s)")
    return rows


def _profile_one(method: str, specs: list[ViewSpec], data: dict, cfg: MethodConfig,
                 warmup: int, repeats: int, budget_s: float, device: str, isolate: bool,
                 threads: int) -> ProfileRow:
    if not isolate:
        return measure(method, specs, data, cfg, warmup, repeats, budget_s, device,
                       threads=threads)
    job = {"method": method, "specs": [s.to_dict() for s in specs], "data": data,
           "cfg": cfg.model_dump(mode="json"), "warmup": warmup, "repeats": repeats,
           "budget_s": budget_s, "device": device, "threads": threads}
    return _measure_in_worker(job)


# ---------------------------------------------------------------------------- reporting
GB24_MB = 24 * 1024.0


def _reduction(ours: float, theirs: float) -> float:
    return 100.0 * (1.0 - ours / theirs) if theirs else math.nan


def term_count(method: str, m: int) -> int:
    """Loss terms of a stage-2 step with the augmentation proxy (docs/method.md)."""
    return 2 * m * m if method == "cookie" else 4 * m + m * (m - 1) * 2 ** (m - 2)


def _pair(rows: list[ProfileRow], m: int, critic: str) -> tuple[ProfileRow, ProfileRow] | None:
    by = {(r.method, r.views, r.critic): r for r in rows}
    c, g = by.get(("cookie", m, critic)), by.get(("gfactorcl", m, critic))
    return None if c is None or g is None else (c, g)


def reductions(rows: list[ProfileRow], m: int = 4,
               critic: str = "separable") -> dict[str, float] | None:
    """CooKIE's percentage reductions against GFactorCL at M = m with `critic` critics (None if
    not profiled)."""
    pair = _pair(rows, m, critic)
    if pair is None:
        return None
    c, g = pair
    return {
        "params": _reduction(c.params_total, g.params_total),
        "params_no_encoders": _reduction(c.params_total - c.params_encoders,
                                         g.params_total - g.params_encoders),
        "heads": _reduction(c.params_heads, g.params_heads),
        "critics": _reduction(c.params_critics, g.params_critics),
        "flops": _reduction(c.flops_step, g.flops_step),
        "time": _reduction(c.seconds_per_epoch, g.seconds_per_epoch),
        "memory": _reduction(c.peak_memory_mb, g.peak_memory_mb),
        "encoder_share_gfactorcl": 100.0 * g.params_encoders / g.params_total,
        "evaluations": _reduction(c.terms + c.club_critics, g.terms + g.club_critics),
    }


def _fmt_int(v: int) -> str:
    return f"{v:,}"


def _est(r: ProfileRow, text: str) -> str:
    return f"~{text}" if r.estimated else text


def profile_table(rows: list[ProfileRow]) -> str:
    head = ("| M | method | critic | factors | terms | critics (CLUB) | encoder params | "
            "head params | critic params | total params | GFLOP / step | s / epoch | peak MB |")
    lines = [head, "|" + "---|" * 13]
    for r in rows:
        lines.append(
            f"| {r.views} | {r.method} | {r.critic} | {r.factors} | {r.terms} | {r.critics} "
            f"({r.club_critics}) | {_fmt_int(r.params_encoders)} | {_fmt_int(r.params_heads)} | "
            f"{_fmt_int(r.params_critics)} | {_fmt_int(r.params_total)} | "
            f"{_est(r, f'{r.flops_step / 1e9:.3f}')} | {_est(r, f'{r.seconds_per_epoch:.3f}')} "
            f"| {_est(r, f'{r.peak_memory_mb:.0f}')} |")
    return "\n".join(lines)


def comparison_text(rows: list[ProfileRow], m: int = 4) -> str:
    """CooKIE against GFactorCL at M = m for each critic kind, next to the paper's figures,
    with the reasons."""
    red = {k: r for k in CRITIC_KINDS if (r := reductions(rows, m, k)) is not None}
    pairs = {k: p for k in red if (p := _pair(rows, m, k)) is not None}
    kinds = list(red)
    if not kinds:
        return f"(M = {m} was not profiled: no comparison with the paper.)"
    head = f"| at M = {m} | " + " | ".join(
        f"{k}: CooKIE | {k}: GFactorCL | {k}: reduction" for k in kinds) + " | paper |"
    lines = [head, "|---|" + "---|" * (3 * len(kinds) + 1)]

    def line(label: str, value: Callable[[ProfileRow], str], key: str, paper: str = "") -> None:
        cells = []
        for k in kinds:
            c, g = pairs[k]
            pct = f"{red[k][key]:.1f}%"
            cells += [value(c), value(g), f"**{pct}**" if key in ("params", "flops") else pct]
        lines.append(f"| {label} | " + " | ".join(cells) + f" | {paper} |")

    line("trainable parameters", lambda r: _fmt_int(r.params_total), "params",
         f"{PAPER_PARAM_REDUCTION}%")
    line("parameters without the (identical) encoders",
         lambda r: _fmt_int(r.params_total - r.params_encoders), "params_no_encoders")
    line("FLOPs of one training step", lambda r: f"{r.flops_step / 1e9:.3f} G", "flops",
         f"{PAPER_FLOP_REDUCTION}%")
    line("wall time per epoch", lambda r: f"{r.seconds_per_epoch:.3f} s", "time")
    line("peak memory", lambda r: f"{r.peak_memory_mb:.0f} MB", "memory")
    line("critic evaluations per step (terms + CLUB critic step)",
         lambda r: str(r.terms + r.club_critics), "evaluations")
    if "concat" in pairs and all(r.flops_materialized for r in pairs["concat"]):
        c, g = pairs["concat"]
        blanks = " | ".join(["-"] * 3 * (len(kinds) - 1))
        lines.append(
            "| FLOPs with the N^2 concatenations built (FactorCL's code) | "
            + (blanks + " | " if blanks else "")
            + f"{c.flops_materialized / 1e9:.3f} G | {g.flops_materialized / 1e9:.3f} G | "
            f"**{_reduction(c.flops_materialized, g.flops_materialized):.1f}%** | "
            f"{PAPER_FLOP_REDUCTION}% |")
    table = "\n".join(lines) + "\n\n"
    first = kinds[0]
    c, g = pairs[first]
    r0 = red[first]
    why = [
        f"Where the difference comes from. At M = {m} CooKIE has {c.factors} factors ({m} "
        f"unique + {c.factors - m} pairwise shared), {c.terms} loss terms and {c.critics} "
        f"critics; GFactorCL has {g.factors} factors ({m} unique + {g.factors - m} shared, one "
        f"per subset of two or more views), {g.terms} terms and {g.critics} critics. The "
        f"encoders are identical in both ({_fmt_int(g.params_encoders)} parameters, "
        f"{r0['encoder_share_gfactorcl']:.1f}% of GFactorCL's with {first} critics), so they "
        f"dilute the relative saving. GFactorCL's critics are not only more numerous: those "
        f"that condition on other views take their encoder outputs e_R ({g.encoder_dim} "
        f"dimensions per view) as input, so critic parameters grow faster than the critic "
        f"count.",
    ]
    if "separable" in red:
        rs = red["separable"]
        why.append(
            f"Separable critics: every head, critic and encoder is an MLP applied once per "
            f"region (FLOPs proportional to N x its parameters) plus one N x N score product per "
            f"critic, so the FLOP reduction ({rs['flops']:.1f}%) tracks the parameter reduction "
            f"({rs['params']:.1f}%). `FlopCounterMode` counts matrix products only (elementwise "
            f"work and the AdamW updates are not counted).")
    if "concat" in red:
        rc = red["concat"]
        why.append(
            f"Concatenation critics (FactorCL's): every critic evaluation runs an MLP on all "
            f"N^2 pairs, about 6 N^2 H^2 FLOPs with its backward whatever its input sizes (the "
            f"first layer is split by linearity, see docs/method.md), so critic FLOPs dominate "
            f"a step and the FLOP reduction ({rc['flops']:.1f}%) follows the number of critic "
            f"evaluations per step ({rc['evaluations']:.1f}% fewer), not the parameters "
            f"({rc['params']:.1f}% fewer). An implementation that materializes the N x N x "
            f"(d_a + d_b) concatenation, as FactorCL's code does, adds about 2 N^2 (d_a + d_b) "
            f"H forward FLOPs per evaluation, which grow with the e_R inputs of GFactorCL's "
            f"conditional critics (counted on small batches and extrapolated, last row of the "
            f"table above; per M in the table below)." + (
                f" Counted that way, CooKIE needs "
                f"{_reduction(pairs['concat'][0].flops_materialized, pairs['concat'][1].flops_materialized):.1f}% "  # noqa: E501
                f"fewer FLOPs at M = {m}."
                if all(r.flops_materialized for r in pairs["concat"]) else ""))
    why.append(
        f"The paper's exact figures also depend on its encoders, head and critic sizes, which "
        f"are not published in enough detail to copy. Here, against the paper's "
        f"{PAPER_PARAM_REDUCTION}% / {PAPER_FLOP_REDUCTION}%: " + "; ".join(
            f"{k} critics {red[k]['params']:.1f}% fewer parameters "
            f"({red[k]['params'] - PAPER_PARAM_REDUCTION:+.1f} points) and "
            f"{red[k]['flops']:.1f}% fewer FLOPs "
            f"({red[k]['flops'] - PAPER_FLOP_REDUCTION:+.1f} points)"
            for k in kinds) + ".")
    return table + "\n\n".join(textwrap.fill(p, 100) for p in why)


def materialized_text(rows: list[ProfileRow]) -> str:
    """Concat-critic FLOPs per step for every M: split first layer (what runs here) and the
    N^2 concatenations built (FactorCL's code), CooKIE against GFactorCL."""
    lines = ["| M | CooKIE GFLOP | GFactorCL GFLOP | reduction | CooKIE GFLOP, built | "
             "GFactorCL GFLOP, built | reduction, built |", "|---|---|---|---|---|---|---|"]
    for m in sorted({r.views for r in rows}):
        pair = _pair(rows, m, "concat")
        if pair is None or not all(r.flops_materialized for r in pair):
            continue
        c, g = pair
        lines.append(
            f"| {m} | {_est(c, f'{c.flops_step / 1e9:.1f}')} | "
            f"{_est(g, f'{g.flops_step / 1e9:.1f}')} | "
            f"{_reduction(c.flops_step, g.flops_step):.1f}% | "
            f"{c.flops_materialized / 1e9:.1f} | {g.flops_materialized / 1e9:.1f} | "
            f"{_reduction(c.flops_materialized, g.flops_materialized):.1f}% |")
    return "\n".join(lines) if len(lines) > 2 else ""


def largest_fitting(rows: list[ProfileRow], method: str, critic: str,
                    limit_mb: float = GB24_MB, up_to: int = 16) -> tuple[int | None, bool]:
    """Largest M whose peak memory stays within `limit_mb` for (method, critic), and whether
    it is extrapolated: beyond the profiled M, memory grows by the ratio of the last two
    profiled M (geometric growth, up to M = `up_to`)."""
    sub = sorted((r for r in rows if r.method == method and r.critic == critic),
                 key=lambda r: r.views)
    if not sub:
        return None, False
    fits = [r.views for r in sub if r.peak_memory_mb <= limit_mb]
    best = max(fits) if fits else None
    extrapolated = any(r.estimated for r in sub if r.views == best)
    if best == sub[-1].views and len(sub) >= 2 and sub[-2].peak_memory_mb > 0:
        mem, m = sub[-1].peak_memory_mb, best
        growth = mem / sub[-2].peak_memory_mb
        while growth > 1 and m < up_to and mem * growth <= limit_mb:
            mem, m = mem * growth, m + 1
        if m > best:
            best, extrapolated = m, True
    return best, extrapolated


def fit_text(rows: list[ProfileRow], epochs: int | None) -> str:
    """Largest M within 24 GB per method and critic, and the time of a stage-2 fit."""
    top = max(r.views for r in rows)
    lines = [f"| method | critic | largest M within 24 GB | peak MB at M = {top} | "
             f"s / epoch at M = {top} | stage-2 fit at M = {top} |", "|---|---|---|---|---|---|"]
    for critic in CRITIC_KINDS:
        for method in METHODS:
            best, extra = largest_fitting(rows, method, critic)
            last = [r for r in rows if (r.method, r.critic, r.views) == (method, critic, top)]
            if best is None and not last:
                continue
            r = last[0] if last else None
            fit = (f"{_est(r, f'{epochs * r.seconds_per_epoch / 60:.1f}')} min ({epochs} epochs)"
                   if r is not None and epochs else "")
            shown = ("none" if best is None else f">= {best}" if best >= 16 else str(best))
            lines.append(
                f"| {method} | {critic} | {shown}{' (estimate)' if extra else ''} | "
                f"{_est(r, f'{r.peak_memory_mb:.0f}') if r else ''} | "
                f"{_est(r, f'{r.seconds_per_epoch:.2f}') if r else ''} | {fit} |")
    return "\n".join(lines)


def plot_profile(rows: list[ProfileRow], target: Path) -> None:
    """Parameters, FLOPs, time and memory against M (log scale, one line per method and
    critic; hollow markers: estimated), and the CooKIE / GFactorCL ratio curves against the
    ratio of term counts 2M^2 / (4M + M(M-1) 2^(M-2)), O(M^2) against O(2^M)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    from cookie.io.atomic import atomic_file

    panels = [("params_total", "trainable parameters"), ("flops_step", "FLOPs per training step"),
              ("seconds_per_epoch", "seconds per epoch"), ("peak_memory_mb", "peak memory (MB)")]
    fig, axes = plt.subplots(1, 5, figsize=(21, 4.2))
    styles = {"separable": "-", "concat": "--"}
    colors = {"cookie": "tab:blue", "gfactorcl": "tab:orange"}
    combos = list(dict.fromkeys((r.method, r.critic) for r in rows))
    for ax, (attr, title) in zip(axes[:4], panels, strict=True):
        for method, critic in combos:
            sub = [r for r in rows if (r.method, r.critic) == (method, critic)]
            xs = [r.views for r in sub]
            ys = [max(float(getattr(r, attr)), 1e-3) for r in sub]
            ax.plot(xs, ys, styles.get(critic, ":"), color=colors.get(method),
                    label=f"{method} ({critic})")
            for r, y in zip(sub, ys, strict=True):
                ax.plot(r.views, y, "o", color=colors.get(method),
                        markerfacecolor="white" if r.estimated else colors.get(method))
        if attr == "peak_memory_mb":
            ax.axhline(GB24_MB, color="grey", lw=0.8, ls=":")
            ax.text(2, GB24_MB * 1.1, "24 GB", color="grey", fontsize=8)
        ax.set_yscale("log")
        ax.set_title(title)
    ax = axes[4]
    ms = sorted({r.views for r in rows})
    ax.plot(ms, [term_count("cookie", m) / term_count("gfactorcl", m) for m in ms], "k:",
            marker="s", label="terms 2M^2 / (4M + M(M-1)2^(M-2))")
    for critic in dict.fromkeys(r.critic for r in rows):
        for attr, marker in (("flops_step", "o"), ("params_total", "^"),
                             ("flops_materialized", "x")):
            pts = [(m, p) for m in ms if (p := _pair(rows, m, critic)) is not None
                   and getattr(p[1], attr)]
            label = {"flops_step": "FLOPs", "params_total": "params",
                     "flops_materialized": "FLOPs, concatenations built"}[attr]
            if pts:
                ax.plot([m for m, _ in pts],
                        [getattr(c, attr) / getattr(g, attr) for _, (c, g) in pts],
                        styles.get(critic, ":"), marker=marker, label=f"{label} ({critic})")
    ax.set_yscale("log")
    ax.set_title("CooKIE / GFactorCL")
    ax.legend(fontsize=7)
    for ax in axes:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel("number of views M")
        ax.grid(True, which="both", alpha=0.3)
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    with atomic_file(target) as tmp:
        fig.savefig(tmp, dpi=110)
    plt.close(fig)


def write_profile(rows: list[ProfileRow], out: str | Path, command: str, source: str,
                  seconds: float, device: str = "cpu", budget_s: float = 20.0,
                  epochs: int | None = None, max_memory_mb: float | None = None,
                  paths: tuple[Path, Path] | None = None) -> tuple[Path, Path]:
    """Write profile.md (table, command, machine, M = 4 comparison for each critic kind,
    largest M within 24 GB) and profile.png into ``out``, or to the (staged) ``paths``."""
    from cookie.io.atomic import atomic_file
    from cookie.io.outputs import machine_description

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    kinds = sorted({r.memory_kind for r in rows})
    memory_note = {
        "rss-worker": "increase of the peak resident set size (VmHWM) of a fresh worker process "
                      "over its RSS before the model was built: parameters, gradients, AdamW "
                      "state, activations and allocator overhead",
        "rss-inprocess": "increase of ru_maxrss of the profiling process (0 when an earlier "
                         "run peaked higher)",
        "cuda-allocated": "torch.cuda.max_memory_allocated minus the memory allocated before "
                          "the model was built",
    }
    ns = sorted({r.n for r in rows})
    timing = ", ".join(f"{r.method} ({r.critic}) M = {r.views}: {r.timing_steps}"
                       for r in rows if 0 < r.timing_steps < 3) or "none here"
    fitted = [r for r in rows if r.flops_fit and not r.estimated]
    fit_error = max((abs(r.flops_fit - r.flops_step) / r.flops_step for r in fitted),
                    default=None)
    estimated = [r for r in rows if r.estimated]
    threads = ", ".join(sorted({str(r.threads) for r in rows}))
    paragraphs = [
        f"Machine: {machine_description()}; device: {device}; torch {torch.__version__}; "
        f"{threads} intra-op CPU thread(s) per run (one by default: on a machine whose cores are "
        f"shared with other work, two OpenMP threads make every operation wait for a "
        f"descheduled thread, and the same GFactorCL step at M = 7 took from 5 s to 112 s). "
        f"Total profiling time: {seconds:.0f} s.",
        f"Inputs: {source}. Views beyond the real ones are copies of a {SYNTHETIC_DIM}-d "
        f"synthetic table view (same encoder shape). Regions per full batch: N = "
        f"{', '.join(map(str, ns))}. Method settings: the config's `[method]` section (the "
        f"defaults without a config) with `critic` set to each kind profiled "
        f"({', '.join(dict.fromkeys(r.critic for r in rows))}), identical for both methods: "
        f"same encoders, head sizes, critics and estimators. The FLOP-counted step uses the "
        f"augmentation proxy (no relational targets are computed here), so every loss term "
        f"has its own critic.",
    ]
    bullets = [
        "**parameters**: trainable parameters; critics are every `SeparableCritic` or "
        "`ConcatCritic` (intra-view, InfoNCE and CLUB critics), heads are the rest outside "
        "the encoders.",
        "**FLOPs**: one full stage-2 training step (encoder-side forward + backward + AdamW "
        "step, then the CLUB critic step forward + backward + AdamW step) counted by "
        "`torch.utils.flop_counter.FlopCounterMode` (matrix products and convolutions; "
        "elementwise operations are not counted).",
        f"**time**: wall time of one full-batch training step (= one epoch), mean of up to 3 "
        f"steps after a warm-up step (the FLOP-counted one); fewer steps ({timing}) when they "
        f"would exceed {budget_s:.0f} s. Times are indicative on a shared machine.",
        f"**peak memory**: {'; '.join(memory_note.get(k, k) for k in kinds)}.",
        "**estimates (~)**: " + (
            f"rows predicted to need more than {max_memory_mb:.0f} MB (the last measured "
            f"row's peak scaled by the encoder-side FLOPs) were not run: "
            f"{', '.join(f'{r.method} ({r.critic}) M = {r.views}' for r in estimated)}. "
            f"Their counts and parameters are exact, their FLOPs extrapolated from small "
            f"batches (below), their time and memory scaled from the last measured row of the "
            f"same method and critic by FLOPs: estimates, not measurements."
            if estimated else "none: every row was measured."),
        "**FLOP extrapolation**: concat rows also count the FLOPs of steps on the first "
        f"{', '.join(map(str, FIT_SIZES))} regions and fit a N^2 + b N + c; " + (
            f"on the measured rows the fit is off by at most {100 * fit_error:.4f}%."
            if fit_error is not None else "no measured row to check the fit on."),
    ]
    body = "\n\n".join(textwrap.fill(p, 100) for p in paragraphs)
    body += "\n\n" + "\n".join(textwrap.fill(b, 100, initial_indent="- ",
                                              subsequent_indent="  ") for b in bullets)
    text = f"""# Cost of CooKIE against GFactorCL as the number of views grows

Command: `{command}`

{body}

{profile_table(rows)}

## CooKIE against GFactorCL at M = 4, next to the paper

{comparison_text(rows, 4)}

{"## Concat critics: FLOPs per step with the concatenations built" + chr(10) + chr(10)
   + materialized_text(rows) + chr(10) + chr(10) + textwrap.fill(
    "Split: the first layer by linearity (what `ConcatCritic` runs); built: the N x N x "
    "(d_a + d_b) concatenations materialized as in FactorCL's code, same scores. Both "
    "counted by FlopCounterMode, the built variant on 8, 16 and 24 regions and extrapolated "
    "to N (exact for these quadratic counts, see above).", 100) + chr(10)
   if materialized_text(rows) else ""}
## Largest M within 24 GB, and the time of a fit

{fit_text(rows, epochs)}

{textwrap.fill(
    "Largest M: the largest profiled M whose peak memory (measured, or estimated: ~) stays "
    "within 24 GB; where the largest profiled M fits, memory is extrapolated beyond it by the "
    "growth ratio of the last two profiled M (an estimate, conservative where memory grows "
    "polynomially rather than geometrically; the search stops at 16). Stage-2 fit: the config's "
    "`epochs` times the time per full-batch epoch (stage 1, intra-view only, is cheaper and "
    "not included). Peak memory is that of one full-batch training step, on this device.",
    100)}

![profile](profile.png)
"""
    md, png = paths or (out / "profile.md", out / "profile.png")
    with atomic_file(md) as tmp:
        tmp.write_text(text)
    plot_profile(rows, png)
    return md, png


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


if __name__ == "__main__":  # the isolated worker: python -m cookie.apps.profile JOB OUT
    _worker_main(sys.argv[1], sys.argv[2])
