"""scikit-learn style estimator: `CookieEmbedder(...).fit(dataset).transform(dataset)`."""

from __future__ import annotations

import hashlib
import json
import logging
import pickle
import signal
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from pydantic import ValidationError

from cookie.config import (
    AugmentConfig,
    MethodConfig,
    check_method_name,
    format_validation_error,
    method_problem,
)
from cookie.dataset.dataset import RegionDataset
from cookie.errors import ConfigError, CookieError, DataError, Interrupted, TrainingDiverged
from cookie.io.atomic import atomic_file
from cookie.methods.registry import build_objective
from cookie.training.data import RegionTensors, ViewSpec

log = logging.getLogger(__name__)
MODEL_FILE, META_FILE = "model.pt", "model.json"


def _quiet_lightning() -> None:
    for name in ("lightning.pytorch", "lightning.fabric", "pytorch_lightning"):
        logging.getLogger(name).setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", message=".*does not have many workers.*")
    warnings.filterwarnings("ignore", message=".*LeafSpec.*")
    warnings.filterwarnings("ignore", message=".*isinstance.*treespec.*")


def _check_views_have_data(dataset: RegionDataset) -> None:
    """A view in which no region has data leaves nothing to learn (and no gradient)."""
    for name, view in dataset.views.items():
        if not view.mask.any():
            paths = [v.path for v in dataset.config.views if v.name == name]
            where = f"{paths[0]}: " if paths else ""
            raise DataError(f"{where}view {name!r}: none of the {len(view.mask)} regions has "
                            "data in this view")


def _load_failure(exc: BaseException) -> str:
    """One line saying why a model or checkpoint file did not load."""
    text = str(exc).strip()
    if isinstance(exc, pickle.UnpicklingError) and text.startswith("Weights only load failed"):
        return "it holds Python objects, not only weights; refused by the weights-only loader"
    return f"{type(exc).__name__}: {text.splitlines()[0] if text else ''}"


def run_record(cfg: MethodConfig, dataset: RegionDataset, augments: dict,
               encoders: dict) -> dict[str, Any]:
    """What a checkpoint is tied to: every method setting but the stage-2 epoch count (a
    resumed run may train longer), augmentations, encoders, and a hash of each view's
    features and of the region ids."""
    def digest(*arrays: np.ndarray) -> str:
        h = hashlib.sha256()
        for a in arrays:
            h.update(np.ascontiguousarray(a).tobytes())
        return h.hexdigest()[:16]

    data = {"regions": hashlib.sha256(str(list(dataset.region_ids)).encode()).hexdigest()[:16]}
    for name, view in dataset.views.items():
        data[f"view {name!r}"] = digest(view.values, view.mask,
                                        *([view.aux] if view.aux is not None else []))
    return {"method": {k: v for k, v in cfg.model_dump(mode="json").items() if k != "epochs"},
            "augment": {k: v.model_dump(mode="json") for k, v in augments.items()},
            "encoder": dict(encoders), "data": data}


def _record_difference(saved: dict, now: dict) -> str | None:
    """The first difference between a checkpoint's record and this run's, in words."""
    for section in ("method", "augment", "encoder", "data"):
        a, b = saved.get(section, {}), now.get(section, {})
        for key in sorted(set(a) | set(b)):
            if a.get(key) != b.get(key):
                if section == "data":
                    return f"{key} differs (its data changed)"
                return f"{section} {key} is {a.get(key)!r} there, {b.get(key)!r} here"
    return None


def _check_finite_embeddings(chunk: np.ndarray, ids: pd.Index, method: str) -> None:
    """A CookieError when some embedding is NaN or infinite: such a result is never written."""
    bad = ~np.isfinite(chunk).all(axis=1)
    if bad.any():
        first = ids[int(np.flatnonzero(bad)[0])]
        first = first.item() if isinstance(first, np.generic) else first
        raise TrainingDiverged(f"method {method!r}: the embeddings of {int(bad.sum())} regions are "
                          f"NaN or infinite (first: region {first!r}); training diverged or "
                          "the inputs are too large (try a smaller method.lr or method.alpha)")


def _check_state(expected: dict, state: dict) -> None:
    """ValueError naming the first weight that model.pt lacks, has extra or shaped otherwise
    than the model that model.json describes."""
    missing = [k for k in expected if k not in state]
    extra = [k for k in state if k not in expected]
    shaped = [k for k in expected if k in state and hasattr(state[k], "shape")
              and tuple(state[k].shape) != tuple(expected[k].shape)]
    more = lambda keys: f" (+{len(keys) - 1} more)" if len(keys) > 1 else ""  # noqa: E731
    if missing:
        raise ValueError(f"{MODEL_FILE} lacks the weight {missing[0]!r}{more(missing)}")
    if extra:
        raise ValueError(f"{MODEL_FILE} has the weight {extra[0]!r}{more(extra)} that "
                         f"{META_FILE}'s model has not")
    if shaped:
        k = shaped[0]
        raise ValueError(f"weight {k!r} has shape {tuple(state[k].shape)} in {MODEL_FILE}, "
                         f"{tuple(expected[k].shape)} in {META_FILE}'s model{more(shaped)}")


def _resume_checkpoint(checkpoint_dir: str | Path | None, module: Any, record: dict,
                       max_epochs: int) -> str | None:
    """`last.ckpt` of an interrupted run, checked to load (weights only) into `module` and
    to come from this very run (``record``) with no more epochs done than asked; None, with a
    warning, when there is none."""
    path = Path(checkpoint_dir) / "last.ckpt" if checkpoint_dir is not None else None
    if path is None or not path.is_file():
        log.warning("%s: no checkpoint to resume from; training from the start", path)
        return None
    def load() -> dict:
        try:
            return torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:  # noqa: BLE001 - corrupt file, other version
            raise DataError(f"{path}: cannot resume from this checkpoint "
                            f"({_load_failure(exc)}); delete it or run without --resume") from None

    state = load()
    saved = state.get("cookie_run") if isinstance(state, dict) else None
    why = ("it records no run settings (an older version wrote it)" if saved is None
           else _record_difference(saved, record))
    if why:
        raise ConfigError(f"{path}: cannot resume, the checkpoint is from another run: {why}; "
                          "delete it or run without --resume")
    try:
        module.load_state_dict(state["state_dict"])
    except Exception as exc:  # noqa: BLE001 - another model
        raise DataError(f"{path}: cannot resume from this checkpoint ({_load_failure(exc)}); "
                        "delete it or run without --resume") from None
    done = int(state.get("epoch", -1)) + 1
    if done > max_epochs:  # equal: training is over, the run only has its outputs to write
        raise ConfigError(f"{path}: cannot resume, the checkpoint has {done} epochs done and "
                          f"this run asks for {max_epochs} in all; ask for more epochs or run "
                          "without --resume")
    return str(path)


def _view_batch(views: dict, start: int, stop: int,
                drop_views: tuple[str, ...] = ()) -> dict[str, tuple]:
    """Rows ``start:stop`` of every view as the tensors `RegionTensors.gather` gives; dropped
    views get a false mask."""
    out = {}
    for name, v in views.items():
        x = torch.from_numpy(np.ascontiguousarray(v.values[start:stop]))
        aux = (torch.from_numpy(np.ascontiguousarray(v.aux[start:stop]))
               if v.aux is not None and v.is_image else None)
        mask = torch.from_numpy(np.array(v.mask[start:stop]))
        out[name] = (x, aux, torch.zeros_like(mask) if name in drop_views else mask)
    return out


class CookieEmbedder:
    """Learn one embedding per region from several views.

    Parameters are those of `MethodConfig` (method name, sizes, epochs, alpha, seed, ...);
    unset ones come from the dataset config's ``[method]`` section at `fit` time. ``augment``
    (a dict of `AugmentConfig` fields) replaces those fields in every view's augmentation.
    Learned state: ``objective_`` (the torch module), ``specs_``, ``view_names_``.
    """

    def __init__(self, **params: Any) -> None:
        self.params = params

    # ------------------------------------------------------------------ fitting
    def _method_config(self, dataset: RegionDataset) -> MethodConfig:
        """The config's method settings with this embedder's parameters, checked to run on
        the dataset's views."""
        base = dataset.config.method.model_dump()
        params = {k: v for k, v in self.params.items() if k != "augment"}
        check_method_name(params.get("name"), "CookieEmbedder(name=...)")
        try:
            cfg = MethodConfig.model_validate(base | params)
        except ValidationError as exc:
            raise ConfigError(format_validation_error("CookieEmbedder", exc)) from None
        problem = method_problem(cfg, len(dataset.views))
        if problem:
            raise ConfigError(f"{dataset.config.source or 'CookieEmbedder'}: {problem}")
        return cfg

    def fit(self, dataset: RegionDataset, checkpoint_dir: str | Path | None = None,
            resume: bool = False, progress: bool = False) -> CookieEmbedder:
        """Train on every region of the dataset; returns self."""
        cfg = self._method_config(dataset)
        _check_views_have_data(dataset)
        self.config_ = cfg
        self.view_names_ = list(dataset.views)
        self.specs_ = [ViewSpec.from_view(v) for v in dataset.views.values()]
        override = self.params.get("augment") or {}
        self.augments_ = {
            v.name: AugmentConfig.model_validate(v.augment.model_dump() | override)
            for v in dataset.config.views if v.name in dataset.views
        }
        self.encoder_choice_ = {v.name: v.encoder for v in dataset.config.views if v.name in
                                dataset.views}
        if cfg.name == "raw":
            self._fit_raw(dataset)
            return self
        import lightning.pytorch as pl

        from cookie.losses.distributed import per_process_batch, trainer_strategy
        from cookie.training.module import LastCheckpoint, ObjectiveModule

        _quiet_lightning()
        pl.seed_everything(cfg.seed, workers=True, verbose=False)
        objective = build_objective(cfg.name, self.specs_, cfg, self.augments_,
                                    self.encoder_choice_)
        tensors = RegionTensors(dataset.views)
        for name, enc in objective.encoders.items():
            enc.fit_normalization(tensors.x[name], tensors.aux[name], tensors.mask[name])
        objective.set_targets(tensors.x, tensors.aux, tensors.mask)
        module = ObjectiveModule(objective, cfg)
        record = run_record(cfg, dataset, self.augments_, self.encoder_choice_)
        callbacks = [] if checkpoint_dir is None else [LastCheckpoint(checkpoint_dir, record)]
        if progress:
            from cookie.training.progress import StageProgressBar

            callbacks.append(StageProgressBar())
        try:
            trainer = pl.Trainer(
                max_epochs=module.pretrain_epochs + cfg.epochs,
                accelerator=cfg.accelerator, devices=cfg.devices,
                strategy=trainer_strategy(cfg.strategy),
                deterministic=True, logger=False, enable_checkpointing=False,
                callbacks=callbacks, enable_progress_bar=progress, enable_model_summary=False,
                log_every_n_steps=1, num_sanity_val_steps=0,
                default_root_dir=str(checkpoint_dir) if checkpoint_dir else None,
            )
        except Exception as exc:  # noqa: BLE001 - Lightning's MisconfigurationException & co.
            msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise ConfigError(
                f"trainer settings accelerator={cfg.accelerator!r}, devices={cfg.devices!r}, "
                f"strategy={cfg.strategy!r}: {msg}"
            ) from None
        ckpt = (_resume_checkpoint(checkpoint_dir, module, record, trainer.max_epochs)
                if resume else None)
        self.resumed_from_ = ckpt
        # batch_size is the global batch: each of the world_size processes loads its share
        loader = tensors.loader(per_process_batch(cfg.batch_size, trainer.world_size),
                                shuffle=True, seed=cfg.seed)
        try:
            trainer.fit(module, loader, ckpt_path=ckpt, weights_only=True)
        except SystemExit:  # how Lightning ends a run on SIGTERM (status 0) or Ctrl-C (1)
            if trainer.interrupted:
                raise Interrupted(signal.SIGTERM if trainer.received_sigterm
                                  else signal.SIGINT) from None
            raise
        self.objective_ = objective.eval()
        self.global_rank_ = trainer.global_rank  # under DDP, only rank 0 writes outputs
        self.final_terms_ = dict(module.last_terms)
        return self

    def _fit_raw(self, dataset: RegionDataset) -> None:
        frame = self._raw_frame(dataset)
        self.raw_mean_ = frame.mean().to_numpy()
        self.raw_std_ = frame.std().replace(0, 1).fillna(1).to_numpy()
        self.raw_columns_ = list(frame.columns)

    @staticmethod
    def _raw_frame(dataset: RegionDataset) -> pd.DataFrame:
        parts = [v.to_frame().add_prefix(f"{n}:") for n, v in dataset.views.items()]
        return pd.concat(parts, axis=1)

    # ------------------------------------------------------------------ embedding
    def _check_fitted(self) -> None:
        if not hasattr(self, "config_"):
            raise CookieError("the embedder is not fitted; call fit() or load() first")

    def _check_views(self, dataset: RegionDataset) -> None:
        missing = [n for n in self.view_names_ if n not in dataset.views]
        if missing:
            raise DataError(f"dataset has no view {missing[0]!r} that the model was trained on")
        for spec in self.specs_:
            got = dataset.views[spec.name].input_shape
            if tuple(got) != tuple(spec.input_shape):
                raise DataError(f"view {spec.name!r}: features have shape {got}, the model "
                                f"expects {spec.input_shape}")

    def transform(self, dataset: RegionDataset, batch_size: int = 4096,
                  drop_views: tuple[str, ...] = ()) -> pd.DataFrame:
        """Embeddings of every region: a DataFrame indexed by region id.

        ``drop_views`` embeds as if those views were missing for every region (their mask is
        false and their encoder input zero): the modality-dropout-at-inference experiment.
        """
        return pd.concat(list(self.transform_batches(dataset, batch_size, drop_views)))

    def transform_batches(self, dataset: RegionDataset, batch_size: int = 4096,
                          drop_views: tuple[str, ...] = ()) -> Iterator[pd.DataFrame]:
        """`transform`, ``batch_size`` regions at a time, in region order: the model runs on
        one batch of the (already featurized) views at a time, so memory beyond the features
        is one batch of inputs and embeddings."""
        self._check_fitted()
        self._check_views(dataset)
        unknown = [v for v in drop_views if v not in self.view_names_]
        if unknown:
            raise DataError(f"cannot drop view {unknown[0]!r}: the model has views "
                            f"{', '.join(self.view_names_)}")
        ids, n = dataset.region_ids, len(dataset.region_ids)
        size = batch_size if batch_size > 0 else max(n, 1)
        values = None
        if self.config_.name == "raw":
            frame = self._raw_frame(dataset)[self.raw_columns_]
            values = (frame.to_numpy() - self.raw_mean_) / self.raw_std_
            for name in drop_views:
                values[:, [c.startswith(f"{name}:") for c in self.raw_columns_]] = 0.0
        else:
            views = {name: dataset.views[name] for name in self.view_names_}
            self.objective_.eval()
        for start in range(0, n, size):
            stop = min(start + size, n)
            if values is not None:
                chunk = values[start:stop]
            else:
                with torch.no_grad():
                    batch = _view_batch(views, start, stop, drop_views)
                    chunk = self.objective_.embed(batch).cpu().numpy()
            chunk = chunk.astype(np.float32)
            _check_finite_embeddings(chunk, ids[start:stop], self.config_.name)
            cols = [f"e{i:03d}" for i in range(chunk.shape[1])]
            yield pd.DataFrame(chunk, index=ids[start:stop], columns=cols)

    def fit_transform(self, dataset: RegionDataset, **kwargs: Any) -> pd.DataFrame:
        return self.fit(dataset, **kwargs).transform(dataset)

    # ------------------------------------------------------------------ persistence
    def save(self, directory: str | Path) -> Path:
        """Write model.json (settings, views) and model.pt (a weights-only state dict)."""
        self._check_fitted()
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        meta = {
            "format": 1,
            "method": self.config_.model_dump(mode="json"),
            "views": [s.to_dict() for s in self.specs_],
            "augments": {k: v.model_dump() for k, v in self.augments_.items()},
            "encoders": self.encoder_choice_,
        }
        if self.config_.name == "raw":
            state = {"mean": torch.tensor(self.raw_mean_), "std": torch.tensor(self.raw_std_)}
            meta["raw_columns"] = self.raw_columns_
        else:
            state = self.objective_.state_dict()
        with atomic_file(directory / MODEL_FILE) as tmp:
            torch.save(state, tmp)
        with atomic_file(directory / META_FILE) as tmp:
            tmp.write_text(json.dumps(meta, indent=2))
        return directory

    @classmethod
    def load(cls, directory: str | Path) -> CookieEmbedder:
        """Rebuild from `save` output; weights are read with ``weights_only=True``."""
        directory = Path(directory)
        if not directory.is_dir():
            raise DataError(f"{directory}: model directory not found (write one with `cookie fit`)")
        for f in (META_FILE, MODEL_FILE):
            if not (directory / f).is_file():
                raise DataError(f"{directory / f}: model file not found")
        try:
            meta = json.loads((directory / META_FILE).read_text())
            state = torch.load(directory / MODEL_FILE, map_location="cpu", weights_only=True)
        except Exception as exc:  # noqa: BLE001
            raise DataError(f"{directory}: unreadable model ({_load_failure(exc)})") from None
        try:
            return cls._from_saved(meta, state)
        except KeyError as exc:
            raise DataError(f"{directory}: unreadable model ({META_FILE} or {MODEL_FILE} lacks "
                            f"the key {exc.args[0]!r})") from None
        except ValidationError as exc:
            raise DataError(f"{directory}: unreadable model "
                            f"({format_validation_error(META_FILE, exc)})") from None
        except Exception as exc:  # noqa: BLE001 - the two files disagree, or a wrong format
            raise DataError(f"{directory}: {META_FILE} and {MODEL_FILE} do not match "
                            f"({_load_failure(exc)})") from None

    @classmethod
    def _from_saved(cls, meta: dict, state: dict) -> CookieEmbedder:
        """An embedder from the parsed model.json and the loaded model.pt state."""
        if not isinstance(meta, dict) or not isinstance(state, dict):
            raise TypeError(f"{META_FILE} must hold an object and {MODEL_FILE} a state dict")
        cfg = MethodConfig.model_validate(meta["method"])
        self = cls(**meta["method"], augment=None)
        self.config_ = cfg
        self.specs_ = [ViewSpec.from_dict(d) for d in meta["views"]]
        self.view_names_ = [s.name for s in self.specs_]
        self.augments_ = {k: AugmentConfig.model_validate(v) for k, v in meta["augments"].items()}
        self.encoder_choice_ = meta["encoders"]
        if cfg.name == "raw":
            self.raw_mean_, self.raw_std_ = state["mean"].numpy(), state["std"].numpy()
            self.raw_columns_ = meta["raw_columns"]
            if not len(self.raw_mean_) == len(self.raw_std_) == len(self.raw_columns_):
                raise ValueError(f"{len(self.raw_columns_)} raw columns, "
                                 f"{len(self.raw_mean_)} means, {len(self.raw_std_)} stds")
        else:
            objective = build_objective(cfg.name, self.specs_, cfg, self.augments_,
                                        self.encoder_choice_)
            _check_state(objective.state_dict(), state)
            objective.load_state_dict(state)
            self.objective_ = objective.eval()
        return self
