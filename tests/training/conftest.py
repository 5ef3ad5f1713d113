"""Fixtures of the training tests (the problem itself is in ``training_problem``)."""

from __future__ import annotations

import polars as pl
import pytest
from training_problem import make_frame, make_model

from nnforge.model import Model


@pytest.fixture
def frame() -> pl.DataFrame:
    return make_frame()


@pytest.fixture
def model() -> Model:
    return make_model()
