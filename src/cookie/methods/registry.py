"""The one registry of methods: what the config validates `[method] name` against, what
`cookie methods` lists and what the estimator builds.

Importing this module loads no torch: an entry's builder may be a ``"module:attribute"``
string, imported when the method is first built. `register` adds a method (a test, a plugin);
a config that names it is then accepted like a built-in one.

A builder is called as ``build(specs, settings, augments=..., encoders=...)`` with the views'
`ViewSpec` list, the `MethodSettings` and per-view `Augmentation` / encoder choices, and returns
an objective (`cookie.methods.base.MultiViewObjective`, trained by `cookie.training`) or, for a
method with ``trained=False``, a module whose statistics `fit_statistics` sets (``raw``).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

#: blocks the embedding is split into as a function of the number of views M
Blocks = Callable[[int], int]


def _pairwise_blocks(m: int) -> int:
    return m + m * (m - 1) // 2


@dataclass(frozen=True)
class Method:
    """A registered method: its name, one line on what it trains, its builder, how many
    blocks it splits `embedding_dim` into for M views (None: the embedding size is not
    `embedding_dim`), the fewest views it runs on, and whether it is trained."""

    name: str
    build: Callable[..., Any] | str
    description: str = ""
    blocks: Blocks | None = None
    min_views: int = 2
    trained: bool = True

    def builder(self) -> Callable[..., Any]:
        if callable(self.build):
            return self.build
        module, attribute = self.build.split(":")
        return getattr(importlib.import_module(module), attribute)

    def needs_blocks(self, n_views: int) -> int:
        return self.blocks(n_views) if self.blocks is not None else 1


_REGISTRY: dict[str, Method] = {}


def register(name: str, build: Callable[..., Any] | str, description: str = "",
             blocks: Blocks | None = None, min_views: int = 2,
             trained: bool = True) -> Method:
    """Add (or replace) a method; returns its entry."""
    method = Method(name, build, description, blocks, min_views, trained)
    _REGISTRY[name] = method
    return method


def unregister(name: str) -> None:
    _REGISTRY.pop(name, None)


def method_names() -> tuple[str, ...]:
    """Every registered method, built-in ones first, in registration order."""
    return tuple(_REGISTRY)


def get_method(name: str) -> Method:
    """The registered method ``name`` (KeyError naming the known ones when there is none)."""
    try:
        return _REGISTRY[name]
    except KeyError:
        raise KeyError(f"unknown method {name!r} (known: {', '.join(_REGISTRY)})") from None


def build_objective(name: str, specs: list[Any], cfg: Any, augments: dict[str, Any] | None = None,
                    encoders: dict[str, str] | None = None,
                    widths: list[int] | None = None) -> Any:
    """The module of method ``name`` for these views and settings; ``widths``: its blocks'
    widths (fitted by ``block_widths = "spectrum"``), equal when None."""
    if name not in _REGISTRY:
        raise ValueError(f"unknown method {name!r} (known: {', '.join(_REGISTRY)})")
    extra = {} if widths is None else {"widths": widths}
    return get_method(name).builder()(specs, cfg, augments=augments, encoders=encoders, **extra)


def descriptions() -> dict[str, str]:
    """What each method trains, one line each (`cookie methods`)."""
    return {name: m.description for name, m in _REGISTRY.items()}


# ---------------------------------------------------------------- the built-in methods
register("cookie", "cookie.methods.cookie:build_cookie",
         "CooKIE (the default): intra-view pretraining, then a unique head per view and shared "
         "heads per pair of views (InfoNCE + CLUB), with the relational task proxy",
         _pairwise_blocks)
register("cookie_paper", "cookie.methods.cookie:build_cookie_paper",
         "the paper's CooKIE exactly: as cookie, with augmentations as the task proxy",
         _pairwise_blocks)
register("gfactorcl", "cookie.methods.gfactorcl:GFactorCLObjective",
         "FactorCL generalized to M views: 2^M - 1 factors (every subset of views), same "
         "encoders, critics and budget", lambda m: 2**m - 1)
register("raw", "cookie.methods.raw:RawViews",
         "no learning: the featurized views, standardized and concatenated", None,
         min_views=1, trained=False)
register("single_view", "cookie.methods.single:SingleViewObjective",
         "one view or more, each learned on its own (intra-view InfoNCE, then a head per view on "
         "its relational target): for a user with a single modality", lambda m: m, min_views=1)
register("intra", "cookie.methods.base:IntraOnly",
         "ablation: intra-view pretraining alone; the concatenated encoder outputs")
register("shared_pairwise", "cookie.methods.pairwise:SharedPairwiseObjective",
         "InfoNCE across every pair of views (MVURE / ReMVC style), plus the relational proxy",
         lambda m: m)
register("mvure_style", "cookie.methods.fusion:build_mvure_style",
         "peer (MVURE-style): view-attention fusion of the encoders into one embedding that "
         "reconstructs the flows (out / in trip shares) and every view's cosine similarities",
         lambda m: 1)
register("hafusion_style", "cookie.methods.fusion:build_hafusion_style",
         "peer (HAFusion-style): mvure_style with attention across regions inside every view",
         lambda m: 1)
register("cookie_no_pretrain", "cookie.methods.cookie:build_cookie_no_pretrain",
         "ablation: cookie without the intra-view pretraining stage", _pairwise_blocks)
register("cookie_shared_only", "cookie.methods.cookie:build_cookie_shared_only",
         "ablation: cookie with the shared (pair) heads only", lambda m: m * (m - 1) // 2)
register("cookie_unique_only", "cookie.methods.cookie:build_cookie_unique_only",
         "ablation: cookie with the unique (per view) heads only", lambda m: m)
