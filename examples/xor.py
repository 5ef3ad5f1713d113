"""Learn XOR with the seed's 2-3-1 tanh network, first through the demo function, then by hand.

Run with ``python examples/xor.py`` (same as ``nnforge xor``, plus the hand-written loop).
"""

from __future__ import annotations

import numpy as np

from nnforge.demos import train_xor, xor_surface
from nnforge.nn import SGD, Dense, Network

# 1. The packaged demo: ten seeds trained at once as ten replicas of one network.
result = train_xor(epochs=1000, learning_rate=0.5, replicas=10, seed=0)
print(f"converged (MSE < 0.01): {(result.mse < 0.01).sum()} of {len(result.mse)} seeds")
a, b, z = xor_surface(result.network, resolution=5)
print("replica 0 on a 5x5 grid over [0, 1]^2:\n", np.round(z[0], 2))

# 2. The same network by hand: build, then one full-batch SGD step per epoch.
x = np.array([[[0, 0], [0, 1], [1, 0], [1, 1]]], dtype="float32")  # (R=1, 4 cases, 2 inputs)
y = np.array([[[0], [1], [1], [0]]], dtype="float32")
init = {"kernel_initializer": "signed_uniform", "bias_initializer": "signed_uniform"}
net = Network(
    2,
    [Dense(3, "tanh", **init), Dense(1, "tanh", **init)],
    loss="mse",
    optimizer=SGD(0.5),
    seed=0,
)
for epoch in range(1, 1001):
    loss = net.train_step(x, y)
    if epoch % 200 == 0:
        print(f"epoch {epoch:4d}  loss {loss[0]:.5f}")
print("predictions:", np.round(net.predict(x)[0, :, 0], 3))
