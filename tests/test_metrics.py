import numpy as np
import pytest

from nnforge.metrics import mean_absolute_error, mean_squared_error, r2_score


@pytest.fixture
def data():
    rng = np.random.default_rng(0)
    y = rng.normal(size=(3, 40, 2))
    return y, y + rng.normal(scale=0.3, size=y.shape)


def _r2(t, p):
    return np.mean(1 - ((t - p) ** 2).sum(0) / ((t - t.mean(0)) ** 2).sum(0))


def test_per_replica_values_match_formulas(data):
    y, p = data
    r2 = r2_score(y, p)
    assert r2.shape == (3,)
    np.testing.assert_allclose(r2, [_r2(y[r], p[r]) for r in range(3)], rtol=1e-12)
    np.testing.assert_allclose(mean_squared_error(y, p), ((y - p) ** 2).mean(axis=(1, 2)))
    np.testing.assert_allclose(mean_absolute_error(y, p), np.abs(y - p).mean(axis=(1, 2)))


def test_2d_and_1d_inputs_give_floats(data):
    y, p = data
    assert r2_score(y[0], p[0]).shape == ()  # always an array: () per model, (R,) per replica
    assert r2_score(y[0], p[0]) == pytest.approx(_r2(y[0], p[0]))
    assert mean_absolute_error([1.0, 2.0], [2.0, 4.0]) == pytest.approx(1.5)
    assert r2_score([1.0, 2.0, 3.0], [1.0, 2.0, 3.0]) == 1.0


def test_zero_weights_exclude_padding_rows(data):
    y, p = data
    w = np.ones((3, 40))
    w[1, 30:] = 0
    np.testing.assert_allclose(r2_score(y, p, w)[1], _r2(y[1, :30], p[1, :30]), rtol=1e-12)
    np.testing.assert_allclose(mean_absolute_error(y, p, w)[1], np.abs(y - p)[1, :30].mean())
    np.testing.assert_allclose(r2_score(y, p, w)[0], r2_score(y, p)[0])


def test_constant_target_and_errors():
    assert r2_score([2.0, 2.0], [2.0, 2.0]) == 1.0
    assert r2_score([2.0, 2.0], [1.0, 2.0]) == 0.0
    with pytest.raises(ValueError, match="same shape"):
        r2_score(np.zeros((3, 1)), np.zeros((4, 1)))
    with pytest.raises(ValueError, match="`sample_weight` must have shape"):
        r2_score(np.zeros((2, 3, 1)), np.zeros((2, 3, 1)), np.ones((3, 3)))


# -- classification ----------------------------------------------------------------------------

PROBA = np.array([[0.7, 0.2, 0.1], [0.1, 0.6, 0.3], [0.2, 0.2, 0.6], [0.5, 0.4, 0.1]])
TRUE = np.array([0, 1, 1, 1])  # predicted: 0, 1, 2, 0


def test_accuracy_confusion_and_balanced_accuracy_by_hand():
    from nnforge.metrics import accuracy_score, balanced_accuracy_score, confusion_matrix

    assert accuracy_score(TRUE, PROBA) == 0.5
    np.testing.assert_array_equal(confusion_matrix(TRUE, PROBA), [[1, 0, 0], [1, 1, 1], [0, 0, 0]])
    # recall of class 0 is 1, of class 1 is 1/3; class 2 never occurs and is left out
    assert balanced_accuracy_score(TRUE, PROBA) == pytest.approx((1 + 1 / 3) / 2)
    assert accuracy_score(np.eye(3)[TRUE], PROBA) == 0.5  # one-hot truth works the same


def test_precision_recall_per_class():
    from nnforge.metrics import precision_recall

    precision, recall = precision_recall(TRUE, PROBA)
    np.testing.assert_allclose(precision, [0.5, 1.0, 0.0])
    np.testing.assert_allclose(recall[:2], [1.0, 1 / 3])
    assert np.isnan(recall[2])


def test_log_loss_by_hand():
    from nnforge.metrics import log_loss

    expected = -np.mean(np.log([0.7, 0.6, 0.2, 0.4]))
    assert log_loss(TRUE, PROBA) == pytest.approx(expected)
    assert np.isfinite(log_loss([0], [[0.0, 1.0]]))  # clipped, never infinite


def test_roc_auc_counts_pairs_and_ties_half():
    from nnforge.metrics import roc_auc_score

    p1 = np.array([0.1, 0.4, 0.35, 0.8, 0.4])
    y = np.array([0, 0, 1, 1, 1])
    proba = np.stack([1 - p1, p1], axis=1)
    # positives 0.35, 0.8, 0.4 against negatives 0.1, 0.4: pairs won 1+0+1+1+1 + tie 0.5 = 4.5/6
    assert roc_auc_score(y, proba) == pytest.approx(4.5 / 6)
    assert np.isnan(roc_auc_score(np.zeros(5, dtype=int), proba))


def test_scores_by_task():
    from nnforge.metrics import scores

    assert set(scores("classification", TRUE, PROBA)) == {
        "accuracy",
        "balanced_accuracy",
        "log_loss",
    }
    binary = scores("classification", [0, 1], [[0.9, 0.1], [0.2, 0.8]])
    assert binary["roc_auc"] == 1.0
    assert set(scores("regression", [1.0, 2.0], [1.0, 2.5])) == {"r2", "mae"}
