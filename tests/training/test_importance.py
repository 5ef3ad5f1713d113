"""Permutation importance: ranks, grouping by source column, folds as replicas."""

from __future__ import annotations

import numpy as np
import pytest
from training_problem import make_frame, make_model

from nnforge.inspection import (
    held_out_arrays,
    permutation_importance,
    permutation_importance_arrays,
    run_importance,
)
from nnforge.nn import Dense, Network
from nnforge.training import Run, train


def _linear_net(weights: list[float], replicas: int = 2) -> Network:
    net = Network(len(weights), [Dense(1)], replicas=replicas, dtype="float64", seed=0)
    net.layers[0].kernel[:] = np.array(weights)[None, :, None]
    net.layers[0].bias[:] = 0.0
    return net


def test_exact_model_importance_follows_the_weights():
    rng = np.random.default_rng(0)
    xs = [rng.normal(size=(500, 3)) for _ in range(2)]
    net = _linear_net([3.0, 1.0, 0.0])
    ys = [x @ np.array([[3.0], [1.0], [0.0]]) for x in xs]
    mean, std = permutation_importance_arrays(
        net, xs, ys, [lambda y: y] * 2, [[0], [1], [2]], n_shuffles=5
    )
    assert mean[0] > mean[1] > 0
    assert mean[2] == pytest.approx(0.0, abs=1e-12)  # a zero weight: shuffling changes nothing
    # Shuffling an independent feature with weight w adds 2 w² var(x) to the error: R² drops
    # by about 2 w² / sum(w²), i.e. 1.8 and 0.2 here.
    assert mean[0] == pytest.approx(1.8, rel=0.15)
    assert mean[1] == pytest.approx(0.2, rel=0.15)
    assert std.shape == (3,)


@pytest.mark.parametrize("metric", ["r2", "mae"])
def test_threads_split_the_replicas_without_changing_a_bit(metric):
    """Each thread scores a share of the folds; the draws and the rounding do not depend on it."""
    rng = np.random.default_rng(2)
    xs = [rng.normal(size=(n, 34)).astype(np.float32) for n in (300, 280, 310, 295, 290)]
    net = Network(34, [Dense(35, "relu"), Dense(35, "relu"), Dense(1)], replicas=5, seed=3)
    ys = [x[:, :1] ** 2 + x[:, 1:2] for x in xs]
    shares = [
        permutation_importance_arrays(
            net, xs, ys, [np.exp] * 5, [[0], [1, 2], [3]], n_shuffles=3, n_jobs=jobs, metric=metric
        )
        for jobs in (1, 2, 3, 5, 8)
    ]
    for mean, std in shares[1:]:
        np.testing.assert_array_equal(mean, shares[0][0])
        np.testing.assert_array_equal(std, shares[0][1])
    assert np.all(shares[0][0][:2] != 0)  # the informative columns were really shuffled


def test_group_shuffles_columns_together_and_relative_sums_to_100():
    rng = np.random.default_rng(1)
    xs = [rng.normal(size=(400, 3))]
    net = _linear_net([2.0, 2.0, 0.5], replicas=1)
    ys = [x @ np.array([[2.0], [2.0], [0.5]]) for x in xs]
    features, groups = permutation_importance(
        net,
        xs,
        ys,
        [lambda y: y],
        ["a", "a_squared", "b"],
        {"a": "a", "a_squared": "a", "b": "b"},
        n_shuffles=4,
    )
    assert features["feature"].to_list()[-1] == "b"
    assert features.filter(features["feature"] == "a_squared")["group"].item() == "a"
    assert groups["feature"].to_list() == ["a", "b"]
    assert groups["relative"].sum() == pytest.approx(100.0)
    # The group drop exceeds each member's alone (both columns are shuffled at once).
    a_alone = features.filter(features["feature"] == "a")["importance"].item()
    assert groups["importance"][0] > 1.5 * a_alone


def test_run_importance_ranks_informative_first_and_noise_last(tmp_path):
    model = make_model(epochs=40)
    frame = make_frame(900)
    train(model, frame, out_dir=tmp_path / "run", workers=1, progress=False)
    # each fold is scored on its own held-out rows only, in original units
    xs, ys = held_out_arrays(Run.load(tmp_path / "run"))
    assert [len(x) for x in xs] == [300, 300, 300]
    assert sorted(np.concatenate(ys).ravel()) == pytest.approx(sorted(frame["price"]))
    features, groups = run_importance(tmp_path / "run", n_shuffles=3)
    assert features["feature"][0] == "x1"
    assert features["feature"][-1] == "noise"
    assert groups["feature"].to_list() == ["x1", "x2", "noise"]
    assert set(features.filter(features["group"] == "x2")["feature"]) == {"x2", "x2_squared"}
    noise = groups.filter(groups["feature"] == "noise")
    assert abs(noise["importance"].item()) < 0.01
