"""Tests of nnforge.report on real run directories (small runs trained by ``train`` itself)."""

from __future__ import annotations

import base64
import io
import json
import re
import shutil
import struct
from html.parser import HTMLParser
from pathlib import Path

import pytest
from matplotlib.image import imread

from _runs import train_houses
from nnforge.inspection import run_importance
from nnforge.report import SECTIONS, write_report
from nnforge.training.rundir import RunDirDamagedError

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


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
def full_report(tmp_path_factory: pytest.TempPathFactory, houses_run: Path) -> tuple[Path, Path]:
    """The report of a copy of the session's run, with permutation importance added."""
    run_dir = shutil.copytree(houses_run, tmp_path_factory.mktemp("full") / "run")
    features, groups = run_importance(run_dir, n_shuffles=2)
    features.write_csv(run_dir / "importance.csv")
    groups.write_csv(run_dir / "importance_groups.csv")
    plots_dir = run_dir / "plots"
    return write_report(run_dir, plots_dir=plots_dir), plots_dir


@pytest.fixture(scope="module")
def bare_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A second real run: no coordinates, no unit, no importance, a name that is HTML."""
    work = tmp_path_factory.mktemp("bare")
    name = "<script>alert(1)</script>"
    return train_houses(work, n=60, folds=2, epochs=3, coordinates=False, unit=None, name=name)


@pytest.fixture(scope="module")
def bare_report(bare_run: Path) -> Path:
    """The bare run's report, written outside its run directory."""
    return write_report(bare_run, bare_run.parent / "elsewhere" / "r.html")


def test_figures_drawn_in_worker_processes_equal_drawn_here(
    full_report: tuple[Path, Path], tmp_path: Path
) -> None:
    """The default report (figures drawn one process per core) embeds the same images, in the
    same places, as one drawn entirely in this process; the saved PNGs are the same files."""
    out, plots_dir = full_report
    alone = write_report(out.parent, tmp_path / "alone.html", plots_dir=tmp_path, processes=1)
    figures = re.compile(r'<figure><img src="data:image/png;base64,([^"]+)"')
    assert figures.findall(alone.read_text()) == figures.findall(out.read_text())
    assert len(figures.findall(out.read_text())) >= 14
    for png in plots_dir.glob("*.png"):
        assert (tmp_path / png.name).read_bytes() == png.read_bytes(), png.name


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
    # loss, r2, predicted (all + by fold), residuals (3), 3 features, map, boxplots, importance (2)
    assert len(parser.images) >= 14
    for attrs in parser.images:
        png = decode_png(attrs["src"] or "")
        assert attrs.get("alt")
        pixels = imread(io.BytesIO(png), format="png")
        assert pixels.ndim == 3
        assert pixels.std() > 0.01  # not a blank image


def test_sections_have_expected_content(full_report: tuple[Path, Path]) -> None:
    parser, text = parse(full_report[0])
    for key in ("loss", "r2", "predicted", "residuals", "features", "map", "boxplots"):
        assert "img" in parser.sections[key], key
    assert parser.sections["importance"].count("img") == 2  # per feature and per source column
    assert "table" in parser.sections["importance"]
    assert "relu" in text  # layers summary
    assert "glorot_uniform" in text
    assert "out-of-fold R²" in text
    assert "pre" in parser.sections["spec"]
    assert "Not available" not in text  # a real run fills every section


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


def test_units_come_from_the_runs_dataset(
    full_report: tuple[Path, Path], bare_report: Path
) -> None:
    _, text = parse(full_report[0])
    summary = json.loads((full_report[0].parent / "evaluation.json").read_text())["summary"]
    mae = f"${summary['oof_mae']:,.0f}"  # the spec's "unit": "USD"
    assert f'<span class="value">{mae}</span>' in text
    assert "price (USD)" in text
    _, bare = parse(bare_report)
    assert "price (USD)" not in bare  # a generic run: no unit, plain numbers
    assert 'class="value">$' not in bare


def test_missing_optional_inputs_leave_a_note(bare_run: Path, bare_report: Path) -> None:
    out = bare_report
    assert out == bare_run.parent / "elsewhere" / "r.html"
    parser, text = parse(out)
    assert parser.headings == list(SECTIONS.values())
    assert "img" not in parser.sections["importance"]
    assert "img" not in parser.sections["map"]
    assert "importance.csv not found" in text
    assert "no latitude/longitude columns" in text
    for attrs in parser.images:
        decode_png(attrs["src"] or "")
    assert not (bare_run / "report.html").exists()
    # the links of a report written elsewhere still lead to the run's files
    href = re.search(r'<a href="([^"]+)">predictions.parquet</a>', text)
    assert href
    assert (out.parent / href.group(1)).resolve() == (bare_run / "predictions.parquet").resolve()


def test_html_escapes_spec_values(bare_report: Path) -> None:
    _, text = parse(bare_report)
    assert "<script>alert" not in text
    assert "&lt;script&gt;alert" in text


def test_missing_run_dir_raises(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="does not exist"):
        write_report(tmp_path / "nope")


def test_a_folder_that_is_no_run_is_refused(tmp_path: Path) -> None:
    with pytest.raises(RunDirDamagedError, match="is not a run directory"):
        write_report(tmp_path)
    assert not (tmp_path / "report.html").exists()


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        ("models/fold_1.safetensors", r"models/fold_1\.safetensors: missing"),
        ("pipelines/fold_2.json", r"pipelines/fold_2\.json: missing"),
        ("predictions.parquet", r"predictions\.parquet: missing"),
    ],
)
def test_a_damaged_run_is_refused_naming_the_file(
    houses_run: Path, tmp_path: Path, damage: str, message: str
) -> None:
    run_dir = shutil.copytree(houses_run, tmp_path / "run")
    (run_dir / damage).unlink()
    with pytest.raises(RunDirDamagedError, match=message):
        write_report(run_dir)
    assert not (run_dir / "report.html").exists()


def test_an_unreadable_evaluation_is_refused(houses_run: Path, tmp_path: Path) -> None:
    run_dir = shutil.copytree(houses_run, tmp_path / "run")
    (run_dir / "evaluation.json").write_text('{"summary": {', encoding="utf-8")
    with pytest.raises(RunDirDamagedError, match=r"evaluation\.json: not readable JSON"):
        write_report(run_dir)
