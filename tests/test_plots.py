"""Tests of nnforge.plots: every figure has a title, labelled axes and saves as a valid PNG."""

from __future__ import annotations

import datetime as dt
import io
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from matplotlib.container import ErrorbarContainer
from matplotlib.figure import Figure
from matplotlib.image import imread

from nnforge import plots

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def history_frame(
    k: int = 8, epochs: int = 30, *, every: int = 1, offset: float = 0.0
) -> pl.DataFrame:
    """Long-format history; validation columns are null except every ``every`` epochs."""
    rows = []
    for fold in range(k):
        for epoch in range(epochs):
            loss = 0.05 * np.exp(-epoch / 8) + 0.002 * (1 + fold / k) + offset
            evaluated = epoch % every == 0
            rows.append({
                "fold": fold, "epoch": epoch, "train_loss": loss,
                "val_loss": 1.2 * loss if evaluated else None,
                "val_loss_std": 0.1 * loss if evaluated else None,
                "r2": 1 - 4 * np.exp(-epoch / 5) - 0.01 * fold if evaluated else None,
                "mae": 50000.0 if evaluated else None, "lr": 1e-3,
            })  # fmt: skip
    return pl.DataFrame(rows)


def prediction_frame(n: int = 2000, seed: int = 0) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    sqft = rng.lognormal(7.5, 0.4, n)
    lat = rng.uniform(47.2, 47.8, n)
    price = np.exp(12 + 0.7 * np.log(sqft / 2000) + 1.5 * (lat - 47.5) + rng.normal(0, 0.3, n))
    start = dt.date(2014, 5, 1)
    return pl.DataFrame({
        "date": [start + dt.timedelta(days=int(d)) for d in rng.integers(0, 390, n)],
        "bedrooms": rng.integers(1, 6, n),
        "sqft_living": sqft,
        "lat": lat,
        "long": rng.uniform(-122.5, -121.4, n),
        "zone": rng.choice(["north", "south", "east"], n),
        "price": price,
        "price_pred": price * np.exp(rng.normal(0, 0.2, n)),
    })  # fmt: skip


def importance_frame() -> pl.DataFrame:
    imp = np.array([0.3, 0.1, 0.05, 0.0, -0.01])
    return pl.DataFrame({
        "feature": ["lat", "sqft_living", "long", "date", "bedrooms"],
        "group": ["lat", "sqft_living", "long", "date", "bedrooms"],
        "importance": imp, "importance_std": np.abs(imp) * 0.2 + 0.001,
        "relative": np.where(imp > 0, 100 * imp / imp[imp > 0].sum(), 0.0),
    })  # fmt: skip


def assert_readable(fig: Figure, tmp_path: Path, name: str = "fig.png") -> None:
    """Title (axes or figure), labelled axes, and a PNG that decodes."""
    assert isinstance(fig, Figure)
    main_axes = [ax for ax in fig.axes if ax.get_label() != "<colorbar>"]
    assert main_axes
    titles = [fig.get_suptitle()] + [ax.get_title() for ax in main_axes]
    assert any(titles)
    for ax in main_axes:  # an axis shared with a labelled one (a grid of panels) needs none
        xs = ax.get_shared_x_axes().get_siblings(ax)
        ys = ax.get_shared_y_axes().get_siblings(ax)
        assert any(other.get_xlabel() for other in xs), f"no x label on {ax.get_title()!r}"
        assert any(other.get_ylabel() for other in ys), f"no y label on {ax.get_title()!r}"
    path = plots.save_figure(fig, tmp_path / "sub" / name)
    assert path == tmp_path / "sub" / name
    data = path.read_bytes()
    assert data.startswith(PNG_SIGNATURE)
    pixels = imread(io.BytesIO(data), format="png")
    height, width = pixels.shape[:2]
    assert 300 <= width <= 1600
    assert 250 <= height <= 3000
    assert pixels.std() > 0.01
    assert [p.name for p in path.parent.iterdir()] == [name]  # no temporary file left


def legend_texts(fig: Figure) -> list[str]:
    legends = [ax.get_legend() for ax in fig.axes if ax.get_legend()] + list(fig.legends)
    return [t.get_text() for legend in legends for t in legend.get_texts()]


# --------------------------------------------------------------------------------------------
# output


def test_import_does_not_load_pyplot() -> None:
    code = "import sys, nnforge.plots, nnforge.report; print('matplotlib.pyplot' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "False"


def test_figure_to_png_and_save_figure_atomic(tmp_path: Path) -> None:
    fig = plots.loss_curves(history_frame(k=2, epochs=5))
    png = plots.figure_to_png(fig)
    assert png.startswith(PNG_SIGNATURE)
    target = tmp_path / "a" / "b" / "loss.png"
    plots.save_figure(fig, target)
    plots.save_figure(fig, target)  # overwrite in place
    assert target.read_bytes().startswith(PNG_SIGNATURE)
    assert sorted(p.name for p in target.parent.iterdir()) == ["loss.png"]


def test_figures_to_png_in_processes_gives_the_same_bytes_in_order() -> None:
    """Figures shared among worker processes come back in order, byte-identical to drawing them
    here (the workers are forked: nothing is pickled, lambdas in formatters included)."""
    figs = [plots.loss_curves(history_frame(k=k, epochs=4 + k)) for k in (1, 2, 3, 4, 5)]
    figs.append(plots.error_histogram(np.linspace(1e5, 9e5, 50), np.linspace(1.1e5, 8e5, 50)))
    here = [plots.figure_to_png(f) for f in figs]
    assert len(set(here)) == len(here)  # distinct figures, so the order is checked
    assert plots.figures_to_png(figs, processes=3) == here
    assert plots.figures_to_png(figs, processes=64) == here  # at most one process per figure
    assert plots.figures_to_png([], processes=2) == []


class _Broken(Figure):
    def draw(self, renderer):
        raise ValueError("this figure cannot be drawn")


def test_figures_to_png_raises_a_worker_failure_here() -> None:
    """A figure that fails in a worker is drawn again by the caller, whose error is raised."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    good = plots.loss_curves(history_frame(k=1, epochs=3))
    bad = _Broken()
    FigureCanvasAgg(bad)
    with pytest.raises(ValueError, match="cannot be drawn"):
        plots.figures_to_png([good, bad, good], processes=2)


# --------------------------------------------------------------------------------------------
# curves


def test_loss_curves_eight_folds(tmp_path: Path) -> None:
    fig = plots.loss_curves(history_frame(k=8))
    ax = fig.axes[0]
    assert ax.get_yscale() == "log"
    assert ax.get_xlabel() == "epoch"
    assert "loss" in ax.get_ylabel()
    texts = legend_texts(fig)
    assert any("8 folds" in t for t in texts)
    assert "single folds" in texts
    assert_readable(fig, tmp_path)


def test_loss_curves_handles_null_validation_and_single_fold(tmp_path: Path) -> None:
    fig = plots.loss_curves(history_frame(k=1, epochs=20, every=5), log=False)
    assert fig.axes[0].get_yscale() == "linear"
    texts = legend_texts(fig)
    assert texts == ["training", "validation"]
    assert_readable(fig, tmp_path)


def test_loss_curves_without_val_column_or_fold_column(tmp_path: Path) -> None:
    history = history_frame(k=1, epochs=10).drop("val_loss", "fold")
    fig = plots.loss_curves(history)
    assert legend_texts(fig) == ["training"]
    assert_readable(fig, tmp_path)


def test_loss_curves_missing_column_raises() -> None:
    with pytest.raises(ValueError, match="train_loss"):
        plots.loss_curves(pl.DataFrame({"fold": [0], "epoch": [0]}))
    with pytest.raises(TypeError, match=r"polars\.DataFrame"):
        plots.loss_curves({"epoch": [0]})  # type: ignore[arg-type]


def test_r2_curves_clips_very_negative_values(tmp_path: Path) -> None:
    fig = plots.r2_curves(history_frame(k=8, every=3))
    ax = fig.axes[0]
    bottom, top = ax.get_ylim()
    assert bottom >= -1.2
    assert top <= 1.1
    assert "R² below -1 not shown" in ax.get_legend().get_title().get_text()
    assert {f"fold {i}" for i in range(8)} | {"mean"} == set(legend_texts(fig))
    assert_readable(fig, tmp_path)


def test_r2_curves_all_null_gives_note(tmp_path: Path) -> None:
    history = history_frame(k=2, epochs=4).with_columns(pl.lit(None, pl.Float64).alias("r2"))
    fig = plots.r2_curves(history)
    assert any("no R²" in t.get_text() for t in fig.axes[0].texts)
    assert_readable(fig, tmp_path)


def test_compare_runs_overlays_each_run(tmp_path: Path) -> None:
    runs = {
        "sgd": history_frame(k=4, offset=0.002),
        "momentum": history_frame(k=4),
        "adam": history_frame(k=4, every=2, offset=0.001),
    }
    fig = plots.compare_runs(runs)
    texts = legend_texts(fig)
    assert [t.split(" (")[0] for t in texts] == ["sgd", "momentum", "adam"]
    assert fig.axes[0].get_yscale() == "log"
    assert_readable(fig, tmp_path)
    fig_r2 = plots.compare_runs(runs, metric="r2")
    assert fig_r2.axes[0].get_yscale() == "linear"
    assert "R²" in fig_r2.axes[0].get_ylabel()


def test_compare_runs_empty_raises() -> None:
    with pytest.raises(ValueError, match="histories"):
        plots.compare_runs({})


# --------------------------------------------------------------------------------------------
# predictions


@pytest.mark.parametrize(("n", "log", "kind"), [(300, False, "scatter"), (21_613, True, "hexbin")])
def test_predicted_vs_true(tmp_path: Path, n: int, log: bool, kind: str) -> None:
    frame = prediction_frame(n)
    y, y_hat = frame["price"].to_numpy(), frame["price_pred"].to_numpy()
    fig = plots.predicted_vs_true(y, y_hat, log=log, label="price (USD)")
    ax = fig.axes[0]
    assert ax.get_xlabel() == "true price (USD)"
    assert ax.get_ylabel() == "predicted price (USD)"
    assert ax.get_xscale() == ("log" if log else "linear")
    has_hexbin = len(fig.axes) == 2  # hexbin adds a colour bar
    assert has_hexbin == (kind == "hexbin")
    assert "identity (perfect)" in legend_texts(fig)
    assert any("R² =" in t.get_text() for t in ax.texts)
    assert_readable(fig, tmp_path)


def test_predicted_vs_true_drops_non_positive_on_log_and_checks_lengths(tmp_path: Path) -> None:
    fig = plots.predicted_vs_true([1.0, 10.0, -5.0, 100.0], [2.0, 9.0, 3.0, np.nan], log=True)
    assert any("n = 2" in t.get_text() for t in fig.axes[0].texts)
    assert_readable(fig, tmp_path)
    with pytest.raises(ValueError, match="same length"):
        plots.predicted_vs_true([1.0, 2.0], [1.0])
    with pytest.raises(ValueError, match="1-D"):
        plots.predicted_vs_true(np.ones((3, 2)), np.ones((3, 2)))


@pytest.mark.parametrize("feature", ["sqft_living", "date", "bedrooms", "zone"])
def test_predictions_by_feature(tmp_path: Path, feature: str) -> None:
    frame = prediction_frame(5000)
    units = {"price": "USD", "sqft_living": "sq ft"}
    fig = plots.predictions_by_feature(frame, feature, "price", "price_pred", units=units)
    ax = fig.axes[0]
    assert ax.get_ylabel() == "price (USD)"
    assert ax.get_xlabel().startswith(feature)
    texts = legend_texts(fig)
    assert texts[:2] == ["true", "predicted"]
    assert len(texts) == 4  # plus both median lines
    assert_readable(fig, tmp_path)


def test_predictions_by_feature_missing_column_raises() -> None:
    with pytest.raises(ValueError, match="nope"):
        plots.predictions_by_feature(prediction_frame(50), "nope", "price", "price_pred")


@pytest.mark.parametrize("log_color", [False, True])
def test_geo_map_shares_one_colour_scale(tmp_path: Path, log_color: bool) -> None:
    frame = prediction_frame(3000)
    fig = plots.geo_map(
        frame, "lat", "long", "price", "price_pred", log_color=log_color, units={"price": "USD"}
    )
    left, right = fig.axes[0], fig.axes[1]
    norm_left = left.collections[0].norm
    assert norm_left is right.collections[0].norm
    assert left.get_title() == "true price"
    assert right.get_title() == "predicted price"
    assert left.get_ylabel() == "lat (degrees)"
    assert "price (USD)" in fig.axes[2].get_ylabel()  # the colour bar
    assert_readable(fig, tmp_path)


def test_feature_boxplots_before_and_after(tmp_path: Path) -> None:
    before = prediction_frame(3000).drop("price_pred")
    after = before.select(
        ((pl.col(c) - pl.col(c).mean()) / pl.col(c).std()).alias(c)
        for c in ("bedrooms", "sqft_living", "lat", "long", "price")
    ).with_columns((pl.col("sqft_living") ** 2).alias("sqft_living^2"))
    fig = plots.feature_boxplots(before, after)
    ax = fig.axes[0]
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert labels == ["bedrooms", "sqft_living", "lat", "long", "price", "sqft_living^2"]
    assert "date" not in labels  # non-numeric columns ignored
    assert "standardised" in ax.get_xlabel()
    assert legend_texts(fig) == ["before preprocessing", "after preprocessing"]
    assert_readable(fig, tmp_path)


def test_importance_bar_sorted_with_error_bars(tmp_path: Path) -> None:
    imp = importance_frame().reverse()  # the function sorts, whatever the input order
    fig = plots.importance_bar(imp)
    ax = fig.axes[0]
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert labels[:3] == ["lat", "sqft_living", "long"]
    widths = [p.get_width() for p in ax.patches]
    assert widths == sorted(widths, reverse=True)
    assert "%" in ax.get_xlabel()
    assert any(isinstance(c, ErrorbarContainer) for c in ax.containers)
    assert legend_texts(fig) == ["± std across folds"]  # what inspection computes
    assert_readable(fig, tmp_path)


def test_importance_bar_without_relative_column_and_top(tmp_path: Path) -> None:
    imp = importance_frame().drop("relative", "importance_std", "group")
    fig = plots.importance_bar(imp, top=2)
    widths = [p.get_width() for p in fig.axes[0].patches]
    assert widths == pytest.approx([300 / 4.5 * 1.0, 100 / 4.5 * 1.0])
    assert_readable(fig, tmp_path)


@pytest.mark.parametrize("layout", ["axes", "meshgrid", "flat", "transposed"])
def test_xor_surface_accepts_grid_layouts(tmp_path: Path, layout: str) -> None:
    gx, gy = np.linspace(0, 1, 40), np.linspace(0, 1, 30)
    xx, yy = np.meshgrid(gx, gy)
    z = np.abs(xx - yy)  # (ny, nx), an xor-like surface
    args = {
        "axes": (gx, gy, z),
        "meshgrid": (xx, yy, z),
        "flat": (gx, gy, z.ravel()),
        "transposed": (gx, gy, z.T),
    }[layout]
    fig = plots.xor_surface(*args)
    mesh = fig.axes[0].collections[0]
    assert mesh.get_array().shape == (30, 40)
    assert np.allclose(mesh.get_array(), z)
    assert fig.axes[0].get_xlabel() == "x₁"
    assert_readable(fig, tmp_path)


def test_xor_surface_bad_shape_raises() -> None:
    with pytest.raises(ValueError, match="shape"):
        plots.xor_surface(np.linspace(0, 1, 4), np.linspace(0, 1, 5), np.ones((3, 3)))


@pytest.mark.parametrize(
    "draw",
    [
        lambda: plots.loss_curves(history_frame(k=1, epochs=1)),
        lambda: plots.predicted_vs_true([np.nan], [np.nan]),
        lambda: plots.feature_boxplots(pl.DataFrame({"a": ["x"]}), pl.DataFrame({"b": ["y"]})),
    ],
    ids=["one-epoch", "no-finite", "no-numeric"],
)
def test_degenerate_inputs_still_draw(tmp_path: Path, draw: Callable[[], Figure]) -> None:
    assert_readable(draw(), tmp_path)


# --------------------------------------------------------------------------------------------
# errors, folds and settings (the seed's figures 4, 5, 6, 10, 22)


def _tick_texts(fig: Figure, axis: str = "y") -> list[str]:
    fig.canvas.draw()
    ax = fig.axes[0]
    ticks = ax.get_yticklabels() if axis == "y" else ax.get_xticklabels()
    return [t.get_text() for t in ticks if t.get_text()]


@pytest.mark.parametrize("n", [300, 5000])
def test_residuals_and_error_histogram(tmp_path: Path, n: int) -> None:
    frame = prediction_frame(n)
    t, p = frame["price"].to_numpy(), frame["price_pred"].to_numpy()
    fig = plots.residuals(t, p, label="price (USD)", log=True)
    assert fig.axes[0].get_xscale() == "log"
    assert all(x.startswith(("$", "-$")) for x in _tick_texts(fig, "x"))  # $100k, not 10^5
    assert_readable(fig, tmp_path / "r")
    fig = plots.error_histogram(t, p, label="price (USD)")
    texts = legend_texts(fig)
    mae = np.mean(np.abs(p - t))
    assert f"± MAE (${mae:,.0f})" in texts
    median = np.median(p - t)
    assert f"median error ({'-' if median < 0 else ''}${abs(median):,.0f})" in texts
    assert_readable(fig, tmp_path / "e")


def test_proportional_error_reports_mean_distance(tmp_path: Path) -> None:
    t = np.array([100.0, 200.0, 400.0, 0.0] * 10)
    p = np.array([120.0, 150.0, 400.0, 5.0] * 10)  # +20 %, -25 %, 0 %; the zero truth is left out
    fig = plots.proportional_error(t, p)
    mean, std = np.mean([20, 25, 0]), np.std([20, 25, 0])
    assert f"± mean distance {mean:.1f} % (std {std:.1f} %)" in legend_texts(fig)
    assert_readable(fig, tmp_path)


def test_predicted_vs_true_by_fold_titles_each_folds_r2(tmp_path: Path) -> None:
    frame = prediction_frame(900)
    t, p = frame["price"].to_numpy(), frame["price_pred"].to_numpy()
    folds = np.arange(900) % 5
    fig = plots.predicted_vs_true_by_fold(t, p, folds, label="price (USD)", log=True)
    from nnforge.metrics import r2_score

    titles = [ax.get_title() for ax in fig.axes if ax.get_visible() and ax.get_title()]
    assert titles == [
        f"fold {f}: R² {float(r2_score(t[folds == f], p[folds == f])):.3f}, n=180" for f in range(5)
    ]
    assert sum(not ax.get_visible() for ax in fig.axes) == 3  # a 2 x 4 grid for 5 folds
    assert_readable(fig, tmp_path)


def test_loss_comparison_draws_the_median_of_the_seeds(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    a = np.exp(-np.linspace(0, 5, 40))[:, None] * rng.uniform(0.5, 2, (1, 7))
    fig = plots.loss_comparison({"decay 0": a, "decay 0.01": a * 3}, title="XOR")
    lines = [line for line in fig.axes[0].get_lines() if line.get_label().startswith("decay")]
    assert np.allclose(lines[0].get_ydata(), np.median(a, axis=1))
    assert list(lines[0].get_xdata()[:2]) == [1, 2]  # epochs counted from 1
    assert fig.axes[0].get_yscale() == "log"
    assert_readable(fig, tmp_path)
    with pytest.raises(ValueError, match="at least one"):
        plots.loss_comparison({})


def test_price_axes_show_dollars(tmp_path: Path) -> None:
    frame = prediction_frame(500)
    fig = plots.predicted_vs_true(frame["price"], frame["price_pred"], log=True,
                                  label="price (USD)")  # fmt: skip
    assert all(x.startswith("$") for x in _tick_texts(fig, "y"))
    text = fig.axes[0].texts[0].get_text()
    assert re.search(r"MAE = \$[\d,]+", text)
    fig = plots.predictions_by_feature(frame, "date", "price", "price_pred", log=True,
                                       units={"price": "USD"})  # fmt: skip
    assert all(x.startswith("$") for x in _tick_texts(fig, "y"))
    fig.canvas.draw()
    assert all(x.get_text()[:2] in ("20",) for x in fig.axes[0].get_xticklabels() if x.get_text())


@pytest.mark.parametrize(
    ("empty", "code"),
    [("upper right", 1), ("upper left", 2), ("lower left", 3), ("lower right", 4)],
)
def test_legend_goes_to_the_corner_without_data(empty, code):
    """The cheap replacement of loc="best": scatter points and line segments both count."""
    from nnforge.plots._base import _CORNERS, _figure, _legend

    ax = _figure(4, 3).add_subplot()
    rng = np.random.default_rng(0)
    for loc, (u0, u1, v0, v1) in _CORNERS.items():
        if loc == empty:
            continue
        if loc in ("upper left", "lower right"):  # a segment across it, no vertex inside
            mid = 0.5 if v0 > 0.5 else -0.5
            ax.plot([(u0 + u1) / 2] * 2, [mid, mid + 1.0], label=loc)
        else:
            ax.scatter(rng.uniform(u0, u1, 50), rng.uniform(v0, v1, 50), label=loc)
    ax.set_xlim(0, 1), ax.set_ylim(0, 1)
    assert _legend(ax)._loc == code


def test_figures_to_png_draws_here_when_no_process_starts(monkeypatch: pytest.MonkeyPatch) -> None:
    """Where no worker process can be started, every figure is drawn in the caller."""
    import multiprocessing.process

    def refuse(self: object) -> None:
        raise OSError("no more processes")

    monkeypatch.setattr(multiprocessing.process.BaseProcess, "start", refuse)
    figs = [plots.loss_curves(history_frame(k=k, epochs=3)) for k in (1, 2, 3)]
    assert plots.figures_to_png(figs, processes=3) == [plots.figure_to_png(f) for f in figs]


def test_figures_to_png_forks_without_warnings_after_jax() -> None:
    """Drawing workers are forked quietly even when JAX (whose fork hook warns) is loaded."""
    import contextlib
    import warnings

    with contextlib.suppress(ImportError):
        import jax

        jax.devices()  # a started backend is what makes JAX's at-fork hook warn

    figs = [plots.loss_curves(history_frame(k=k, epochs=3)) for k in (1, 2)]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert plots.figures_to_png(figs, processes=2) == [plots.figure_to_png(f) for f in figs]
    assert not [str(w.message) for w in caught if "fork" in str(w.message)]
