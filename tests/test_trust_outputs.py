"""Outputs never cost the user anything: `--out` refuses what is not an earlier output of ours,
replaces ours only with `--overwrite`, is checked before any work, and leaves nothing
half-written (issue #12). Every command that writes goes through `cookie.io.atomic`."""

from __future__ import annotations

import errno
import hashlib
import json
import os
import stat
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cookie.cli import app
from cookie.io.atomic import MARKER
from tests.synthetic import make_dataset

runner = CliRunner()


def invoke(*args: str | Path):
    return runner.invoke(app, [str(a) for a in args])


def snapshot(folder: Path) -> dict[str, str]:
    """Every path under ``folder`` (hidden ones too) with a hash of its bytes."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            if p.is_file() else "dir" for p in sorted(folder.rglob("*"))}


def one_error_line(res, code: int = 2) -> str:
    assert res.exit_code == code, res.output
    assert "Traceback" not in res.output
    lines = [ln for ln in res.output.splitlines() if ln.startswith("error:")]
    assert len(lines) == 1, res.output
    return lines[0]


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A tiny dataset and one finished `cookie fit` run of it."""
    root = tmp_path_factory.mktemp("trust")
    config, _ = make_dataset(root / "data")
    cache = root / "cache"
    res = invoke("fit", config, "--out", root / "run", "--cache-dir", cache)
    assert res.exit_code == 0, res.output
    return {"root": root, "config": config, "cache": cache, "run": root / "run"}


def commands(t: dict[str, Path], out: Path) -> dict[str, list]:
    """Every command that writes a folder, writing into ``out``."""
    osm = t["root"] / "extract.osm.pbf"
    osm.write_bytes(b"not parsed: the output is refused first")
    return {
        "fit": ["fit", t["config"], "--out", out, "--no-evaluate", "--cache-dir", t["cache"]],
        "evaluate": ["evaluate", t["config"], "--embeddings", t["run"] / "embeddings.parquet",
                     "--out", out],
        "embed --partitioned": ["embed", t["run"], t["config"], "--out", out, "--partitioned",
                                "--cache-dir", t["cache"]],
        "featurize": ["featurize", t["config"], "--out", out],
        "freeze": ["freeze", t["config"], "--out", out, "--cache-dir", t["cache"]],
        "prepare": ["prepare", "--osm", osm, "--out", out],
        "demo": ["demo", "--out", out],
    }


FOLDER_COMMANDS = ["fit", "evaluate", "embed --partitioned", "featurize", "freeze", "prepare",
                   "demo"]


@pytest.mark.parametrize("command", FOLDER_COMMANDS)
def test_foreign_folder_is_never_replaced(trained, tmp_path: Path, command: str) -> None:
    """`--out` naming a folder with the user's files (here: the config and data the run
    reads) is refused in one line, even with --overwrite; nothing in it or beside it moves."""
    data = tmp_path / "mine"
    make_dataset(data)
    (data / "notes.txt").write_text("mine")
    before, beside = snapshot(data), sorted(os.listdir(tmp_path))
    for extra in ([], ["--overwrite"]):
        line = one_error_line(invoke(*commands(trained, data)[command], *extra))
        assert "not a cookie output" in line and str(data) in line
    assert snapshot(data) == before
    assert sorted(os.listdir(tmp_path)) == beside  # no hidden .tmp- / .old- copies


@pytest.mark.parametrize("command", FOLDER_COMMANDS)
def test_existing_file_is_never_replaced(trained, tmp_path: Path, command: str) -> None:
    target = tmp_path / "report.pdf"
    target.write_bytes(b"the user's file")
    for extra in ([], ["--overwrite"]):
        line = one_error_line(invoke(*commands(trained, target)[command], *extra))
        assert "is not a folder" in line
    assert target.read_bytes() == b"the user's file"
    assert sorted(os.listdir(tmp_path)) == ["report.pdf"]


@pytest.mark.parametrize("command", ["fit", "evaluate"])
def test_earlier_output_is_replaced_only_with_overwrite(trained, tmp_path: Path,
                                                        command: str) -> None:
    out = tmp_path / "out"
    (tmp_path / "neighbour.txt").write_text("untouched")
    args = commands(trained, out)[command]
    assert invoke(*args).exit_code == 0
    assert (out / MARKER).is_file()
    first = snapshot(out)
    line = one_error_line(invoke(*args))
    assert "pass --overwrite" in line
    assert snapshot(out) == first
    res = invoke(*args, "--overwrite")
    assert res.exit_code == 0, res.output
    assert (out / "report.json" if command == "evaluate" else out / "run.json").is_file()
    assert sorted(os.listdir(tmp_path)) == ["neighbour.txt", "out"]
    assert (tmp_path / "neighbour.txt").read_text() == "untouched"


def test_output_holding_the_inputs_is_refused_even_with_overwrite(trained,
                                                                  tmp_path: Path) -> None:
    """An earlier output of ours that now holds this run's config and data is not replaced."""
    out = tmp_path / "out"
    config, _ = make_dataset(out)
    (out / MARKER).write_text(json.dumps({"format": "cookie-output"}))
    before = snapshot(out)
    line = one_error_line(invoke("fit", config, "--out", out, "--overwrite", "--no-evaluate",
                                 "--cache-dir", tmp_path / "cache"))
    assert "an input of this run" in line
    assert snapshot(out) == before


@pytest.mark.parametrize("out", [".", "a/b/..", "runs/.."])
def test_dot_outputs_are_refused_at_once(trained, tmp_path: Path, monkeypatch,
                                         out: str) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "a" / "b").mkdir(parents=True)
    (tmp_path / "runs").mkdir()
    cache = tmp_path / "cache"
    line = one_error_line(invoke("fit", trained["config"], "--out", out, "--cache-dir", cache))
    assert "not '.' or '..'" in line
    assert not cache.exists(), "featurized before refusing the output"
    assert sorted(os.listdir(tmp_path)) == ["a", "runs"]


def test_embed_into_an_existing_folder_or_file(trained, tmp_path: Path) -> None:
    args = ["embed", trained["run"], trained["config"], "--cache-dir", trained["cache"]]
    folder = tmp_path / "emb"
    folder.mkdir()
    line = one_error_line(invoke(*args, "--out", folder))
    assert "is a folder" in line
    target = tmp_path / "emb.parquet"
    target.write_bytes(b"earlier")
    assert "pass --overwrite" in one_error_line(invoke(*args, "--out", target))
    assert target.read_bytes() == b"earlier"
    assert invoke(*args, "--out", target, "--overwrite").exit_code == 0
    assert target.read_bytes()[:4] == b"PAR1"
    assert sorted(os.listdir(tmp_path)) == ["emb", "emb.parquet"]


def test_unwritable_parent_is_found_before_any_work(trained, tmp_path: Path,
                                                    monkeypatch) -> None:
    """Simulated (root may write anywhere): the lock file beside the output cannot be
    created. The run stops before featurizing."""
    import cookie.apps.pipeline

    real_open = os.open

    def denied(path, flags, *args, **kwargs):
        if str(path).endswith(".lock"):
            raise PermissionError(errno.EACCES, "Permission denied", str(path))
        return real_open(path, flags, *args, **kwargs)

    def no_work(*args, **kwargs):
        raise AssertionError("featurized before checking the output")

    monkeypatch.setattr(os, "open", denied)
    monkeypatch.setattr(cookie.apps.pipeline, "load_dataset", no_work)
    line = one_error_line(invoke("fit", trained["config"], "--out", tmp_path / "x" / "run",
                                 "--cache-dir", trained["cache"]))
    assert "cannot write here" in line and "Permission denied" in line


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_read_only_parent_is_found_before_any_work(trained, tmp_path: Path) -> None:
    parent = tmp_path / "ro"
    parent.mkdir()
    parent.chmod(0o555)
    try:
        cache = tmp_path / "cache"
        line = one_error_line(invoke("fit", trained["config"], "--out", parent / "run",
                                     "--cache-dir", cache))
        assert "cannot write here" in line
        assert not cache.exists()
    finally:
        parent.chmod(0o755)


def test_full_disk_while_writing_is_one_line_and_nothing_written(trained, tmp_path: Path,
                                                                 monkeypatch) -> None:
    import cookie.apps.pipeline

    def full(frame, path, regions=None):
        Path(path).write_bytes(b"half")  # a partial file, then the disk is full
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(cookie.apps.pipeline, "write_embeddings", full)
    out = tmp_path / "run"
    line = one_error_line(invoke("fit", trained["config"], "--out", out, "--no-evaluate",
                                 "--cache-dir", trained["cache"]))
    assert "no space left on device" in line and "nothing was written" in line
    assert os.listdir(tmp_path) == [".run.checkpoints"]  # the trained epochs, for --resume


def test_cache_dir_file_and_symlink_loops(trained, tmp_path: Path) -> None:
    fit = ["fit", trained["config"], "--no-evaluate"]
    afile = tmp_path / "cache.txt"
    afile.write_text("x")
    line = one_error_line(invoke(*fit, "--out", tmp_path / "r1", "--cache-dir", afile))
    assert "is a file, not a folder" in line
    (tmp_path / "loop1").symlink_to(tmp_path / "loop2")
    (tmp_path / "loop2").symlink_to(tmp_path / "loop1")
    loop = tmp_path / "loop1"
    assert "symlink loop" in one_error_line(invoke(*fit, "--out", tmp_path / "r2",
                                                   "--cache-dir", loop))
    assert "symlink loop" in one_error_line(invoke(*fit, "--out", loop, "--cache-dir",
                                                   trained["cache"]))
    assert "symlink loop" in one_error_line(invoke(*fit, "--out", loop / "run", "--cache-dir",
                                                   trained["cache"]))
    one_error_line(invoke("fit", loop, "--out", tmp_path / "r3"))
    assert sorted(os.listdir(tmp_path)) == ["cache.txt", "loop1", "loop2"]


def test_outputs_follow_the_umask(trained, tmp_path: Path) -> None:
    old = os.umask(0o027)
    try:
        out = tmp_path / "run"
        assert invoke("fit", trained["config"], "--out", out, "--no-evaluate",
                      "--cache-dir", trained["cache"]).exit_code == 0
        emb = tmp_path / "emb.parquet"
        assert invoke("embed", out, trained["config"], "--out", emb, "--cache-dir",
                      trained["cache"]).exit_code == 0
    finally:
        os.umask(old)
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in [out, *out.rglob("*"), emb]}
    assert modes["run"] == 0o750 and modes["model"] == 0o750, modes
    for name in ("run.json", "embeddings.parquet", "model.pt", "config.toml", "emb.parquet"):
        assert modes[name] == 0o640, (name, oct(modes[name]))


def test_stale_staging_of_dead_runs_is_removed(trained, tmp_path: Path) -> None:
    """What a killed run left beside its output goes at the next run into the same place;
    other hidden files are not touched."""
    out = tmp_path / "run"
    stale = [tmp_path / ".run.tmp-4194304-0badc0de", tmp_path / ".run.old-4194304-0badc0de"]
    for path in stale:
        path.mkdir()
        (path / "embeddings.parquet").write_bytes(b"partial")
    (tmp_path / "..run.tmp-4194304-0badc0de.json.tmp-4194304-deadbeef.json").write_text("{")
    keep = [tmp_path / ".run.tmp-notes", tmp_path / ".runner.tmp-4194304-0badc0de"]
    for path in keep:
        path.write_text("mine")
    assert invoke("fit", trained["config"], "--out", out, "--no-evaluate",
                  "--cache-dir", trained["cache"]).exit_code == 0
    assert sorted(os.listdir(tmp_path)) == sorted(["run", *(p.name for p in keep)])


def test_earlier_output_left_aside_by_a_kill_is_put_back(trained, tmp_path: Path) -> None:
    """A run killed between moving the earlier output aside and its own into place leaves
    the earlier one as `.run.old-*`: the next run puts it back instead of removing it."""
    old = tmp_path / ".run.old-4194304-0badc0de"
    old.mkdir()
    (old / MARKER).write_text(json.dumps({"format": "cookie-output"}))
    (old / "run.json").write_text("{}")
    fit = ["fit", trained["config"], "--out", tmp_path / "run", "--no-evaluate",
           "--cache-dir", trained["cache"]]
    assert "pass --overwrite" in one_error_line(invoke(*fit))
    assert sorted(os.listdir(tmp_path)) == ["run"]
    assert (tmp_path / "run" / "run.json").read_text() == "{}"


def test_checkpoint_of_interrupted_run_is_kept_without_resume(trained, tmp_path: Path) -> None:
    ckpt = tmp_path / ".run.checkpoints" / "last.ckpt"
    ckpt.parent.mkdir()
    ckpt.write_bytes(b"an interrupted run's epochs")
    fit = ["fit", trained["config"], "--out", tmp_path / "run", "--no-evaluate",
           "--cache-dir", trained["cache"]]
    line = one_error_line(invoke(*fit))
    assert "--resume" in line and "--overwrite" in line
    assert ckpt.read_bytes() == b"an interrupted run's epochs"
    assert invoke(*fit, "--overwrite").exit_code == 0
    assert sorted(os.listdir(tmp_path)) == ["run"]


def test_experiment_default_output_and_name_outside_out(trained, tmp_path: Path,
                                                        monkeypatch) -> None:
    """`cookie experiment` writes under runs/ by default, keeps a config name with '../'
    inside --out, and replaces its results only with --overwrite."""
    config, cfg = make_dataset(tmp_path / "data", n=12, dims=(3, 2),
                               method={"pretrain_epochs": 0, "epochs": 1})
    cfg["name"] = "../../escape"
    from tests.synthetic import write_config

    write_config(config, cfg)
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    args = ["experiment", "alpha", config, "--seeds", "1", "--cache-dir", tmp_path / "cache"]
    res = invoke(*args)
    assert res.exit_code == 0, res.output
    results = work / "runs" / "experiments"
    assert sorted(p.name for p in results.iterdir()) == ["escape_alpha", "escape_alpha.md",
                                                         "escape_alpha.png"]
    assert sorted(os.listdir(tmp_path)) == ["cache", "data", "work"]
    assert sorted(os.listdir(work)) == ["runs"]
    md = (results / "escape_alpha.md").read_text()
    assert "![alpha](escape_alpha.png)" in md
    assert "pass --overwrite" in one_error_line(invoke(*args))
    assert (results / "escape_alpha.md").read_text() == md
    assert invoke(*args, "--overwrite").exit_code == 0


def test_profile_default_output_is_under_runs(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    args = ["profile", "--max-views", "2", "--n", "8", "--budget", "0.01", "--no-isolate"]
    res = invoke(*args)
    assert res.exit_code == 0, res.output
    folder = tmp_path / "runs" / "profile"
    assert sorted(p.name for p in folder.iterdir()) == ["profile.md", "profile.png"]
    assert "pass --overwrite" in one_error_line(invoke(*args))
    assert invoke(*args, "--overwrite").exit_code == 0
    assert sorted(os.listdir(tmp_path)) == ["runs"]
