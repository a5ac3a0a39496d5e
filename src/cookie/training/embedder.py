"""The estimator: `CookieEmbedder(...).fit(X).transform(X)`, scikit-learn's contract.

Hyper-parameters are explicit keyword arguments stored unchanged (`get_params`, `set_params`,
`sklearn.base.clone` work); learned state ends in ``_``. ``X`` is a featurized
`RegionDataset` or a mapping view name -> region-indexed DataFrame / GeoDataFrame (SRAI's
contract: the index is named ``region_id``). Run options (checkpoint folder, resume,
progress) are keywords of `fit`, never hyper-parameters; a config file is one way to build an
estimator (`CookieEmbedder.from_config`), and a dataset's config never changes the
hyper-parameters of an estimator it is given.
"""

from __future__ import annotations

import hashlib
import json
import logging
import pickle
import signal
import warnings
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from pydantic import ValidationError
from sklearn.base import BaseEstimator
from sklearn.exceptions import NotFittedError
from sklearn.utils.validation import check_is_fitted

from cookie.config import (
    AugmentConfig,
    DatasetConfig,
    MethodConfig,
    check_method_name,
    format_validation_error,
    method_problem,
)
from cookie.constants import REGION_INDEX
from cookie.dataset.dataset import RegionDataset
from cookie.errors import ConfigError, CookieError, DataError, Interrupted, TrainingDiverged
from cookie.features.view import ViewData, ViewSpec
from cookie.io.atomic import atomic_file
from cookie.methods.registry import build_objective, get_method
from cookie.methods.settings import MethodSettings
from cookie.nn.augment import Augmentation
from cookie.nn.context import context_rows
from cookie.training.data import RegionTensors

#: what `fit` and `transform` accept: a featurized dataset, or region-indexed frames per view
Inputs = RegionDataset | Mapping[str, pd.DataFrame]

log = logging.getLogger(__name__)
MODEL_FILE, META_FILE = "model.pt", "model.json"


def _quiet_lightning() -> None:
    for name in ("lightning.pytorch", "lightning.fabric", "pytorch_lightning"):
        logging.getLogger(name).setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", message=".*does not have many workers.*")
    warnings.filterwarnings("ignore", message=".*LeafSpec.*")
    warnings.filterwarnings("ignore", message=".*isinstance.*treespec.*")


class NotFitted(CookieError, NotFittedError):
    """`transform` or `save` before `fit` (or `load`)."""


class _Inputs:
    """The views, region ids and config (None for plain frames) of what `fit` was given."""

    def __init__(self, X: Inputs) -> None:
        if isinstance(X, RegionDataset):
            self.views, self.region_ids = X.views, X.region_ids
            self.config: DatasetConfig | None = X.config
        elif isinstance(X, Mapping):
            self.views, self.region_ids = views_from_frames(X)
            self.config = None
        else:
            raise DataError(f"CookieEmbedder: X must be a RegionDataset or a mapping of view "
                            f"name -> region-indexed DataFrame, got {type(X).__name__}")

    @property
    def source(self) -> str:
        return str(self.config.source) if self.config and self.config.source else "CookieEmbedder"


def views_from_frames(frames: Mapping[str, pd.DataFrame]) -> tuple[dict[str, ViewData], pd.Index]:
    """Views from plain frames, one per view, each indexed by region id (index name
    ``region_id``; a GeoDataFrame's geometry column is left out). The regions are every id of
    any frame (in order of first appearance); a region absent from a frame lacks that view
    (mask false, zeros)."""
    if not frames:
        raise DataError("CookieEmbedder: no views given")
    tables = {}
    for name, frame in frames.items():
        if not isinstance(frame, pd.DataFrame):
            raise DataError(f"view {name!r}: expected a DataFrame, got {type(frame).__name__}")
        if frame.index.name != REGION_INDEX:
            raise DataError(f"view {name!r}: the index must be named {REGION_INDEX!r} (the "
                            f"region ids), got {frame.index.name!r}")
        if frame.index.has_duplicates:
            dup = frame.index[frame.index.duplicated()][0]
            raise DataError(f"view {name!r}: region id {dup!r} appears more than once")
        geometry = getattr(frame, "_geometry_column_name", None)
        table = frame.drop(columns=[geometry]) if geometry in frame.columns else frame
        bad = [c for c in table.columns if not pd.api.types.is_numeric_dtype(table[c])]
        if bad:
            raise DataError(f"view {name!r}: column {bad[0]!r} is not numeric")
        if table.shape[1] == 0:
            raise DataError(f"view {name!r}: no feature columns")
        tables[name] = table
    ids = pd.Index(pd.unique(np.concatenate([t.index.to_numpy(dtype=object)
                                             for t in tables.values()])), name=REGION_INDEX)
    views = {}
    for name, table in tables.items():
        mask = ids.isin(table.index)
        values = table.reindex(ids).fillna(0.0).to_numpy(dtype=np.float32)
        views[name] = ViewData(name, "table", ids, values, mask, [str(c) for c in table.columns])
    return views, ids


def _check_views_have_data(data: _Inputs) -> None:
    """A view in which no region has data leaves nothing to learn (and no gradient)."""
    for name, view in data.views.items():
        if not view.mask.any():
            paths = [v.path for v in data.config.views if v.name == name] if data.config else []
            where = f"{paths[0]}: " if paths else ""
            raise DataError(f"{where}view {name!r}: none of the {len(view.mask)} regions has "
                            "data in this view")


def _load_failure(exc: BaseException) -> str:
    """One line saying why a model or checkpoint file did not load."""
    text = str(exc).strip()
    if isinstance(exc, pickle.UnpicklingError) and text.startswith("Weights only load failed"):
        return "it holds Python objects, not only weights; refused by the weights-only loader"
    return f"{type(exc).__name__}: {text.splitlines()[0] if text else ''}"


def run_record(cfg: MethodConfig, views: Mapping[str, ViewData], region_ids: pd.Index,
               augments: Mapping[str, AugmentConfig],
               encoders: Mapping[str, str]) -> dict[str, Any]:
    """What a checkpoint is tied to: every method setting but the stage-2 epoch count (a
    resumed run may train longer), augmentations, encoders, and a hash of each view's
    features and of the region ids."""
    def digest(*arrays: np.ndarray) -> str:
        h = hashlib.sha256()
        for a in arrays:
            h.update(np.ascontiguousarray(a).tobytes())
        return h.hexdigest()[:16]

    data = {"regions": hashlib.sha256(str(list(region_ids)).encode()).hexdigest()[:16]}
    for name, view in views.items():
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
    return _view_rows(views, slice(start, stop), drop_views)


def _tensor(rows: np.ndarray) -> torch.Tensor:
    """A tensor of ``rows``, sharing memory only where the array may be written (a slice of a
    read-only array, memory-mapped or from the cache, is copied)."""
    rows = np.ascontiguousarray(rows)
    return torch.from_numpy(rows if rows.flags.writeable else rows.copy())


def _view_rows(views: dict, rows: slice | np.ndarray,
               drop_views: tuple[str, ...] = ()) -> dict[str, tuple]:
    """`_view_batch` for any rows (a slice or an index array)."""
    out = {}
    for name, v in views.items():
        x = _tensor(v.values[rows])
        aux = _tensor(v.aux[rows]) if v.aux is not None and v.is_image else None
        mask = torch.from_numpy(np.array(v.mask[rows]))
        out[name] = (x, aux, torch.zeros_like(mask) if name in drop_views else mask)
    return out


class CookieEmbedder(BaseEstimator):
    """Learn one embedding per region from several views, with a registered method.

    Parameters: the method's name (`cookie methods`) and every setting of
    `cookie.config.MethodConfig` (same names, defaults and meaning); ``augmentations``, view
    name -> `AugmentConfig` fields of that view's augmentation (a view not named gets the
    defaults); ``encoders``, view name -> ``"auto"`` | ``"mlp"`` | ``"cnn"``. Build one from a
    dataset config with `from_config`.

    Learned state: ``objective_`` (the torch module of the method), ``config_`` (the validated
    settings), ``specs_`` / ``view_names_`` (the views it was trained on), ``augments_``,
    ``encoder_choice_``, ``final_terms_`` (the last epoch's loss terms), ``resumed_from_``;
    with ``holdout`` > 0, ``heldout_`` (the held-out region ids), ``holdout_history_`` (joint
    epoch -> held-out criterion) and ``selected_epoch_`` (the epoch whose weights were kept).
    """

    def __init__(self, name: str = "cookie", *, embedding_dim: int = 512,
                 hidden_dim: int = 256, encoder_dim: int = 128, critic_dim: int = 64,
                 critic: str = "separable", temperature: float = 0.1, alpha: float = 1.0,
                 pretrain_epochs: int = 20, epochs: int = 100, batch_size: int = 0,
                 lr: float = 1e-3, critic_lr: float = 1e-3, weight_decay: float = 1e-5,
                 dropout: float = 0.0, proxy: str = "relational",
                 relational_weight: float = 10.0, landmarks: int = 2048,
                 context: str = "attention", basis: str = "rotated",
                 block_widths: str = "equal", kernel: str = "rbf", image_inputs: str = "quantiles",
                 context_keys: int = 2048,
                 flow_weight: float = 1.0, holdout: float = 0.0, patience: int = 0,
                 seed: int = 0, accelerator: str = "cpu", devices: int | str = 1,
                 strategy: str = "auto",
                 augmentations: Mapping[str, Mapping[str, Any]] | None = None,
                 encoders: Mapping[str, str] | None = None) -> None:
        self.name = name
        self.embedding_dim = embedding_dim
        self.hidden_dim = hidden_dim
        self.encoder_dim = encoder_dim
        self.critic_dim = critic_dim
        self.critic = critic
        self.temperature = temperature
        self.alpha = alpha
        self.pretrain_epochs = pretrain_epochs
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.critic_lr = critic_lr
        self.weight_decay = weight_decay
        self.dropout = dropout
        self.proxy = proxy
        self.relational_weight = relational_weight
        self.landmarks = landmarks
        self.context = context
        self.basis = basis
        self.block_widths = block_widths
        self.kernel = kernel
        self.image_inputs = image_inputs
        self.context_keys = context_keys
        self.flow_weight = flow_weight
        self.holdout = holdout
        self.patience = patience
        self.seed = seed
        self.accelerator = accelerator
        self.devices = devices
        self.strategy = strategy
        self.augmentations = augmentations
        self.encoders = encoders

    @classmethod
    def from_config(cls, config: DatasetConfig, augment: Mapping[str, Any] | None = None,
                    **params: Any) -> CookieEmbedder:
        """The estimator a dataset config describes: its ``[method]`` settings, each view's
        ``augment`` and ``encoder``; ``params`` replace settings, ``augment`` (AugmentConfig
        fields) replaces those fields in every view's augmentation."""
        settings = config.method.model_dump() | params
        settings.setdefault("augmentations", {
            v.name: v.augment.model_dump() | dict(augment or {}) for v in config.views})
        settings.setdefault("encoders", {v.name: v.encoder for v in config.views})
        return cls(**settings)

    # ------------------------------------------------------------------ fitting
    def _method_config(self, data: _Inputs) -> MethodConfig:
        """This estimator's method settings, validated and checked to run on the views."""
        params = {k: v for k, v in self.get_params().items()
                  if k not in ("augmentations", "encoders")}
        check_method_name(params.get("name"), "CookieEmbedder(name=...)")
        try:
            cfg = MethodConfig.model_validate(params)
        except ValidationError as exc:
            raise ConfigError(format_validation_error("CookieEmbedder", exc)) from None
        problem = method_problem(cfg, len(data.views))
        if problem:
            raise ConfigError(f"{data.source}: {problem}")
        return cfg

    def _view_settings(self, names: list[str]) -> tuple[dict[str, AugmentConfig],
                                                        dict[str, str]]:
        augmentations, encoders = dict(self.augmentations or {}), dict(self.encoders or {})
        try:
            augments = {n: AugmentConfig.model_validate(dict(augmentations.get(n) or {}))
                        for n in names}
        except ValidationError as exc:
            raise ConfigError(format_validation_error("CookieEmbedder(augmentations=...)",
                                                      exc)) from None
        choice = {n: str(encoders.get(n, "auto")) for n in names}
        bad = [n for n, c in choice.items() if c not in ("auto", "mlp", "cnn")]
        if bad:
            raise ConfigError(f"CookieEmbedder(encoders=...): view {bad[0]!r}: encoder "
                              f"{choice[bad[0]]!r} is not one of auto, mlp, cnn")
        return augments, choice

    def _build(self) -> Any:
        """The (untrained) module of the method, from the fitted settings (and the fitted
        block widths of ``block_widths = "spectrum"``)."""
        return build_objective(self.config_.name, self.specs_,
                               MethodSettings.from_mapping(self.config_.model_dump()),
                               {k: Augmentation(**v.model_dump())
                                for k, v in self.augments_.items()},
                               self.encoder_choice_, widths=getattr(self, "widths_", None))

    def fit(self, X: Inputs, y: None = None, *, checkpoint_dir: str | Path | None = None,
            resume: bool = False, progress: bool = False) -> CookieEmbedder:
        """Train on every region of ``X``; returns self.

        Run options: ``checkpoint_dir`` (write ``last.ckpt`` there after every epoch),
        ``resume`` (continue from it), ``progress`` (a progress bar naming stage and epoch).
        ``y`` is ignored (the methods never see labels).
        """
        data = _Inputs(X)
        cfg = self._method_config(data)
        _check_views_have_data(data)
        self.config_ = cfg
        self.view_names_ = list(data.views)
        # what another area is featurized against (`cookie.dataset.transfer`)
        self.feature_names_ = {n: list(v.feature_names) for n, v in data.views.items()}
        self.specs_ = [ViewSpec.from_view(v) for v in data.views.values()]
        self.augments_, self.encoder_choice_ = self._view_settings(self.view_names_)
        self.resumed_from_: str | None = None
        #: the blocks' widths of ``block_widths = "spectrum"`` (None: equal widths)
        self.widths_: list[int] | None = None
        self.global_rank_ = 0
        self.final_terms_: dict[str, float] = {}
        if not get_method(cfg.name).trained:  # `raw`: statistics are the whole fit
            objective = self._build()
            objective.fit_statistics(data.views)
            self.objective_ = objective.eval()
            return self
        import lightning.pytorch as pl

        from cookie.training.distributed import per_process_batch, trainer_strategy
        from cookie.training.module import LastCheckpoint, ObjectiveModule

        _quiet_lightning()
        pl.seed_everything(cfg.seed, workers=True, verbose=False)
        objective = self._build()  # initial weights drawn from the seed
        tensors = RegionTensors(data.views)
        for name, enc in objective.encoders.items():
            enc.fit_normalization(tensors.x[name], tensors.aux[name], tensors.mask[name])
        if cfg.block_widths == "spectrum":
            self.widths_ = objective.spectrum_widths(tensors.x, tensors.aux, tensors.mask)
            if self.widths_ is None:
                log.info("block_widths = 'spectrum' needs the relational proxy and a target "
                         "for every block: equal widths")
            else:
                log.info("block widths from the targets' spectra: %s", self.widths_)
                pl.seed_everything(cfg.seed, workers=True, verbose=False)
                objective = self._build()  # the same seed's draws, at the fitted widths
                for name, enc in objective.encoders.items():
                    enc.fit_normalization(tensors.x[name], tensors.aux[name],
                                          tensors.mask[name])
        objective.set_targets(tensors.x, tensors.aux, tensors.mask)
        module = ObjectiveModule(objective, objective.cfg)
        record = run_record(cfg, data.views, data.region_ids, self.augments_,
                            self.encoder_choice_)
        callbacks: list[Any] = ([] if checkpoint_dir is None
                                else [LastCheckpoint(checkpoint_dir, record)])
        positions, selection = None, None
        if cfg.holdout > 0:
            from cookie.training.selection import HoldoutSelection, holdout_split

            try:
                positions, heldout = holdout_split(tensors.n, cfg.holdout, cfg.seed)
            except ValueError as exc:
                raise ConfigError(f"holdout={cfg.holdout:g}: {exc}") from None
            selection = HoldoutSelection(tensors, heldout, cfg.patience)
            callbacks.insert(0, selection)  # scored before the epoch's checkpoint is written
            self.heldout_ = data.region_ids[heldout]
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
        ckpt = (_resume_checkpoint(checkpoint_dir, module, record, int(trainer.max_epochs or 0))
                if resume else None)
        self.resumed_from_ = ckpt
        # batch_size is the global batch: each of the world_size processes loads its share
        loader = tensors.loader(per_process_batch(cfg.batch_size, trainer.world_size),
                                shuffle=True, seed=cfg.seed, positions=positions)
        try:
            trainer.fit(module, loader, ckpt_path=ckpt, weights_only=True)
        except SystemExit:  # how Lightning ends a run on SIGTERM (status 0) or Ctrl-C (1)
            if trainer.interrupted:
                raise Interrupted(signal.SIGTERM if trainer.received_sigterm
                                  else signal.SIGINT) from None
            raise
        if selection is not None:
            selection.restore_best(objective)
            self.holdout_history_ = dict(selection.history)
            self.selected_epoch_ = selection.best_epoch
        self.objective_ = objective.eval()
        self.global_rank_ = trainer.global_rank  # under DDP, only rank 0 writes outputs
        self.final_terms_ = dict(module.last_terms)
        return self

    # ------------------------------------------------------------------ embedding
    def _check_fitted(self) -> None:
        try:
            check_is_fitted(self, "objective_")
        except NotFittedError:
            raise NotFitted("the embedder is not fitted; call fit() or load() first") from None

    def _check_views(self, views: Mapping[str, ViewData]) -> None:
        missing = [n for n in self.view_names_ if n not in views]
        if missing:
            raise DataError(f"dataset has no view {missing[0]!r} that the model was trained on")
        for spec in self.specs_:
            got = views[spec.name].input_shape
            if tuple(got) != tuple(spec.input_shape):
                raise DataError(f"view {spec.name!r}: features have shape {got}, the model "
                                f"expects {spec.input_shape}")

    def transform(self, X: Inputs, batch_size: int = 4096,
                  drop_views: tuple[str, ...] = ()) -> pd.DataFrame:
        """Embeddings of every region: a DataFrame indexed by region id.

        ``drop_views`` embeds as if those views were missing for every region (their mask is
        false and their encoder input zero): the modality-dropout-at-inference experiment.
        """
        return pd.concat(list(self.transform_batches(X, batch_size, drop_views)))

    def transform_batches(self, X: Inputs, batch_size: int = 4096,
                          drop_views: tuple[str, ...] = ()) -> Iterator[pd.DataFrame]:
        """`transform`, ``batch_size`` regions at a time, in region order: the model runs on
        one batch of the (already featurized) views at a time, so memory beyond the features
        is one batch of inputs and embeddings."""
        self._check_fitted()
        data = _Inputs(X)
        self._check_views(data.views)
        unknown = [v for v in drop_views if v not in self.view_names_]
        if unknown:
            raise DataError(f"cannot drop view {unknown[0]!r}: the model has views "
                            f"{', '.join(self.view_names_)}")
        ids, n = data.region_ids, len(data.region_ids)
        size = batch_size if batch_size > 0 else max(n, 1)
        views = {name: data.views[name] for name in self.view_names_}
        self.objective_.eval()
        if getattr(self.objective_, "contexts", None) and n > size:
            # embedded in chunks: every chunk in context of the same regions as one full
            # batch would be (all of them, or the same fixed sample)
            rows = context_rows(n, self.config_.context_keys, False, self.config_.seed)
            keys = np.arange(n) if rows is None else rows.numpy()
            self.objective_.context_memory = self.objective_.context_memory_of(
                _view_rows(views, keys, drop_views))
        try:
            yield from self._chunks(ids, size, views, drop_views)
        finally:
            if getattr(self.objective_, "contexts", None):
                self.objective_.context_memory = None

    def _chunks(self, ids: pd.Index, size: int, views: dict[str, ViewData],
                drop_views: tuple[str, ...]) -> Iterator[pd.DataFrame]:
        n = len(ids)
        for start in range(0, n, size):
            stop = min(start + size, n)
            with torch.no_grad():
                batch = _view_batch(views, start, stop, drop_views)
                chunk = self.objective_.embed(batch).cpu().numpy()
            chunk = chunk.astype(np.float32)
            _check_finite_embeddings(chunk, ids[start:stop], self.config_.name)
            cols = [f"e{i:03d}" for i in range(chunk.shape[1])]
            yield pd.DataFrame(chunk, index=ids[start:stop], columns=cols)

    def fit_transform(self, X: Inputs, y: None = None, **fit_params: Any) -> pd.DataFrame:
        return self.fit(X, y, **fit_params).transform(X)

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
            "feature_names": getattr(self, "feature_names_", {}),
            "widths": getattr(self, "widths_", None),
        }
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
        if isinstance(meta.get("method"), dict):
            # models saved before the context stage, the flow terms, the rotated output
            # basis and the image views' pixel statistics had none of them
            meta["method"].setdefault("context", "none")
            meta["method"].setdefault("flow_weight", 0.0)
            meta["method"].setdefault("basis", "heads")
            meta["method"].setdefault("image_inputs", "stats")
        cfg = MethodConfig.model_validate(meta["method"])
        augments = {k: AugmentConfig.model_validate(v) for k, v in meta["augments"].items()}
        self = cls(**cfg.model_dump(), augmentations={k: v.model_dump()
                                                      for k, v in augments.items()},
                   encoders=dict(meta["encoders"]))
        self.config_ = cfg
        self.specs_ = [ViewSpec.from_dict(d) for d in meta["views"]]
        self.view_names_ = [s.name for s in self.specs_]
        self.augments_ = augments
        self.encoder_choice_ = meta["encoders"]
        self.feature_names_ = meta.get("feature_names") or {}  # absent in older models
        self.widths_ = meta.get("widths")  # absent in older models: equal widths
        objective = self._build()
        _check_state(objective.state_dict(), state)
        objective.load_state_dict(state)
        self.objective_ = objective.eval()
        return self
