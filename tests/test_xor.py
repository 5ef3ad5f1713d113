import numpy as np
import pytest

from nnforge.cli import main
from nnforge.demos import XOR_Y, train_xor, xor_surface


@pytest.fixture(scope="module")
def ten_seeds():
    # Ten seeds as ten replicas of one network: replica r is seeded like Network(seed=r).
    return train_xor(epochs=1000, replicas=10, seed=list(range(10)))


def test_xor_converges_for_at_least_9_of_10_seeds(ten_seeds):
    assert ten_seeds.mse.shape == (10,)
    assert (ten_seeds.mse < 0.01).sum() >= 9
    good = ten_seeds.mse < 0.01
    np.testing.assert_array_equal(
        np.round(ten_seeds.predictions[good]), np.broadcast_to(XOR_Y, (good.sum(), 4, 1))
    )


def test_replicas_equal_separate_runs(ten_seeds):
    alone = train_xor(epochs=1000, seed=[3])
    np.testing.assert_allclose(alone.predictions[0], ten_seeds.predictions[3], rtol=1e-10)
    np.testing.assert_allclose(alone.loss_history[:, 0], ten_seeds.loss_history[:, 3], rtol=1e-10)


def test_history_decreases_and_surface_shape(ten_seeds):
    history = ten_seeds.loss_history
    assert history.shape == (1000, 10)
    assert (history[-1] < history[0]).all()
    a, b, z = xor_surface(ten_seeds.network, resolution=11)
    assert a.shape == b.shape == (11, 11)
    assert z.shape == (10, 11, 11)
    # "xy" layout: z[:, j, i] at (a = axis[i], b = axis[j]); the XOR case (0, 1) is i=0, j=10.
    assert (a[10, 0], b[10, 0]) == (0.0, 1.0)
    np.testing.assert_allclose(z[:, 10, 0], ten_seeds.predictions[:, 1, 0], rtol=1e-12)


def test_decay_and_dropout_options():
    decayed = train_xor(epochs=20, decay=0.5, batch_size=1)
    np.testing.assert_allclose(decayed.learning_rates[:3], [0.5, 0.5 / 1.5, 0.5 / 2.0])
    dropped = train_xor(epochs=20, dropout=0.5, seed=1)
    assert dropped.network.layers[1].dropout == 0.5
    with pytest.raises(ValueError, match="`batch_size` must be 1, 2 or 4"):
        train_xor(batch_size=3)


def test_cli_prints_losses_and_predictions(capsys):
    assert main(["xor", "--epochs", "300", "--every", "100", "--seed", "0"]) == 0
    out = capsys.readouterr().out
    assert "epoch    100  loss" in out
    assert "epoch    300  loss" in out
    assert "1 xor 1 = 0   predicted" in out
    assert "final MSE" in out
    with pytest.raises(SystemExit) as exit_info:  # argparse, like every positive-int option
        main(["xor", "--every", "0"])
    assert exit_info.value.code == 2
    assert "argument --every: must be a positive integer" in capsys.readouterr().err
