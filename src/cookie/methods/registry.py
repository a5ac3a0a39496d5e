"""Build a method's objective by name."""

from __future__ import annotations

from cookie.config import AugmentConfig, MethodConfig
from cookie.methods.base import IntraOnly, MultiViewObjective
from cookie.methods.cookie import CookieObjective
from cookie.methods.data import ViewSpec


def _paper(cfg: MethodConfig) -> MethodConfig:
    """The paper's CooKIE: augmentations as the task proxy, whatever the config says."""
    return cfg.model_copy(update={"proxy": "augment"})


LEARNED_METHODS = {
    "cookie": lambda *a, **k: CookieObjective(*a, **k),
    "cookie_paper": lambda specs, cfg, **k: CookieObjective(specs, _paper(cfg), **k),
    "cookie_no_pretrain": lambda *a, **k: CookieObjective(*a, pretrain=False, **k),
    "cookie_shared_only": lambda *a, **k: CookieObjective(*a, use_unique=False, **k),
    "cookie_unique_only": lambda *a, **k: CookieObjective(*a, use_shared=False, **k),
    "intra": lambda *a, **k: IntraOnly(*a, **k),
}


def register(name: str, factory) -> None:
    LEARNED_METHODS[name] = factory


def build_objective(name: str, specs: list[ViewSpec], cfg: MethodConfig,
                    augments: dict[str, AugmentConfig] | None = None,
                    encoders: dict[str, str] | None = None) -> MultiViewObjective:
    _load_optional()
    if name not in LEARNED_METHODS:
        raise ValueError(f"unknown learned method {name!r} (known: {', '.join(LEARNED_METHODS)})")
    return LEARNED_METHODS[name](specs, cfg, augments=augments, encoders=encoders)


def _load_optional() -> None:
    """Methods defined in their own modules register themselves on import."""
    import importlib

    for module in ("cookie.methods.gfactorcl", "cookie.methods.pairwise"):
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name != module:
                raise
