"""Exceptions raised by nnforge.

Every user-facing error is a subclass of both :class:`NNForgeError` and the builtin it refines, so
callers may catch either ``nnforge.NNForgeError`` or the plain ``ValueError``/``TypeError``.
"""

from __future__ import annotations

__all__ = [
    "DataError",
    "DivergenceError",
    "NNForgeError",
    "NotFittedError",
    "SpecError",
]


class NNForgeError(Exception):
    """Base class of every error nnforge raises on purpose."""


class NotFittedError(NNForgeError, ValueError):
    """An estimator or pipeline was used before ``fit``."""


class SpecError(NNForgeError, ValueError):
    """A dataset or model specification is invalid; the message names the JSON path."""


class DataError(NNForgeError, ValueError):
    """Input data is unusable; the message names the file, column, row (1-based) and value.

    ``hint`` (optional) is the fix that fits this problem; the CLI prints it as its hint line.
    """

    def __init__(self, message: str = "", hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message}; {self.hint}" if self.hint else self.message


class DivergenceError(NNForgeError, FloatingPointError):
    """Training produced a non-finite loss; the message names the fold and epoch."""
