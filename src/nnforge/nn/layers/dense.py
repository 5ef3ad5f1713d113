"""The fully connected layer ``Y = f(X @ W + b)``, with per-layer inverted dropout on its input.

Shapes carry the replica axis ``R``: ``X (R, B, n_in)``, ``W (R, n_in, units)``,
``b (R, 1, units)``, ``Y (R, B, units)``.

The bias rides in the matrix product. The layer's parameters are one array ``weights`` of shape
``(R, n_in + 1, units)``, the kernel stacked on the bias (``kernel`` and ``bias`` are views of
it), and the engine multiplies an *augmented* input ``X~ = [X, 1]`` whose last column is ones::

    Z = X~ @ [W; b] = X @ W + b        d[W; b] = X~^T @ dZ        dX = dZ @ W^T

so the forward pass is one GEMM, and one GEMM gives both the kernel and the bias gradient. A
network keeps each layer's activations in augmented buffers, so layer ``i`` writes
``f(Z)`` straight into the input of layer ``i + 1`` (see :meth:`Dense.forward`).
Element-wise work always runs over whole contiguous buffers: a strided ``[..., :units]`` view
would cost NumPy several times more.

Backward pass, with ``dZ = f'(Z) * dY`` computed from the output ``A = f(Z)``; every buffer is
reused from one batch to the next.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from nnforge._validation import check_scalar
from nnforge.nn import activations, initializers, optimizers

__all__ = ["Dense", "augmented"]

_LINEAR = activations.Linear()


def augmented(replicas: int, rows: int, width: int, dtype: Any) -> np.ndarray:
    """A zeroed ``(replicas, rows, width + 1)`` buffer whose last column is ones."""
    buf = np.zeros((replicas, rows, width + 1), dtype)
    buf[..., width] = 1
    return buf


class _DropoutBuffers:
    """Dropout's buffers for one batch size ``B`` (allocated once, reused every call): the
    dropped input and the mask, both augmented (ones in the last column), and the draws."""

    def __init__(self, replicas: int, batch: int, n_in: int, dtype: Any) -> None:
        self.dropped = augmented(replicas, batch, n_in, dtype)
        self.mask = augmented(replicas, batch, n_in, dtype)
        # Draws are float64 whatever the dtype: float32 and float64 networks with one seed
        # then drop exactly the same inputs.
        self.noise = np.empty((replicas, batch, n_in), np.float64)
        self.keep = np.empty((replicas, batch, n_in), bool)


class Dense:
    """A fully connected layer.

    Parameters
    ----------
    units : int
        Number of outputs.
    activation : str, dict or Activation, default="linear"
        One of ``"linear"``, ``"tanh"``, ``"relu"``, ``"sigmoid"``, ``"softmax"``.
    kernel_initializer : str, dict or Initializer, default="glorot_uniform"
    bias_initializer : str, dict or Initializer, default="zeros"
    dropout : float, default=0.0
        Inverted dropout on the layer's *input*: in training each input feature is zeroed with
        probability ``dropout`` and the survivors are scaled by ``1 / (1 - dropout)``, so nothing
        changes at inference. Masks are drawn per replica from that replica's generator.
    optimizer : str, dict, Optimizer or None, default=None
        This layer's optimizer; ``None`` uses the network's. Layers with equal optimizer
        configurations share one optimizer and one flat segment.

    Attributes
    ----------
    weights : ndarray of shape (R, n_in + 1, units)
        The kernel stacked on the bias: a view into the network's parameter buffer (``None``
        until the network builds the layer).
    kernel, bias : ndarray of shape (R, n_in, units) and (R, 1, units)
        Views of ``weights``.
    weights_grad, kernel_grad, bias_grad : ndarray
        The same views into the network's gradient buffer, overwritten by every ``backward``.
    """

    def __init__(
        self,
        units: int,
        activation: Any = "linear",
        *,
        kernel_initializer: Any = "glorot_uniform",
        bias_initializer: Any = "zeros",
        dropout: float = 0.0,
        optimizer: Any = None,
    ) -> None:
        self.units = check_scalar(units, "units", integer=True, min_val=1)
        self.activation = activations.get(activation)
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.dropout = check_scalar(dropout, "dropout", min_val=0.0, max_val=1.0)
        if self.dropout >= 1.0:
            msg = f"`dropout` must be in [0, 1). Received: dropout={dropout!r}"
            raise ValueError(msg)
        self.optimizer = None if optimizer is None else optimizers.get(optimizer)
        self.n_inputs: int | None = None
        self.weights: np.ndarray | None = None
        self.weights_grad: np.ndarray | None = None
        self.kernel: np.ndarray | None = None
        self.bias: np.ndarray | None = None
        self.kernel_grad: np.ndarray | None = None
        self.bias_grad: np.ndarray | None = None
        self._buffers: dict[int, _DropoutBuffers] = {}
        self._kernel_t: np.ndarray | None = None
        # Cached by a training forward for backward: its augmented (dropped) input, its output
        # buffer, the activation actually applied (linear when the loss takes logits) and the
        # dropout mask.
        self._xa: np.ndarray | None = None
        self._out: np.ndarray | None = None
        self._act: activations.Activation = self.activation
        self._mask: np.ndarray | None = None

    # -- building ------------------------------------------------------------------------------

    def bind(self, weights: np.ndarray, weights_grad: np.ndarray) -> None:
        """Attach the ``(R, n_in + 1, units)`` parameter and gradient views of the network."""
        n_in = weights.shape[1] - 1
        self.n_inputs = n_in
        self.weights, self.weights_grad = weights, weights_grad
        self.kernel, self.bias = weights[:, :n_in], weights[:, n_in:]
        self.kernel_grad, self.bias_grad = weights_grad[:, :n_in], weights_grad[:, n_in:]
        self._kernel_t = np.empty((weights.shape[0], self.units, n_in), weights.dtype)
        self._buffers = {}

    def initialize(self, replica: int, rng: np.random.Generator) -> None:
        """Draw replica ``replica``'s kernel then bias from ``rng`` (that replica's generator)."""
        kernel, bias = self._require_built()
        kernel[replica] = self.kernel_initializer(kernel.shape[1:], rng, kernel.dtype)
        bias[replica, 0] = self.bias_initializer((self.units,), rng, bias.dtype)

    # -- forward and backward ------------------------------------------------------------------

    def forward(
        self,
        xa: np.ndarray,
        out: np.ndarray,
        *,
        training: bool = False,
        rngs: Sequence[np.random.Generator] | None = None,
        logits: bool = False,
    ) -> np.ndarray:
        """``f(X @ W + b)`` for the augmented input ``xa = [X, 1]`` (R, B, n_in + 1).

        Writes the result into ``out``, of shape (R, B, units) or, to feed the next layer
        directly, (R, B, units + 1) whose last column stays ones; returns ``out``. ``training``
        turns dropout on (masks drawn from ``rngs``, one generator per replica) and caches what
        :meth:`backward` needs; ``logits=True`` skips the activation (the loss fuses it).
        """
        weights = self.weights
        if weights is None:
            self._require_built()
        units = self.units
        act = _LINEAR if logits else self.activation
        mask = None
        if training and self.dropout:
            buf = self._dropout_buffers(xa.shape[1])
            mask = self._dropout_mask(buf, rngs)
            xa = np.multiply(xa, mask, out=buf.dropped)
        z = out[..., :units]
        np.matmul(xa, weights, out=z)
        if out.shape[-1] == units or not act.elementwise:
            act.forward(z, out=z)
        else:
            act.forward(out, out=out)
            if not act.fixes_one:
                out[..., units] = 1  # tanh, sigmoid: f(1) != 1
        if training:
            self._xa, self._out, self._act, self._mask = xa, out, act, mask
        return out

    def backward(self, grad: np.ndarray, dxa: np.ndarray | None = None) -> None:
        """Gradients after a :meth:`forward` in training.

        ``grad`` is ``dL/dY`` shaped like that forward's ``out`` (its ones column, if any, is
        ignored) and is overwritten with ``dL/dZ``. Fills ``weights_grad``; with ``dxa``
        (R, B, n_in + 1), writes ``dL/dX`` into its first ``n_in`` columns.
        """
        if self._xa is None or self._out is None:
            msg = "`backward` needs a preceding `forward(..., training=True)` on this layer"
            raise RuntimeError(msg)
        units, n_in = self.units, self.n_inputs
        a, act = self._out, self._act
        if grad.shape[-1] == units or not act.elementwise:
            dz = act.backward(a[..., :units], grad[..., :units], out=grad[..., :units])
        else:  # over the whole buffer: contiguous, and the ones column's gradient stays 0
            act.backward(a, grad, out=grad)
            dz = grad[..., :units]
        np.matmul(self._xa.transpose(0, 2, 1), dz, out=self.weights_grad)
        if dxa is None:
            return
        dx = dxa[..., :n_in]
        if units == 1:  # an outer product: a broadcast multiply beats a K=1 GEMM
            np.multiply(dz, self.kernel.transpose(0, 2, 1), out=dx)
        else:  # BLAS is faster on a contiguous W^T than on the transposed view
            np.copyto(self._kernel_t, self.kernel.transpose(0, 2, 1))
            np.matmul(dz, self._kernel_t, out=dx)
        if self._mask is not None:
            dxa *= self._mask

    # -- helpers -------------------------------------------------------------------------------

    def _dropout_mask(
        self, buf: _DropoutBuffers, rngs: Sequence[np.random.Generator] | None
    ) -> np.ndarray:
        """The (R, B, n_in + 1) inverted-dropout mask, ones in its last column."""
        if rngs is None or len(rngs) != buf.noise.shape[0]:
            msg = "dropout in training needs one generator per replica in `rngs`"
            raise ValueError(msg)
        for r, rng in enumerate(rngs):
            rng.random(out=buf.noise[r])
        np.greater_equal(buf.noise, self.dropout, out=buf.keep)
        np.multiply(buf.keep, 1.0 / (1.0 - self.dropout), out=buf.mask[..., :-1])
        return buf.mask

    def _dropout_buffers(self, batch: int) -> _DropoutBuffers:
        buf = self._buffers.get(batch)
        if buf is None:
            if len(self._buffers) >= 4:  # a training run sees one or two batch sizes
                self._buffers.clear()
            kernel, _ = self._require_built()
            replicas, n_in, _ = kernel.shape
            buf = self._buffers[batch] = _DropoutBuffers(replicas, batch, n_in, kernel.dtype)
        return buf

    def _require_built(self) -> tuple[np.ndarray, np.ndarray]:
        if self.kernel is None or self.bias is None:
            msg = f"{self!r} is not built yet; add it to a `Network`, which allocates its weights"
            raise RuntimeError(msg)
        return self.kernel, self.bias

    # -- config --------------------------------------------------------------------------------

    def get_config(self) -> dict[str, Any]:
        return {
            "class_name": "Dense",
            "units": self.units,
            "activation": self.activation.name,
            "kernel_initializer": self.kernel_initializer.get_config(),
            "bias_initializer": self.bias_initializer.get_config(),
            "dropout": self.dropout,
            "optimizer": None if self.optimizer is None else self.optimizer.get_config(),
        }

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Dense:
        """Build an unbuilt layer from ``get_config()``'s output."""
        return cls(**{k: v for k, v in config.items() if k != "class_name"})

    def __repr__(self) -> str:
        extra = f", dropout={self.dropout}" if self.dropout else ""
        if self.optimizer is not None:
            extra += f", optimizer={self.optimizer!r}"
        return f"Dense({self.units}, activation={self.activation.name!r}{extra})"
