"""Distributed training settings: the Lightning strategy for a configured one and the
per-process share of the global batch (the gather of negatives is `cookie.losses.distributed`)."""

from __future__ import annotations

import logging

log = logging.getLogger(__name__)

#: Lightning strategies whose DDP wrapper must tolerate parameters without a gradient: stage 1
#: leaves the heads unused, and the CLUB-critic step back-propagates into the critics alone.
_UNUSED_OK = {
    "ddp": "ddp_find_unused_parameters_true",
    "ddp_spawn": "ddp_spawn_find_unused_parameters_true",
    "ddp_fork": "ddp_fork_find_unused_parameters_true",
    "ddp_notebook": "ddp_notebook_find_unused_parameters_true",
}



def trainer_strategy(name: str) -> str:
    """The Lightning strategy to use for a configured one (``ddp`` -> ``ddp`` that tolerates
    unused parameters); other names are returned unchanged."""
    return _UNUSED_OK.get(name, name)


def per_process_batch(batch_size: int, world: int) -> int:
    """Regions per process and step for a global ``batch_size`` (0 = full batch stays 0: each
    process then takes its whole shard, and the shards together are the full batch)."""
    if batch_size <= 0 or world <= 1:
        return batch_size
    if batch_size % world:
        log.warning("batch_size %d is not a multiple of the %d processes; the global batch is "
                    "%d", batch_size, world, max(1, batch_size // world) * world)
    return max(1, batch_size // world)
