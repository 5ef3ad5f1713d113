"""``report.html`` rendered by a real browser (Debian's headless chromium) at 1280 x 900.

The page is checked by a script injected into a copy of the report: the headline R² on the first
screen, no element wider than the window, every image decoded. The Makefile and ``.ci/run``
install ``chromium`` when it is missing.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from nnforge.report import write_report

WIDTH, HEIGHT = 1280, 900

_CHECK = """<script>window.addEventListener('load', function () {
  var doc = document.documentElement, r2 = document.getElementById('headline-r2');
  var box = r2 ? r2.getBoundingClientRect() : null, wide = [];
  document.querySelectorAll('body *').forEach(function (e) {
    if (e.closest('.scroll') && !e.classList.contains('scroll')) { return; }  // scrolls inside
    var b = e.getBoundingClientRect();
    if (b.width > 0 && (b.right > doc.clientWidth + 0.5 || b.left < -0.5)) { wide.push(e.tagName); }
  });
  var images = Array.prototype.slice.call(document.images);
  var out = {r2: r2 ? r2.textContent : null, r2_bottom: box ? box.bottom : null,
    scroll_width: doc.scrollWidth, client_width: doc.clientWidth, wide: wide.slice(0, 10),
    images: images.length,
    broken: images.filter(function (i) { return !i.complete || i.naturalWidth === 0; }).length};
  var pre = document.createElement('pre'); pre.id = 'nnforge-check';
  pre.textContent = JSON.stringify(out); document.body.appendChild(pre);
});</script>"""


def chromium() -> str:
    """The browser, or a skip outside CI (in CI a missing browser is a failure)."""
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is missing: `make test` installs it (apt-get install chromium)")
        pytest.skip("chromium not installed (`apt-get install chromium`; `make test` does it)")
    return path


def headless(*args: str) -> subprocess.CompletedProcess[str]:
    """Run headless chromium at 1280 x 900 (no sandbox: tests may run as root)."""
    argv = [
        chromium(),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--hide-scrollbars",
        f"--window-size={WIDTH},{HEIGHT}",
        "--virtual-time-budget=20000",
        *args,
    ]
    return subprocess.run(argv, capture_output=True, text=True, timeout=180, check=True)


@pytest.fixture(scope="module")
def report(houses_run: Path) -> Path:
    """The report of the session's real (small) run: dates, coordinates, a price in USD."""
    return write_report(houses_run)


def test_report_first_screen_in_a_browser(report: Path, tmp_path: Path) -> None:
    page = tmp_path / "checked.html"
    page.write_text(
        report.read_text(encoding="utf-8").replace("</body>", _CHECK + "</body>"),
        encoding="utf-8",
    )
    dom = headless("--dump-dom", page.as_uri()).stdout
    found = re.search(r'<pre id="nnforge-check">(.*?)</pre>', dom)
    assert found, dom[-2000:]
    check = json.loads(found.group(1).replace("&quot;", '"'))
    summary = json.loads((report.parent / "evaluation.json").read_text(encoding="utf-8"))
    assert check["r2"] == f"{summary['summary']['oof_r2']:.4f}"  # the headline R²...
    assert 0 < check["r2_bottom"] <= HEIGHT  # ...visible on the first screen
    assert check["scroll_width"] <= check["client_width"] == WIDTH  # no horizontal scroll
    assert check["wide"] == []  # no element sticks out of the window
    assert check["images"] >= 8
    assert check["broken"] == 0  # every image decoded


def test_report_screenshot(report: Path, tmp_path: Path) -> None:
    shot = tmp_path / "first_screen.png"
    headless(f"--screenshot={shot}", report.as_uri())
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    from matplotlib.image import imread

    pixels = imread(shot)
    assert pixels.shape[:2] == (HEIGHT, WIDTH)
    assert pixels.std() > 0.05  # rendered content, not a blank page
