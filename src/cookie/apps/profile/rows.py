"""What `cookie profile` measures per (method, M, critic): one `ProfileRow`, and the
settings shared by measuring and reporting."""

from __future__ import annotations

from dataclasses import dataclass

PAPER_PARAM_REDUCTION, PAPER_FLOP_REDUCTION = 56.7, 63.0
SYNTHETIC_DIM, SYNTHETIC_N = 64, 256
METHODS = ("cookie", "gfactorcl")
CRITIC_KINDS = ("separable", "concat")
#: batch sizes of the FLOP extrapolation (three points fit a N^2 + b N + c exactly)
FIT_SIZES = (8, 16, 24)

# ---------------------------------------------------------------------------- reporting
GB24_MB = 24 * 1024.0

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


def term_count(method: str, m: int) -> int:
    """Loss terms of a stage-2 step with the augmentation proxy (docs/method.md)."""
    return 2 * m * m if method == "cookie" else 4 * m + m * (m - 1) * 2 ** (m - 2)


def _pair(rows: list[ProfileRow], m: int, critic: str) -> tuple[ProfileRow, ProfileRow] | None:
    by = {(r.method, r.views, r.critic): r for r in rows}
    c, g = by.get(("cookie", m, critic)), by.get(("gfactorcl", m, critic))
    return None if c is None or g is None else (c, g)
