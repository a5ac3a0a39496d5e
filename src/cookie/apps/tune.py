"""Nested model selection (`cookie tune`): hyper-parameters chosen by inner cross-validation
inside each outer training fold; the outer test folds only score the choice.

The methods are self-supervised (a fit sees every region's inputs, no label), so one fit per
setting serves every task and outer fold. For each task and outer fold k, an optuna study
proposes settings; a setting's value is the mean inner-CV score of the task's probe computed
on fold k's outer-training regions only. Fold k's choice is its study's best setting, and its
outer score is that probe trained on all of fold k's training regions and scored on its test
regions. The mean ± std of the outer scores is the nested estimate.

Why one study per (task, outer fold) and not one study for all folds: an adaptive sampler
(TPE) that learns from a mean over every outer fold's inner scores would see fold k's test
labels through the other folds' training sets, and its proposals (hence fold k's choice)
would depend on them. With the default `random` sampler every study proposes the same seeded
sequence, whatever the scores, so the fits are shared (``trials`` fits in all); with `tpe`
each study adapts to its own fold only and fits up to ``trials`` settings per study.
"""

from __future__ import annotations

import logging
import math
import time
import warnings
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from cookie.errors import ConfigError, DataError
from cookie.evaluation import metrics as M
from cookie.evaluation.evaluate import BLAS_THREADS, _class_labels
from cookie.evaluation.folds import Fold, shuffled_folds, stratified_folds
from cookie.evaluation.probes import logistic, ridge_cv
from cookie.evaluation.protocols import guard_range
from cookie.evaluation.report import MAIN_METRIC, jsonable

log = logging.getLogger(__name__)

# The default search space: name -> ("choice", values) | ("log", low, high) | ("uniform", low,
# high). Every other method setting comes from the config's [method] section.
DEFAULT_SPACE: dict[str, tuple] = {
    "epochs": ("choice", [50, 100, 200]),
    "lr": ("log", 3e-4, 3e-3),
    "relational_weight": ("log", 0.3, 30.0),  # the shipped 10 inside (defaults.md)
    "temperature": ("uniform", 0.05, 0.3),
    "embedding_dim": ("choice", [128, 256, 512]),
}
SAMPLERS = ("random", "tpe")
#: the search parameter that trains without one view (`none`: with every view); not a
#: [method] setting: ``--param without=choice:none,satellite`` asks whether a view helps
WITHOUT = "without"
NO_VIEW = "none"
TUNABLE_TYPES = ("regression", "classification")

Params = dict[str, Any]
Embed = Callable[[Params], pd.DataFrame]
Score = Callable[[str, np.ndarray, np.ndarray, np.ndarray, np.ndarray], dict[str, float]]


def search_space(epochs: Sequence[int] | None = None,
                 base: dict[str, tuple] | None = None) -> dict[str, tuple]:
    """The default space (or ``base``), with the ``epochs`` choices replaced when given."""
    space = dict(DEFAULT_SPACE if base is None else base)
    if epochs:
        space["epochs"] = ("choice", [int(e) for e in epochs])
    return space


def _number(text: str) -> int | float:
    """``"3"`` -> 3, ``"0.5"`` / ``"1e-3"`` -> float; anything else: ValueError."""
    try:
        return int(text)
    except ValueError:
        value = float(text)
        if not math.isfinite(value):
            raise ValueError(text) from None
        return value


def parse_param(text: str) -> tuple[str, tuple]:
    """One ``--param`` of `cookie tune`: ``NAME=choice:V1,V2,...``, ``NAME=log:LOW,HIGH`` or
    ``NAME=uniform:LOW,HIGH`` -> (name, spec of the search space)."""
    usage = (f"--param {text!r}: expected NAME=choice:V1,V2,... or NAME=log:LOW,HIGH or "
             "NAME=uniform:LOW,HIGH")
    name, _, rest = text.partition("=")
    kind, _, values = rest.partition(":")
    if not name.strip() or not values:
        raise ConfigError(usage)
    if kind == "choice":  # numbers, or words (the views of `without`)
        words = [v.strip() for v in values.split(",")]
        if not all(words):
            raise ConfigError(f"{usage} (an empty choice)")
        choices: list[Any] = []
        for word in words:
            try:
                choices.append(_number(word))
            except ValueError:
                choices.append(word)
        return name.strip(), ("choice", list(dict.fromkeys(choices)))
    try:
        numbers = [_number(v.strip()) for v in values.split(",")]
    except ValueError:
        raise ConfigError(f"{usage} (values must be numbers)") from None
    if kind in ("log", "uniform"):
        if len(numbers) != 2 or not numbers[0] < numbers[1]:
            raise ConfigError(f"{usage} (two bounds, LOW < HIGH)")
        if kind == "log" and numbers[0] <= 0:
            raise ConfigError(f"{usage} (a log range needs LOW > 0)")
        return name.strip(), (kind, float(numbers[0]), float(numbers[1]))
    raise ConfigError(f"{usage} (unknown kind {kind!r})")


def space_of(params: Sequence[str]) -> dict[str, tuple]:
    """The search space of ``--param`` options (each name at most once)."""
    space: dict[str, tuple] = {}
    for text in params:
        name, spec = parse_param(text)
        if name in space:
            raise ConfigError(f"--param {name!r} given twice")
        space[name] = spec
    return space


def check_without(cfg: Any, view: Any) -> None:
    """``without`` names a view of ``cfg`` (or `none`) and the method still runs without it."""
    from cookie.config import method_problem

    names = [v.name for v in cfg.views]
    if view == NO_VIEW:
        return
    if view not in names:
        raise ConfigError(f"--param {WITHOUT}: no view {view!r} (views: {', '.join(names)}; "
                          f"{NO_VIEW!r} keeps them all)")
    problem = method_problem(cfg.method, len(names) - 1)
    if problem:
        raise ConfigError(f"--param {WITHOUT}={view}: {problem}")


def space_corners(space: dict[str, tuple]) -> list[Params]:
    """One setting per extreme value of each parameter (to check them before any fit)."""
    out = []
    for name, spec in space.items():
        values = spec[1] if spec[0] == "choice" else spec[1:3]
        out += [{name: v} for v in values]
    return out


def suggest(trial: Any, space: dict[str, tuple]) -> Params:
    """The setting an optuna trial proposes from ``space``."""
    params: Params = {}
    for name, spec in space.items():
        kind = spec[0]
        if kind == "choice":
            params[name] = trial.suggest_categorical(name, list(spec[1]))
        elif kind in ("log", "uniform"):
            params[name] = trial.suggest_float(name, float(spec[1]), float(spec[2]),
                                               log=kind == "log")
        else:
            raise ConfigError(f"search space {name!r}: unknown kind {kind!r} (choice, log, "
                              "uniform)")
    return params


def make_sampler(name: str, seed: int) -> Any:
    """A seeded optuna sampler: `random` (proposals independent of scores) or `tpe`."""
    import optuna

    if name == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if name == "tpe":
        return optuna.samplers.TPESampler(seed=seed)
    raise ConfigError(f"unknown sampler {name!r} (known: {', '.join(SAMPLERS)})")


# ---------------------------------------------------------------- probes and folds
def probe_score(task_type: str, X: np.ndarray, y: np.ndarray, train: np.ndarray,
                test: np.ndarray) -> dict[str, float]:
    """Fit the task's probe on rows ``train`` and score it on rows ``test``: standardized
    ridge with internal alpha search (regression, range-guarded predictions) or logistic
    regression (classification). The only place where a probe sees labels."""
    with threadpool_limits(limits=BLAS_THREADS):
        if task_type == "regression":
            est = ridge_cv().fit(X[train], y[train])
            pred, _ = guard_range(est.predict(X[test]), y[train])
            return M.regression_metrics(y[test], pred)
        est = logistic().fit(X[train], y[train])
        return M.classification_metrics(y[test], est.predict(X[test]))


def split(task_type: str, y: np.ndarray, k: int, seed: int) -> list[Fold]:
    """k shuffled folds of the rows of ``y`` (stratified for classification)."""
    try:
        if task_type == "classification":
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", message=".*least populated class.*")
                return stratified_folds(y, k, 1, seed)
        return shuffled_folds(len(y), k, 1, seed)
    except ValueError as exc:  # too few regions (or members per class) for k folds
        raise DataError(f"cannot make {k} folds of {len(y)} regions ({exc})") from None


def inner_score(task_type: str, X: np.ndarray, y: np.ndarray, train: np.ndarray, k: int,
                seed: int, score: Score = probe_score) -> float:
    """Mean main-metric score of the probe over ``k`` inner folds of the rows ``train``: only
    those rows (inputs and labels) are ever used."""
    metric = MAIN_METRIC[task_type]
    values = []
    for tr, te in split(task_type, y[train], k, seed):
        values.append(score(task_type, X, y, train[tr], train[te])[metric])
    return float(np.mean(values))


# ---------------------------------------------------------------- results
@dataclass
class FoldChoice:
    """One outer fold: the setting its selection chose and the scores."""

    fold: int
    setting: int                    # index into TuneResult.settings
    params: Params
    inner: float                    # the chosen setting's inner-CV score (selection)
    outer: dict[str, float]         # the probe's scores on the outer test fold
    inner_trials: list[tuple[int, float]] = field(default_factory=list)  # (setting, score)
    n_train: int = 0
    n_test: int = 0


@dataclass
class TaskTuning:
    """The nested estimate for one task."""

    task: str
    task_type: str
    metric: str
    folds: list[FoldChoice]
    mean: float
    std: float
    most_chosen: int                # the setting chosen in most folds (first on ties)
    outer_folds: list[Fold] = field(default_factory=list, repr=False)


def choose(trials: Sequence[tuple[int, float]]) -> tuple[int, float]:
    """The (setting, score) of highest finite score (the first one on ties)."""
    finite = [(s, v) for s, v in trials if math.isfinite(v)]
    if not finite:
        raise DataError("no setting gave a finite inner score")
    return max(finite, key=lambda sv: sv[1])


def nested_summary(task: str, task_type: str, fold_trials: Sequence[Sequence[tuple[int, float]]],
                   outer: Callable[[int, int], dict[str, float]],
                   params: Callable[[int], Params] = lambda s: {}) -> TaskTuning:
    """Per outer fold the best setting by inner score (``fold_trials[k]``: (setting, inner
    score) pairs) and ``outer(k, setting)``: its outer test scores; mean ± std (ddof=1) of
    the main metric over the folds."""
    metric = MAIN_METRIC[task_type]
    folds = []
    for k, trials in enumerate(fold_trials):
        try:
            setting, inner = choose(trials)
        except DataError:
            raise DataError(f"task {task!r}, outer fold {k + 1}: no setting gave a finite "
                            f"inner {metric}") from None
        scores = outer(k, setting)
        if not math.isfinite(scores[metric]):
            raise DataError(f"task {task!r}, outer fold {k + 1}: the outer {metric} is not "
                            "finite (a constant target in the test fold?)")
        folds.append(FoldChoice(k, setting, params(setting), inner, scores, list(trials)))
    values = [f.outer[metric] for f in folds]
    counts = Counter(f.setting for f in folds)
    most = max(counts, key=lambda s: (counts[s], -[f.setting for f in folds].index(s)))
    return TaskTuning(task, task_type, metric, folds, float(np.mean(values)),
                      float(np.std(values, ddof=1)) if len(values) > 1 else float("nan"), most)


@dataclass
class Setting:
    """One trained setting: its parameters, fit time, or why it failed."""

    params: Params
    seconds: float = 0.0
    failed: str | None = None


class SettingCache:
    """Embeddings per setting, fitted once each with ``fit(params)``; a fit that diverges is
    recorded as failed (never chosen) rather than stopping the run."""

    def __init__(self, fit: Embed, say: Callable[[str], None] = lambda m: None) -> None:
        self.fit, self.say = fit, say
        self.settings: list[Setting] = []
        self.embeddings: dict[int, pd.DataFrame | None] = {}
        self.index: dict[tuple, int] = {}

    def get(self, params: Params) -> tuple[int, pd.DataFrame | None]:
        """(setting index, embeddings or None if its training diverged)."""
        from cookie.errors import TrainingDiverged

        key = tuple(sorted(params.items()))
        if key not in self.index:
            i = len(self.settings)
            self.index[key] = i
            shown = ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                              for k, v in params.items())
            start = time.perf_counter()
            try:
                emb, failed = self.fit(dict(params)), None
            except TrainingDiverged as exc:
                emb, failed = None, str(exc)
            seconds = time.perf_counter() - start
            self.settings.append(Setting(dict(params), round(seconds, 2), failed))
            self.embeddings[i] = emb
            self.say(f"setting {i}: {shown}: " + (f"failed ({failed})" if failed
                                                  else f"trained in {seconds:.1f} s"))
        i = self.index[key]
        return i, self.embeddings[i]


def tune_task(task: str, task_type: str, y: pd.Series, cache: SettingCache,
              space: dict[str, tuple], trials: int, outer_folds: int, inner_folds: int,
              seed: int = 0, sampler: str = "random", score: Score = probe_score,
              say: Callable[[str], None] = lambda m: None) -> TaskTuning:
    """Nested selection for one task; ``y`` holds its labeled regions (index: region ids).

    For each outer fold, an optuna study of ``trials`` trials whose value is the inner-CV
    score on that fold's training rows; the outer test rows reach only `nested_summary`'s
    ``outer`` call, after the choice.
    """
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    yv = y.to_numpy(dtype=float) if task_type == "regression" else _class_labels(y)
    if task_type == "classification" and len(np.unique(yv)) < 2:
        raise DataError(f"task {task!r} has a single class")
    n = len(yv)
    if n < outer_folds or n - n // outer_folds < 2 * inner_folds:
        raise DataError(f"task {task!r}: {n} labeled regions are too few for {outer_folds} "
                        f"outer x {inner_folds} inner folds")
    try:
        return _tune_task(task, task_type, y.index, yv, cache, space, trials, outer_folds,
                          inner_folds, seed, sampler, score, say)
    except DataError as exc:
        if str(exc).startswith(f"task {task!r}"):
            raise
        raise DataError(f"task {task!r}: {exc}") from None


def _tune_task(task: str, task_type: str, ids: pd.Index, yv: np.ndarray, cache: SettingCache,
               space: dict[str, tuple], trials: int, outer_folds: int, inner_folds: int,
               seed: int, sampler: str, score: Score,
               say: Callable[[str], None]) -> TaskTuning:
    """`tune_task` on the task's label array ``yv`` (rows: ``ids``)."""
    import optuna

    outer = split(task_type, yv, outer_folds, seed)

    def matrix(setting: int) -> np.ndarray:
        emb = cache.embeddings[setting]
        assert emb is not None  # a setting whose training diverged is never scored
        missing = ids.difference(emb.index)
        if len(missing):
            raise DataError(f"task {task!r}: region {missing[0]!r} has no embedding")
        return emb.loc[ids].to_numpy(dtype=float)

    fold_trials = []
    for train, _test in outer:
        study = optuna.create_study(direction="maximize", sampler=make_sampler(sampler, seed))
        pairs = []
        for _ in range(trials):
            trial = study.ask()
            setting, emb = cache.get(suggest(trial, space))
            value = (float("nan") if emb is None else
                     inner_score(task_type, matrix(setting), yv, train, inner_folds, seed, score))
            pairs.append((setting, value))
            if math.isfinite(value):
                study.tell(trial, value)
            else:
                study.tell(trial, state=optuna.trial.TrialState.FAIL)
        fold_trials.append(pairs)

    def outer_score(k: int, setting: int) -> dict[str, float]:
        train, test = outer[k]
        return score(task_type, matrix(setting), yv, train, test)

    result = nested_summary(task, task_type, fold_trials, outer_score,
                            lambda s: cache.settings[s].params)
    for f, (train, test) in zip(result.folds, outer, strict=True):
        f.n_train, f.n_test = len(train), len(test)
        say(f"{task} outer fold {f.fold + 1}/{outer_folds}: setting {f.setting} (inner "
            f"{result.metric} {f.inner:.3f}), outer {result.metric} {f.outer[result.metric]:.3f}")
    result.outer_folds = outer
    return result


@dataclass
class TuneResult:
    """Every task's nested estimate and the settings trained."""

    method: str
    settings: list[Setting]
    tasks: list[TaskTuning]
    meta: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        tasks = []
        for t in self.tasks:
            d = asdict(t)
            d.pop("outer_folds")
            tasks.append(d)
        return jsonable({"meta": self.meta, "method": self.method,
                      "settings": [asdict(s) for s in self.settings], "tasks": tasks})

    def to_markdown(self) -> str:
        m = self.meta
        lines = [f"# Nested model selection: {m.get('config', '')}", "",
                 f"Method `{self.method}`; {m.get('trials')} trials per (task, outer fold) "
                 f"study, `{m.get('sampler')}` sampler (seed {m.get('seed')}); "
                 f"{m.get('outer_folds')} outer x {m.get('inner_folds')} inner folds "
                 "(shuffled; stratified for classification). Probe: standardized ridge with "
                 "internal alpha search (regression) / logistic regression (classification). "
                 "Each outer fold's setting is chosen by the inner-CV score on its training "
                 "regions only; the outer test fold only scores the choice.", "",
                 "| task | metric | nested outer score (mean ± std) | most chosen setting |",
                 "|---|---|---|---|"]
        for t in self.tasks:
            std = "" if not math.isfinite(t.std) else f" ± {t.std:.3f}"
            lines.append(f"| {t.task} | {t.metric} | {t.mean:.3f}{std} | {t.most_chosen} |")
        for t in self.tasks:
            lines += ["", f"## {t.task} ({t.task_type})", "",
                      f"| outer fold | train / test regions | setting | inner {t.metric} | "
                      f"outer {t.metric} |", "|---|---|---|---|---|"]
            for f in t.folds:
                lines.append(f"| {f.fold + 1} | {f.n_train} / {f.n_test} | {f.setting} | "
                             f"{f.inner:.3f} | {f.outer[t.metric]:.3f} |")
        lines += ["", "## Settings trained", "", "| setting | parameters | fit seconds |",
                  "|---|---|---|"]
        for i, s in enumerate(self.settings):
            shown = ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                              for k, v in s.params.items())
            lines.append(f"| {i} | {shown} | "
                         + (f"failed: {s.failed}" if s.failed else f"{s.seconds:.1f}") + " |")
        return "\n".join(lines) + "\n"


def tune_dataset(ds: Any, tasks: Sequence, space: dict[str, tuple], trials: int,
                 outer_folds: int, inner_folds: int, seed: int = 0, sampler: str = "random",
                 fit: Embed | None = None, score: Score = probe_score,
                 say: Callable[[str], None] = lambda m: None) -> TuneResult:
    """Nested selection for each of ``tasks`` of a loaded dataset; ``fit(params)`` gives the
    embeddings of every region (default: `CookieEmbedder` with the config's [method] settings
    and ``params``, fitted on the dataset without its labels)."""
    from cookie.sources.labels import task_target

    if fit is None:
        from cookie.dataset.dataset import RegionDataset
        from cookie.training.embedder import CookieEmbedder

        unlabeled = RegionDataset(ds.config, ds.regions, ds.views)  # a fit sees no label

        def fit(params: Params) -> pd.DataFrame:
            params = dict(params)
            dropped = params.pop(WITHOUT, NO_VIEW)
            data = unlabeled if dropped == NO_VIEW else unlabeled.select_views(
                [n for n in unlabeled.views if n != dropped])
            model = CookieEmbedder.from_config(data.config, **params)
            return model.fit(data).transform(data)

    targets = {t.name: task_target(t, ds.labels).dropna() for t in tasks}  # errors first
    cache = SettingCache(fit, say)
    results = [tune_task(t.name, t.type, targets[t.name], cache, space, trials, outer_folds,
                         inner_folds, seed, sampler, score, say) for t in tasks]
    return TuneResult(ds.config.method.name, cache.settings, results)
