"""The fully connected layer ``Y = f(X @ W + b)``, with per-layer inverted dropout on its input.

Shapes carry the replica axis ``R``: ``X (R, B, n_in)``, ``W (R, n_in, units)``,
``b (R, 1, units)``, ``Y (R, B, units)``. The network binds ``W``, ``b`` and their gradients as
views into its flat buffers. In training, the layer reuses preallocated buffers per batch size
(so the output of ``forward`` is overwritten by the next training call); in inference it
allocates fresh arrays.

Backward pass, with ``dZ = f'(Z) * dY``::

    dW = X^T @ dZ        db = sum_rows(dZ)        dX = dZ @ W^T
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from nnforge._validation import check_scalar
from nnforge.nn import activations, initializers, optimizers

__all__ = ["Dense"]

_LINEAR = activations.Linear()


class _Buffers:
    """Training buffers for one batch size ``B`` (allocated once, reused every step)."""

    def __init__(self, replicas: int, batch: int, n_in: int, units: int, dropout: bool, dtype):
        self.out = np.empty((replicas, batch, units), dtype)  # Z, then A = f(Z) in place
        self.dx = np.empty((replicas, batch, n_in), dtype)
        self.ones = np.ones((replicas, 1, batch), dtype)  # db = ones @ dZ, faster than sum()
        self.x = np.empty((replicas, batch, n_in), dtype) if dropout else None
        self.mask = np.empty((replicas, batch, n_in), dtype) if dropout else None
        self.keep = np.empty((replicas, batch, n_in), bool) if dropout else None


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
    kernel, bias : ndarray of shape (R, n_in, units) and (R, 1, units)
        Views into the network's parameter buffer (``None`` until the network builds the layer).
    kernel_grad, bias_grad : ndarray
        Views into the network's gradient buffer, overwritten by every ``backward``.
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
        if isinstance(units, bool) or not isinstance(units, int | np.integer) or units < 1:
            msg = f"`units` must be a positive integer. Received: units={units!r}"
            raise ValueError(msg)
        self.units = int(units)
        self.activation = activations.get(activation)
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.dropout = check_scalar(dropout, "dropout", min_val=0.0, max_val=1.0)
        if self.dropout >= 1.0:
            msg = f"`dropout` must be in [0, 1). Received: dropout={dropout!r}"
            raise ValueError(msg)
        self.optimizer = None if optimizer is None else optimizers.get(optimizer)
        self.n_inputs: int | None = None
        self.kernel: np.ndarray | None = None
        self.bias: np.ndarray | None = None
        self.kernel_grad: np.ndarray | None = None
        self.bias_grad: np.ndarray | None = None
        self._buffers: dict[int, _Buffers] = {}
        self._inference: dict[int, np.ndarray] = {}
        self._kernel_t: np.ndarray | None = None
        # Cached by a training forward for backward: its (dropped) input, output, activation
        # actually applied (linear when the loss takes logits) and dropout mask.
        self._x: np.ndarray | None = None
        self._a: np.ndarray | None = None
        self._act: activations.Activation = self.activation
        self._mask: np.ndarray | None = None

    # -- building ------------------------------------------------------------------------------

    def bind(
        self, kernel: np.ndarray, bias: np.ndarray, kernel_grad: np.ndarray, bias_grad: np.ndarray
    ) -> None:
        """Attach the parameter and gradient views the network allocated for this layer."""
        self.n_inputs = kernel.shape[1]
        self.kernel, self.bias = kernel, bias
        self.kernel_grad, self.bias_grad = kernel_grad, bias_grad
        self._kernel_t = np.empty(kernel.transpose(0, 2, 1).shape, kernel.dtype)  # scratch W^T
        self._buffers = {}
        self._inference = {}

    def initialize(self, replica: int, rng: np.random.Generator) -> None:
        """Draw replica ``replica``'s kernel then bias from ``rng`` (that replica's generator)."""
        kernel, bias = self._require_built()
        kernel[replica] = self.kernel_initializer(kernel.shape[1:], rng, kernel.dtype)
        bias[replica, 0] = self.bias_initializer((self.units,), rng, bias.dtype)

    # -- forward and backward ------------------------------------------------------------------

    def forward(
        self,
        x: np.ndarray,
        *,
        training: bool = False,
        rngs: Sequence[np.random.Generator] | None = None,
        dropout_mask: np.ndarray | None = None,
        logits: bool = False,
    ) -> np.ndarray:
        """Compute ``f(x @ W + b)`` for ``x`` of shape (R, B, n_in) (or (B, n_in), broadcast).

        ``training`` turns dropout on (masks from ``rngs``, one generator per replica, unless a
        fixed ``dropout_mask`` of shape (R, B, n_in) is given) and caches what ``backward``
        needs. ``logits=True`` skips the activation (the loss fuses it). The result is a buffer
        reused by the next call with as many rows: copy it to keep it.
        """
        kernel, bias = self._require_built()
        act = _LINEAR if logits else self.activation
        if not training:  # into a reused buffer: Network.predict copies each chunk out
            z = np.matmul(x, kernel, out=self._inference_buffer(x.shape[-2]))
            z += bias
            return act.forward(z, out=z)
        buf = self._buffers_for(x.shape[1])
        mask = None
        if self.dropout or dropout_mask is not None:
            mask = dropout_mask if dropout_mask is not None else self._draw_mask(buf, rngs)
            x = np.multiply(x, mask, out=buf.x if buf.x is not None else None)
        z = np.matmul(x, kernel, out=buf.out)
        z += bias
        a = act.forward(z, out=z)
        self._x, self._a, self._act, self._mask = x, a, act, mask
        return a

    def backward(self, grad: np.ndarray, *, input_grad: bool = True) -> np.ndarray | None:
        """Given ``dL/dY`` (R, B, units), fill the gradient views and return ``dL/dX``.

        ``grad`` is overwritten with ``dL/dZ``. ``input_grad=False`` skips ``dX`` (first layer).
        """
        if self._a is None or self._x is None:
            msg = "`backward` needs a preceding `forward(..., training=True)` on this layer"
            raise RuntimeError(msg)
        buf = self._buffers[grad.shape[1]]
        dz = self._act.backward(self._a, grad, out=grad)
        np.matmul(self._x.transpose(0, 2, 1), dz, out=self.kernel_grad)
        np.matmul(buf.ones, dz, out=self.bias_grad)
        if not input_grad:
            return None
        kernel_t = self.kernel.transpose(0, 2, 1)  # type: ignore[union-attr]
        if self.units == 1:  # an outer product: a broadcast multiply beats a K=1 GEMM
            dx = np.multiply(dz, kernel_t, out=buf.dx)
        else:  # BLAS is ~25% faster on a contiguous W^T than on the transposed view
            np.copyto(self._kernel_t, kernel_t)
            dx = np.matmul(dz, self._kernel_t, out=buf.dx)
        if self._mask is not None:
            dx *= self._mask
        return dx

    # -- helpers -------------------------------------------------------------------------------

    def _draw_mask(self, buf: _Buffers, rngs: Sequence[np.random.Generator] | None) -> np.ndarray:
        if rngs is None or len(rngs) != buf.mask.shape[0]:  # type: ignore[union-attr]
            msg = "dropout in training needs one generator per replica in `rngs`"
            raise ValueError(msg)
        mask = buf.mask
        for r, rng in enumerate(rngs):
            rng.random(dtype=mask.dtype, out=mask[r])  # type: ignore[index]
        np.greater_equal(mask, self.dropout, out=buf.keep)
        np.multiply(buf.keep, 1.0 / (1.0 - self.dropout), out=mask)
        return mask  # type: ignore[return-value]

    def _inference_buffer(self, rows: int) -> np.ndarray:
        buf = self._inference.get(rows)
        if buf is None:
            if len(self._inference) >= 2:  # predict sees its chunk size and one remainder
                self._inference.clear()
            kernel, _ = self._require_built()
            buf = np.empty((kernel.shape[0], rows, self.units), kernel.dtype)
            self._inference[rows] = buf
        return buf

    def _buffers_for(self, batch: int) -> _Buffers:
        buf = self._buffers.get(batch)
        if buf is None:
            if len(self._buffers) >= 4:  # a training run sees one or two batch sizes
                self._buffers.clear()
            kernel, _ = self._require_built()
            replicas, n_in, _ = kernel.shape
            buf = _Buffers(replicas, batch, n_in, self.units, self.dropout > 0, kernel.dtype)
            self._buffers[batch] = buf
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
