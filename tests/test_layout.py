"""The layout keeps the data flow one-directional (README, "Code layout"): no module outside
`apps/` and `cli.py` imports from `apps/`, imports run from later steps to earlier ones only
(the two documented exceptions aside), and the README's layout table names every module."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src" / "cookie"
#: the order of the data flow: a module may import from its own rank or a lower one
RANK = {"constants": 0, "errors": 0, "io": 0, "config": 1, "sources": 2, "features": 3,
        "dataset": 4, "nn": 5, "losses": 5, "methods": 6, "training": 7, "evaluation": 8,
        "apps": 9, "cli": 10, "__init__": 11}
#: the documented exceptions (README): torch-free method names; the table checks of readers
EXCEPTIONS = {("config.py", "cookie.methods.registry"),
              ("io/outputs.py", "cookie.sources.readers")}


def imports() -> list[tuple[str, str]]:
    out = []
    for path in sorted(SRC.rglob("*.py")):
        rel = path.relative_to(SRC).as_posix()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            else:
                continue
            out += [(rel, n) for n in names if n.startswith("cookie.")]
    return out


def test_only_apps_and_the_cli_import_apps() -> None:
    bad = [(m, n) for m, n in imports() if n.startswith("cookie.apps")
           and not (m.startswith("apps/") or m == "cli.py")]
    assert bad == []


def test_no_import_runs_up_the_data_flow() -> None:
    def rank(part: str) -> int:
        return RANK[part.removesuffix(".py")]

    up = [(m, n) for m, n in imports()
          if rank(n.split(".")[1]) > rank(m.split("/")[0]) and (m, n) not in EXCEPTIONS]
    assert up == []
    assert set(RANK) >= {p.name.removesuffix(".py") for p in SRC.iterdir()
                         if p.suffix == ".py" or (p.is_dir() and p.name != "__pycache__")}


def test_the_readme_layout_names_every_module() -> None:
    text = (ROOT / "README.md").read_text()
    after = text[text.index("Code layout (`src/cookie/`)"):].splitlines()
    table = "\n".join(line for line in after if line.startswith("| "))
    named = set(re.findall(r"`(?:[a-z_]+/)?([a-z_]+\.py)`", table))
    modules = {p.name for p in SRC.rglob("*.py") if p.name != "__init__.py"}
    assert modules - named == set(), "modules the README's layout does not name"
    assert named - modules - {"__init__.py"} == set(), "the README names modules that are gone"
