"""Shared test set-up: point the env data loaders at the offline copy in <repo>/../shared/data."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture(autouse=True, scope="session")
def hacrl_data_dir():
    """Set HACRL_DATA_DIR for the session unless the caller already set it."""
    if os.environ.get("HACRL_DATA_DIR"):
        yield Path(os.environ["HACRL_DATA_DIR"])
        return
    os.environ["HACRL_DATA_DIR"] = str(SHARED_DATA)
    yield SHARED_DATA
    os.environ.pop("HACRL_DATA_DIR", None)
