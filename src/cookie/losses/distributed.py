"""Negatives from every process: an autograd-aware all-gather of batch rows for DDP.

Under data-parallel training each process holds a slice of the global batch. Contrastive terms
(InfoNCE, CLUB) score every pair of a batch, so they must see the *global* batch for the
objective not to depend on the number of processes. `gather_rows` concatenates the rows of all
processes in rank order (the same tensor on every rank); its backward sums, over the ranks, the
gradient each rank computed with respect to the gathered tensor and returns the local slice.

Why the gradients come out right: every rank computes the same global loss L, so the local
slice receives ``W * dL/da_local`` (W = world size) and every critic parameter ``dL/dtheta``.
DDP then averages parameter gradients over the ranks: encoder parameters get
``(1/W) sum_r W dL/dtheta|_r = dL/dtheta`` and critic parameters ``dL/dtheta``: exactly the
single-process gradient on the global batch (checked in tests/test_distributed.py).

Batch size: the method's ``batch_size`` is the global batch; each of the W processes loads
``batch_size // W`` regions per step (`cookie.training.distributed.per_process_batch`).
Lightning shards the epoch's region order with a `DistributedSampler` (rank r takes every W-th
region), so the global batches hold the same regions as a single process's batches of
``batch_size``. What stays per process: the augmentation draws (seeded by rank), the ``mix``
augmentation (it mixes regions of the local batch), and the sampler's padding when W does not
divide the regions.
"""

from __future__ import annotations

import logging
from typing import Any

import torch
import torch.distributed as dist

log = logging.getLogger(__name__)

def world_size() -> int:
    """Number of processes of the default group (1 when torch.distributed is not in use)."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_world_size()
    return 1


def _row_counts(n: int, device: torch.device) -> list[int]:
    local = torch.tensor([n], dtype=torch.long, device=device)
    counts = [torch.zeros_like(local) for _ in range(dist.get_world_size())]
    dist.all_gather(counts, local)
    return [int(c) for c in counts]


def _gather(x: torch.Tensor, counts: list[int]) -> torch.Tensor:
    """Rows of every rank, concatenated in rank order (ranks may hold different counts)."""
    longest = max(counts)
    padded = x.new_zeros((longest, *x.shape[1:]))
    padded[: x.shape[0]] = x
    parts = [torch.empty_like(padded) for _ in counts]
    dist.all_gather(parts, padded.contiguous())
    return torch.cat([p[:c] for p, c in zip(parts, counts, strict=True)])


class _GatherRows(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, counts: list[int]) -> torch.Tensor:
        ctx.counts, ctx.rank = counts, dist.get_rank()
        return _gather(x, counts)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        total = grad.contiguous().clone()
        dist.all_reduce(total, op=dist.ReduceOp.SUM)  # every rank's dL_r / d(global batch)
        start = sum(ctx.counts[: ctx.rank])
        return total[start: start + ctx.counts[ctx.rank]], None


def gather_rows(*tensors: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """The global batch of each tensor (rows of all ranks in rank order); identity when not
    distributed. Gradients flow back to the local rows; boolean tensors are gathered too."""
    if world_size() <= 1:
        return tensors
    counts = _row_counts(tensors[0].shape[0], tensors[0].device)
    out = []
    for t in tensors:
        if t.shape[0] != counts[dist.get_rank()]:
            raise ValueError("gather_rows: tensors of one batch must have the same row count")
        if t.dtype == torch.bool:
            out.append(_gather(t.to(torch.uint8), counts).bool())
        elif t.requires_grad:
            out.append(_GatherRows.apply(t, counts))
        else:
            out.append(_gather(t, counts))
    return tuple(out)
