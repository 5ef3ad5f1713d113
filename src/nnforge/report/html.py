"""The report's HTML: a self-contained page (inline style, a sort script), sortable tables,
embedded PNG figures, and :class:`_Report`, which collects the sections' fragments."""

from __future__ import annotations

import base64
import datetime as dt
import html
import json
import math
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl

from nnforge import plots
from nnforge._format import format_number
from nnforge._io import atomic_write_bytes

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from nnforge.report.reading import Section

__all__ = ["GENERATOR", "html_figure", "html_page", "html_table"]

# What bad data (not a bug) raises while a figure is drawn: reported as a note.
_DRAWING_ERRORS = (ValueError, TypeError, KeyError, IndexError, pl.exceptions.PolarsError)


# Marks a page as ours, so that `nnforge report --out FILE` may replace it (and nothing else).
GENERATOR = "nnforge"


_ID_NAMES = ("id", "row_id", "_id", "__id", "row", "fold")


_CSS = """
body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;max-width:1150px;margin:1.2em auto;
padding:0 1em;color:#222;line-height:1.45}
h1{margin:0 0 .1em;font-size:1.6em}h2{border-bottom:1px solid #ccc;padding-bottom:.2em;
margin-top:2em}.meta{color:#666;font-size:.85em;margin-top:0}.note{color:#666;font-style:italic}
table{border-collapse:collapse;font-size:.88em;margin:.6em 0}
th,td{border:1px solid #ddd;padding:.25em .6em;text-align:right}
th{background:#f3f3f3}td.text,th.text{text-align:left}table.sortable th{cursor:pointer}
table.sortable th:after{content:" \\2195";color:#aaa;font-size:.8em}
.scroll{overflow-x:auto}figure{margin:1em 0}img{max-width:100%;height:auto}
figcaption{color:#555;font-size:.88em}pre{background:#f7f7f7;padding:.8em;overflow:auto;
max-height:30em;font-size:.82em}nav ol{columns:3;font-size:.9em}
.headline{display:flex;flex-wrap:wrap;gap:.8em;margin:.6em 0}
.metric{border:1px solid #ddd;border-radius:6px;padding:.5em 1em;min-width:12em}
.metric .value{display:block;font-size:1.9em;font-weight:600}
.metric .label{color:#555;font-size:.85em}section#answer h2{margin-top:1em}
"""


# Click a column heading to sort (numbers by their value, text alphabetically); no library.
_SORT_SCRIPT = """
document.querySelectorAll('table.sortable th').forEach(function(th){
th.addEventListener('click',function(){var body=th.closest('table').tBodies[0];
var i=Array.prototype.indexOf.call(th.parentNode.children,th),up=th.dataset.dir!=='up';
th.dataset.dir=up?'up':'down';var rows=Array.from(body.rows);rows.sort(function(a,b){
var x=a.cells[i].dataset.v,y=b.cells[i].dataset.v,d=(x!==undefined&&y!==undefined)?
parseFloat(x)-parseFloat(y):a.cells[i].textContent.localeCompare(b.cells[i].textContent);
return up?d:-d;});rows.forEach(function(r){body.appendChild(r);});});});
"""


def _esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _fmt(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int | float):
        return format_number(value)
    if isinstance(value, dt.datetime):
        return value.date().isoformat() if value.time() == dt.time() else value.isoformat(" ")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, list):
        return ", ".join(_fmt(v) for v in value) or "none"
    if isinstance(value, dict):
        return json.dumps(value)
    return str(value)


Formats = Mapping[str, Callable[[Any], str]]


def _default_format(column: str) -> Callable[[Any], str] | None:
    """Ids and folds are labels, never ``7,129,300,520``."""
    if column.lower() in _ID_NAMES or column.lower().endswith("_id"):
        return lambda v: "" if v is None else str(v)
    return None


def html_table(
    rows: list[Mapping[str, Any]], columns: list[str] | None = None, formats: Formats | None = None
) -> str:
    """A sortable table of ``rows`` (dicts): numbers right-aligned, text left-aligned.

    ``formats`` maps a column to a function giving its text (fixed precision per column, units);
    other numbers go through :func:`nnforge._format.format_number`, ids as they are. Numeric
    cells carry their value for sorting (click a heading).
    """
    if not rows:
        return '<p class="note">(empty)</p>'
    columns = columns or list(dict.fromkeys(k for row in rows for k in row))
    text_cols = {
        c for c in columns if any(isinstance(r.get(c), str | list | dict | dt.date) for r in rows)
    }
    show = {c: (formats or {}).get(c) or _default_format(c) or _fmt for c in columns}

    def cls(c: str) -> str:
        return ' class="text"' if c in text_cols else ""

    def cell(c: str, value: Any) -> str:
        number = isinstance(value, int | float) and not isinstance(value, bool)
        sort = f' data-v="{value!r}"' if number and math.isfinite(value) else ""
        return f"<td{cls(c)}{sort}>{_esc(show[c](value) if value is not None else '')}</td>"

    head = "".join(f"<th{cls(c)}>{_esc(c)}</th>" for c in columns)
    body = "".join("<tr>" + "".join(cell(c, r.get(c)) for c in columns) + "</tr>" for r in rows)
    table = f'<table class="sortable"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'
    return f'<div class="scroll">{table}</div>'


def _key_values(pairs: Mapping[str, Any]) -> str:
    body = "".join(
        f'<tr><th class="text">{_esc(k)}</th><td class="text">{_esc(_fmt(v))}</td></tr>'
        for k, v in pairs.items()
    )
    return f'<div class="scroll"><table><tbody>{body}</tbody></table></div>'


def _note(text: str) -> str:
    return f'<p class="note">{_esc(text)}</p>'


class _Report:
    """Accumulates sections and images; optionally saves each figure as a PNG too."""

    def __init__(self, sections: list[Section], plots_dir: Path | None, processes: int = 1) -> None:
        self.headings = {key: title for key, title, _ in sections}
        self.sections: dict[str, list[str]] = {key: [] for key in self.headings}
        self.plots_dir = plots_dir
        self.processes = processes
        # Built figures waiting to be drawn, all at once (in parallel) by `render`:
        # (section, index of their placeholder in it, name, figure, caption).
        self._figures: list[tuple[str, int, str, Figure, str]] = []

    def add(self, section: str, fragment: str) -> None:
        self.sections[section].append(fragment)

    def figure(self, section: str, name: str, draw: Callable[[], Figure], caption: str) -> None:
        """Draw a figure and embed it; a failure becomes a note instead of aborting the report."""
        try:
            fig = draw()
        except _DRAWING_ERRORS as exc:  # bad data for one figure must not cost the report
            self.add(section, _note(f"{caption}: could not be drawn ({type(exc).__name__}: {exc})"))
            return
        self._figures.append((section, len(self.sections[section]), name, fig, caption))
        self.add(section, "")  # its place; the PNG comes in `_draw_figures`

    def _draw_figures(self) -> None:
        """Draw every figure built so far, one process per core, into its place."""
        figures, self._figures = self._figures, []
        pngs = plots.figures_to_png([f[3] for f in figures], processes=self.processes)
        for (section, at, name, _, caption), png in zip(figures, pngs, strict=True):
            if self.plots_dir is not None:  # the same bytes are embedded and saved
                atomic_write_bytes(self.plots_dir / f"{name}.png", png)
            self.sections[section][at] = html_figure(png, caption)

    def render(self, title: str, meta: str) -> str:
        self._draw_figures()
        nav = "".join(f'<li><a href="#{k}">{_esc(v)}</a></li>' for k, v in self.headings.items())
        body = "".join(
            f'<section id="{key}"><h2>{_esc(self.headings[key])}</h2>{"".join(parts)}</section>'
            for key, parts in self.sections.items()
        )
        first, *rest = body.split("</section>", 1)  # the answer first, then the contents
        return html_page(
            title, f"{first}</section><nav><ol>{nav}</ol></nav>{''.join(rest)}", meta=meta
        )


def html_figure(png: bytes, caption: str) -> str:
    """A PNG embedded as a data URI, with its caption."""
    data = base64.b64encode(png).decode("ascii")
    return (
        f'<figure><img src="data:image/png;base64,{data}" alt="{_esc(caption)}">'
        f"<figcaption>{_esc(caption)}</figcaption></figure>"
    )


def html_page(title: str, body: str, *, meta: str = "") -> str:
    """A self-contained HTML page (inline style and sort script) around ``body``; ``meta`` is
    trusted HTML."""
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<meta name="generator" content="{GENERATOR}">'
        f"<title>{_esc(title)}</title><style>{_CSS}</style></head><body>"
        f'<h1>{_esc(title)}</h1><p class="meta">{meta}</p>{body}'
        f"<script>{_SORT_SCRIPT}</script></body></html>\n"
    )
