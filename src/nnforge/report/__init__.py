"""A self-contained HTML report of a run directory.

:func:`write_report` loads the run through :meth:`nnforge.training.Run.load`, draws the figures
of :mod:`nnforge.plots` and writes one ``report.html`` with every image embedded as a base64 PNG,
so the file can be mailed or opened offline. Optional inputs that are missing
(``importance.csv``, latitude/longitude columns) leave their section in place with a short note
saying what to do to fill it; a damaged run is refused with the error of ``Run.load``.

The modules: :mod:`~nnforge.report.reading` (the run as the sections see it,
:class:`RunFiles`), :mod:`~nnforge.report.sections` (the sections of every target and of a
numeric one), :mod:`~nnforge.report.classification` (those of a class target) and
:mod:`~nnforge.report.html` (page, tables, figures; also used by ``nnforge compare``).

Examples
--------
>>> from nnforge.report import write_report
>>> write_report("runs/kc")  # doctest: +SKIP
PosixPath('runs/kc/report.html')
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from pathlib import Path

import polars as pl

from nnforge import __version__
from nnforge._io import atomic_write_text
from nnforge._validation import check_scalar
from nnforge.report.classification import CLASSIFICATION_SECTION_LIST, CLASSIFICATION_SECTIONS
from nnforge.report.html import GENERATOR, _esc, _Report, html_figure, html_page, html_table
from nnforge.report.reading import RunFiles, Section, read_run
from nnforge.report.sections import REGRESSION_SECTIONS, SECTIONS
from nnforge.training.processes import available_cores

__all__ = [
    "CLASSIFICATION_SECTIONS",
    "CLASSIFICATION_SECTION_LIST",
    "GENERATOR",
    "REGRESSION_SECTIONS",
    "SECTIONS",
    "RunFiles",
    "Section",
    "html_figure",
    "html_page",
    "html_table",
    "write_report",
]


def write_report(
    run_dir: str | Path,
    out: str | Path | None = None,
    *,
    units: Mapping[str, str] | None = None,
    plots_dir: str | Path | None = None,
    max_feature_plots: int = 6,
    n_worst: int = 20,
    before_after: tuple[pl.DataFrame, pl.DataFrame] | None = None,
    sections: list[Section] | None = None,
    processes: int | None = None,
) -> Path:
    """Write a self-contained ``report.html`` for a run directory, leading with the answer.

    Parameters
    ----------
    run_dir : str or Path
        A run directory written by ``nnforge train`` (the contract in ``docs/DESIGN.md``), and
        optionally ``importance.csv`` and ``importance_groups.csv`` of ``nnforge importance``.
    out : str or Path, optional
        Output file. Default: ``run_dir / "report.html"``.
    units : mapping of str to str, optional
        Column name to unit. Default: the units of the run's dataset spec
        (:func:`nnforge.datasets.units_of`), else none.
    plots_dir : str or Path, optional
        Also save every figure there as ``<name>.png``.
    max_feature_plots : int, default=6
        Number of per-feature prediction plots (most important or most correlated first).
    n_worst : int, default=20
        Rows in the worst-predictions table.
    before_after : tuple of two polars.DataFrame, optional
        Feature frames before and after preprocessing for the box plots. Default: the rows of the
        predictions passed through fold 0's fitted pipeline.
    sections : list of Section, optional
        The sections in order. Default: :data:`REGRESSION_SECTIONS`, or
        :data:`CLASSIFICATION_SECTION_LIST` for a class target.
    processes : int, optional
        Processes drawing the figures (forked on Linux; the same bytes as drawn here).
        Default: one per core this process may use; 1 draws them all in this process.

    Returns
    -------
    Path
        The written report.

    Raises
    ------
    FileNotFoundError
        If ``run_dir`` is not a directory.
    nnforge.training.rundir.RunDirDamagedError
        If a file of the run is missing, unreadable or inconsistent (it is named).
    """
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        msg = f"run directory `{run_dir}` does not exist. Received: run_dir={str(run_dir)!r}"
        raise FileNotFoundError(msg)
    out = run_dir / "report.html" if out is None else Path(out)
    run = read_run(
        run_dir,
        out,
        units=units,
        before_after=before_after,
        max_feature_plots=max_feature_plots,
        n_worst=n_worst,
    )
    if sections is None:  # the sections for the run's kind of target
        classes = run.summary.get("task") == "classification"
        sections = CLASSIFICATION_SECTION_LIST if classes else REGRESSION_SECTIONS
    jobs = (
        available_cores()
        if processes is None
        else check_scalar(processes, "processes", integer=True, min_val=1)
    )
    report = _Report(sections, None if plots_dir is None else Path(plots_dir), jobs)
    for _, _, fill in sections:
        fill(report, run)

    title = f"nnforge report: {run_dir.resolve().name}"
    stamp = dt.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    meta = f"Run directory <code>{_esc(run_dir)}</code> · generated {stamp} · nnforge {__version__}"
    return atomic_write_text(out, report.render(title, meta))
