"""One ``get()`` for every registry of the engine (activations, initializers, losses, ...).

Each registry maps snake_case names (and a few aliases) to classes. ``resolve`` accepts a name, a
config dict ``{"name": ..., **kwargs}``, a class or an instance, the way ``keras.*.get`` does, and
lists the valid names when it does not know one.
"""

from __future__ import annotations

import inspect
from typing import Any, ClassVar, TypeVar

__all__ = ["Configurable", "resolve"]

T = TypeVar("T")


class Configurable:
    """Base of registry entries: a ``name``, a JSON-able config, and value semantics from it.

    Two objects are equal when they are of the same class with the same config; the repr lists
    the config's arguments (``InverseTimeDecay(initial_learning_rate=0.1, ...)``).
    """

    name: ClassVar[str] = ""

    def get_config(self) -> dict[str, Any]:
        """The constructor's arguments as JSON-able values, with the registry ``name``."""
        return {"name": self.name}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Any:
        """A new instance from :meth:`get_config`'s output."""
        return cls(**{k: v for k, v in config.items() if k != "name"})

    def __eq__(self, other: object) -> bool:
        return type(self) is type(other) and self.get_config() == other.get_config()  # type: ignore[attr-defined]

    def __hash__(self) -> int:
        return hash(repr(self))

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items() if k != "name")
        return f"{type(self).__name__}({args})"


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
        try:  # check the names first: errors of nested configs then pass through unwrapped
            inspect.signature(cls).bind(**config)
        except TypeError as exc:
            msg = f"invalid arguments for {kind} '{name}': {exc}. Received: {kind}={identifier!r}"
            raise TypeError(msg) from None
        return cls(**config)
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
