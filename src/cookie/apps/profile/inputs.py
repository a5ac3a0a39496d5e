"""The views `cookie profile` runs on: a config's featurized views, or synthetic ones."""

from __future__ import annotations

from pathlib import Path

import torch

from cookie.apps.profile.rows import SYNTHETIC_DIM, SYNTHETIC_N
from cookie.config import MethodConfig
from cookie.features.view import ViewSpec


# ---------------------------------------------------------------------------- inputs
def synthetic_spec(i: int) -> ViewSpec:
    return ViewSpec(f"synthetic{i}", "table", (SYNTHETIC_DIM,), 0)


def view_inputs(config: str | Path | None, n: int | None, cache_dir: Path | None,
                max_views: int, seed: int = 0) -> tuple[list[ViewSpec], dict, MethodConfig, str]:
    """ViewSpecs and full-batch tensors for `max_views` views, the method settings, a label.

    The first views are the config's real views (in config order); the rest, and all of them
    without a config, are 64-d synthetic vector views of the same encoder shape.
    """
    specs: list[ViewSpec] = []
    data: dict[str, tuple[torch.Tensor, torch.Tensor | None, torch.Tensor]] = {}
    cfg, source = MethodConfig(), f"{SYNTHETIC_N if n is None else n} synthetic regions"
    if config is not None:
        from cookie.dataset.dataset import load_dataset
        from cookie.training.data import RegionTensors

        ds = load_dataset(config, cache_dir=cache_dir, with_labels=False)
        cfg = ds.config.method
        tensors = RegionTensors(ds.views)
        size = len(tensors) if n is None else min(n, len(tensors))
        batch = tensors.gather(list(range(size)))
        for view in list(ds.views.values())[:max_views]:
            specs.append(ViewSpec.from_view(view))
            data[view.name] = batch[view.name]
        n = size
        source = (f"{ds.config.name}: {size} regions, real views "
                  f"{', '.join(s.name for s in specs)}")
    n = SYNTHETIC_N if n is None else n
    gen = torch.Generator().manual_seed(seed)
    for i in range(len(specs), max_views):
        spec = synthetic_spec(i)
        specs.append(spec)
        data[spec.name] = (torch.randn(n, SYNTHETIC_DIM, generator=gen), None,
                           torch.ones(n, dtype=torch.bool))
    return specs, data, cfg, source
