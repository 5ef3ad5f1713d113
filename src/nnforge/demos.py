"""The seed's first experiment, learning XOR, as pure functions; the packaged example specs.

``train_xor`` returns everything a caller needs: the loss history to print or plot, the final
predictions and the trained network, which :func:`xor_surface` evaluates over ``[0, 1]^2`` for
the seed's prediction-surface figures.

Setup (seed, section 1): a 2-3-1 network with ``tanh`` on both layers, weights and biases drawn
from ``U[-1, 1)``, MSE loss and plain SGD on the four cases of the truth table. Each epoch is one
full-batch step on the four cases (``batch_size=4``); ``batch_size=1`` gives the per-sample
updates of the tutorial the seed followed. With the defaults (1000 epochs, learning rate 0.5)
about 97% of seeds reach MSE < 0.01; the rest stall in a local minimum, as in the seed's
Figure 3.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from nnforge._validation import check_scalar
from nnforge.nn import SGD, Dense, InverseTimeDecay, Network

__all__ = ["EXAMPLES", "XOR_X", "XOR_Y", "XorResult", "example_spec", "train_xor", "xor_surface"]

# The model specs shipped in the package (``nnforge demo NAME`` runs them on the packaged data),
# written by examples/king_county/model_specs.py.
EXAMPLES = {
    "king-county": "king_county.json",  # tuned: Adam, inverse time decay, L2, clipping
    "king-county-seed": "king_county_seed.json",  # the seed's final model, option for option
}
_EXAMPLES_DIR = Path(__file__).resolve().parent / "examples"

XOR_X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float64)
XOR_Y = np.array([[0], [1], [1], [0]], dtype=np.float64)


@dataclass
class XorResult:
    """What :func:`train_xor` learned.

    Attributes
    ----------
    network : Network
        The trained network (``R`` replicas, one per seed).
    loss_history : ndarray of shape (epochs, R)
        Mean training loss of each epoch, per replica (with dropout, if on).
    predictions : ndarray of shape (R, 4, 1)
        Inference outputs on ``XOR_X`` after training.
    mse : ndarray of shape (R,)
        Final inference MSE on the four cases.
    learning_rates : ndarray of shape (epochs,)
        Learning rate used by each epoch's first update.
    """

    network: Network
    loss_history: np.ndarray
    predictions: np.ndarray
    mse: np.ndarray
    learning_rates: np.ndarray


def build_xor_network(
    *,
    learning_rate: float = 0.5,
    decay: float = 0.0,
    dropout: float = 0.0,
    steps_per_epoch: int = 1,
    replicas: int = 1,
    seed: object = 0,
    dtype: str = "float64",
) -> Network:
    """The seed's 2-3-1 tanh network; ``dropout`` acts on the hidden layer's output."""
    init = "signed_uniform"
    rate: object = learning_rate
    if decay:
        rate = InverseTimeDecay(learning_rate, decay_steps=steps_per_epoch, decay_rate=decay)
    layers = [
        Dense(3, "tanh", kernel_initializer=init, bias_initializer=init),
        Dense(1, "tanh", kernel_initializer=init, bias_initializer=init, dropout=dropout),
    ]
    return Network(
        2, layers, loss="mse", optimizer=SGD(rate), replicas=replicas, dtype=dtype, seed=seed
    )


def train_xor(
    *,
    epochs: int = 1000,
    learning_rate: float = 0.5,
    decay: float = 0.0,
    dropout: float = 0.0,
    batch_size: int = 4,
    replicas: int = 1,
    seed: object = 0,
    dtype: str = "float64",
    callback: Callable[[int, np.ndarray], None] | None = None,
) -> XorResult:
    """Train the seed's XOR network and return its history and predictions.

    Parameters
    ----------
    epochs : int, default=1000
    learning_rate : float, default=0.5
    decay : float, default=0.0
        Inverse time decay per epoch: ``lr_e = learning_rate / (1 + decay * e)``.
    dropout : float, default=0.0
        Dropout rate on the hidden activations (the seed's 1.b shows it hurts here).
    batch_size : {1, 2, 4}, default=4
        Cases per update; the four cases are visited in truth-table order.
    replicas : int, default=1
        Train this many independently seeded networks at once (see :class:`Network` seeds).
    seed : int or sequence, default=0
    dtype : {"float64", "float32"}, default="float64"
    callback : callable, optional
        Called as ``callback(epoch, losses)`` after every epoch (1-based epoch, (R,) losses).
    """
    check_scalar(epochs, "epochs", integer=True, min_val=1)
    if batch_size not in (1, 2, 4):
        msg = f"`batch_size` must be 1, 2 or 4. Received: batch_size={batch_size!r}"
        raise ValueError(msg)
    check_scalar(learning_rate, "learning_rate", min_val=0.0, include_min=False)
    steps = 4 // batch_size
    net = build_xor_network(
        learning_rate=learning_rate,
        decay=decay,
        dropout=dropout,
        steps_per_epoch=steps,
        replicas=replicas,
        seed=seed,
        dtype=dtype,
    )
    R = net.replicas
    x = np.broadcast_to(XOR_X.astype(net.dtype), (R, 4, 2))
    y = np.broadcast_to(XOR_Y.astype(net.dtype), (R, 4, 1))
    history = np.empty((epochs, R))
    rates = np.empty(epochs)
    schedule = net.optimizers[0].learning_rate
    for epoch in range(epochs):
        rates[epoch] = schedule(net.optimizers[0].iterations)
        total = np.zeros(R)
        for start in range(0, 4, batch_size):
            stop = start + batch_size
            total += net.train_step(x[:, start:stop], y[:, start:stop]) * batch_size
        history[epoch] = total / 4
        if callback is not None:
            callback(epoch + 1, history[epoch])
    predictions = net.predict(XOR_X)
    mse = ((predictions - XOR_Y) ** 2).mean(axis=(1, 2))
    return XorResult(net, history, predictions, mse, rates)


def xor_surface(
    network: Network, resolution: int = 50
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Evaluate ``network`` on a ``resolution x resolution`` grid over ``[0, 1]^2``.

    Returns ``(a, b, z)``: the grid coordinates, each ``(resolution, resolution)``, and the
    predictions ``z`` of shape ``(R, resolution, resolution)``, in matplotlib's (and
    ``np.meshgrid``'s default) ``"xy"`` layout: ``z[r, j, i]`` is at ``(a[j, i], b[j, i])``,
    ``a`` varies along columns. ``plots.xor_surface(a, b, z[r])`` draws replica ``r``.
    """
    if isinstance(resolution, bool) or not isinstance(resolution, int) or resolution < 2:
        msg = f"`resolution` must be an integer >= 2. Received: resolution={resolution!r}"
        raise ValueError(msg)
    axis = np.linspace(0.0, 1.0, resolution)
    a, b = np.meshgrid(axis, axis)
    grid = np.column_stack([a.ravel(), b.ravel()])
    z = network.predict(grid)[..., 0].reshape(network.replicas, resolution, resolution)
    return a, b, z


def example_spec(name: str) -> Path:
    """The packaged model spec ``name`` (a key of :data:`EXAMPLES`), as a JSON file path.

    Examples
    --------
    >>> from nnforge.model import Model
    >>> Model.from_json_file(example_spec("king-county")).epochs
    500
    """
    if name not in EXAMPLES:
        msg = f"unknown example `{name}`; choose one of {sorted(EXAMPLES)}. Received: {name!r}"
        raise ValueError(msg)
    return _EXAMPLES_DIR / EXAMPLES[name]
