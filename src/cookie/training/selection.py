"""Budget selection without labels: hold some regions out of training, score the method's own
stage-2 loss (less its CLUB terms) on their inputs after every joint epoch, keep the weights
of the best epoch and, with a patience, stop when the score has not improved for that many
epochs."""

from __future__ import annotations

import copy
import math
from typing import Any

import lightning.pytorch as pl
import numpy as np
import torch

from cookie.training.data import RegionTensors

#: seed of the augmentations drawn for the held-out criterion (the same draw every epoch)
CRITERION_SEED = 20_231_101


def holdout_split(n: int, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(training, held-out) region positions: a seeded random ``fraction`` of the ``n``
    regions, at least 2 and leaving at least 2 to train on, each part sorted."""
    count = min(max(2, round(fraction * n)), n - 2)
    if count < 2:
        raise ValueError(f"{n} regions are too few to hold out {fraction:g} of them")
    order = np.random.default_rng([seed, 7]).permutation(n)
    return np.sort(order[count:]), np.sort(order[:count])


def is_critic_estimate(term: str) -> bool:
    """CLUB terms: upper bounds from critics trained alongside the encoders. On unseen regions
    they score how well those critics generalize, not the encoders, so the held-out criterion
    leaves them out."""
    return "club" in term.split("/")[0]


class HoldoutSelection(pl.Callback):
    """Score the stage-2 loss of the held-out regions after every joint epoch; restore the
    weights of the epoch with the lowest score when training ends.

    The score is ``objective.total(terms, 2)`` of the stage-2 terms of the batch ``H`` of all
    held-out regions, CLUB terms left out (`is_critic_estimate`), in eval mode, without
    gradients, with augmentations drawn from the fixed seed `CRITERION_SEED` (so epochs are
    compared on the same draw); torch's global random
    state is left as it was, so selection never changes the training run itself. With
    ``patience`` > 0 training stops once that many joint epochs in a row have not improved
    the best score. The history and the best weights travel in checkpoints (resume).
    """

    def __init__(self, tensors: RegionTensors, heldout: np.ndarray, patience: int = 0) -> None:
        self.batch = tensors.gather(torch.as_tensor(heldout, dtype=torch.long))
        self.patience = patience
        self.history: dict[int, float] = {}  # stage-2 epoch (1-based) -> score
        self.best_epoch = 0
        self.best_score = math.inf
        self.best_state: dict[str, torch.Tensor] | None = None

    def score(self, pl_module: Any) -> float:
        """The held-out criterion of the module's objective as it is now."""
        objective = pl_module.objective
        was_training = objective.training
        objective.eval()
        device = next(objective.parameters()).device
        batch = {k: (v.to(device) if isinstance(v, torch.Tensor)
                     else tuple(t.to(device) if t is not None else None for t in v))
                 for k, v in self.batch.items()}
        try:
            with torch.no_grad(), torch.random.fork_rng(devices=[]):
                torch.manual_seed(CRITERION_SEED)
                terms, _ = objective.terms(batch, 2)
                kept = {k: v for k, v in terms.items() if not is_critic_estimate(k)}
                value = float(objective.total(kept, 2))
        finally:
            objective.train(was_training)
        return value

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: Any) -> None:
        if pl_module.stage() != 2:
            return
        epoch = trainer.current_epoch + 1 - pl_module.pretrain_epochs
        value = self.score(pl_module)
        self.history[epoch] = value
        if not math.isfinite(value):
            return  # never the best; a diverging run is stopped by the training step
        if value < self.best_score:
            self.best_epoch, self.best_score = epoch, value
            self.best_state = copy.deepcopy(pl_module.objective.state_dict())
        elif self.patience and epoch - self.best_epoch >= self.patience:
            trainer.should_stop = True

    def restore_best(self, objective: torch.nn.Module) -> None:
        """Load the best epoch's weights into ``objective`` (nothing when no epoch scored)."""
        if self.best_state is not None:
            objective.load_state_dict(self.best_state)

    def state_dict(self) -> dict[str, Any]:
        return {"history": dict(self.history), "best_epoch": self.best_epoch,
                "best_score": self.best_score, "best_state": self.best_state}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.history = {int(k): float(v) for k, v in state_dict["history"].items()}
        self.best_epoch = int(state_dict["best_epoch"])
        self.best_score = float(state_dict["best_score"])
        self.best_state = state_dict["best_state"]
