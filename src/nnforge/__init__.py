"""nnforge: neural networks and revertible preprocessing for tabular data, on NumPy and Polars."""

from nnforge.exceptions import (
    DataError,
    DivergenceError,
    NNForgeError,
    NotFittedError,
    SpecError,
)

__version__ = "0.1.0"

__all__ = [
    "DataError",
    "DivergenceError",
    "NNForgeError",
    "NotFittedError",
    "SpecError",
    "__version__",
]
