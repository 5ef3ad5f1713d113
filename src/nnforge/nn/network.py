"""The network: layers over one flat parameter buffer, trained as ``R`` independent replicas.

Memory layout. All parameters live in one contiguous 1-D buffer ``params``; gradients in a
parallel buffer ``grads`` with the same offsets. Each layer owns one block there, its ``weights``
``(R, n_in + 1, units)``: per replica, the kernel followed by the bias row, so that the layer
multiplies its input, augmented with a ones column, by one matrix (see
:mod:`nnforge.nn.layers.dense`). Layers are grouped by optimizer configuration and each group's
blocks are contiguous, so one optimizer step is a few vectorised calls over the segment; a 0/1
mask over the segment keeps weight decay off the bias rows. Every tensor keeps the replica axis
first, e.g. a kernel is ``(R, n_in, units)``.

The activations of a batch live in per-batch-size buffers owned by the network: the input of
layer ``i`` is an augmented ``(R, B, n_i + 1)`` array that layer ``i - 1`` writes into, and the
gradient with respect to it has the same shape.

Seeds. Replica ``r`` owns a generator used for its initial weights (layer by layer, kernel then
bias) and then for its dropout masks:

* ``seed=s`` (int or ``SeedSequence``): replica ``r`` uses ``SeedSequence(s).spawn(R)[r]``,
  whose value does not depend on ``R`` -- replica ``r`` is the same for every ``R > r``, and an
  ``R = 1`` network with ``seed=s`` equals replica 0;
* ``seed=[s_0, ..., s_{R-1}]``: replica ``r`` uses ``SeedSequence(s_r)`` (or ``s_r`` itself if it
  is a ``SeedSequence``). So ``Network(..., seed=[s_r])`` reproduces replica ``r`` alone;
  :func:`replica_seeds` gives the per-replica seeds an int seed expands to;
* a ``np.random.Generator``: ``R`` children from ``Generator.spawn`` (not reproducible from the
  config); ``None``: fresh entropy.

The same seed, data and batch order give bit-identical training.
"""

from __future__ import annotations

import copy
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from nnforge._validation import check_dtype, check_scalar
from nnforge.nn import losses, optimizers, saving
from nnforge.nn.fpmode import flushing
from nnforge.nn.layers import Dense
from nnforge.nn.layers.dense import augmented
from nnforge.nn.optimizers import Optimizer
from nnforge.nn.seeds import replica_seeds, seed_to_json

__all__ = ["Network", "replica_seeds"]

# Rows per inference chunk: keeps every layer's activations in cache (King County network,
# 4 replicas x 2,702 rows: 512 rows per chunk 3.9 ms, 2048 rows 5.2 ms). Fixed, so that a
# prediction never depends on how many rows or replicas one call gets.
_PREDICT_ROWS = 512


@dataclass(frozen=True)
class _Block:
    """Where one layer's ``weights`` (R, n_in + 1, units) live in the flat buffers."""

    start: int
    shape: tuple[int, int, int]

    @property
    def size(self) -> int:
        return int(np.prod(self.shape))


@dataclass
class _Group:
    """Layers sharing one optimizer, over the segment ``[start, stop)``."""

    optimizer: Optimizer
    layers: list[int]
    start: int = 0
    stop: int = 0
    decay_mask: np.ndarray | None = None  # 1 on kernel entries, 0 on bias rows


class _Activations:
    """One batch size's buffers: each layer's augmented input, the output, and the gradients."""

    def __init__(self, net: Network, rows: int) -> None:
        R, dtype = net.replicas, net.dtype
        self.inputs = [augmented(R, rows, layer.n_inputs, dtype) for layer in net.layers]
        self.output = np.empty((R, rows, net.n_outputs), dtype)
        self._grads: list[np.ndarray | None] | None = None

    @property
    def grads(self) -> list[np.ndarray | None]:
        """``dL/d inputs[i]`` buffers (none for the network's input), allocated on first use."""
        if self._grads is None:
            self._grads = [None] + [np.zeros_like(a) for a in self.inputs[1:]]
        return self._grads


class Network:
    """A feed-forward network of :class:`Dense` layers, trained as ``replicas`` independent copies.

    Parameters
    ----------
    n_inputs : int
        Number of input features.
    layers : sequence of Dense
        The layers, first to last. They are copied (through their config), so the same list
        may build several networks.
    loss : str, dict or Loss, default="mse"
    optimizer : str, dict or Optimizer, default="sgd"
        Used by every layer whose ``optimizer`` is ``None``. The network keeps its own fresh
        copies, one per distinct configuration.
    replicas : int, default=1
        Number of independent models ``R`` trained side by side (e.g. the k folds).
    dtype : {"float32", "float64"}, default="float32"
        Dtype of every buffer.
    seed : int, sequence, SeedSequence, Generator or None, default=None
        See the module docstring for how replicas get their seeds.

    Attributes
    ----------
    params, grads : ndarray of shape (n_params,)
        The flat parameter and gradient buffers; layers hold views into them.
    optimizers : list of Optimizer
        One per optimizer group, in buffer order.
    seeds : list of SeedSequence or None
        Per-replica seeds (``None`` when seeded from a Generator).

    Examples
    --------
    >>> import numpy as np
    >>> from nnforge.nn import Dense, Network
    >>> net = Network(2, [Dense(3, "tanh"), Dense(1)], replicas=4, seed=0)
    >>> x = np.zeros((4, 8, 2), "float32"); y = np.ones((4, 8, 1), "float32")
    >>> net.train_step(x, y).shape
    (4,)
    """

    def __init__(
        self,
        n_inputs: int,
        layers: Sequence[Dense],
        *,
        loss: Any = "mse",
        optimizer: Any = "sgd",
        replicas: int = 1,
        dtype: Any = "float32",
        seed: Any = None,
    ) -> None:
        self.n_inputs = check_scalar(n_inputs, "n_inputs", integer=True, min_val=1)
        self.replicas = check_scalar(replicas, "replicas", integer=True, min_val=1)
        self.dtype = check_dtype(dtype)
        if not layers or not all(isinstance(layer, Dense) for layer in layers):
            msg = (
                "`layers` must be a non-empty sequence of Dense layers. "
                f"Received: layers={layers!r}"
            )
            raise TypeError(msg)
        self.layers = [Dense.from_config(layer.get_config()) for layer in layers]
        self.n_outputs = self.layers[-1].units
        self.loss = losses.get(loss)
        self.optimizer = optimizers.get(optimizer)
        # Train the last layer on logits when the loss fuses its activation (stable gradients).
        self._fused = self.loss.fused_activation == self.layers[-1].activation.name
        self._seed_arg = seed
        if isinstance(seed, np.random.Generator):
            self.seeds: list[np.random.SeedSequence] | None = None
            self._rngs = list(seed.spawn(self.replicas))
        else:
            self.seeds = replica_seeds(seed, self.replicas)
            self._rngs = [np.random.Generator(np.random.PCG64(s)) for s in self.seeds]
        self._build()
        for r, rng in enumerate(self._rngs):
            for layer in self.layers:
                layer.initialize(r, rng)

    def _build(self) -> None:
        """Group layers by optimizer config, lay out the flat buffers and bind the views."""
        by_config: dict[str, _Group] = {}
        for i, layer in enumerate(self.layers):
            opt = layer.optimizer if layer.optimizer is not None else self.optimizer
            key = json.dumps(opt.get_config(), sort_keys=True)
            if key not in by_config:
                by_config[key] = _Group(type(opt).from_config(opt.get_config()), [])
            by_config[key].layers.append(i)
        R = self.replicas
        self._groups = list(by_config.values())
        self._blocks: list[_Block] = [None] * len(self.layers)  # type: ignore[list-item]
        n_in = [self.n_inputs] + [layer.units for layer in self.layers[:-1]]
        offset = 0
        for group in self._groups:
            group.start = offset
            for i in group.layers:
                block = _Block(offset, (R, n_in[i] + 1, self.layers[i].units))
                self._blocks[i] = block
                offset += block.size
            group.stop = offset
        self.params = np.zeros(offset, self.dtype)
        self.grads = np.zeros(offset, self.dtype)
        decay = np.zeros(offset, self.dtype)
        for layer, block in zip(self.layers, self._blocks, strict=True):
            layer.bind(_view(self.params, block), _view(self.grads, block))
            _view(decay, block)[:, :-1] = 1
        for group in self._groups:
            group.decay_mask = decay[group.start : group.stop]
        self._activations: dict[int, _Activations] = {}

    # -- training ------------------------------------------------------------------------------

    @property
    def optimizers(self) -> list[Optimizer]:
        return [group.optimizer for group in self._groups]

    @flushing
    def forward(self, x: np.ndarray, *, training: bool = False) -> np.ndarray:
        """Outputs ``(R, B, n_out)`` for one batch; ``training`` enables dropout and caching.

        The result is a reused buffer (overwritten by the next call with as many rows; copy it
        to keep it). In training, when the loss fuses the output activation, it holds the logits.
        """
        x = self._check_batch(x, "x", self.n_inputs, allow_2d=not training)
        return self._forward(x, training)

    def _forward(self, x: np.ndarray, training: bool) -> np.ndarray:
        acts = self._buffers(x.shape[-2])
        np.copyto(acts.inputs[0][..., :-1], x)
        last = len(self.layers) - 1
        for i, layer in enumerate(self.layers):
            layer.forward(
                acts.inputs[i],
                acts.output if i == last else acts.inputs[i + 1],
                training=training,
                rngs=self._rngs,
                logits=training and self._fused and i == last,
            )
        return acts.output

    def _buffers(self, rows: int) -> _Activations:
        acts = self._activations.get(rows)
        if acts is None:
            if len(self._activations) >= 4:  # training and inference see a few batch sizes
                self._activations.clear()
            acts = self._activations[rows] = _Activations(self, rows)
        return acts

    @flushing
    def compute_gradients(
        self, x: np.ndarray, y: np.ndarray, sample_weight: np.ndarray | None = None
    ) -> np.ndarray:
        """Forward and backward pass on one batch: fills ``grads``, returns the (R,) losses.

        The loss of replica ``r`` is ``sum_i w_ri * l_ri / sum_i w_ri`` (a plain mean without
        ``sample_weight``); a replica whose weights are all zero gets loss 0 and zero gradients.
        """
        out = self.forward(x, training=True)
        y = self._check_batch(y, "y", self.n_outputs, rows=out.shape[1])
        if self._fused:
            per_sample, grad = self.loss.from_logits(y, out)
        else:
            per_sample, grad = self.loss(y, out), self.loss.gradient(y, out)
        if sample_weight is None:
            # per_sample.mean(axis=1, dtype=np.float64) without np.mean's Python layer
            batch_losses = np.add.reduce(per_sample, axis=1, dtype=np.float64) / out.shape[1]
            grad *= 1.0 / out.shape[1]
        else:
            scale = self._sample_scale(sample_weight, out.shape[1])
            batch_losses = (per_sample * scale).sum(axis=1, dtype=np.float64)
            grad *= scale[..., None]
        input_grads = self._buffers(out.shape[1]).grads
        for i in range(len(self.layers) - 1, -1, -1):
            self.layers[i].backward(grad, input_grads[i])
            grad = input_grads[i]
        return batch_losses

    @flushing
    def apply_gradients(self) -> None:
        """One optimizer step per group over its flat segment, from the current ``grads``."""
        for g in self._groups:
            g.optimizer.step(
                self.params[g.start : g.stop],
                self.grads[g.start : g.stop],
                decay_mask=g.decay_mask,
            )

    @flushing
    def train_step(
        self, x: np.ndarray, y: np.ndarray, sample_weight: np.ndarray | None = None
    ) -> np.ndarray:
        """One gradient step on one batch per replica; returns the (R,) training losses.

        Parameters
        ----------
        x : ndarray of shape (R, B, n_inputs)
        y : ndarray of shape (R, B, n_outputs)
        sample_weight : ndarray of shape (R, B), optional
            Non-negative weights; zeros pad replicas with fewer rows.
        """
        batch_losses = self.compute_gradients(x, y, sample_weight)
        self.apply_gradients()
        return batch_losses

    # -- inference -----------------------------------------------------------------------------

    @flushing
    def predict(self, x: np.ndarray, batch_size: int | None = None) -> np.ndarray:
        """Inference outputs ``(R, n, n_outputs)``, without dropout, computed in row chunks.

        ``x`` is ``(R, n, n_inputs)``, or ``(n, n_inputs)`` to feed the same rows to every
        replica (an ensemble). ``batch_size`` sets the rows per chunk (default 512).
        """
        x = self._check_batch(x, "x", self.n_inputs, allow_2d=True)
        n = x.shape[-2]
        chunk = check_scalar(batch_size or _PREDICT_ROWS, "batch_size", integer=True, min_val=1)
        out = np.empty((self.replicas, n, self.n_outputs), self.dtype)
        for start in range(0, n, chunk):
            out[:, start : start + chunk] = self._forward(x[..., start : start + chunk, :], False)
        return out

    @flushing
    def evaluate(
        self,
        x: np.ndarray,
        y: np.ndarray,
        sample_weight: np.ndarray | None = None,
        batch_size: int | None = None,
    ) -> np.ndarray:
        """Inference loss per replica, ``(R,)`` float64, weighted like ``train_step``."""
        pred = self.predict(x, batch_size)
        y = self._check_batch(y, "y", self.n_outputs, rows=pred.shape[1], allow_2d=True)
        per_sample = self.loss(y, pred)
        if sample_weight is None:
            return per_sample.mean(axis=1, dtype=np.float64)
        return (per_sample * self._sample_scale(sample_weight, pred.shape[1])).sum(
            axis=1, dtype=np.float64
        )

    # -- replicas ------------------------------------------------------------------------------

    def select(self, indices: Sequence[int]) -> Network:
        """A new network made of the given replicas (copies: parameters, generators, optimizer)."""
        idx = [self._check_replica(i) for i in indices]
        if not idx:
            msg = "`indices` must name at least one replica. Received: indices=[]"
            raise ValueError(msg)
        config = self.get_config()
        config["replicas"] = len(idx)
        config["seed"] = None if self.seeds is None else [seed_to_json(self.seeds[i]) for i in idx]
        new = Network.from_config(config)
        for old_layer, new_layer in zip(self.layers, new.layers, strict=True):
            new_layer.weights[:] = old_layer.weights[idx]
        new._rngs = [copy.deepcopy(self._rngs[i]) for i in idx]
        for old_g, new_g in zip(self._groups, new._groups, strict=True):
            old = old_g.optimizer
            slots = [_select_segment(slot, old_g, self._blocks, idx) for slot in old.slots]
            new_g.optimizer.set_state(old.iterations, slots)
        return new

    def slot_views(self, i: int) -> list[np.ndarray]:
        """Layer ``i``'s optimizer slots as (R, n_in + 1, units) views laid out like its
        ``weights`` (kernel rows, then the bias row); created as zeros if its optimizer has not
        stepped yet. A backend that updates elsewhere starts from them and writes them back."""
        block = self._blocks[i]
        group = next(g for g in self._groups if i in g.layers)
        slots = group.optimizer.build(self.params[group.start : group.stop])
        return [_local(slot, group, block) for slot in slots]

    def replica_view(self, i: int) -> list[np.ndarray]:
        """Replica ``i``'s parameters: per layer its ``(n_in + 1, units)`` weights, as views into
        ``params`` (write to them to change the network), so a caller can copy or restore one
        replica without knowing the buffer layout."""
        r = self._check_replica(i)
        return [layer.weights[r] for layer in self.layers]  # type: ignore[index]

    def replica(self, i: int) -> Network:
        """An ``R = 1`` copy of replica ``i`` (e.g. the best fold), optimizer state included."""
        return self.select([i])

    @classmethod
    def stack(cls, networks: Sequence[Network]) -> Network:
        """One network whose replicas are those of ``networks`` in order (e.g. an ensemble).

        All networks must share the architecture, loss and dtype. The result has fresh
        optimizer state.
        """
        nets = list(networks)
        if not nets:
            msg = "`networks` must contain at least one Network. Received: networks=[]"
            raise ValueError(msg)
        reference = _architecture(nets[0].get_config())
        for k, net in enumerate(nets[1:], start=1):
            if _architecture(net.get_config()) != reference:
                msg = (
                    f"cannot stack networks with different architectures: networks[{k}] is "
                    f"{net!r}, networks[0] is {nets[0]!r}"
                )
                raise ValueError(msg)
        config = nets[0].get_config()
        config["replicas"] = sum(net.replicas for net in nets)
        seeds = [s for net in nets for s in (net.seeds or [])]
        config["seed"] = (
            [seed_to_json(s) for s in seeds] if len(seeds) == config["replicas"] else None
        )
        new = cls.from_config(config)
        for j, layer in enumerate(new.layers):
            layer.weights[:] = np.concatenate([net.layers[j].weights for net in nets])
        new._rngs = [copy.deepcopy(rng) for net in nets for rng in net._rngs]
        return new

    # -- pickling ------------------------------------------------------------------------------

    def __getstate__(self) -> dict[str, Any]:
        """Pickle by value (scikit-learn's tools copy estimators this way).

        The layers hold views into ``params``, which pickle would restore as separate copies;
        the network is rebuilt from its config instead, then gets its parameters, generators and
        optimizer state back. Files for users are written by :meth:`save` (never pickle).
        """
        return {
            "config": self.get_config(),
            "params": self.params,
            "seeds": self.seeds,
            "seed_arg": self._seed_arg,
            "rngs": self._rngs,
            "optimizers": [(opt.iterations, opt.slots) for opt in self.optimizers],
        }

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(Network.from_config(state["config"]).__dict__)
        self.params[:] = state["params"]
        self.seeds, self._seed_arg, self._rngs = state["seeds"], state["seed_arg"], state["rngs"]
        for group, (iterations, slots) in zip(self._groups, state["optimizers"], strict=True):
            group.optimizer.set_state(iterations, slots)  # copies: a pickle may be read-only

    # -- persistence ---------------------------------------------------------------------------

    def get_config(self) -> dict[str, Any]:
        """The JSON-able architecture (Keras vocabulary), enough for :meth:`from_config`."""
        if self.seeds is None:
            seed = None
        elif isinstance(self._seed_arg, int | np.integer) and not isinstance(self._seed_arg, bool):
            seed = int(self._seed_arg)
        else:
            seed = [seed_to_json(s) for s in self.seeds]
        return {
            "class_name": "Network",
            "n_inputs": self.n_inputs,
            "layers": [layer.get_config() for layer in self.layers],
            "loss": self.loss.get_config(),
            "optimizer": self.optimizer.get_config(),
            "replicas": self.replicas,
            "dtype": self.dtype.name,
            "seed": seed,
        }

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Network:
        """Build (and initialise from its seed) the network described by ``get_config()``."""
        config = {k: v for k, v in config.items() if k != "class_name"}
        config["layers"] = [Dense.from_config(layer) for layer in config["layers"]]
        return cls(**config)

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write ``path.safetensors`` (parameters) and ``path.json`` (architecture) atomically.

        ``path`` may end in ``.safetensors`` or ``.json``; returns the path without suffix.
        Optimizer state is not saved (see :mod:`nnforge.nn.saving`).
        """
        return saving.save(self, path)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Network:
        """Rebuild a network saved by :meth:`save` (architecture from the JSON, then weights)."""
        base, config = saving.read_config(path)
        net = cls.from_config(config)
        saving.load_weights(net, base)
        return net

    def load_weights(self, path: str | os.PathLike[str]) -> None:
        """Load parameters saved by :meth:`save` into this network, checking every shape.

        Raises ``ValueError`` naming the layer and both shapes when the file was written by a
        network of another architecture; float32/float64 files are cast to this network's dtype.
        """
        saving.load_weights(self, path)

    # -- validation helpers --------------------------------------------------------------------

    def _check_batch(
        self,
        arr: Any,
        name: str,
        width: int,
        *,
        rows: int | None = None,
        allow_2d: bool = False,
    ) -> np.ndarray:
        arr = np.asarray(arr)
        if arr.dtype != self.dtype:
            arr = arr.astype(self.dtype)
        ok_ndim = arr.ndim == 3 or (allow_2d and arr.ndim == 2)
        if (
            not ok_ndim
            or arr.shape[-1] != width
            or (arr.ndim == 3 and arr.shape[0] != self.replicas)
            or (rows is not None and arr.shape[-2] != rows)
        ):
            want = f"({self.replicas}, {'n' if rows is None else rows}, {width})"
            if allow_2d:
                want += f" or ({'n' if rows is None else rows}, {width})"
            msg = f"`{name}` must have shape {want}. Received: {name}.shape={arr.shape}"
            raise ValueError(msg)
        return arr

    def _sample_scale(self, sample_weight: Any, rows: int) -> np.ndarray:
        w = np.asarray(sample_weight, dtype=self.dtype)
        if w.shape != (self.replicas, rows):
            msg = (
                f"`sample_weight` must have shape ({self.replicas}, {rows}). "
                f"Received: sample_weight.shape={w.shape}"
            )
            raise ValueError(msg)
        if (w < 0).any():
            msg = "`sample_weight` must be non-negative. Received: a negative weight"
            raise ValueError(msg)
        total = w.sum(axis=1, keepdims=True)
        return w / np.maximum(total, np.finfo(self.dtype).tiny)

    def _check_replica(self, i: int) -> int:
        if (
            isinstance(i, bool)
            or not isinstance(i, int | np.integer)
            or not -self.replicas <= i < self.replicas
        ):
            msg = f"replica index out of range for {self.replicas} replicas. Received: i={i!r}"
            raise IndexError(msg)
        return int(i) % self.replicas

    def __repr__(self) -> str:
        layers = ", ".join(repr(layer) for layer in self.layers)
        return (
            f"Network(n_inputs={self.n_inputs}, layers=[{layers}], loss={self.loss.name!r}, "
            f"replicas={self.replicas}, dtype={self.dtype.name!r})"
        )


def _view(flat: np.ndarray, block: _Block) -> np.ndarray:
    return flat[block.start : block.start + block.size].reshape(block.shape)


def _select_segment(
    slot: np.ndarray, group: _Group, blocks: list[_Block], idx: list[int]
) -> np.ndarray:
    """Pick replicas ``idx`` out of an optimizer slot laid out like ``group``'s segment."""
    return np.concatenate([_local(slot, group, blocks[i])[idx].ravel() for i in group.layers])


def _local(slot: np.ndarray, group: _Group, block: _Block) -> np.ndarray:
    """The part of a slot laid out like ``group``'s segment that belongs to ``block``."""
    return slot[block.start - group.start :][: block.size].reshape(block.shape)


def _architecture(config: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in config.items() if k not in ("replicas", "seed")}
