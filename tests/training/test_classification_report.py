"""The report and plots of a class target: confusion matrices, precision/recall, calibration."""

from __future__ import annotations

import base64
import re

import numpy as np
import polars as pl
import pytest
from test_classification import make_frame, make_model

from nnforge import plots
from nnforge.model import LayerSpec
from nnforge.report import CLASSIFICATION_SECTIONS, write_report
from nnforge.training import train

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _images(html: str) -> list[bytes]:
    found = re.findall(r'src="data:image/png;base64,([^"]+)"', html)
    return [base64.b64decode(b) for b in found]


@pytest.mark.parametrize("binary", [False, True])
def test_report_of_a_class_target_has_every_section(tmp_path, binary):
    frame = make_frame(120)
    changes = {"epochs": 5}
    if binary:
        frame = frame.with_columns((pl.col("sp") == "gentoo").cast(pl.Int64).alias("sp"))
        changes = dict(
            layers=[
                LayerSpec(units=8, activation="relu"),
                LayerSpec(units=1, activation="sigmoid"),
            ],
            loss="binary_crossentropy",
        )
    run = tmp_path / "run"
    train(make_model(frame, **changes), frame, out_dir=run, progress=False, workers=1)
    out = write_report(run, plots_dir=run / "plots")
    html = out.read_text(encoding="utf-8")
    for key, heading in CLASSIFICATION_SECTIONS.items():
        assert f'<section id="{key}"><h2>{heading}</h2>' in html
    assert "R² curves" not in html
    assert all(png.startswith(PNG_SIGNATURE) for png in _images(html))
    names = {p.stem for p in (run / "plots").glob("*.png")}
    assert {"confusion_counts", "confusion_normalized", "probabilities", "accuracy"} <= names
    assert ("calibration" in names) == binary
    assert "precision" in html
    assert "recall" in html


def test_confusion_matrix_plot_checks_its_shape():
    fig = plots.confusion_matrix(np.array([[3, 1], [0, 4]]), ["a", "b"], normalize=True)
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert texts == ["0.75", "0.25", "0.00", "1.00"]  # rows divided by their totals
    with pytest.raises(ValueError, match=r"\(3, 3\)"):
        plots.confusion_matrix(np.eye(2), ["a", "b", "c"])


def test_calibration_bins_average_their_rows():
    p = np.array([0.05, 0.05, 0.95, 0.95, 0.95, 0.95])
    t = np.array([0, 1, 1, 1, 1, 0])
    fig = plots.calibration_plot(t, p, bins=10)
    line = fig.axes[0].lines[1]  # after the diagonal
    np.testing.assert_allclose(line.get_xdata(), [0.05, 0.95])
    np.testing.assert_allclose(line.get_ydata(), [0.5, 0.75])
