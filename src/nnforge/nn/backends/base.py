"""The contract every backend implements: train a network's replicas one epoch per call.

A runner wraps one engine :class:`~nnforge.nn.Network` (its description and starting
parameters) and never redefines layers, losses or optimizers. Between calls the network is the
truth: after :meth:`EpochRunner.run_epoch` its ``params`` and its optimizers' ``iterations``
hold the new state, and :meth:`EpochRunner.predict` uses ``net.params`` as they are (so a caller
may restore earlier parameters before predicting).
"""

from __future__ import annotations

import numpy as np

from nnforge.nn.network import Network

__all__ = ["EpochRunner"]


class EpochRunner:
    """Base class of the backends' runners.

    Subclasses implement :meth:`_bind`, :meth:`run_epoch` and :meth:`predict`.

    Parameters
    ----------
    net : Network
        Its layers, loss, optimizers, dtype, replica seeds and current parameters are what the
        backend trains, continuing its optimizer state (iterations and slots).
    """

    name = ""

    def __init__(self, net: Network) -> None:
        self.net = net
        self.batch_size = 0
        self.rows = 0

    def bind(
        self,
        x: np.ndarray,
        y: np.ndarray,
        batch_size: int,
        sample_weight: np.ndarray | None = None,
    ) -> EpochRunner:
        """Set the training rows ``x`` (R, n, n_inputs), ``y`` (R, n, n_outputs) and batch size.

        Replica ``r`` trains only on its own ``x[r]``, ``y[r]``; ``sample_weight`` (R, n) weighs
        each row's loss as ``Network.train_step`` does (zeros pad replicas with fewer rows).
        Returns ``self``.
        """
        R = self.net.replicas
        if x.ndim != 3 or y.ndim != 3 or x.shape[0] != R or y.shape[:2] != x.shape[:2]:
            msg = (
                f"`x` and `y` must be (R={R}, n, features) with the same n. "
                f"Received: x.shape={x.shape}, y.shape={y.shape}"
            )
            raise ValueError(msg)
        if sample_weight is not None:
            sample_weight = np.asarray(sample_weight, self.net.dtype)
            if sample_weight.shape != x.shape[:2] or (sample_weight < 0).any():
                msg = (
                    f"`sample_weight` must be non-negative, of shape {x.shape[:2]}. "
                    f"Received: shape {sample_weight.shape}"
                )
                raise ValueError(msg)
        self.batch_size = int(batch_size)
        self.rows = x.shape[1]
        self._bind(x, y, sample_weight)
        return self

    def _bind(self, x: np.ndarray, y: np.ndarray, sample_weight: np.ndarray | None) -> None:
        raise NotImplementedError

    def run_epoch(self, order: np.ndarray) -> np.ndarray:
        """Train one epoch; returns each replica's mean training loss, (R,) float64.

        ``order`` (R, N) gives, per replica, the rows of its own table in the order they are
        visited: batches are ``order[:, i:i + batch_size]`` (the last one may be shorter), and
        every replica steps once per batch.
        """
        raise NotImplementedError

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Inference outputs (R, n, n_outputs) from the current ``net.params``; ``x`` is
        (R, n, n_inputs) or (n, n_inputs) (the same rows for every replica)."""
        raise NotImplementedError

    def _steps(self, rows: int) -> list[int]:
        """The batch sizes of an epoch over ``rows`` rows."""
        b = self.batch_size
        return [min(b, rows - start) for start in range(0, rows, b)]
