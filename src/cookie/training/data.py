"""Per-region tensors of all views, and the loaders that batch them by region index."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from cookie.features.view import ViewData


def _rows(x: torch.Tensor | None, idx: torch.Tensor) -> torch.Tensor | None:
    return None if x is None else x[idx]


class RegionTensors(Dataset):
    """All views as tensors; items are region positions, batches gather every view."""

    def __init__(self, views: dict[str, ViewData]) -> None:
        self.names = list(views)
        first = next(iter(views.values()))
        self.n = len(first.region_ids)
        self.x = {k: torch.from_numpy(np.array(v.values)) for k, v in views.items()}
        self.aux = {
            k: torch.from_numpy(np.array(v.aux)) if (v.aux is not None and v.is_image) else None
            for k, v in views.items()
        }
        self.mask = {k: torch.from_numpy(np.array(v.mask)) for k, v in views.items()}

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int) -> int:
        return i

    def gather(self, idx: list[int] | torch.Tensor) -> dict[str, tuple]:
        idx = torch.as_tensor(idx, dtype=torch.long)
        batch: dict = {
            k: (self.x[k][idx], _rows(self.aux[k], idx),
                self.mask[k][idx])
            for k in self.names
        }
        batch["@index"] = idx  # region positions: rows of the relational targets
        return batch

    def loader(self, batch_size: int, shuffle: bool, seed: int = 0,
               positions: np.ndarray | None = None) -> DataLoader:
        """Batches of region positions (all, or only ``positions``: shuffled loaders only);
        when shuffled, each epoch's order depends only on (seed, epoch) (see
        `EpochShuffleSampler`)."""
        n = self.n if positions is None else len(positions)
        size = n if batch_size <= 0 else min(batch_size, n)
        if positions is not None and not shuffle:
            raise ValueError("a subset of positions needs a shuffled loader")
        sampler = EpochShuffleSampler(self.n, seed, positions) if shuffle else None
        # its own generator: creating an iterator draws a base seed from it, which would
        # otherwise come from (and advance) torch's global generator
        gen = torch.Generator().manual_seed(seed % (1 << 63))
        return DataLoader(self, batch_size=size, sampler=sampler, collate_fn=self.gather,
                          generator=gen,
                          drop_last=shuffle and size < n and n % size == 1)


def epoch_seed(seed: int, epoch: int, stream: int) -> int:
    """A 63-bit seed derived from (seed, epoch, stream) alone: stream 0 shuffles the regions,
    stream 1 seeds torch's global generator (augmentations, dropout) at each epoch start."""
    state = np.random.SeedSequence([seed % (1 << 64), epoch, stream]).generate_state(2)
    return int((int(state[0]) << 32 | int(state[1])) >> 1)


class EpochShuffleSampler(Sampler[int]):
    """A random order of the `n` regions (or of ``positions`` only) that depends only on
    (seed, epoch).

    Lightning calls `set_epoch` at the start of every epoch, so a run resumed from a
    checkpoint draws the same batches as an uninterrupted run (a generator whose state
    advances epoch after epoch would restart from the seed instead).
    """

    def __init__(self, n: int, seed: int, positions: np.ndarray | None = None) -> None:
        self.seed, self.epoch = seed, 0
        self.positions = (None if positions is None
                          else torch.as_tensor(positions, dtype=torch.long))
        self.n = n if positions is None else len(positions)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return self.n

    def __iter__(self) -> Iterator[int]:
        gen = torch.Generator().manual_seed(epoch_seed(self.seed, self.epoch, stream=0))
        order = torch.randperm(self.n, generator=gen)
        if self.positions is not None:
            order = self.positions[order]
        return iter(order.tolist())
