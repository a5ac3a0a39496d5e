"""Build a method's objective by name."""

from __future__ import annotations

from cookie.config import AugmentConfig, MethodConfig
from cookie.methods.base import IntraOnly, MultiViewObjective
from cookie.methods.cookie import CookieObjective
from cookie.training.data import ViewSpec


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


#: what each method of `cookie.config.METHODS` trains, one line each (`cookie methods`)
DESCRIPTIONS = {
    "cookie": "CooKIE (the default): intra-view pretraining, then a unique head per view and "
              "shared heads per pair of views (InfoNCE + CLUB), with the relational task proxy",
    "cookie_paper": "the paper's CooKIE exactly: as cookie, with augmentations as the task "
                    "proxy",
    "gfactorcl": "FactorCL generalized to M views: 2^M - 1 factors (every subset of views), "
                 "same encoders, critics and budget",
    "shared_pairwise": "InfoNCE across every pair of views (MVURE / ReMVC style), plus the "
                       "relational proxy",
    "intra": "ablation: intra-view pretraining alone; the concatenated encoder outputs",
    "cookie_no_pretrain": "ablation: cookie without the intra-view pretraining stage",
    "cookie_shared_only": "ablation: cookie with the shared (pair) heads only",
    "cookie_unique_only": "ablation: cookie with the unique (per view) heads only",
    "raw": "no learning: the featurized views, standardized and concatenated",
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
