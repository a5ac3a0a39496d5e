"""Budget selection on held-out regions' inputs (docs/method.md, "Budget selection")."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from cookie.errors import ConfigError
from cookie.training.data import RegionTensors
from cookie.training.embedder import CookieEmbedder
from cookie.training.selection import HoldoutSelection, holdout_split
from tests.synthetic import SMALL_METHOD, make_dataset

SMALL = {k: v for k, v in SMALL_METHOD.items() if k != "name"} | {"pretrain_epochs": 1}


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    from cookie.dataset.dataset import load_dataset

    config, _ = make_dataset(tmp_path_factory.mktemp("sel"), n=20, tasks=False)
    return load_dataset(config)


def test_the_split_is_seeded_disjoint_and_bounded() -> None:
    train, held = holdout_split(20, 0.25, seed=3)
    assert len(held) == 5 and len(train) == 15
    assert sorted(np.concatenate([train, held]).tolist()) == list(range(20))
    again = holdout_split(20, 0.25, seed=3)
    assert np.array_equal(again[1], held)
    assert not np.array_equal(holdout_split(20, 0.25, seed=4)[1], held)
    assert len(holdout_split(20, 0.01, seed=0)[1]) == 2  # at least 2 held out
    with pytest.raises(ValueError, match="too few"):
        holdout_split(3, 0.3, seed=0)


def test_heldout_regions_never_enter_a_training_batch(dataset, monkeypatch) -> None:
    from cookie.training.module import ObjectiveModule

    seen: list[int] = []
    original = ObjectiveModule.training_step

    def spy(self, batch, batch_idx):
        seen.extend(batch["@index"].tolist())
        return original(self, batch, batch_idx)

    monkeypatch.setattr(ObjectiveModule, "training_step", spy)
    model = CookieEmbedder("cookie", **SMALL | {"epochs": 3, "batch_size": 4,
                                                "holdout": 0.25}).fit(dataset)
    held = set(dataset.region_ids.get_indexer(model.heldout_).tolist())
    assert len(held) == 5
    assert seen and not held & set(seen)
    assert set(seen) == set(range(20)) - held  # every training region was seen


def test_the_kept_weights_are_those_of_the_best_epoch_and_training_is_unchanged(dataset
                                                                               ) -> None:
    params = SMALL | {"epochs": 10, "holdout": 0.25, "lr": 5e-2}
    model = CookieEmbedder("cookie", **params).fit(dataset)
    history = model.holdout_history_
    assert sorted(history) == list(range(1, 11))
    best = min(history, key=history.get)
    assert model.selected_epoch_ == best
    assert best < 10  # so the kept weights are not simply the last ones
    # the same run stopped at the selected epoch: identical weights, identical embedding
    # (scoring the held-out regions draws nothing from the training run's random streams)
    short = CookieEmbedder("cookie", **params | {"epochs": best}).fit(dataset)
    assert short.holdout_history_ == {k: v for k, v in history.items() if k <= best}
    assert np.array_equal(model.transform(dataset).to_numpy(),
                          short.transform(dataset).to_numpy())


def test_the_criterion_is_the_stage_2_loss_of_the_heldout_batch(dataset) -> None:
    model = CookieEmbedder("cookie", **SMALL | {"epochs": 2, "holdout": 0.25}).fit(dataset)
    tensors = RegionTensors(dataset.views)
    held = dataset.region_ids.get_indexer(model.heldout_)
    objective = model.objective_
    batch = tensors.gather(torch.as_tensor(held))
    torch.manual_seed(20_231_101)
    with torch.no_grad():
        terms, _ = objective.terms(batch, 2)
        assert any("club" in k for k in terms)  # cookie has CLUB terms; the criterion drops them
        # alpha = 1: the total is the plain sum of the terms that are not CLUB estimates
        by_hand = float(sum(v for k, v in terms.items() if "club" not in k.split("/")[0]))
    assert by_hand == pytest.approx(model.holdout_history_[model.selected_epoch_], rel=1e-6)
    assert by_hand == pytest.approx(HoldoutSelection(tensors, held).score(
        type("M", (), {"objective": objective})()), rel=1e-6)


def test_patience_stops_training(dataset) -> None:
    model = CookieEmbedder("cookie", **SMALL | {"epochs": 60, "holdout": 0.25, "patience": 2,
                                                "lr": 5e-2}).fit(dataset)
    last = max(model.holdout_history_)
    assert last < 60
    assert last - model.selected_epoch_ == 2
    assert all(model.holdout_history_[e] >= model.holdout_history_[model.selected_epoch_]
               for e in model.holdout_history_)


def test_a_holdout_that_leaves_too_few_regions_is_one_clear_error(tmp_path) -> None:
    from cookie.dataset.dataset import load_dataset

    config, _ = make_dataset(tmp_path, n=3, tasks=False)
    with pytest.raises(ConfigError, match=r"holdout=0.4: 3 regions are too few"):
        CookieEmbedder("cookie", **SMALL | {"holdout": 0.4}).fit(load_dataset(config))


def test_a_resumed_run_keeps_the_history_and_the_best_weights(dataset, tmp_path,
                                                               monkeypatch) -> None:
    from cookie.training.module import LastCheckpoint

    params = SMALL | {"epochs": 10, "holdout": 0.25, "lr": 5e-2}
    whole = CookieEmbedder("cookie", **params).fit(dataset)

    class Crash(RuntimeError):
        pass

    original = LastCheckpoint.on_train_epoch_end

    def crash_after_epoch_6(self, trainer, pl_module):
        original(self, trainer, pl_module)
        if trainer.current_epoch == 6:  # 0-based: pretraining epoch, then joint epochs 1..6
            raise Crash

    monkeypatch.setattr(LastCheckpoint, "on_train_epoch_end", crash_after_epoch_6)
    with pytest.raises(Crash):
        CookieEmbedder("cookie", **params).fit(dataset, checkpoint_dir=tmp_path)
    monkeypatch.setattr(LastCheckpoint, "on_train_epoch_end", original)
    resumed = CookieEmbedder("cookie", **params).fit(dataset, checkpoint_dir=tmp_path,
                                                     resume=True)
    assert resumed.resumed_from_ is not None
    assert resumed.holdout_history_ == whole.holdout_history_
    assert resumed.selected_epoch_ == whole.selected_epoch_
    assert np.array_equal(resumed.transform(dataset).to_numpy(),
                          whole.transform(dataset).to_numpy())
