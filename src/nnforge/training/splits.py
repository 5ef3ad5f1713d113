"""Stratified row splits for class targets: every fold keeps the file's class proportions.

Plain random folds of a small, imbalanced table can leave a fold without a rare class (then its
model never learns it, or its held-out score is meaningless). These functions take the class of
every row (integer codes) and a generator, so the same seed gives the same folds.
"""

from __future__ import annotations

import numpy as np

__all__ = ["stratified_folds", "stratified_holdout"]


def _grouped_order(classes: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Row positions in random order, then grouped by class (a stable sort keeps the shuffle)."""
    order = rng.permutation(len(classes))
    return order[np.argsort(classes[order], kind="stable")]


def stratified_folds(classes: np.ndarray, k: int, rng: np.random.Generator) -> list[np.ndarray]:
    """Held-out row positions of ``k`` folds (sorted), each with the file's class mix.

    Rows are shuffled within their class, the classes laid end to end, and row ``i`` of that
    order goes to fold ``i % k``: each fold gets ``n_c // k`` or one more row of every class
    ``c``, and fold sizes differ by at most one.
    """
    classes = np.asarray(classes)
    if len(classes) < k:
        msg = f"`k`={k} folds need at least {k} rows. Received: {len(classes)} rows"
        raise ValueError(msg)
    fold_of = np.empty(len(classes), dtype=np.int64)
    fold_of[_grouped_order(classes, rng)] = np.arange(len(classes)) % k
    return [np.flatnonzero(fold_of == f) for f in range(k)]


def stratified_holdout(
    classes: np.ndarray, fraction: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """``(held, rest)`` sorted row positions, ``fraction`` of every class held out.

    Each class contributes ``round(n_c * fraction)`` rows; at least one row is held out in all.
    """
    classes = np.asarray(classes)
    held = []
    for c in np.unique(classes):
        rows = rng.permutation(np.flatnonzero(classes == c))
        held.append(rows[: round(len(rows) * fraction)])
    taken = np.concatenate(held) if held else np.empty(0, dtype=np.int64)
    if len(taken) == 0 and len(classes) > 1:
        taken = rng.permutation(len(classes))[:1]
    is_held = np.zeros(len(classes), dtype=bool)
    is_held[taken] = True
    return np.flatnonzero(is_held), np.flatnonzero(~is_held)
