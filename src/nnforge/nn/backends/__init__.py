"""Backends: how a :class:`~nnforge.nn.Network`'s replicas train, an epoch at a time.

The network is described once, by the engine (its layers', loss's and optimizers' configs and its
flat parameters, initialised by the engine's initializers); a backend only decides how that
description runs. ``"numpy"`` (:mod:`.numpy_backend`) is the reference: one NumPy call per
operation. ``"jax"`` (:mod:`.jax_backend`, the optional extra ``nnforge[jax]``) compiles each
epoch into one call over all replicas. Both implement :class:`EpochRunner`; a third backend is
one more module with an ``EpochRunner`` subclass named ``Runner`` and one line in ``_MODULES``.
"""

from __future__ import annotations

import importlib

from nnforge.exceptions import NNForgeError
from nnforge.nn.backends.base import EpochRunner

__all__ = ["BACKENDS", "BackendUnavailableError", "EpochRunner", "get"]

# name -> (module, what it needs, how to install it)
_MODULES = {
    "numpy": ("nnforge.nn.backends.numpy_backend", "NumPy", "pip install nnforge"),
    "jax": ("nnforge.nn.backends.jax_backend", "JAX", "pip install 'nnforge[jax]'"),
}
BACKENDS = tuple(_MODULES)


class BackendUnavailableError(NNForgeError, ImportError):
    """A backend was asked for whose optional dependency is not installed."""


def get(name: str) -> type[EpochRunner]:
    """The :class:`EpochRunner` class of backend ``name``; its module is imported only now.

    Raises :class:`BackendUnavailableError` (one line, with the install command) when the
    backend's dependency is missing, and ``ValueError`` for an unknown name.
    """
    if name not in _MODULES:
        msg = f"unknown backend {name!r}; valid names are {list(BACKENDS)}. Received: {name!r}"
        raise ValueError(msg)
    module, needs, install = _MODULES[name]
    try:
        return importlib.import_module(module).Runner
    except ImportError as exc:
        msg = f"the `{name}` backend needs {needs}, which is not installed ({exc}): {install}"
        raise BackendUnavailableError(msg) from None
