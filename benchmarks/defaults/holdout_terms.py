"""The held-out criterion split by term family, Manhattan-180, seed 0, `holdout = 0.1`: which
terms make S rise after the first joint epochs (the reason CLUB terms are left out of it).

    python benchmarks/defaults/holdout_terms.py      (from benchmarks/defaults/)

Prints, at joint epochs 1, 5, 10, 20, 30, 50, 75 and 100, the criterion S kept by the run and
the sum of every family of stage-2 terms (intra, flow, unique_rel, unique_club, ...) on the
held-out regions, CLUB terms included, scored exactly as the criterion scores them.
"""

from __future__ import annotations

import logging
from typing import Any

import torch
from common import manhattan

from cookie.training import selection
from cookie.training.embedder import CookieEmbedder

logging.disable(logging.WARNING)
families: list[dict[str, float]] = []
criterion = selection.HoldoutSelection.score


def score_and_record(self: selection.HoldoutSelection, pl_module: Any) -> float:
    objective = pl_module.objective
    objective.eval()
    with torch.no_grad(), torch.random.fork_rng(devices=[]):
        torch.manual_seed(selection.CRITERION_SEED)
        terms, _ = objective.terms(self.batch, 2)
    objective.train()
    sums: dict[str, float] = {}
    for key, value in terms.items():
        family = key.split("/")[0]
        sums[family] = sums.get(family, 0.0) + float(value)
    families.append(sums)
    return criterion(self, pl_module)


selection.HoldoutSelection.score = score_and_record  # type: ignore[method-assign]
ds = manhattan()
model = CookieEmbedder(seed=0, holdout=0.1).fit(ds)
for epoch in (1, 5, 10, 20, 30, 50, 75, 100):
    print(epoch, "S", round(model.holdout_history_[epoch], 2),
          {k: round(v, 2) for k, v in families[epoch - 1].items()})
