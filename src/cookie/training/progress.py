"""The training progress bar of `cookie fit`: the stage and its epoch ("pretraining 12/20",
"joint 3/100") instead of Lightning's "Epoch 39/39" and a logged ``stage: 2.000``."""

from __future__ import annotations

from typing import Any

import lightning.pytorch as pl
from lightning.pytorch.callbacks import RichProgressBar


def stage_description(epoch: int, pretrain_epochs: int, max_epochs: int) -> str:
    """What the bar reads for the 0-based ``epoch`` of a run of ``pretrain_epochs`` intra-view
    epochs followed by ``max_epochs - pretrain_epochs`` joint epochs."""
    if epoch < pretrain_epochs:
        return f"pretraining {epoch + 1}/{pretrain_epochs}"
    return f"joint {epoch - pretrain_epochs + 1}/{max_epochs - pretrain_epochs}"


class StageProgressBar(RichProgressBar):
    """Lightning's rich bar (its default), described by `stage_description`, without the
    ``stage`` metric."""

    def _get_train_description(self, current_epoch: int) -> str:
        trainer = self.trainer
        pretrain = int(getattr(trainer.lightning_module, "pretrain_epochs", 0))
        return stage_description(current_epoch, pretrain, int(trainer.max_epochs or 0))

    def get_metrics(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> dict[str, Any]:
        metrics = super().get_metrics(trainer, pl_module)
        metrics.pop("stage", None)  # the description names the stage
        return metrics
