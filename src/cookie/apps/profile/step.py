"""The training step as profiled: the encoder step (forward, backward, AdamW) then the CLUB
critic step, the two halves of `cookie.training.module.ObjectiveModule.training_step` without
Lightning (so FLOPs, time and memory count the step and nothing else)."""

from __future__ import annotations

from typing import Any


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
