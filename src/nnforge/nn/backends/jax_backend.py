"""The JAX backend: one compiled call per epoch, ``jit(vmap over replicas(lax.scan over batches))``.

Everything is read from the engine's description of the network, never re-declared: the layers'
``get_config()`` (units, activation, dropout, optimizer), the loss, the optimizers (whose own
``Schedule`` objects give each step's learning rate, evaluated on the host for the steps of the
epoch and passed in as an array) and the initial parameters, drawn by the engine's initializers.
What is written here is only the math of each name in ``jax.numpy``: the activations, the
per-sample losses (fused with the output activation on logits, as the engine does) and each
optimizer's update, in the engine's order of operations. Gradients come from ``jax.grad``.

One epoch per call: per replica, a ``lax.scan`` over the batches of its row order (a shorter
last batch is padded with weight-0 rows, so one compiled step serves all), ``vmap``-ed over the
replicas and ``jit``-ed; parameters (kernel and bias as separate arrays) and optimizer slots stay
on the device between epochs. The compiled functions are specialised on a hashable
:class:`_Plan` read from the configs, so networks of one architecture share one compilation.
Validation is a second compiled function on the device. The same code runs on CPU (XLA's
threads) and GPU.

Differences from the NumPy engine, by design:

* dropout masks come from JAX's PRNG (a key per replica derived from the replica's seed), so a
  run with dropout is statistically, not bitwise, the same as with NumPy;
* float64 networks run inside ``jax.enable_x64(True)``, a scoped switch: the caller's global
  JAX configuration is left as it was;
* rounding: XLA adds the bias after the product and may fuse operations differently, so float64
  results agree with NumPy to ~1e-13 relative after a few epochs (tests require 1e-9), not bit
  for bit.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from nnforge.nn.backends.base import EpochRunner
from nnforge.nn.losses import EPSILON
from nnforge.nn.network import Network
from nnforge.nn.optimizers import Optimizer

__all__ = ["Runner"]

Array = Any  # jax.Array; kept loose so the annotations also read on older JAX versions


# -- the engine's vocabulary in jax.numpy --------------------------------------------------------


def _sigmoid(z: Array) -> Array:
    return 0.5 * jnp.tanh(0.5 * z) + 0.5  # the engine's form, which never overflows


_ACTIVATIONS: dict[str, Callable[[Array], Array]] = {
    "linear": lambda z: z,
    "tanh": jnp.tanh,
    "relu": jax.nn.relu,  # derivative 0 at 0, as the engine (jnp.maximum would give 1/2)
    "sigmoid": _sigmoid,
    "softmax": lambda z: jax.nn.softmax(z, axis=-1),
}


def _mse(y: Array, p: Array) -> Array:
    return jnp.mean(jnp.square(p - y), axis=-1)


def _bce(y: Array, p: Array) -> Array:
    p = jnp.clip(p, EPSILON, 1.0 - EPSILON)
    return -jnp.mean(y * jnp.log(p) + (1.0 - y) * jnp.log1p(-p), axis=-1)


def _cce(y: Array, p: Array) -> Array:
    return -jnp.sum(y * jnp.log(jnp.clip(p, EPSILON, 1.0 - EPSILON)), axis=-1)


def _bce_logits(y: Array, z: Array) -> Array:
    return jnp.mean(jnp.maximum(z, 0) - z * y + jnp.log1p(jnp.exp(-jnp.abs(z))), axis=-1)


def _cce_logits(y: Array, z: Array) -> Array:
    return -jnp.sum(y * jax.nn.log_softmax(z, axis=-1), axis=-1)


# loss name -> (per-sample loss of the outputs, per-sample loss of the logits when fused)
_LOSSES: dict[str, tuple[Callable, Callable | None]] = {
    "mse": (_mse, None),
    "binary_crossentropy": (_bce, _bce_logits),
    "categorical_crossentropy": (_cce, _cce_logits),
}


# -- optimizer updates -----------------------------------------------------------------------
# Each rule: (number of slots, the update in the engine's order of operations, the constants it
# reads from the engine optimizer, the per-step scalars it needs from the host). The per-step
# scalars come from the optimizer's own Schedule (and, for Adam, its bias correction).


def _sgd(c: tuple, w: Array, g: Array, slots: tuple, h: Array) -> tuple[Array, tuple]:
    return w - g * h[0], ()


def _momentum(c: tuple, w: Array, g: Array, slots: tuple, h: Array) -> tuple[Array, tuple]:
    momentum, nesterov = c
    step = g * h[0]
    v = slots[0] * momentum - step
    return ((w - step) + v * momentum if nesterov else w + v), (v,)


def _adam(c: tuple, w: Array, g: Array, slots: tuple, h: Array) -> tuple[Array, tuple]:
    beta_1, beta_2, epsilon = c
    m = slots[0] + (g - slots[0]) * (1.0 - beta_1)
    v = slots[1] + (g * g - slots[1]) * (1.0 - beta_2)
    return w - (m / (jnp.sqrt(v) + epsilon)) * h[0], (m, v)


def _lr(opt: Optimizer, step: int) -> list[float]:
    return [opt.learning_rate(step)]


def _adam_step_size(opt: Any, step: int) -> list[float]:
    t = step + 1
    return [opt.learning_rate(step) * math.sqrt(1.0 - opt.beta_2**t) / (1.0 - opt.beta_1**t)]


_RULES: dict[str, tuple[int, Callable, Callable[[Any], tuple], Callable]] = {
    "sgd": (0, _sgd, lambda opt: (), _lr),
    "momentum": (1, _momentum, lambda opt: (opt.momentum, opt.nesterov), _lr),
    "adam": (2, _adam, lambda opt: (opt.beta_1, opt.beta_2, opt.epsilon), _adam_step_size),
}


# -- the compiled epoch ------------------------------------------------------------------------


@dataclass(frozen=True)
class _Plan:
    """The static description the compiled functions are specialised on (hashable, so runners
    of the same architecture share one compilation)."""

    activations: tuple[str, ...]
    dropout: tuple[float, ...]
    loss: str
    fused: bool  # the last activation is fused into the loss: train on logits
    groups: tuple[int, ...]  # which optimizer updates each layer
    rules: tuple[tuple[str, tuple], ...]  # per optimizer: name and constants
    decay: tuple[float, ...]  # per parameter (kernel, bias, kernel, ...): L2 weight decay
    batch: int

    @classmethod
    def of(cls, net: Network, batch: int) -> _Plan:
        configs = [layer.get_config() for layer in net.layers]
        keys = [json.dumps(opt.get_config(), sort_keys=True) for opt in net.optimizers]
        groups = []
        for layer in net.layers:  # the engine groups layers by optimizer config too
            opt = layer.optimizer if layer.optimizer is not None else net.optimizer
            groups.append(keys.index(json.dumps(opt.get_config(), sort_keys=True)))
        missing = {net.loss.name} - set(_LOSSES)
        missing |= {c["activation"] for c in configs} - set(_ACTIVATIONS)
        missing |= {opt.name for opt in net.optimizers} - set(_RULES)
        if missing:
            msg = f"the jax backend has no implementation of {sorted(missing)} ({net!r})"
            raise NotImplementedError(msg)
        return cls(
            activations=tuple(c["activation"] for c in configs),
            dropout=tuple(float(c["dropout"]) for c in configs),
            loss=net.loss.name,
            fused=net.loss.fused_activation == configs[-1]["activation"],
            groups=tuple(groups),
            rules=tuple((opt.name, _RULES[opt.name][2](opt)) for opt in net.optimizers),
            decay=tuple(d for g in groups for d in (net.optimizers[g].weight_decay, 0.0)),
            batch=int(batch),
        )


def _forward(
    plan: _Plan, params: list[Array], x: Array, training: bool = False, noise: Array | None = None
) -> Array:
    """One replica's outputs. In ``training``, dropout masks come from ``noise`` (uniform draws)
    and the last layer returns logits when the loss fuses its activation."""
    last = len(params) // 2 - 1
    used = 0
    for i, (kernel, bias) in enumerate(zip(params[::2], params[1::2], strict=True)):
        p = plan.dropout[i]
        if noise is not None and p:
            size = x.shape[0] * x.shape[1]
            keep = noise[used : used + size].reshape(x.shape) >= p
            x = x * (keep.astype(x.dtype) * (1.0 / (1.0 - p)))  # inverted dropout on the input
            used += size
        z = x @ kernel + bias
        logits = training and plan.fused and i == last
        x = z if logits else _ACTIVATIONS[plan.activations[i]](z)
    return x


def _batch_loss(plan: _Plan, params, x, y, w, noise) -> Array:
    """A replica's batch loss: the mean over rows, or weighted by ``w`` like the engine."""
    loss, from_logits = _LOSSES[plan.loss]
    per_sample = (from_logits if plan.fused else loss)(y, _forward(plan, params, x, True, noise))
    if w is None:
        return jnp.mean(per_sample)
    return jnp.sum(per_sample * (w / jnp.maximum(jnp.sum(w), jnp.finfo(w.dtype).tiny)))


def _step(plan: _Plan, table: tuple, carry: tuple, inputs: tuple) -> tuple[tuple, Array]:
    """One gradient step of one replica on the batch ``rows`` of its ``table`` (x, y, w)."""
    params, slots = carry
    rows, valid, hyper, key = inputs
    x_rows, y_rows, w_rows = table
    x = x_rows[rows]
    w = valid if w_rows is None else w_rows[rows] * (1 if valid is None else valid)
    noise = None
    if any(plan.dropout):  # one draw per step for every layer's mask
        widths = [kernel.shape[0] for kernel in params[::2]]
        size = sum(len(rows) * n for n, p in zip(widths, plan.dropout, strict=True) if p)
        noise = jax.random.uniform(key, (size,), x.dtype)
    loss, grads = jax.value_and_grad(_batch_loss, argnums=1)(
        plan, params, x, y_rows[rows], w, noise
    )
    new_params, new_slots = [], []
    for i, (p, g, s) in enumerate(zip(params, grads, slots, strict=True)):
        if plan.decay[i]:  # L2 on kernels only: g += wd * w
            g = g + p * plan.decay[i]
        group = plan.groups[i // 2]
        name, constants = plan.rules[group]
        p, s = _RULES[name][1](constants, p, g, s, hyper[group])
        new_params.append(p)
        new_slots.append(s)
    return (new_params, new_slots), loss


def _replica_epoch(plan: _Plan, params, slots, table, order, hyper, seed, epoch):
    """One epoch of one replica: a scan over its batches.

    A last batch shorter than ``plan.batch`` is padded with row 0 at weight 0, which gives the
    mean over its real rows (as the engine's shorter batch) with a single compiled step.
    """
    n, b = order.shape[0], plan.batch
    steps = -(-n // b)
    rows = jnp.concatenate([order, jnp.zeros(steps * b - n, order.dtype)]).reshape(steps, b)
    valid = None
    if steps * b != n:
        valid = (jnp.arange(steps * b) < n).astype(table[0].dtype).reshape(steps, b)
    keys = jax.random.split(jax.random.fold_in(jax.random.PRNGKey(seed), epoch), steps)

    def step(carry, inputs):
        return _step(plan, table, carry, inputs)

    (params, slots), losses = lax.scan(step, (params, slots), (rows, valid, hyper, keys))
    return params, slots, losses


@functools.partial(jax.jit, static_argnums=0, donate_argnums=(1, 2))
def _epoch(plan: _Plan, params, slots, table, order, hyper, seeds, epoch):
    """All replicas' epoch in one call; returns new params, slots and (R, steps) batch losses."""
    run = functools.partial(_replica_epoch, plan)
    return jax.vmap(run, in_axes=(0, 0, 0, 0, None, 0, None))(
        params, slots, table, order, hyper, seeds, epoch
    )


@functools.partial(jax.jit, static_argnums=(0, 3))
def _predict(plan: _Plan, params, x, shared: bool):
    """Inference outputs of every replica; ``shared``: the same rows ``x`` for all of them."""
    run = functools.partial(_forward, plan)
    return jax.vmap(run, in_axes=(0, None if shared else 0))(params, x)


def _dropout_seed(seed: np.random.SeedSequence) -> int:
    """A 31-bit seed for a replica's JAX dropout key: from a child of the replica's seed that
    NumPy never draws from, so the masks are independent of its initial weights."""
    child = np.random.SeedSequence(
        seed.entropy, spawn_key=(*seed.spawn_key, _DROPOUT_SPAWN_KEY), pool_size=seed.pool_size
    )
    return int(child.generate_state(1, np.uint32)[0] >> 1)


_DROPOUT_SPAWN_KEY = 0x6A6178  # "jax"


def _enable_x64(on: bool) -> contextlib.AbstractContextManager:
    """A scoped float64 switch (``jax.enable_x64`` in current JAX, ``experimental`` before)."""
    if not on:
        return contextlib.nullcontext()
    scoped = getattr(jax, "enable_x64", None)
    if scoped is not None:
        return scoped(True)
    from jax.experimental import enable_x64  # JAX < 0.6

    return enable_x64()


def _kernel_part(block: np.ndarray) -> np.ndarray:
    """(R, n_in, units) of an (R, n_in + 1, units) block laid out like a layer's weights."""
    return block[:, :-1]


def _bias_part(block: np.ndarray) -> np.ndarray:
    """(R, units): the bias row of such a block."""
    return block[:, -1]


# -- the runner ----------------------------------------------------------------------------------


class Runner(EpochRunner):
    """Trains all replicas of ``net`` with JAX, one compiled call per epoch."""

    name = "jax"

    def __init__(self, net: Network) -> None:
        super().__init__(net)
        self.dtype = net.dtype
        self._plan = _Plan.of(net, 1)
        self._device_inputs: dict[int, tuple[np.ndarray, Array]] = {}
        self._epoch = 0

    def _scope(self) -> contextlib.AbstractContextManager:
        return _enable_x64(self.dtype == np.float64)

    def _bind(self, x: np.ndarray, y: np.ndarray, sample_weight: np.ndarray | None) -> None:
        net = self.net
        self._plan = dataclasses.replace(self._plan, batch=self.batch_size)
        seeds = net.seeds or np.random.SeedSequence().spawn(net.replicas)
        with self._scope():
            w = None if sample_weight is None else self._put(sample_weight)
            self._table = (self._put(x), self._put(y), w)
            self._seeds = jax.device_put(np.array([_dropout_seed(s) for s in seeds], np.uint32))
            self._params = self._device_params()

            # The optimizer state continues from the network's (zeros if it never stepped),
            # copied from the host: no small compilations before the epoch's.
            self._slots = [
                tuple(self._put(part(view)) for view in net.slot_views(i))
                for i in range(len(net.layers))
                for part in (_kernel_part, _bias_part)
            ]

    def run_epoch(self, order: np.ndarray) -> np.ndarray:
        net = self.net
        sizes = np.array(self._steps(order.shape[1]), dtype=np.float64)
        hyper = [  # each step's scalars, from the engine's own schedules
            np.array(
                [_RULES[opt.name][3](opt, opt.iterations + s) for s in range(len(sizes))],
                self.dtype,
            )
            for opt in net.optimizers
        ]
        with self._scope():
            self._params, self._slots, losses = _epoch(
                self._plan,
                self._params,
                self._slots,
                self._table,
                jax.device_put(order.astype(np.int32)),
                hyper,
                self._seeds,
                self._epoch,
            )
            params, slots = jax.device_get((self._params, self._slots))
            for i, layer in enumerate(net.layers):  # the host network stays the whole state
                np.copyto(layer.kernel, params[2 * i])
                np.copyto(layer.bias[:, 0], params[2 * i + 1])
                for view, kernel, bias in zip(
                    net.slot_views(i), slots[2 * i], slots[2 * i + 1], strict=True
                ):
                    np.copyto(_kernel_part(view), kernel)
                    np.copyto(_bias_part(view), bias)
            batch_losses = np.asarray(losses, dtype=np.float64)
        self._epoch += 1
        for opt in net.optimizers:
            opt.iterations += len(sizes)
        return (batch_losses * sizes).sum(axis=1) / order.shape[1]

    def predict(self, x: np.ndarray) -> np.ndarray:
        with self._scope():
            params = self._device_params()
            return np.asarray(_predict(self._plan, params, self._on_device(x), x.ndim == 2))

    def _device_params(self) -> list[Array]:
        """Copies of ``net.params`` on the device: kernel (R, n_in, units), bias (R, units),
        for every layer in turn."""
        return [self._put(p) for layer in self.net.layers for p in (layer.kernel, layer.bias[:, 0])]

    def _put(self, array: np.ndarray) -> Array:
        """A device copy of ``array`` in the network's dtype (``device_put`` compiles nothing;
        the host copy keeps the device buffer from aliasing NumPy memory on CPU)."""
        return jax.device_put(np.array(array, self.dtype, order="C"))

    def _on_device(self, x: np.ndarray) -> Array:
        """``x`` as a device array, kept for arrays seen before (validation rows each epoch):
        arrays passed to :meth:`predict` are treated as read-only."""
        entry = self._device_inputs.get(id(x))
        if entry is None or entry[0] is not x:
            if len(self._device_inputs) >= 4:
                self._device_inputs.clear()
            entry = self._device_inputs[id(x)] = (x, self._put(x))
        return entry[1]
