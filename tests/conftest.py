"""Shared fixtures: the King County file (the copy shipped in the package) and an isolated cache."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# scikit-learn runs its array-API estimator check only with this set, before SciPy is imported
# (tests/test_sklearn_checks.py: no check may be skipped).
os.environ.setdefault("SCIPY_ARRAY_API", "1")

from nnforge.datasets import PACKAGED_KING_COUNTY  # after the variable above


@pytest.fixture(scope="session")
def kc_path() -> Path:
    """The King County table shipped with the package: every King County test runs everywhere."""
    return PACKAGED_KING_COUNTY


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch):
    """Keep every test's default cache (derive, fetch) out of the user's home."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("xdg-cache")))


@pytest.fixture(scope="session")
def houses_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real (small) run trained once a session: dates, coordinates, a price in USD, 3 folds.

    Tests that add or break files work on a copy (``shutil.copytree``).
    """
    from _runs import train_houses

    return train_houses(tmp_path_factory.mktemp("houses"))
