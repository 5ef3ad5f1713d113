"""One ``get()`` for every registry of the engine (activations, initializers, losses, ...).

Each registry maps snake_case names (and a few aliases) to classes. ``resolve`` accepts a name, a
config dict ``{"name": ..., **kwargs}``, a class or an instance, the way ``keras.*.get`` does, and
lists the valid names when it does not know one.
"""

from __future__ import annotations

from typing import Any, TypeVar

__all__ = ["resolve"]

T = TypeVar("T")


def resolve(identifier: Any, registry: dict[str, type[T]], base: type[T], kind: str) -> T:
    """Turn ``identifier`` into an instance of ``base`` using ``registry`` (name -> class)."""
    if isinstance(identifier, base):
        return identifier
    if isinstance(identifier, type) and issubclass(identifier, base):
        return identifier()
    if isinstance(identifier, str):
        cls = _lookup(identifier, registry, kind)
        return cls()
    if isinstance(identifier, dict):
        config = dict(identifier)
        name = config.pop("name", None)
        if not isinstance(name, str):
            msg = (
                f"a `{kind}` config dict needs a string 'name' key, e.g. {{'name': "
                f"'{next(iter(registry))}'}}. Received: {kind}={identifier!r}"
            )
            raise ValueError(msg)
        cls = _lookup(name, registry, kind)
        try:
            return cls(**config)
        except TypeError as exc:
            msg = f"invalid arguments for {kind} '{name}': {exc}. Received: {kind}={identifier!r}"
            raise TypeError(msg) from None
    msg = (
        f"`{kind}` must be a name, a config dict or a {base.__name__} instance. "
        f"Received: {kind}={identifier!r}"
    )
    raise TypeError(msg)


def _lookup(name: str, registry: dict[str, type[T]], kind: str) -> type[T]:
    key = name.lower()
    if key not in registry:
        valid = sorted(registry)
        msg = f"unknown {kind} {name!r}; valid names are {valid}. Received: {kind}={name!r}"
        raise ValueError(msg)
    return registry[key]
