"""The NumPy engine: dense layers, activations, losses, optimizers and the replicated network.

Every tensor carries a leading replica axis ``R``; see :class:`Network` and ``docs/DESIGN.md``.
"""

from nnforge.nn import activations, fpmode, initializers, losses, optimizers, schedules
from nnforge.nn.layers import Dense
from nnforge.nn.losses import BinaryCrossentropy, CategoricalCrossentropy, Loss, MeanSquaredError
from nnforge.nn.network import Network, replica_seeds
from nnforge.nn.optimizers import SGD, Adam, Momentum, Optimizer
from nnforge.nn.schedules import Constant, InverseTimeDecay, PiecewiseConstant, Schedule

__all__ = [
    "SGD",
    "Adam",
    "BinaryCrossentropy",
    "CategoricalCrossentropy",
    "Constant",
    "Dense",
    "InverseTimeDecay",
    "Loss",
    "MeanSquaredError",
    "Momentum",
    "Network",
    "Optimizer",
    "PiecewiseConstant",
    "Schedule",
    "activations",
    "fpmode",
    "initializers",
    "losses",
    "optimizers",
    "replica_seeds",
    "schedules",
]
