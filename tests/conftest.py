"""Fixtures shared by every test folder."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SHARED_DATA = REPO.parent / "shared" / "data"


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    """A fresh data directory for one test."""
    d = tmp_path / "data"
    d.mkdir()
    return d


@pytest.fixture
def shared_data() -> Path:
    """``../shared/data`` beside the checkout (real test data); skips if absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared test data not found at {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture(autouse=True)
def _isolate_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """No test reads the user's real Symphony home or default port."""
    monkeypatch.setenv("SYMPHONY_HOME", str(tmp_path / "symphony-home"))
    monkeypatch.delenv("SYMPHONY_PORT", raising=False)
    monkeypatch.setenv("THESPLOG_FILE", str(tmp_path / "thespian.log"))
    yield
