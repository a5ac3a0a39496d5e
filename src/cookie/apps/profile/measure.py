"""Measuring one (method, M, critic): parameters, FLOPs, time per epoch, peak memory, and
the loop over M that predicts what does not fit (`profile_inputs`)."""

from __future__ import annotations

import resource
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch

from cookie.apps.profile.inputs import view_inputs
from cookie.apps.profile.rows import FIT_SIZES, METHODS, ProfileRow
from cookie.apps.profile.step import critic_step, main_step, training_step
from cookie.apps.profile.worker import _measure_in_worker
from cookie.config import MethodConfig
from cookie.features.view import ViewSpec
from cookie.methods.settings import MethodSettings
from cookie.training.module import make_optimizers


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
