"""Shared test set-up: every env built in the tests reads the small fixtures shipped in
tests/data/benchmarks (upstream rows of GSM8K, MATH and MATH-500; see its README.md).

The caller's HACRL_DATA_DIR, if set, is remembered as the folder with the FULL data sets
(gsm8k/, math/, math500/, verifier-cases/); tests of full-data facts take it from the
`full_data_dir` fixture, carry the `full_data` marker and skip without it:

    HACRL_DATA_DIR=/path/to/data python -m pytest -q -m full_data

Either way HACRL_DATA_DIR is pointed at the fixtures for the session, so the rest of the suite
behaves the same whether or not the caller set it. Nothing here looks outside the repository.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

FIXTURE_DATA = Path(__file__).resolve().parent / "data" / "benchmarks"

_CALLER_DATA_DIR = os.environ.get("HACRL_DATA_DIR")
#: The full data sets, from the caller's HACRL_DATA_DIR (None when unset or empty).
FULL_DATA: Path | None = Path(_CALLER_DATA_DIR).expanduser().resolve() if _CALLER_DATA_DIR else None

NO_FULL_DATA = ("needs the full data sets: set "
                "HACRL_DATA_DIR=<folder with gsm8k/, math/, math500/, verifier-cases/>")

# At import, before any test module is collected: modules that build envs at import time see the
# fixtures too.
os.environ["HACRL_DATA_DIR"] = str(FIXTURE_DATA)


def pytest_unconfigure(config):
    if _CALLER_DATA_DIR is None:
        os.environ.pop("HACRL_DATA_DIR", None)
    else:
        os.environ["HACRL_DATA_DIR"] = _CALLER_DATA_DIR


@pytest.fixture(scope="session")
def fixture_data_dir() -> Path:
    """The small shipped fixtures (what HACRL_DATA_DIR points at during the tests)."""
    return FIXTURE_DATA


@pytest.fixture(scope="session")
def full_data_dir() -> Path:
    """The full data folder from the caller's HACRL_DATA_DIR, or a skip when it is unset. A
    value that is not a folder is an error, not a skip: a typo must not hide the tests."""
    if FULL_DATA is None:
        pytest.skip(NO_FULL_DATA)
    if not FULL_DATA.is_dir():
        pytest.fail(f"HACRL_DATA_DIR={_CALLER_DATA_DIR!r} is not a directory; point it at the folder "
                    "with gsm8k/, math/, math500/, verifier-cases/ (or unset it)", pytrace=False)
    return FULL_DATA


@pytest.fixture(scope="session")
def full_data_file(full_data_dir: Path):
    """A function: `rel` inside the full data folder, or a skip naming the file when that folder
    lacks it (e.g. a HACRL_DATA_DIR set up for training, with no verifier-cases/)."""
    def get(rel: str) -> Path:
        path = full_data_dir / rel
        if not path.is_file():
            pytest.skip(f"needs {rel} in the full data folder: {path} not found (HACRL_DATA_DIR)")
        return path
    return get


@pytest.fixture(scope="session")
def public_cases_file(full_data_file) -> Path:
    """The public math-verify cases: read from the full data folder, never copied into the repo
    (their README forbids it)."""
    return full_data_file("verifier-cases/cases.jsonl")


def pytest_collection_modifyitems(config, items):
    """A test that reads the full data must carry the `full_data` marker, so that
    `-m full_data` selects all of them and `-m "not full_data"` none."""
    unmarked = [item.nodeid for item in items
                if "full_data_dir" in getattr(item, "fixturenames", ())
                and item.get_closest_marker("full_data") is None]
    if unmarked:
        raise pytest.UsageError("tests use full_data_dir without @pytest.mark.full_data: "
                                + ", ".join(unmarked))
