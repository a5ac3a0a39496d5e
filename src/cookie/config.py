"""Declarative dataset configs (TOML or YAML), validated with pydantic.

Paths inside a config are relative to the config file. Configs are parsed, never executed.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from cookie.constants import OSM_CLASS_COLUMN, OSM_LAYER_OF_KIND, REGION_INDEX, is_osm_pbf
from cookie.errors import ConfigError
from cookie.methods.registry import get_method, method_names

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


class Strict(BaseModel):
    """Unknown keys are errors, and every float must be finite unless a field says otherwise."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


Bounds = tuple[float, float, float, float]
#: seeds that numpy, torch and Lightning all accept
SEED_MAX = 2**32 - 1
#: widest layer a method may ask for
MAX_WIDTH = 65536


def _check_bounds(bounds: Bounds | None) -> None:
    if bounds is not None and not (bounds[0] < bounds[2] and bounds[1] < bounds[3]):
        raise ValueError(f"bounds {bounds} must be (minx, miny, maxx, maxy) with minx < maxx "
                         "and miny < maxy")


# ---------------------------------------------------------------- regions
class GridSpec(Strict):
    size_m: float = Field(gt=0, description="cell edge in metres")
    area: Path | None = Field(None, description="polygon file whose extent is covered")
    bounds: Bounds | None = Field(
        None, description="(minx, miny, maxx, maxy) in `crs` when no area file is given"
    )

    @model_validator(mode="after")
    def _ordered(self) -> GridSpec:
        _check_bounds(self.bounds)
        return self


class H3Spec(Strict):
    resolution: int = Field(ge=0, le=15)
    area: Path | None = None
    bounds: Bounds | None = None

    @model_validator(mode="after")
    def _ordered(self) -> H3Spec:
        _check_bounds(self.bounds)
        return self


class RegionsConfig(Strict):
    """Where the regions come from: a polygon file, a square grid, or H3 cells."""

    path: Path | None = None
    layer: str | None = None
    id_column: str | None = Field(None, description="region id column of `path`")
    grid: GridSpec | None = None
    h3: H3Spec | None = None
    crs: str | None = Field(None, description="CRS to assume when the file has none")

    @model_validator(mode="after")
    def _one_source(self) -> RegionsConfig:
        given = [n for n in ("path", "grid", "h3") if getattr(self, n) is not None]
        if len(given) != 1:
            raise ValueError(f"give exactly one of path, grid, h3 (got {given or 'none'})")
        if self.path is not None and self.id_column is None:
            raise ValueError("regions.path needs regions.id_column")
        return self


# ---------------------------------------------------------------- augmentations
class AugmentConfig(Strict):
    """Stochastic views x' of a region (the task proxy y of the method).

    Vector views: Gaussian noise (std in standardized units), feature dropout (probability),
    per-feature random scaling (factor in [1-scale, 1+scale]), mixing with another random
    region of the batch (weight in [0, mix]). Image views additionally: flips, 90-degree
    rotations, random crops (fraction of the side) resized back, and the same noise.
    """

    noise: float = Field(0.1, ge=0)
    dropout: float = Field(0.1, ge=0, lt=1)
    scale: float = Field(0.1, ge=0, lt=1)
    mix: float = Field(0.0, ge=0, le=0.5)
    flip: bool = True
    rotate: bool = True
    crop: float = Field(0.1, ge=0, lt=0.5)


# ---------------------------------------------------------------- views
class ViewBase(Strict):
    name: str = Field(pattern=r"^[A-Za-z0-9_\-]+$")
    path: Path
    layer: str | None = Field(None, description="layer of a multi-layer file; of an OSM "
                              "extract (.osm.pbf): pois, landuse, buildings or roads (default: "
                              "the one of the view's kind)")
    crs: str | None = Field(None, description="CRS to assume when the layer has none")
    augment: AugmentConfig = AugmentConfig()
    encoder: Literal["auto", "mlp", "cnn"] = "auto"

    @model_validator(mode="after")
    def _osm_source(self) -> ViewBase:
        """An .osm.pbf path: the OSM layer of the view's kind, and that layer's class column,
        unless the config names them."""
        if not is_osm_pbf(self.path):
            return self
        kind = getattr(self, "kind", "")
        if kind not in OSM_LAYER_OF_KIND:
            raise ValueError(f"an OSM extract ({self.path.name}) can be the source of "
                             f"{', '.join(OSM_LAYER_OF_KIND)} views, not of a {kind} view")
        if self.layer is None:
            self.layer = OSM_LAYER_OF_KIND[kind]
        if self.layer not in OSM_CLASS_COLUMN:
            raise ValueError(f"layer {self.layer!r} of OSM extract {self.path.name}: use one "
                             f"of {', '.join(OSM_CLASS_COLUMN)}")
        if getattr(self, "class_column", "") is None:  # the kinds that have classes
            object.__setattr__(self, "class_column", OSM_CLASS_COLUMN[self.layer])
        return self


class TableView(ViewBase):
    """Per-region feature columns keyed by region id (Parquet or CSV)."""

    kind: Literal["table"]
    id_column: str = REGION_INDEX
    columns: list[str] | None = Field(None, description="column names or glob patterns")
    transform: Literal["none", "log1p"] = "none"


class FlowsView(ViewBase):
    """Origin-destination table; each region gets its out-flow and in-flow vectors."""

    kind: Literal["flows"]
    origin: str = "origin"
    destination: str = "destination"
    weight: str = "trips"
    transform: Literal["none", "log1p"] = "log1p"


class PointsView(ViewBase):
    """Points of interest: counts, shares per category and density per km2."""

    kind: Literal["points"]
    class_column: str | None = None
    max_classes: int = Field(64, ge=1)
    transform: Literal["none", "log1p"] = "log1p"


class PolygonsView(ViewBase):
    """Land use / areas of interest: area share per class and covered fraction."""

    kind: Literal["polygons"]
    class_column: str | None = None
    max_classes: int = Field(64, ge=1)


class FootprintsView(ViewBase):
    """Building footprints: a rasterized footprint image per region plus morphology stats."""

    kind: Literal["footprints"]
    image_size: int = Field(32, ge=8, le=256)
    image: bool = True


class LinesView(ViewBase):
    """Roads: length per class per km2, segment count and intersection count."""

    kind: Literal["lines"]
    class_column: str | None = None
    max_classes: int = Field(64, ge=1)
    transform: Literal["none", "log1p"] = "log1p"


class RasterView(ViewBase):
    """Imagery / elevation: a masked chip per region from a GeoTIFF, windowed reads."""

    kind: Literal["raster"]
    crs: str | None = Field(
        None, description="CRS of the raster; overrides the file's own tag (for mis-tagged files)"
    )
    bands: list[Annotated[int, Field(ge=1)]] | None = Field(
        None, min_length=1, description="1-based band numbers; default all")
    image_size: int = Field(16, ge=4, le=256)
    nodata: float | None = Field(None, allow_inf_nan=True)


ViewConfig = Annotated[
    TableView | FlowsView | PointsView | PolygonsView | FootprintsView | LinesView | RasterView,
    Field(discriminator="kind"),
]
VIEW_KINDS = ("table", "flows", "points", "polygons", "footprints", "lines", "raster")


# ---------------------------------------------------------------- labels and tasks
class RasterLabel(Strict):
    """A label computed from a raster: a band expression (b1, b2, ...) averaged per region."""

    name: str
    path: Path
    expression: str = Field(min_length=1)
    crs: str | None = Field(None, description="overrides the raster file's CRS tag")


class LabelsConfig(Strict):
    """Labels table keyed by region id; when `path` is absent, the regions' own columns."""

    path: Path | None = None
    layer: str | None = None
    id_column: str | None = None
    raster: list[RasterLabel] = []


class TaskConfig(Strict):
    """A downstream task. `target` is a column or an arithmetic expression of columns and of
    the built-ins `area_km2` / `area_m2` (region area), e.g. ``inhabitants / area_km2``."""

    name: str = Field(min_length=1)
    target: str = Field(min_length=1)
    type: Literal["regression", "classification", "clustering"] = "regression"
    log: bool = Field(False, description="train and score regression on log1p(target)")
    units: str | None = Field(None, description="the target's units in words, for maps and "
                              "reports (default: the target's column or expression)")


# ---------------------------------------------------------------- method and evaluation
#: probe names of the evaluation (`cookie.evaluation.probes`), by task type
REGRESSION_PROBES = ("ridge_cv", "random_forest")
CLASSIFICATION_PROBES = ("logistic", "random_forest")
PROBES = tuple(dict.fromkeys(REGRESSION_PROBES + CLASSIFICATION_PROBES))


class MethodConfig(Strict):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)  # alpha = inf diverges

    name: str = Field("cookie", description="a method of `cookie.methods.registry` "
                      "(`cookie methods` lists them)")
    embedding_dim: int = Field(512, ge=2, description="total size of the concatenated embedding")
    hidden_dim: int = Field(256, ge=4)
    encoder_dim: int = Field(128, ge=4, description="encoder output size per view")
    critic_dim: int = Field(64, ge=4, description="separable critic projection size (and "
                            "the hidden width of a concat critic, at least 32)")
    critic: Literal["separable", "concat"] = Field(
        "separable", description="`separable`: <g(a), h(b)> / temperature, one matrix product "
        "per score matrix; `concat`: FactorCL's MLP on [a, b] for every pair of the batch "
        "(see docs/method.md, Critic)")
    temperature: float = Field(0.1, gt=0)
    alpha: float = Field(1.0, ge=0, description="weight of the intra-view loss in stage 2")
    pretrain_epochs: int = Field(20, ge=0)
    epochs: int = Field(100, ge=1, description="stage-2 epochs: a fixed budget, the same for "
                        "every dataset (see benchmarks/results/defaults.md)")
    batch_size: int = Field(0, ge=0, description="global batch (under DDP each of the W "
                            "processes loads batch_size // W); 0 = full batch")
    lr: float = Field(1e-3, gt=0)
    critic_lr: float = Field(1e-3, gt=0)
    weight_decay: float = Field(1e-5, ge=0)
    dropout: float = Field(0.0, ge=0, lt=1)
    proxy: Literal["relational", "augment"] = Field(
        "relational", description="task proxy y: `relational` (kernel-PCA coordinates of each "
        "view's region-similarity structure, see docs/method.md) or `augment` (an augmentation, "
        "as in the paper; always used by cookie_paper)")
    relational_weight: float = Field(
        10.0, ge=0, description="weight of the relational terms (10: chosen by nested "
        "selection on the development benchmark, see benchmarks/results/defaults.md)")
    context: Literal["attention", "none"] = Field(
        "attention", description="region context after each view's encoder: `attention` "
        "(one residual self-attention layer across regions, see docs/method.md) or `none`")
    basis: Literal["rotated", "heads"] = Field(
        "rotated", description="coordinates of each embedding block: `rotated` (a fixed "
        "orthonormal basis per block: the same information and distances, every dimension a "
        "mix of the block's components; see docs/method.md, Output basis) or `heads` (the "
        "heads' own coordinates)")
    block_widths: Literal["equal", "spectrum"] = Field(
        "equal", description="how `embedding_dim` is shared among the blocks: `equal`, or "
        "`spectrum` (proportional to 1 / the participation ratio of each block's target "
        "kernel, from the inputs alone; relational proxy only; see docs/method.md, Block "
        "widths)")
    kernel: Literal["rbf", "multiscale", "laplacian", "rbf_linear"] = Field(
        "rbf", description="the similarity each relational target decomposes, on the median "
        "squared distance between regions: `rbf`, `multiscale` (the mean of the RBF kernels at "
        "0.5, 1 and 2 x the median), `laplacian` (exp(-distance / sqrt(median))) or "
        "`rbf_linear` (the mean of the RBF and the linear kernel of the standardized inputs "
        "over their number of columns); see "
        "docs/method.md, Relational task proxy")
    image_inputs: Literal["stats", "quantiles"] = Field(
        "quantiles", description="what an image view's relational target (and the raw-views "
        "baseline) is measured on: `quantiles` (its per-region statistics plus per band the "
        "10-90 % quantiles of the in-region pixels and their texture; chosen by nested "
        "selection, see benchmarks/results/defaults.md) or `stats` (the statistics alone); see "
        "docs/method.md, Relational task proxy")
    context_keys: int = Field(2048, ge=16, description="regions each region attends to at "
                              "most (a sample beyond that: bounded memory)")
    flow_weight: float = Field(1.0, ge=0, description="weight of the flow-distribution terms "
                               "of `flows` views (relational proxy only; see docs/method.md)")
    holdout: float = Field(0.0, ge=0, lt=0.5, description="fraction of regions held out of "
                           "training to keep the stage-2 epoch with the lowest loss on their "
                           "inputs (no labels; see docs/method.md, Budget selection); 0 = "
                           "the fixed budget")
    patience: int = Field(0, ge=0, description="with holdout: stop once this many joint "
                          "epochs in a row have not improved the held-out loss (0 = run the "
                          "whole budget)")
    landmarks: int = Field(2048, ge=16, description="regions beyond which relational targets "
                           "use the Nystroem approximation on this many landmarks")
    seed: int = Field(0, ge=0, le=SEED_MAX)
    accelerator: str = "cpu"
    devices: int | str = 1
    strategy: str = "auto"

    @field_validator("name")
    @classmethod
    def _registered(cls, value: str) -> str:
        if value not in method_names():
            raise ValueError(f"unknown method {value!r} (known: {', '.join(method_names())})")
        return value

    @field_validator("batch_size")
    @classmethod
    def _two_per_batch(cls, value: int) -> int:
        if value == 1:
            raise ValueError("batch_size 1 leaves the contrastive terms no negatives: use 0 "
                             "(full batch) or at least 2")
        return value

    @field_validator("embedding_dim", "hidden_dim", "encoder_dim", "critic_dim")
    @classmethod
    def _sane_width(cls, value: int) -> int:
        if value > MAX_WIDTH:
            raise ValueError(f"at most {MAX_WIDTH}")
        return value


class EvaluationConfig(Strict):
    literature: bool = Field(False, description="also run the benchmark's literature protocol")
    literature_splits: int = Field(10, ge=2)
    folds: int = Field(5, ge=2)
    repeats: int = Field(3, ge=1)
    spatial_folds: int = Field(5, ge=2)
    spatial: bool = Field(True, description="run the spatial-block protocol")
    probes: list[Literal[PROBES]] | None = Field(  # type: ignore[valid-type]
        None, min_length=1,
        description="probes to run (ridge_cv, random_forest, logistic); default all"
    )
    seed: int = Field(0, ge=0, le=SEED_MAX)


class DatasetConfig(Strict):
    name: str
    crs: str | None = Field(None, description="metric CRS for all layers; default: local UTM")
    regions: RegionsConfig
    views: list[ViewConfig] = Field(min_length=1)
    labels: LabelsConfig = LabelsConfig()
    tasks: list[TaskConfig] = []
    method: MethodConfig = MethodConfig()
    evaluation: EvaluationConfig = EvaluationConfig()
    source: Path | None = Field(None, exclude=True, description="the file this was read from")

    @model_validator(mode="after")
    def _unique_names(self) -> DatasetConfig:
        names = [v.name for v in self.views]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"duplicate view names {dup}")
        tnames = [t.name for t in self.tasks]
        if len(set(tnames)) != len(tnames):
            raise ValueError("duplicate task names")
        probes = self.evaluation.probes
        for task in self.tasks if probes is not None else ():
            assert probes is not None
            known: Sequence[str] = {"regression": REGRESSION_PROBES,
                                    "classification": CLASSIFICATION_PROBES}.get(task.type, probes)
            if not set(probes) & set(known):
                raise ValueError(f"evaluation.probes {probes} has no probe for {task.type} "
                                 f"task {task.name!r} (use {' or '.join(known)})")
        return self

    @model_validator(mode="after")
    def _one_view_method(self) -> DatasetConfig:
        """A config with one view and no method name trains `single_view` (the default
        `cookie` contrasts views and needs two)."""
        if len(self.views) == 1 and "name" not in self.method.model_fields_set:
            self.method = MethodConfig.model_validate(self.method.model_dump()
                                                      | {"name": "single_view"})
        return self

    def view(self, name: str) -> Any:
        for v in self.views:
            if v.name == name:
                return v
        raise ConfigError(f"{self.source}: no view named {name!r}")


def check_method_name(name: Any, where: str) -> None:
    """A one-line ConfigError naming ``where`` (the config key, or the option the name came
    from) when ``name`` is not a registered method; None passes (no name given)."""
    if name is not None and name not in method_names():
        raise ConfigError(f"{where}: unknown method {name!r} (known: {', '.join(method_names())}; "
                          "`cookie methods` says what each trains)")


def method_problem(method: MethodConfig, n_views: int) -> str | None:
    """Why `method` cannot run on `n_views` views (None when it can)."""
    entry = get_method(method.name)
    if n_views < entry.min_views:
        least = {2: "two", 3: "three"}.get(entry.min_views, str(entry.min_views))
        return (f"method {method.name!r} contrasts views and needs at least {least}, the config "
                f"has {n_views} (use method 'single_view' to learn from one view, 'raw' for the "
                "features as they are, or add a view)")
    blocks = entry.needs_blocks(n_views)
    if method.embedding_dim < blocks:
        return (f"method.embedding_dim {method.embedding_dim} is too small: {method.name!r} "
                f"with {n_views} views splits it into {blocks} blocks (need at least {blocks})")
    return None


def _resolve_paths(model: BaseModel, base: Path) -> None:
    """Make every Path field absolute, relative to the config file's folder."""
    for name in type(model).model_fields:
        value = getattr(model, name)
        if isinstance(value, Path) and name != "source":
            setattr(model, name, (base / value).resolve() if not value.is_absolute() else value)
        elif isinstance(value, BaseModel):
            _resolve_paths(value, base)
        elif isinstance(value, list):
            for item in value:
                if isinstance(item, BaseModel):
                    _resolve_paths(item, base)


def _read_mapping(path: Path) -> dict[str, Any]:
    text = path.read_text(encoding="utf-8")
    if path.suffix.lower() == ".toml":
        try:
            return tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: invalid TOML: {exc}") from None
    if path.suffix.lower() in (".yaml", ".yml"):
        try:
            import yaml
        except ImportError:  # pragma: no cover
            raise ConfigError(f"{path}: YAML configs need PyYAML installed") from None
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise ConfigError(f"{path}: invalid YAML: {str(exc).splitlines()[0]}") from None
        if not isinstance(data, dict):
            raise ConfigError(f"{path}: the config must be a mapping")
        return data
    raise ConfigError(f"{path}: config must be .toml, .yaml or .yml")


def format_validation_error(source: Path | str, exc: ValidationError, prefix: str = "") -> str:
    """One line: file, the first offending key (under `prefix`) and what was expected."""
    err = exc.errors()[0]
    loc = ".".join([prefix] * bool(prefix)
                   + [str(p) for p in err["loc"] if not str(p).endswith("View")])
    extra = f" (+{len(exc.errors()) - 1} more)" if len(exc.errors()) > 1 else ""
    return f"{source}: {loc or 'config'}: {err['msg']}{extra}"


def config_from_dict(data: dict[str, Any], base: Path, source: Path | str) -> DatasetConfig:
    if isinstance(data.get("method"), dict):
        check_method_name(data["method"].get("name"), f"{source}: method.name")
    try:
        cfg = DatasetConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(source, exc)) from None
    _resolve_paths(cfg, base)
    cfg.source = Path(source)
    return cfg


def load_config(path: str | Path) -> DatasetConfig:
    """Read and validate a dataset config; paths become absolute."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: config file not found")
    return config_from_dict(_read_mapping(path), path.parent.resolve(), path)


def override_option(field: str) -> str:
    """The command-line option of `cookie fit` that overrides method setting ``field``."""
    return "--method" if field == "name" else f"--{field.replace('_', '-')}"


def with_method(cfg: DatasetConfig, **overrides: Any) -> DatasetConfig:
    """A copy of the config with method settings replaced, validated and checked to run on
    the config's views (so that a method that cannot run fails before any featurizing)."""
    given = {k: v for k, v in overrides.items() if v is not None}
    check_method_name(given.get("name"), override_option("name"))
    try:
        method = MethodConfig.model_validate(cfg.method.model_dump() | given)
    except ValidationError as exc:
        err = exc.errors()[0]
        field = str(err["loc"][0]) if err["loc"] else ""
        if field in given:  # the value came from the command line, not from the config file
            raise ConfigError(f"{override_option(field)} {given[field]} (method.{field}): "
                              f"{err['msg']}") from None
        raise ConfigError(format_validation_error(cfg.source or "method", exc,
                                                  "method")) from None
    problem = method_problem(method, len(cfg.views))
    if problem:
        raise ConfigError(f"{cfg.source or 'method'}: {problem}")
    return cfg.model_copy(update={"method": method})
