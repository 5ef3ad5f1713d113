"""Row splits: which rows each fold holds out (:func:`split_rows`, as the spec's trainer says).

For class targets the splits are stratified: plain random folds of a small, imbalanced table can
leave a fold without a rare class (then its model never learns it, or its held-out score is
meaningless). These functions take the class of every row (integer codes) and a generator, so
the same seed gives the same folds.
"""

from __future__ import annotations

import numpy as np

from nnforge.exceptions import SpecError
from nnforge.model import KFolds, Split, TrainerSpec

__all__ = ["split_rows", "stratified_folds", "stratified_holdout"]


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


def split_rows(
    trainer: TrainerSpec,
    n_rows: int,
    rng: np.random.Generator,
    classes: np.ndarray | None = None,
) -> list[np.ndarray]:
    """The held-out row positions of every fold (sorted); the other rows train that fold.

    ``KFolds(k)``: k disjoint parts of a permutation, so every row is held out once.
    ``Split(ratio)``: one fold holding out the rows after the first ``ratio`` of a permutation.
    ``classes`` (the class index of every row, for a class target) makes both stratified (see
    :mod:`nnforge.training.splits`): every fold keeps the file's class mix.
    """
    if isinstance(trainer, KFolds):
        if n_rows < trainer.k:
            msg = f"`k`={trainer.k} folds need at least {trainer.k} rows. Received: {n_rows} rows"
            raise SpecError(msg)
        if classes is not None:
            return stratified_folds(classes, trainer.k, rng)
        return [np.sort(part) for part in np.array_split(rng.permutation(n_rows), trainer.k)]
    if isinstance(trainer, Split):
        n_train = round(n_rows * trainer.ratio)
        if not 0 < n_train < n_rows:
            msg = f"`ratio`={trainer.ratio} leaves no training or validation rows of {n_rows}"
            raise SpecError(msg)
        if classes is not None:
            return [stratified_holdout(classes, 1.0 - trainer.ratio, rng)[0]]
        return [np.sort(rng.permutation(n_rows)[n_train:])]
    msg = f"`trainer` must be KFolds or Split. Received: trainer={trainer!r}"
    raise TypeError(msg)
