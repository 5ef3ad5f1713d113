"""``nnforge spec``: start a model spec from a data file (``init``) and validate one (``check``).

``spec init`` lists every column of the file with its inferred type (the seed's
``Dataset::from_csv``) and adds what makes the spec trainable as is: numeric columns min-max
normalised, a date-like text column parsed into month and timestamp, a clashing or non-numeric
``id`` kept out of the model, short text columns one-hot encoded, the rest left out of the model.

The target decides the head: a text target, or an integer one with few distinct values, is a
class target (sigmoid + binary cross-entropy for 2 classes, softmax + categorical cross-entropy
otherwise, metric log loss); anything else is regression (linear + MSE). ``--task`` overrides the
guess. Batch size and epochs are sized to the number of rows, with early stopping on.
"""

from __future__ import annotations

import argparse
import logging
import math
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from nnforge.cli._common import (
    CLIError,
    add_command,
    data_errors,
    fold_count,
    load_spec,
    positive_int,
    spec_errors,
)
from nnforge.cli.train import resolve_data
from nnforge.data import (
    AddExtractedMonth,
    AddExtractedTimestamp,
    Classes,
    DatasetSpec,
    DateFormat,
    IsId,
    Missing,
    Normalized,
    Not,
    OneHot,
    Out,
    UsedInModel,
    read_table,
)
from nnforge.data.io import sniff_separator
from nnforge.data.targets import label_text, learn_labels
from nnforge.model import EarlyStopping, KFolds, LayerSpec, Model

__all__ = ["register", "run_check", "run_init", "starter_spec"]

logger = logging.getLogger(__name__)

# Text columns with at most this many distinct values are one-hot encoded.
_MAX_CATEGORIES = 20
# An integer target with at most this many distinct values is taken as classes.
_MAX_INTEGER_CLASSES = 10
# Hidden layers are `inputs+1` wide (the seed's choice) but never narrower than this.
_MIN_HIDDEN = 32
_DATE_FORMATS = (
    "%Y-%m-%d",
    "%Y%m%dT%H%M%S",
    "%Y-%m-%dT%H:%M:%S",
    "%Y-%m-%d %H:%M:%S",
    "%Y/%m/%d",
    "%d/%m/%Y",
    "%m/%d/%Y",
)


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``spec`` subcommand and its ``init``/``check`` actions."""
    parser = add_command(
        subparsers,
        "spec",
        help="start a model spec from a data file, or check one",
        description="Write a starting model spec (JSON) from a data file, or validate a spec.",
        examples=[
            "nnforge spec init kc_house_data.csv --target price > spec.json",
            "nnforge spec check spec.json",
        ],
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION")
    init = add_command(
        actions,
        "init",
        help="print a starting model spec for a data file",
        description=(
            "Print a model spec (JSON) for DATA: every column with its inferred type, numeric "
            "columns min-max normalised, 2 hidden ReLU layers of inputs+1 units (at least 32) and "
            "an output layer for the target (linear + MSE, or sigmoid/softmax + cross-entropy for "
            "a class target), Adam, 5 folds, batch and epochs sized to the rows with early "
            "stopping. What it chose is noted on stderr. Edit it, then run `nnforge train`."
        ),
        examples=[
            "nnforge spec init kc_house_data.csv --target price > spec.json",
            "nnforge spec init data.parquet --target y --epochs 20 > spec.json",
        ],
    )
    init.add_argument("data", metavar="DATA", help="CSV, Parquet or Arrow IPC file")
    init.add_argument(
        "--target",
        metavar="COL",
        action=_Once,
        help="the column to predict (marked as output; give it once)",
    )
    init.add_argument(
        "--task",
        choices=("auto", "classification", "regression"),
        default="auto",
        help=(
            "auto (default): a text target, or an integer one with at most "
            f"{_MAX_INTEGER_CLASSES} distinct values, is classification; else regression"
        ),
    )
    init.add_argument(
        "--folds", type=fold_count, default=5, metavar="K", help="k-fold k (default: 5)"
    )
    init.add_argument(
        "--epochs",
        type=positive_int,
        metavar="N",
        help="epochs (default: sized to the rows, with early stopping)",
    )
    init.set_defaults(func=run_init)
    check = add_command(
        actions,
        "check",
        help="validate a spec and print a summary",
        description="Validate a model spec and print its features, layers and training setup.",
        examples=[
            "nnforge spec check spec.json",
        ],
    )
    check.add_argument("spec", metavar="SPEC.json", help="model spec file")
    check.add_argument(
        "--data",
        metavar="PATH",
        help=(
            "also check the spec against this data file (default: the spec's `data`): classes, "
            "last layer and loss against the encoded targets"
        ),
    )
    check.set_defaults(func=run_check)
    parser.set_defaults(func=lambda args: _usage(parser))


class _Once(argparse.Action):
    """Store an option that may be given only once (a second ``--target`` would otherwise
    silently win, and the first column would become an input that leaks the label)."""

    def __call__(self, parser, namespace, values, option_string=None) -> None:
        if getattr(namespace, self.dest, None) is not None:
            parser.error(
                f"{option_string} given twice ({getattr(namespace, self.dest)!r} and "
                f"{values!r}); a spec has one target"
            )
        setattr(namespace, self.dest, values)


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help()
    return 2


def _date_format(column: pl.Series) -> str | None:
    """The first format that parses every non-empty value of a text column, if any."""
    values = column.drop_nulls().str.strip_chars()
    values = values.filter(values != "")
    if values.len() == 0:
        return None
    for fmt in _DATE_FORMATS:
        parsed = values.str.strptime(pl.Datetime, fmt, strict=False)
        if parsed.null_count() == 0:
            return fmt
    return None


@dataclass(frozen=True)
class Sizing:
    """What ``spec init`` chose for the number of rows (said in a note)."""

    batch_size: int
    epochs: int
    patience: int

    def describe(self, n_rows: int) -> str:
        return (
            f"sized for {n_rows:,} rows: batch {self.batch_size}, up to {self.epochs} epochs, "
            f"early stopping after {self.patience} epochs without improvement (on 10% of each "
            f"fold's training rows)"
        )


def size_training(n_rows: int, folds: int, epochs: int | None = None) -> Sizing:
    """Batch size and epochs for ``n_rows``: small tables get small batches and more epochs.

    The batch is about 1/20 of the rows (a power of two in [8, 128]), so every epoch makes
    ~15 updates even on 150 rows; epochs give some 8,000 updates in all (within [50, 500]);
    early stopping (patience a tenth of the epochs, at least 20) ends a fold that stops
    improving, so the upper bound costs little.
    """
    batch = int(min(128, max(8, 2 ** round(math.log2(max(n_rows, 1) / 20)))))
    train_rows = n_rows * (folds - 1) / folds * 0.9
    steps = max(1.0, math.ceil(train_rows / batch))
    auto = int(min(500, max(50, round(8000 / steps / 10) * 10)))
    epochs = auto if epochs is None else epochs
    return Sizing(batch_size=batch, epochs=epochs, patience=max(20, epochs // 10))


def detect_task(column: pl.Series) -> str:
    """``"classification"`` for text/boolean labels or few distinct integers, else regression."""
    dtype = column.dtype
    if dtype == pl.Boolean or not dtype.is_numeric():
        return "classification"
    if dtype.is_integer() and column.drop_nulls().n_unique() <= _MAX_INTEGER_CLASSES:
        return "classification"
    return "regression"


def starter_spec(
    data: str | Path,
    target: str | None = None,
    *,
    folds: int = 5,
    epochs: int | None = None,
    task: str = "auto",
) -> Model:
    """A trainable starting :class:`~nnforge.model.Model` for the columns of ``data``.

    What it detects and proposes is said as notes (``logging``, shown by the CLI): another
    separator or encoding, placeholders for missing values in numeric columns, constant
    columns, missing values (median fill for inputs, rows dropped for the target), the task
    and head chosen for the target, and the batch size and epochs chosen for the rows.
    """
    options = _read_options(Path(data))
    frame = read_table(data, **options)
    placeholders = _placeholders(frame)
    if placeholders:
        options["na_values"] = sorted({t for tokens in placeholders.values() for t in tokens})
        frame = read_table(data, **options)
    spec = DatasetSpec.from_frame(frame, name=Path(data).stem)
    spec.separator, spec.encoding = options.get("separator"), options.get("encoding")
    spec.na_values = options.get("na_values", [])
    if target is not None and target not in spec.features:
        msg = f"`--target` {target!r} is not a column of {data}; columns: {list(spec.features)}"
        raise CLIError(msg, "pick one of the columns listed")
    if target is not None and task == "auto":
        task = detect_task(frame[target])
    numeric: list[str] = []
    for name, dtype in frame.schema.items():
        if name == target and task == "classification":
            if frame[target].null_count():
                spec.add_opt_to(target, Missing("drop"))
                logger.info("target `%s` is missing in some rows: they are left out", target)
            continue
        if name == spec.id_column:
            _handle_id(spec, frame.get_column(name))
        elif dtype.is_numeric() or dtype == pl.Boolean:
            if name != target and frame[name].drop_nulls().n_unique() <= 1:
                logger.info("column `%s` is constant: left out of the model", name)
                spec.add_opt_to(name, Not(UsedInModel))
            else:
                numeric.append(name)
                _handle_missing(spec, frame.get_column(name), target)
        elif dtype == pl.String and name != target:
            _handle_text(spec, frame.get_column(name))
        elif not dtype.is_temporal():
            spec.add_opt_to(name, Not(UsedInModel))
    if numeric:
        spec.add_opt(Normalized.only(numeric))
    head, loss, metric = [LayerSpec(units=1, activation="linear")], "mse", None
    if target is not None:
        if task == "classification":
            spec.add_opt_to(target, Out)
            head, loss = _class_head(spec, frame[target])
            metric = "log_loss"
        elif target not in numeric:
            msg = (
                f"`--target` {target!r} must be a numeric column for regression. "
                f"Received: {frame.schema[target]}"
            )
            raise CLIError(msg, "leave out --task regression to train a classifier on it")
        else:
            spec.add_opt_to(target, Out)
            logger.info("target `%s`: regression (linear output, mean squared error)", target)
    sizing = size_training(frame.height, folds, epochs)
    logger.info("%s", sizing.describe(frame.height))
    # A class target gets a light L2 penalty: on a few hundred rows it is worth ~1 point of
    # accuracy (benchmarks/classification.py); regression starters keep plain Adam.
    optimizer = {"name": "adam", "weight_decay": 1e-3} if metric is not None else "adam"
    layers = [LayerSpec(units=_hidden_units(spec, frame), activation="relu")] * 2 + head
    return Model(
        dataset=spec.validated(),
        layers=layers,
        loss=loss,
        optimizer=optimizer,
        batch_size=sizing.batch_size,
        trainer=KFolds(k=folds),
        epochs=sizing.epochs,
        early_stopping=EarlyStopping(patience=sizing.patience),
        metric=metric,
    )


def _hidden_units(spec: DatasetSpec, frame: pl.DataFrame) -> int | str:
    """``inputs+1`` (the seed's width), but at least ``_MIN_HIDDEN`` units for a few inputs."""
    n = 0
    for name, feature in spec.features.items():
        if feature.output or not feature.used_in_model:
            n += 2 * (feature.date_format is not None)  # month and timestamp
        elif feature.one_hot is not None:
            n += frame[name].n_unique()
        else:
            n += 1
    return "inputs+1" if n + 1 >= _MIN_HIDDEN else _MIN_HIDDEN


def _class_head(spec: DatasetSpec, column: pl.Series) -> tuple[list[LayerSpec], str]:
    """Mark ``column`` as a class target with the file's labels; the matching head and loss."""
    labels = learn_labels(label_text(column))
    if len(labels) < 2:
        msg = f"`--target` {column.name!r} has {len(labels)} distinct value(s); classes need 2+"
        raise CLIError(msg, "pick a column with at least two classes")
    typed: list[int | str] = list(labels)
    if column.dtype.is_integer():
        typed = [int(v) for v in labels]
    spec.add_opt_to(column.name, Classes(typed))
    if len(labels) == 2:
        head, loss = LayerSpec(units=1, activation="sigmoid"), "binary_crossentropy"
        how = "one sigmoid output, binary cross-entropy"
    else:
        head, loss = LayerSpec(units=len(labels), activation="softmax"), "categorical_crossentropy"
        how = f"{len(labels)} softmax outputs, categorical cross-entropy"
    shown = ", ".join(map(str, typed[:12])) + (" ..." if len(typed) > 12 else "")
    logger.info(
        "target `%s`: classification, %d classes (%s); %s; metric log loss (use --task "
        "regression to predict it as a number)",
        column.name,
        len(labels),
        shown,
        how,
    )
    return [head], loss


def _read_options(path: Path) -> dict[str, Any]:
    """Separator and encoding of a CSV file, where they are not the defaults (with a note)."""
    options: dict[str, Any] = {}
    if path.suffix.lower() not in (".csv", ".txt") or not path.is_file():
        return options
    raw = path.read_bytes()
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start)
        try:
            raw.decode("cp1252")
            options["encoding"] = "cp1252"
        except UnicodeDecodeError:
            options["encoding"] = "latin-1"
        logger.info(
            "%s is not UTF-8 (first at line %d): read as %s; check its accented text",
            path,
            line + 1,
            options["encoding"],
        )
    separator = sniff_separator(path, options.get("encoding"))
    if separator != ",":
        options["separator"] = separator
        logger.info("%s looks %r-separated: read so (`separator` in the spec)", path, separator)
    return options


def _placeholders(frame: pl.DataFrame) -> dict[str, list[str]]:
    """Text columns that are numbers but for a few placeholder tokens (e.g. ``?``, ``n/a``).

    A token is a placeholder when it holds no digit, and the column's non-numeric cells are at
    most a fifth of its filled cells, spread over at most 5 distinct tokens. Each is reported
    (column, token, count, first rows).
    """
    found: dict[str, list[str]] = {}
    for name, dtype in frame.schema.items():
        if dtype != pl.String:
            continue
        text = frame[name].str.strip_chars()
        filled = text.is_not_null() & (text != "")
        bad = filled & text.cast(pl.Float64, strict=False).is_null()
        n_bad, n_filled = int(bad.sum()), int(filled.sum())
        if not n_bad or n_bad == n_filled or n_bad > 0.2 * n_filled:
            continue
        tokens = text.filter(bad).unique().sort().to_list()
        if len(tokens) > 5 or any(ch.isdigit() for t in tokens for ch in t):
            continue
        found[name] = tokens
        for token in tokens:
            rows = (bad & (text == token)).arg_true()
            shown = ", ".join(str(r + 1) for r in rows[:5].to_list())
            logger.info(
                "column `%s` is numeric but for %r in %d row(s) (data rows %s%s): declared as a "
                "missing value (`na_values`)",
                name,
                token,
                len(rows),
                shown,
                " ..." if len(rows) > 5 else "",
            )
    return found


def _handle_missing(spec: DatasetSpec, column: pl.Series, target: str | None) -> None:
    """A policy for a numeric column with empty cells: fill inputs, drop rows for the target."""
    count = column.null_count()
    if not count:
        return
    if column.name == target:
        spec.add_opt_to(column.name, Missing("drop"))
        logger.info(
            "target `%s` is missing in %d row(s): they are left out of training (missing: drop)",
            column.name,
            count,
        )
    else:
        spec.add_opt_to(column.name, Missing("median"))
        logger.info(
            "column `%s` is missing in %d row(s): filled with the training median (missing: "
            "median)",
            column.name,
            count,
        )


def _handle_id(spec: DatasetSpec, column: pl.Series) -> None:
    """Make a column named like the id column the id when unique, else move the id aside."""
    if column.null_count() == 0 and column.n_unique() == column.len():
        spec.add_opt_to(column.name, IsId)
        return
    spec.id_column = "row_id"
    while spec.id_column in spec.features:
        spec.id_column = f"_{spec.id_column}"
    spec.add_opt_to(column.name, Not(UsedInModel))


def _handle_text(spec: DatasetSpec, column: pl.Series) -> None:
    fmt = _date_format(column)
    if fmt is not None:
        (
            spec.add_opt_to(column.name, DateFormat(fmt))
            .add_opt_to(column.name, Not(UsedInModel))
            .add_opt_to(column.name, AddExtractedMonth)
            .add_opt_to(column.name, AddExtractedTimestamp)
        )
        for added in (f"{column.name}_month", f"{column.name}_timestamp"):
            spec.add_opt_to(added, Normalized)
    elif column.n_unique() <= _MAX_CATEGORIES:
        spec.add_opt_to(column.name, OneHot(unknown="zeros"))
        if column.null_count():
            spec.add_opt_to(column.name, Missing("constant", "(missing)"))
    else:
        spec.add_opt_to(column.name, Not(UsedInModel))


def run_init(args: argparse.Namespace) -> int:
    """Print the starting spec (JSON on stdout, a summary on stderr)."""
    model = starter_spec(
        args.data, args.target, folds=args.folds, epochs=args.epochs, task=args.task
    )
    text = model.to_json()
    Model.from_json(text)  # the printed JSON must load back
    print(text)
    print(model.dataset.summary(), file=sys.stderr)
    if args.target is None:
        print(
            'note: no --target given; set `"output": true` on the column to predict before '
            "`nnforge train`",
            file=sys.stderr,
        )
    return 0


def run_check(args: argparse.Namespace) -> int:
    """Validate the spec and print a summary; exit 1 when it has no output."""
    model = load_spec(args.spec)
    dataset = model.dataset
    print(dataset.summary())
    described = model.describe()
    width = max(map(len, described))
    print("model")
    for name, value in described.items():
        print(f"  {name:<{width}}  {value}")
    if not dataset.out_features_names():
        msg = f"{args.spec}: no output feature (nothing to predict)"
        raise CLIError(msg, 'set `"output": true` on the target column under dataset.features')
    data = args.data if args.data is not None else model.data_path(args.spec)
    if data is not None:
        _check_data(model, args.spec, resolve_data(model, str(data)))
    print(f"{args.spec}: ok")
    return 0


def _check_data(model: Model, spec_file: str, data: Path) -> None:
    from nnforge.training import check_data

    with data_errors(data, "the data file must have the spec's columns"), spec_errors(spec_file):
        model, pipeline = check_data(model, data)
    outputs = pipeline.output_features_
    classes = pipeline.class_labels_
    what = f"{len(classes)} classes {classes}" if classes else f"outputs {outputs}"
    print(
        f"data {data}: {pipeline.n_fit_rows_} rows, {len(pipeline.input_features_)} inputs, {what}"
    )
