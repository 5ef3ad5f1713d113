"""Tests of nnforge.report: a synthetic run directory following the DESIGN.md contract."""

from __future__ import annotations

import base64
import io
import json
import struct
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from matplotlib.image import imread

from nnforge.report import SECTIONS, write_report

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def make_run_dir(path: Path, *, n_rows: int = 400, k: int = 3, epochs: int = 12) -> Path:
    """Write a small fake run directory with exactly the contract's files and columns."""
    rng = np.random.default_rng(0)
    path.mkdir(parents=True, exist_ok=True)
    spec = {
        "dataset": {"path": "kc_house_data.csv", "features": [{"name": "sqft_living"}]},
        "layers": [
            {"units": 9, "activation": "relu", "kernel_initializer": "glorot_uniform"},
            {"units": 1, "activation": "linear"},
        ],
        "loss": "mse",
        "seed": 0,
    }
    (path / "spec.json").write_text(json.dumps(spec))
    folds = [
        {"fold": i, "n_train": n_rows - n_rows // k, "n_valid": n_rows // k, "n_dropped": 0,
         "best_epoch": epochs - 1, "r2": 0.8 + 0.01 * i, "mae": 60000.0, "stopped": "completed"}
        for i in range(k)
    ]  # fmt: skip
    summary = {"oof_r2": 0.81, "mean_fold_r2": 0.81, "std_fold_r2": 0.01, "best_fold": k - 1,
               "best_fold_r2": 0.82, "oof_mae": 61000.0, "wall_seconds": 1.5, "n_rows": n_rows,
               "target": "price", "trainer": "kfolds", "k": k, "epochs": epochs}  # fmt: skip
    (path / "evaluation.json").write_text(json.dumps({"summary": summary, "folds": folds}))

    rows = []
    for fold in range(k):
        for epoch in range(epochs):
            loss = 0.05 * np.exp(-epoch / 4) + 0.005 + 0.001 * fold
            evaluated = epoch % 2 == 1 or epoch == epochs - 1  # val columns null on even epochs
            rows.append({
                "fold": fold, "epoch": epoch, "train_loss": loss,
                "val_loss": loss * 1.1 if evaluated else None,
                "val_loss_std": loss * 0.2 if evaluated else None,
                "r2": 1 - 3 * np.exp(-epoch / 3) if evaluated else None,
                "mae": 60000.0 + 1000 * fold if evaluated else None, "lr": 1e-3,
            })  # fmt: skip
    pl.DataFrame(rows).write_csv(path / "history.csv")

    sqft = rng.lognormal(7.5, 0.4, n_rows)
    lat = rng.uniform(47.2, 47.8, n_rows)
    price = np.exp(12 + 0.7 * np.log(sqft / 2000) + 1.5 * (lat - 47.5) + rng.normal(0, 0.3, n_rows))
    pl.DataFrame({
        "id": np.arange(n_rows) + 1000,
        "date": [f"2014-{m:02d}-15" for m in rng.integers(1, 13, n_rows)],
        "price": price,
        "bedrooms": rng.integers(1, 6, n_rows),
        "sqft_living": sqft,
        "lat": lat,
        "long": rng.uniform(-122.5, -121.4, n_rows),
        "price_pred": price * np.exp(rng.normal(0, 0.2, n_rows)),
        "fold": np.arange(n_rows) % k,
    }).write_csv(path / "predictions.csv")  # fmt: skip
    return path


def write_importance(path: Path) -> None:
    imp = np.array([0.30, 0.12, 0.05, 0.01, -0.002])
    pos = imp[imp > 0].sum()
    pl.DataFrame({
        "feature": ["lat", "sqft_living", "long", "bedrooms", "date"],
        "group": ["lat", "sqft_living", "long", "bedrooms", "date"],
        "importance": imp, "importance_std": np.abs(imp) * 0.1,
        "relative": np.where(imp > 0, 100 * imp / pos, 0.0),
    }).write_csv(path / "importance.csv")  # fmt: skip


class _Collector(HTMLParser):
    """Collects headings, images and table rows while checking the tags balance."""

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []
        self.headings: list[str] = []
        self.images: list[dict[str, str | None]] = []
        self.sections: dict[str, list[str]] = {}
        self.current: str | None = None
        self._in_h2 = False
        self.errors: list[str] = []

    _VOID = frozenset({"img", "meta", "br", "hr", "link", "input"})

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attr = dict(attrs)
        if tag == "section":
            self.current = attr.get("id")
            self.sections[self.current or ""] = []
        if tag == "img":
            self.images.append(attr)
        if tag == "h2":
            self._in_h2 = True
            self.headings.append("")
        if self.current is not None:
            self.sections[self.current].append(tag)
        if tag not in self._VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"unbalanced </{tag}> with open {self.stack[-3:]}")
        else:
            self.stack.pop()
        if tag == "h2":
            self._in_h2 = False
        if tag == "section":
            self.current = None

    def handle_data(self, data: str) -> None:
        if self._in_h2:
            self.headings[-1] += data


def parse(path: Path) -> tuple[_Collector, str]:
    text = path.read_text(encoding="utf-8")
    parser = _Collector()
    parser.feed(text)
    parser.close()
    assert parser.errors == []
    assert parser.stack == []
    return parser, text


def decode_png(src: str) -> bytes:
    prefix = "data:image/png;base64,"
    assert src.startswith(prefix)
    data = base64.b64decode(src[len(prefix) :], validate=True)
    assert data.startswith(PNG_SIGNATURE)
    assert data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    assert 100 < width < 3000
    assert 100 < height < 3000
    return data


@pytest.fixture(scope="module")
def full_report(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    run_dir = make_run_dir(tmp_path_factory.mktemp("run"))
    write_importance(run_dir)
    plots_dir = run_dir / "plots"
    before = pl.read_csv(run_dir / "predictions.csv").drop("id", "fold", "price_pred", "date")
    after = before.select((pl.all() - pl.all().mean()) / pl.all().std())
    out = write_report(run_dir, plots_dir=plots_dir, before_after=(before, after))
    return out, plots_dir


def test_report_written_in_run_dir(full_report: tuple[Path, Path]) -> None:
    out, _ = full_report
    assert out.name == "report.html"
    assert out.is_file()
    assert out.stat().st_size < 5_000_000


def test_every_section_heading_present(full_report: tuple[Path, Path]) -> None:
    parser, _ = parse(full_report[0])
    assert parser.headings == list(SECTIONS.values())
    assert list(parser.sections) == list(SECTIONS)


def test_every_image_is_an_embedded_png(full_report: tuple[Path, Path]) -> None:
    parser, _ = parse(full_report[0])
    # loss, r2, predicted (linear + log), >=4 features, map, importance
    assert len(parser.images) >= 9
    for attrs in parser.images:
        png = decode_png(attrs["src"] or "")
        assert attrs.get("alt")
        pixels = imread(io.BytesIO(png), format="png")
        assert pixels.ndim == 3
        assert pixels.std() > 0.01  # not a blank image


def test_sections_have_expected_content(full_report: tuple[Path, Path]) -> None:
    parser, text = parse(full_report[0])
    for key in ("loss", "r2", "predicted", "features", "map", "boxplots", "importance"):
        assert "img" in parser.sections[key], key
    assert "table" in parser.sections["importance"]
    assert "relu" in text  # layers summary
    assert "glorot_uniform" in text
    assert "out-of-fold R²" in text
    assert "pre" in parser.sections["spec"]


def test_worst_predictions_table_has_rows(full_report: tuple[Path, Path]) -> None:
    parser, text = parse(full_report[0])
    tags = parser.sections["worst"]
    assert "table" in tags
    assert tags.count("tr") == 21  # header + 20 rows
    worst = text[text.index('id="worst"') :]
    assert "price_pred" in worst
    assert "error_%" in worst


def test_plots_dir_gets_the_same_figures(full_report: tuple[Path, Path]) -> None:
    parser, _ = parse(full_report[0])
    _, plots_dir = full_report
    files = sorted(plots_dir.glob("*.png"))
    assert len(files) == len(parser.images)
    expected = {"loss.png", "r2.png", "map.png", "importance.png", "boxplots.png"}
    assert expected <= {f.name for f in files}
    for file in files:
        assert file.read_bytes().startswith(PNG_SIGNATURE)


def test_missing_optional_inputs_leave_a_note(tmp_path: Path) -> None:
    run_dir = make_run_dir(tmp_path / "run", n_rows=120, k=2, epochs=4)
    pl.read_csv(run_dir / "predictions.csv").drop("lat", "long").write_csv(
        run_dir / "predictions.csv"
    )
    out = write_report(run_dir, tmp_path / "elsewhere" / "r.html")
    assert out == tmp_path / "elsewhere" / "r.html"
    parser, text = parse(out)
    assert parser.headings == list(SECTIONS.values())
    assert "img" not in parser.sections["importance"]
    assert "img" not in parser.sections["map"]
    assert "importance.csv not found" in text
    assert "no latitude/longitude columns" in text
    assert "no fitted pipeline" in text
    for attrs in parser.images:
        decode_png(attrs["src"] or "")
    assert not (run_dir / "report.html").exists()


def test_minimal_run_dir_still_renders(tmp_path: Path) -> None:
    run_dir = tmp_path / "empty_run"
    run_dir.mkdir()
    parser, text = parse(write_report(run_dir))
    assert parser.headings == list(SECTIONS.values())
    assert parser.images == []
    assert "spec.json not found" in text
    assert "history.csv not found" in text
    assert text.count('class="note"') >= len(SECTIONS)  # every empty section says why


def test_missing_run_dir_raises(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="does not exist"):
        write_report(tmp_path / "nope")


def test_html_escapes_spec_values(tmp_path: Path) -> None:
    run_dir = make_run_dir(tmp_path / "run", n_rows=60, k=2, epochs=3)
    spec = json.loads((run_dir / "spec.json").read_text())
    spec["name"] = "<script>alert(1)</script>"
    (run_dir / "spec.json").write_text(json.dumps(spec))
    _, text = parse(write_report(run_dir))
    assert "<script>alert" not in text
    assert "&lt;script&gt;alert" in text


def test_units_come_from_the_runs_dataset_not_from_the_report():
    from nnforge.report import _dataset_units

    assert _dataset_units({"dataset": {"name": "kc_house_data"}})["price"] == "USD"
    assert _dataset_units({"dataset": {"name": "houses"}}) == {}  # a generic run: no units
    assert _dataset_units(None) == {}
