"""Artifacts and configs are data, never code: weights-only model and checkpoint loading,
configs without executable tags, and label expressions from a restricted grammar."""

from __future__ import annotations

import pathlib
import shutil
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from cookie.cli import app
from cookie.config import load_config
from cookie.dataset.dataset import load_dataset
from cookie.errors import ConfigError, DataError
from cookie.sources import expressions
from cookie.training.embedder import MODEL_FILE, CookieEmbedder
from tests.synthetic import make_dataset

runner = CliRunner()


class Payload:
    """Unpickling this creates `marker`: what a malicious model file would do."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (pathlib.Path.touch, (pathlib.Path(self.marker),))


def malicious_file(path: Path, marker: Path, extra: dict | None = None) -> Path:
    """A torch file whose unpickling creates `marker` (checked to work, then reset)."""
    torch.save({**(extra or {}), "weight": torch.zeros(2), "payload": Payload(marker)}, path)
    torch.load(path, weights_only=False)  # the unsafe way really runs the payload ...
    assert marker.exists()
    marker.unlink()  # ... and the safe way must not
    return path


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A saved model and its dataset config."""
    root = tmp_path_factory.mktemp("safe")
    config, _ = make_dataset(root / "data", tasks=False)
    ds = load_dataset(config)
    model = CookieEmbedder.from_config(ds.config).fit(ds).save(root / "model")
    return model, config


def test_model_load_is_weights_only(trained: tuple[Path, Path], tmp_path: Path) -> None:
    model, _ = trained
    bad = tmp_path / "model"
    shutil.copytree(model, bad)
    marker = tmp_path / "pwned"
    malicious_file(bad / MODEL_FILE, marker)
    with pytest.raises(DataError, match="unreadable model") as err:
        CookieEmbedder.load(bad)
    assert str(bad) in str(err.value) and "\n" not in str(err.value)
    assert not marker.exists()
    CookieEmbedder.load(model)  # the genuine file still loads


def test_embed_with_malicious_model_is_a_clean_error(trained: tuple[Path, Path],
                                                     tmp_path: Path) -> None:
    model, config = trained
    bad = tmp_path / "run" / "model"
    shutil.copytree(model, bad)
    marker = tmp_path / "pwned"
    malicious_file(bad / MODEL_FILE, marker)
    res = runner.invoke(app, ["embed", str(tmp_path / "run"), str(config), "--out",
                              str(tmp_path / "emb.parquet"), "--cache-dir",
                              str(tmp_path / "cache")])
    assert res.exit_code == 2, res.output
    assert "unreadable model" in res.output and "Traceback" not in res.output
    assert not marker.exists() and not (tmp_path / "emb.parquet").exists()


def test_resume_checkpoint_is_weights_only(tmp_path: Path) -> None:
    """`--resume` reads `last.ckpt` weights-only too: a pickle payload is refused, not run."""
    config, _ = make_dataset(tmp_path / "data", tasks=False)
    runs = tmp_path / "runs"
    (runs / ".run.checkpoints").mkdir(parents=True)
    marker = tmp_path / "pwned"
    malicious_file(runs / ".run.checkpoints" / "last.ckpt", marker, {"epoch": 0})
    res = runner.invoke(app, ["fit", str(config), "--out", str(runs / "run"), "--resume",
                              "--no-evaluate", "--cache-dir", str(tmp_path / "cache")])
    assert res.exit_code == 2, res.output
    assert "cannot resume from this checkpoint" in res.output
    assert not marker.exists() and not (runs / "run").exists()


# ---------------------------------------------------------------- configs are data
def test_yaml_python_tags_are_rejected(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    cfg = tmp_path / "config.yaml"
    cfg.write_text(f"name: !!python/object/apply:os.system ['touch {marker}']\n"
                   "regions: {path: r.gpkg, id_column: id}\n"
                   "views: [{name: a, kind: table, path: a.parquet}]\n")
    with pytest.raises(ConfigError, match="invalid YAML"):
        load_config(cfg)
    res = runner.invoke(app, ["fit", str(cfg), "--out", str(tmp_path / "run")])
    assert res.exit_code == 2 and "invalid YAML" in res.output
    assert not marker.exists()


def test_toml_tag_like_text_is_just_a_string(tmp_path: Path) -> None:
    text = "!!python/object/apply:os.system ['touch pwned']"
    cfg = tmp_path / "config.toml"
    cfg.write_text(f"name = \"{text}\"\n"
                   "[regions]\npath = \"r.gpkg\"\nid_column = \"id\"\n"
                   "[[views]]\nname = \"a\"\nkind = \"table\"\npath = \"a.parquet\"\n")
    assert load_config(cfg).name == text
    assert not (tmp_path / "pwned").exists()


# ---------------------------------------------------------------- label expressions
@pytest.mark.parametrize("expression, why", [
    ("population.__class__", "Attribute"),
    ("area_km2.real", "Attribute"),
    ("__import__('os').system('true')", "may be called"),
    ("eval('1 + 1')", "may be called"),
    ("open('/etc/passwd')", "may be called"),
    ("exp(population)", "may be called"),
    ("log(x=population)", "may be called"),
    ("log(population, 2)", "may be called"),
    ("(lambda: 1)()", "may be called"),
    ("lambda: 1", "Lambda"),
    ("population[0]", "Subscript"),
    ("[x for x in population]", "ListComp"),
    ("'population'", "numeric constants"),
    ("population if area_km2 else 0", "IfExp"),
    ("population > 3", "Compare"),
    ("(population := 1)", "NamedExpr"),
    ("population; 1", "invalid expression"),
])
def test_label_expressions_are_restricted(expression: str, why: str) -> None:
    columns = {"population": [1.0, 2.0], "area_km2": [0.5, 0.5]}
    with pytest.raises(ConfigError, match=why):
        expressions.evaluate(expression, columns)
    with pytest.raises(ConfigError):
        expressions.names_in(expression)


def test_label_expressions_allowed_arithmetic() -> None:
    import numpy as np

    columns = {"population": np.array([1.0, 3.0]), "area_km2": np.array([0.5, 2.0])}
    got = expressions.evaluate("log1p(population) / area_km2 - -2 ** 2 + abs(-1)", columns)
    want = np.log1p(columns["population"]) / columns["area_km2"] + 4 + 1
    np.testing.assert_allclose(got, want)
    assert expressions.names_in("sqrt(population) / area_km2") == {"population", "area_km2"}
