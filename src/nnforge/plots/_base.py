"""What every figure shares: colours, the Agg figure, input checks, tick labels, PNG output."""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from nnforge._format import currency_symbol, with_unit
from nnforge._io import atomic_path

__all__ = ["figure_to_png", "save_figure"]


TRUE_COLOR = "tab:red"
PRED_COLOR = "tab:blue"
TRAIN_COLOR = "tab:blue"
VALID_COLOR = "tab:orange"
DPI = 100
# Above this many points, scatter plots switch to density (hexbin) or lighter markers.
_DENSE = 3000
# Features with at most this many distinct values are drawn as discrete (jittered) positions.
_DISCRETE = 30


def _figure(width: float, height: float) -> Figure:
    """A new constrained-layout figure attached to its own Agg canvas (no pyplot state)."""
    fig = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _axes(size: tuple[float, float], title: str, xlabel: str, ylabel: str) -> tuple[Figure, Axes]:
    """A figure with one titled and labelled axes."""
    fig = _figure(*size)
    ax = fig.add_subplot()
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    return fig, ax


def _label(name: str, units: Mapping[str, str] | None) -> str:
    """``"price (USD)"`` when ``units`` knows the column, else the bare name."""
    return with_unit(name, (units or {}).get(name))


def _require_columns(frame: pl.DataFrame, columns: Sequence[str], name: str) -> None:
    if not isinstance(frame, pl.DataFrame):
        msg = f"`{name}` must be a polars.DataFrame. Received: {name}={type(frame).__name__}"
        raise TypeError(msg)
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        msg = (
            f"`{name}` is missing the column(s) {missing}. Received: {name}.columns={frame.columns}"
        )
        raise ValueError(msg)


def _float(frame: pl.DataFrame, column: str) -> np.ndarray:
    """A column as float64 with nulls as NaN."""
    return frame.get_column(column).cast(pl.Float64).to_numpy().astype(np.float64, copy=False)


def _vector(x: Any, name: str) -> np.ndarray:
    arr = np.asarray(x, dtype=np.float64)
    if arr.ndim == 2 and 1 in arr.shape:
        arr = arr.ravel()
    if arr.ndim != 1:
        msg = f"`{name}` must be 1-D (one value per row). Received: {name}.shape={arr.shape}"
        raise ValueError(msg)
    return arr


# Matplotlib's order of preference among the corners when several are equally empty.
_CORNERS = {
    "upper right": (0.6, 1.0, 0.65, 1.0),
    "upper left": (0.0, 0.4, 0.65, 1.0),
    "lower left": (0.0, 0.4, 0.0, 0.35),
    "lower right": (0.6, 1.0, 0.0, 0.35),
}


def _legend(ax: Axes, **kwargs: Any) -> Any:
    """``ax.legend`` in the corner that covers the fewest data points.

    Matplotlib's ``loc="best"`` tests every candidate box against every vertex and every point
    of a scatter: on the report's 20,000-point figures that was 40 % of their drawing time. Here
    the points (line vertices, resampled so long segments count, and scatter offsets) are
    counted in each corner in one vectorised pass.
    """
    ax.get_xlim(), ax.get_ylim()  # settle autoscaled limits before transforming
    parts = [_resampled(line.get_xydata()) for line in ax.get_lines()]
    parts += [np.asarray(c.get_offsets(), dtype=float).reshape(-1, 2) for c in ax.collections]
    parts = [p for p in parts if len(p)]
    if not parts:
        return ax.legend(loc="upper right", **kwargs)
    uv = ax.transAxes.inverted().transform(ax.transData.transform(np.concatenate(parts)))
    u, v = uv[np.isfinite(uv).all(axis=1)].T
    counts = {
        loc: int(np.count_nonzero((u >= u0) & (u <= u1) & (v >= v0) & (v <= v1)))
        for loc, (u0, u1, v0, v1) in _CORNERS.items()
    }
    return ax.legend(loc=min(counts, key=counts.__getitem__), **kwargs)


def _resampled(xy: np.ndarray, n: int = 200) -> np.ndarray:
    """A polyline's vertices plus ``n`` points evenly spread along its index."""
    xy = np.asarray(xy, dtype=float).reshape(-1, 2)
    if len(xy) < 2:
        return xy
    t = np.linspace(0, len(xy) - 1, n)
    i = np.arange(len(xy))
    return np.concatenate(
        [xy, np.column_stack([np.interp(t, i, xy[:, 0]), np.interp(t, i, xy[:, 1])])]
    )


def _note(ax: Axes, text: str) -> None:
    """Write a centred grey note in an empty axes."""
    ax.text(0.5, 0.5, text, ha="center", va="center", color="0.4", transform=ax.transAxes)


def _fold_colors(n: int) -> list[Any]:
    from matplotlib import colormaps

    cmap = colormaps["tab10"] if n <= 10 else colormaps["viridis"]
    return [cmap(i if n <= 10 else i / max(n - 1, 1)) for i in range(n)]


def _use_log(values: np.ndarray, log: bool | None) -> bool:
    positive = values.size > 0 and bool(np.all(values > 0))
    return positive if log is None else bool(log) and positive


def _alpha(n: int) -> float:
    """Marker opacity that keeps 100 or 20k overlapping points readable."""
    return float(np.clip(800.0 / max(n, 1), 0.12, 0.8))


def _unit_of(label: str) -> str | None:
    """``"USD"`` from ``"price (USD)"``."""
    return label[label.rindex("(") + 1 : -1] if label.endswith(")") and "(" in label else None


def _name_of(label: str) -> str:
    """``"price"`` from ``"price (USD)"``."""
    return label.split(" (")[0]


def _money_ticks(ax: Axes, axis: str, label: str) -> None:
    """Tick labels such as ``$100k`` (log or linear axes) when the label's unit is a currency."""
    from matplotlib.ticker import FuncFormatter

    symbol = currency_symbol(_unit_of(label))
    target = ax.yaxis if axis == "y" else ax.xaxis
    scale = ax.get_yscale() if axis == "y" else ax.get_xscale()
    if symbol is None:
        _plain_ticks(ax, axis, compact=True)
        return

    def money(value: float, _pos: Any = None) -> str:
        sign = "-" if value < 0 else ""
        return f"{sign}{symbol}{_compact(abs(value))}"

    target.set_major_formatter(FuncFormatter(money))
    if scale == "log":
        target.set_minor_formatter(FuncFormatter(lambda v, _: ""))


def _plain_ticks(ax: Axes, axis: str = "y", *, compact: bool = False) -> None:
    """Readable large numbers on a linear axis: ``1,200,000`` (or ``1.2M``), never a ``1e6``."""
    from matplotlib.ticker import FuncFormatter

    target = ax.yaxis if axis == "y" else ax.xaxis
    scale = ax.get_yscale() if axis == "y" else ax.get_xscale()
    low, high = ax.get_ylim() if axis == "y" else ax.get_xlim()
    if scale == "linear" and max(abs(low), abs(high)) >= 1e4:
        target.set_major_formatter(FuncFormatter(_compact if compact else "{:,.0f}".format))


def _compact(value: float, _pos: Any = None) -> str:
    """``250k``, ``1.2M``: short labels for ticks that would otherwise collide."""
    for factor, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= factor:
            return f"{value / factor:g}{suffix}"
    return f"{value:g}"


def _binned_median(
    key: np.ndarray, y: np.ndarray, levels: np.ndarray | None = None, bins: int = 25
) -> tuple[np.ndarray, np.ndarray]:
    """Median of ``y`` per distinct ``levels`` of ``key``, or in quantile bins of ``key``."""
    ok = np.isfinite(key) & np.isfinite(y)
    key, y = key[ok], y[ok]
    if levels is not None:
        medians = [np.median(y[key == v]) if np.any(key == v) else np.nan for v in levels]
        return levels, np.asarray(medians)
    if key.size < 20:
        return np.array([]), np.array([])
    edges = np.unique(np.quantile(key, np.linspace(0, 1, bins + 1)))
    if edges.size < 3:
        return np.array([]), np.array([])
    which = np.clip(np.searchsorted(edges, key, side="right") - 1, 0, edges.size - 2)
    centres, medians = [], []
    for b in range(edges.size - 1):
        sel = which == b
        if sel.any():
            centres.append(np.median(key[sel]))
            medians.append(np.median(y[sel]))
    return np.asarray(centres), np.asarray(medians)


def _halo() -> list[Any]:
    from matplotlib import patheffects

    return [patheffects.withStroke(linewidth=3.5, foreground="white")]


def figure_to_png(fig: Figure, *, dpi: float = DPI) -> bytes:
    """Render ``fig`` to PNG bytes.

    Parameters
    ----------
    fig : Figure
        Any matplotlib figure.
    dpi : float, default=100
        Resolution of the image.

    Returns
    -------
    bytes
        The PNG file contents.
    """
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    return buffer.getvalue()


def save_figure(fig: Figure, path: str | Path, *, dpi: float = DPI) -> Path:
    """Write ``fig`` as a PNG file atomically (temporary name, then rename).

    Parameters
    ----------
    fig : Figure
        Any matplotlib figure.
    path : str or Path
        Destination; parent folders are created.
    dpi : float, default=100
        Resolution of the image.

    Returns
    -------
    Path
        ``path``.
    """
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=dpi)
    return path
