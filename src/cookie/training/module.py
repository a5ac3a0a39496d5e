"""Lightning training of any objective: stage 1 (intra-view) then stage 2 (joint), with a
separate optimizer step for the CLUB critics (manual optimization)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, cast

import lightning.pytorch as pl
import torch

from cookie.errors import TrainingDiverged
from cookie.methods.base import Batch, MultiViewObjective
from cookie.methods.settings import MethodSettings
from cookie.training.data import epoch_seed


def make_optimizers(objective: MultiViewObjective, cfg: MethodSettings
                    ) -> tuple[torch.optim.Optimizer, torch.optim.Optimizer | None]:
    """AdamW for encoders, heads and InfoNCE critics; a second AdamW for the CLUB critics
    (None when the method has none)."""
    main = torch.optim.AdamW(objective.main_parameters(), lr=cfg.lr,
                             weight_decay=cfg.weight_decay)
    critic_params = objective.critic_parameters()
    critic = torch.optim.AdamW(critic_params, lr=cfg.critic_lr,
                               weight_decay=cfg.weight_decay) if critic_params else None
    return main, critic


class ObjectiveModule(pl.LightningModule):
    def __init__(self, objective: MultiViewObjective, cfg: MethodSettings) -> None:
        super().__init__()
        self.objective = objective
        self.cfg = cfg
        self.automatic_optimization = False
        self.last_terms: dict[str, float] = {}

    @property
    def pretrain_epochs(self) -> int:
        return self.cfg.pretrain_epochs if self.objective.uses_pretraining else 0

    def stage(self) -> int:
        return 1 if self.current_epoch < self.pretrain_epochs else 2

    def on_train_epoch_start(self) -> None:
        """Reseed torch's global generator (augmentations, dropout) from (seed, epoch), so a
        run resumed from an epoch's checkpoint continues exactly like an uninterrupted one."""
        # under DDP each process draws its own augmentations (rank 0: the single-process seed)
        seed = epoch_seed(self.cfg.seed, self.current_epoch, stream=1) + self.global_rank
        torch.manual_seed(seed % (1 << 63))

    def configure_optimizers(self) -> Any:
        main, critic = make_optimizers(self.objective, self.cfg)
        return main if critic is None else [main, critic]

    def optimizers_pair(self) -> tuple[Any, Any]:
        opts = self.optimizers()
        if isinstance(opts, list):
            return opts[0], opts[1]
        return opts, None

    def training_step(self, batch: Batch, batch_idx: int) -> torch.Tensor:
        main_opt, critic_opt = self.optimizers_pair()
        stage = self.stage()
        terms, cache = self.objective.terms(batch, stage)
        loss = self.objective.total(terms, stage)
        self.check_finite(loss, terms)
        main_opt.zero_grad()
        self.manual_backward(loss)
        main_opt.step()
        # The CLUB critics learn from the same (detached) representations, after the
        # encoder step, so that their in-place update cannot touch the encoder graph.
        if critic_opt is not None and stage == 2:
            critic_terms = self.objective.critic_terms(cache)
            if critic_terms:
                critic_loss = cast(torch.Tensor, sum(critic_terms.values()))
                self.check_finite(critic_loss, critic_terms, "critic ")
                critic_opt.zero_grad()
                self.manual_backward(critic_loss)
                critic_opt.step()
                self.log("critic_loss", critic_loss.detach(), prog_bar=False)
        self.log("loss", loss.detach(), prog_bar=True)
        self.log("stage", float(stage), prog_bar=True)
        self.last_terms = {k: float(v.detach()) for k, v in terms.items()}
        return loss.detach()

    def check_finite(self, loss: torch.Tensor, terms: dict[str, torch.Tensor],
                     what: str = "") -> None:
        """Stop before an optimizer step on a NaN/inf loss, naming the first bad term."""
        if bool(torch.isfinite(loss.detach())):
            return
        bad = [k for k, v in terms.items() if not bool(torch.isfinite(v.detach()))]
        term = f"{what}loss term {bad[0]!r}" if bad else f"the total {what}loss"
        value = float(terms[bad[0]].detach()) if bad else float(loss.detach())
        raise TrainingDiverged(
            f"training diverged: {term} is {value} at epoch {self.current_epoch + 1} of "
            f"{self.trainer.max_epochs} (stage {self.stage()}, lr={self.cfg.lr:g}, "
            f"alpha={self.cfg.alpha:g}); nothing written (lower lr or alpha)")


class LastCheckpoint(pl.Callback):
    """Write ``<dirpath>/last.ckpt`` at the end of every training epoch.

    Lightning 2.6's `ModelCheckpoint(save_top_k=0, save_last=True)` writes `last.ckpt` only
    when training ends (it saves "last" only after a top-k save), which left an interrupted
    run nothing to resume from. The file is replaced atomically: a kill mid-write keeps the
    previous epoch's checkpoint. ``record`` (method settings, seed, data hashes) is stored in
    the file under ``"cookie_run"``, so that `--resume` can refuse another run's checkpoint.
    """

    def __init__(self, dirpath: str | Path, record: dict | None = None) -> None:
        self.path = Path(dirpath) / "last.ckpt"
        self.record = record or {}

    def on_save_checkpoint(self, trainer: pl.Trainer, pl_module: Any,
                           checkpoint: dict[str, Any]) -> None:
        checkpoint["cookie_run"] = self.record

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: Any) -> None:
        # Lightning stages the file in the system temp dir, so its final move is a copy when
        # that is another file system: write a sibling, then rename it (atomic).
        tmp = self.path.with_name(f".{self.path.name}.tmp")
        trainer.save_checkpoint(tmp)
        if trainer.is_global_zero:
            os.replace(tmp, self.path)
