"""Shared fixtures: the real datasets in ../shared/data (skipped with a reason when absent)."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
BENCH = ROOT / "benchmarks"


def shared_dataset(name: str) -> Path:
    """The folder of real dataset ``name`` in ../shared/data; the one way a test that needs it
    is skipped when it is absent (call it first in the test or its fixture)."""
    path = SHARED / name
    if not path.is_dir():
        pytest.skip(f"real dataset {path} not present (it lives in ../shared/data beside the "
                    "repository; CI has it)")
    return path


@pytest.fixture(scope="session")
def manhattan_config() -> Path:
    shared_dataset("manhattan180")
    return BENCH / "manhattan180" / "manhattan180.toml"
