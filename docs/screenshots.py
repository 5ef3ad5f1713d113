"""Make the README's screenshots: ``nnforge train`` in an 80-column terminal, and the first screen
of ``report.html`` at 1280 x 900 in headless chromium.

Run with ``make screenshots`` (needs the King County file, the dev extra for pexpect/pyte and
Debian's ``chromium``). Writes ``docs/train-80-columns.png`` and ``docs/report-first-screen.png``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pexpect
import pyte
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

HERE = Path(__file__).resolve().parent
NNFORGE = Path(sys.executable).with_name("nnforge")
COLUMNS, ROWS = 80, 22
# pyte's colour names (rich's defaults) on a dark terminal background.
_COLORS = {
    "default": "#d8d8d8",
    "green": "#5fd75f",
    "magenta": "#d75fd7",
    "red": "#ff5f5f",
    "cyan": "#5fd7d7",
    "yellow": "#d7d75f",
    "blue": "#5f87d7",
    "black": "#444444",
}


def terminal_screen(argv: list[str], cwd: Path) -> pyte.Screen:
    """Run ``nnforge ARGV`` in a pty of 80 x 22 and return the final screen."""
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    env["TERM"] = "xterm-256color"
    child = pexpect.spawn(
        str(NNFORGE), argv, cwd=str(cwd), env=env, dimensions=(ROWS, COLUMNS), timeout=1800
    )
    screen = pyte.Screen(COLUMNS, ROWS)
    stream = pyte.ByteStream(screen)
    while True:
        try:
            stream.feed(child.read_nonblocking(4096, timeout=1800))
        except pexpect.EOF:
            break
    child.close()
    return screen


def draw_screen(screen: pyte.Screen, path: Path) -> Path:
    """The screen as a PNG: monospace text, colours kept, dark background."""
    size, dpi = 10.5, 100
    char_w, line_h = 0.61 * size / 72, 1.3 * size / 72  # inches
    width, height = COLUMNS * char_w + 0.4, ROWS * line_h + 0.3
    fig = Figure(figsize=(width, height), dpi=dpi, facecolor="#1e1e1e")
    FigureCanvasAgg(fig)
    for row in range(ROWS):
        line = screen.buffer[row]
        col = 0
        while col < COLUMNS:
            fg = line[col].fg
            end = col
            while end < COLUMNS and line[end].fg == fg:
                end += 1
            text = "".join(line[c].data for c in range(col, end))
            if text.strip():
                fig.text(
                    (0.15 + col * char_w) / width,
                    1 - (0.15 + (row + 0.8) * line_h) / height,
                    text,
                    family="DejaVu Sans Mono",
                    size=size,
                    color=_COLORS.get(fg, fg if fg.startswith("#") else "#d8d8d8"),
                )
            col = end
    fig.savefig(path, dpi=dpi, facecolor=fig.get_facecolor())
    return path


def report_screenshot(report: Path, path: Path) -> Path:
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        sys.exit("screenshots: chromium is missing (apt-get install chromium)")
    subprocess.run(
        [
            browser,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            "--window-size=1280,900",
            f"--screenshot={path}",
            report.as_uri(),
        ],
        check=True,
        capture_output=True,
    )
    return path


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    spec = HERE.parent / "src/nnforge/examples/king_county.json"
    parser.add_argument("--spec", default=str(spec))
    parser.add_argument("--work", default="runs/screenshots", help="folder for the run")
    parser.add_argument("--epochs", default=None, help="override the spec's epochs")
    parser.add_argument("--verbose", default="100", help="keep a line every N epochs")
    parser.add_argument("--only", choices=("terminal", "report"), help="make one of the two")
    args = parser.parse_args(argv)
    work = Path(args.work).resolve()
    work.mkdir(parents=True, exist_ok=True)
    train = ["train", str(Path(args.spec).resolve()), "--out", "run", "--verbose", args.verbose]
    train += ["--epochs", args.epochs] if args.epochs else []
    if args.only != "report":
        screen = terminal_screen(train, work)
        print(draw_screen(screen, HERE / "train-80-columns.png"))
    if args.only == "terminal":
        return 0
    subprocess.run([str(NNFORGE), "importance", "run"], cwd=work, check=True)
    subprocess.run([str(NNFORGE), "report", "run"], cwd=work, check=True)
    print(report_screenshot(work / "run" / "report.html", HERE / "report-first-screen.png"))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
