"""Per-replica seeds: what ``Network(..., seed=...)`` turns into one ``SeedSequence`` per replica.

See :mod:`nnforge.nn.network` for the rules (an int seed gives replica ``r`` the same sequence
whatever the number of replicas; a list gives each replica its own).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = ["replica_seeds", "seed_from_json", "seed_to_json"]


def replica_seeds(seed: Any, replicas: int) -> list[np.random.SeedSequence]:
    """Expand ``seed`` (see the module docstring) into one ``SeedSequence`` per replica."""
    if seed is None:
        return np.random.SeedSequence().spawn(replicas)
    if isinstance(seed, int | np.integer) and not isinstance(seed, bool):
        seed = np.random.SeedSequence(int(seed))
    if isinstance(seed, np.random.SeedSequence):
        # Children built explicitly rather than with spawn(), which is stateful.
        return [
            np.random.SeedSequence(
                seed.entropy, spawn_key=(*seed.spawn_key, r), pool_size=seed.pool_size
            )
            for r in range(replicas)
        ]
    if isinstance(seed, Sequence) and not isinstance(seed, str):
        if len(seed) != replicas:
            msg = (
                f"`seed` as a sequence needs one seed per replica ({replicas}). "
                f"Received: len(seed)={len(seed)}"
            )
            raise ValueError(msg)
        return [seed_from_json(s) for s in seed]
    msg = (
        "`seed` must be an int, a SeedSequence, a sequence of one per replica, a Generator or "
        f"None. Received: seed={seed!r}"
    )
    raise TypeError(msg)


def seed_from_json(seed: Any) -> np.random.SeedSequence:
    """One replica's seed: a ``SeedSequence``, an int or the JSON form of :func:`seed_to_json`."""
    if isinstance(seed, np.random.SeedSequence):
        return seed
    if isinstance(seed, dict):  # the JSON form written by get_config()
        return np.random.SeedSequence(seed["entropy"], spawn_key=tuple(seed.get("spawn_key", ())))
    if isinstance(seed, int | np.integer) and not isinstance(seed, bool):
        return np.random.SeedSequence(int(seed))
    msg = f"each per-replica seed must be an int or a SeedSequence. Received: {seed!r}"
    raise TypeError(msg)


def seed_to_json(seed: np.random.SeedSequence) -> Any:
    """The JSON form of a replica's seed: a plain int where that says it all."""
    if not seed.spawn_key and isinstance(seed.entropy, int):
        return seed.entropy
    return {"entropy": seed.entropy, "spawn_key": list(seed.spawn_key)}
