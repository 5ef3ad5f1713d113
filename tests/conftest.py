"""Shared fixtures: the King County file when present, and an isolated user cache."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

KC_FILE = "kc_house_data.csv"
# scikit-learn runs its array-API estimator check only with this set, before SciPy is imported
# (tests/test_sklearn_checks.py: no check may be skipped).
os.environ.setdefault("SCIPY_ARRAY_API", "1")


def _find_kc() -> Path | None:
    env = os.environ.get("NNFORGE_DATA_DIR")
    candidates = [Path(env) / KC_FILE] if env else []
    # The shared folder next to the repository (what the Makefile/CI point NNFORGE_DATA_DIR at).
    candidates.append(Path(__file__).resolve().parents[2] / "shared" / "datasets" / KC_FILE)
    return next((p for p in candidates if p.is_file()), None)


@pytest.fixture(scope="session")
def kc_path() -> Path:
    """The King County CSV; skips only when it truly is not available."""
    path = _find_kc()
    if path is None:
        pytest.skip(
            f"{KC_FILE} not found: set NNFORGE_DATA_DIR to the folder holding it "
            "(the Makefile and CI use ../shared/datasets)"
        )
    return path


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch):
    """Keep every test's default cache (derive, fetch) out of the user's home."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("xdg-cache")))
