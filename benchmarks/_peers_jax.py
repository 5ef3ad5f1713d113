"""JAX's peer of ``seed_workload.py``: all folds ``vmap``-ed, an epoch one jitted ``lax.scan``."""

from __future__ import annotations

import itertools

import numpy as np
from _workload import ADAM, BATCH, HIDDEN, UNITS, padded_orders, stack_padded


def run_jax(folds, epochs, seed, clock) -> list[np.ndarray]:
    """JAX (CPU): all folds vmapped, one epoch = one ``jit(vmap(lax.scan over batches))`` call.

    Each replica's epoch is a scan of Adam steps (Keras' formula, as nnforge) over its shuffled,
    padded row order; the order comes from the same generators as nnforge's, the last partial
    batch is one more step, and ``vmap`` runs the folds together as nnforge's replicas do.
    """
    import jax
    import jax.numpy as jnp

    R, n_in = len(folds), folds[0].x_train.shape[1]
    widths = [n_in] + [UNITS] * HIDDEN + [1]
    b1, b2, eps, lr = ADAM["beta_1"], ADAM["beta_2"], ADAM["epsilon"], ADAM["lr"]

    def init(key):
        params = []
        for fan_in, fan_out in itertools.pairwise(widths):
            key, sub = jax.random.split(key)
            limit = (6.0 / (fan_in + fan_out)) ** 0.5  # Glorot uniform, zero biases
            w = jax.random.uniform(sub, (fan_in, fan_out), jnp.float32, -limit, limit)
            params.append((w, jnp.zeros((fan_out,), jnp.float32)))
        return params

    def forward(params, x):
        for i, (w, b) in enumerate(params):
            x = x @ w + b
            if i < len(params) - 1:
                x = jax.nn.relu(x)
        return x

    grad = jax.grad(lambda params, x, y: jnp.mean((forward(params, x) - y) ** 2))

    def step(state, batch):
        params, m, v, t = state
        g = grad(params, *batch)
        t = t + 1.0
        alpha = lr * jnp.sqrt(1.0 - b2**t) / (1.0 - b1**t)
        m = jax.tree.map(lambda m, g: m + (g - m) * (1.0 - b1), m, g)
        v = jax.tree.map(lambda v, g: v + (g * g - v) * (1.0 - b2), v, g)
        params = jax.tree.map(lambda p, m, v: p - alpha * m / (jnp.sqrt(v) + eps), params, m, v)
        return (params, m, v, t), None

    def epoch(state, x, y, order):  # one replica: x (n_max, n_in), order (n_max,)
        full = order.shape[0] // BATCH * BATCH
        xs, ys = x[order[:full]], y[order[:full]]
        batches = (xs.reshape(-1, BATCH, n_in), ys.reshape(-1, BATCH, 1))
        state, _ = jax.lax.scan(step, state, batches)
        if full < order.shape[0]:
            state, _ = step(state, (x[order[full:]], y[order[full:]]))
        return state

    run_epoch = jax.jit(jax.vmap(epoch))
    params = jax.vmap(init)(jnp.stack([jax.random.PRNGKey(seed + f.index) for f in folds]))
    zeros = jax.tree.map(jnp.zeros_like, params)
    state = (params, zeros, zeros, jnp.zeros(R, jnp.float32))
    x = jnp.asarray(stack_padded([f.x_train for f in folds]))
    y = jnp.asarray(stack_padded([f.y_train for f in folds]))
    counts = [len(f.x_train) for f in folds]
    rngs = [np.random.default_rng(seed + 1000 + f.index) for f in folds]
    clock.fold()
    for _ in range(epochs):  # the first epoch includes compilation (the warm-up column)
        order = jnp.asarray(padded_orders(rngs, counts, x.shape[1]))
        state = jax.block_until_ready(run_epoch(state, x, y, order))
        clock.tick()
    pred = np.asarray(
        jax.vmap(forward)(state[0], jnp.asarray(stack_padded([f.x_valid for f in folds])))
    )
    return [pred[r, : len(f.x_valid)] for r, f in enumerate(folds)]
