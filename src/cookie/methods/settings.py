"""A method's hyper-parameters as a plain frozen dataclass: what the torch layers (networks,
objectives, the Lightning module) read. The config layer validates them (`MethodConfig`, with
the same fields and defaults: `tests/test_estimator.py` checks they agree) and the estimator
converts; nothing below the estimator imports the pydantic config."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any


@dataclass(frozen=True)
class MethodSettings:
    """Every setting of a method (see `cookie.config.MethodConfig` for what each means)."""

    name: str = "cookie"
    embedding_dim: int = 512
    hidden_dim: int = 256
    encoder_dim: int = 128
    critic_dim: int = 64
    critic: str = "separable"
    temperature: float = 0.1
    alpha: float = 1.0
    pretrain_epochs: int = 20
    epochs: int = 100
    batch_size: int = 0
    lr: float = 1e-3
    critic_lr: float = 1e-3
    weight_decay: float = 1e-5
    dropout: float = 0.0
    proxy: str = "relational"
    relational_weight: float = 10.0
    landmarks: int = 2048
    context: str = "attention"
    basis: str = "rotated"
    block_widths: str = "equal"
    kernel: str = "rbf"
    image_inputs: str = "quantiles"
    context_keys: int = 2048
    flow_weight: float = 1.0
    holdout: float = 0.0
    patience: int = 0
    seed: int = 0
    accelerator: str = "cpu"
    devices: int | str = 1
    strategy: str = "auto"

    @classmethod
    def from_mapping(cls, values: Any) -> MethodSettings:
        """From a mapping or any object with these attributes (a validated `MethodConfig`)."""
        get = values.get if isinstance(values, dict) else lambda k, d: getattr(values, k, d)
        return cls(**{f.name: get(f.name, f.default) for f in fields(cls)})

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)
