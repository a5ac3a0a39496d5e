"""The profile as Markdown: tables, the reductions against GFactorCL, what fits in memory."""

from __future__ import annotations

import math
import textwrap
from collections.abc import Callable
from pathlib import Path

import torch

from cookie.apps.profile.plots import plot_profile
from cookie.apps.profile.rows import (
    CRITIC_KINDS,
    FIT_SIZES,
    GB24_MB,
    METHODS,
    PAPER_FLOP_REDUCTION,
    PAPER_PARAM_REDUCTION,
    SYNTHETIC_DIM,
    ProfileRow,
    _pair,
)


def _reduction(ours: float, theirs: float) -> float:
    return 100.0 * (1.0 - ours / theirs) if theirs else math.nan


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
