"""Stratified folds keep every class's share in every fold; the same seed gives the same folds."""

from __future__ import annotations

import numpy as np
import pytest

from nnforge.training.splits import stratified_folds, stratified_holdout


def test_stratified_folds_partition_rows_and_keep_class_shares():
    classes = np.repeat([0, 1, 2], [50, 37, 7])
    folds = stratified_folds(classes, 5, np.random.default_rng(0))
    together = np.sort(np.concatenate(folds))
    np.testing.assert_array_equal(together, np.arange(len(classes)))
    sizes = [len(f) for f in folds]
    assert max(sizes) - min(sizes) <= 1
    for c, n in zip([0, 1, 2], [50, 37, 7], strict=True):
        counts = [int((classes[f] == c).sum()) for f in folds]
        assert set(counts) <= {n // 5, n // 5 + 1}, (c, counts)


def test_stratified_folds_same_seed_same_folds():
    classes = np.random.default_rng(1).integers(0, 3, 200)
    a = stratified_folds(classes, 4, np.random.default_rng(7))
    b = stratified_folds(classes, 4, np.random.default_rng(7))
    c = stratified_folds(classes, 4, np.random.default_rng(8))
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
    assert not all(np.array_equal(x, y) for x, y in zip(a, c, strict=True))


def test_stratified_holdout_takes_the_fraction_of_each_class():
    classes = np.repeat([0, 1], [90, 10])
    held, rest = stratified_holdout(classes, 0.2, np.random.default_rng(0))
    assert int((classes[held] == 0).sum()) == 18
    assert int((classes[held] == 1).sum()) == 2
    np.testing.assert_array_equal(np.sort(np.concatenate([held, rest])), np.arange(100))


def test_too_few_rows_for_k_folds():
    with pytest.raises(ValueError, match="at least 5 rows"):
        stratified_folds(np.array([0, 1, 0]), 5, np.random.default_rng(0))
