"""The partner's page in a real browser (headless Chromium): nothing is wider than a 400 px phone screen.

The page itself has no script. A wrapper page holds it in a 400 px frame and writes the width of the page's
content and of its viewport into its own body, which Chromium's ``--dump-dom`` prints.
"""

import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from example_runs import two_periods
from invoke import cosell

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="needs headless Chromium (Debian package chromium)")

WRAPPER = """<!DOCTYPE html><html><body style="margin:0">
<iframe id="f" src="{page}" style="width:{width}px;height:3000px;border:0"></iframe>
<script>document.getElementById("f").onload = function () {{
  var root = this.contentDocument.documentElement;
  document.body.setAttribute("data-scroll", root.scrollWidth);
  document.body.setAttribute("data-client", root.clientWidth);
}};</script></body></html>"""


def chromium(*args: str) -> str:
    assert CHROMIUM is not None
    # A profile of its own: another test process may run a browser at the same time.
    with tempfile.TemporaryDirectory(prefix="cosell-chromium-") as profile:
        done = subprocess.run(
            [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", f"--user-data-dir={profile}", *args],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def widths(page: Path, width: int) -> tuple[int, int]:
    """(the page's content width, its viewport width) in a frame ``width`` px wide."""
    wrapper = page.with_name(f"wrapper-{page.stem}.html")
    wrapper.write_text(WRAPPER.format(page=page.name, width=width), encoding="utf-8")
    dom = chromium(
        "--allow-file-access-from-files", "--virtual-time-budget=5000", "--dump-dom", wrapper.as_uri()
    )
    found = dict(re.findall(r'data-(scroll|client)="(\d+)"', dom))
    return int(found["scroll"]), int(found["client"])


def test_every_partners_page_fits_400_px_without_scrolling_sideways(work, tmp_path):
    two_periods()
    assert (
        cosell("statement", "--period", "2026-Q3", "--format", "html", "--per-partner", "send").exit_code == 0
    )
    pages = sorted((work / "send").glob("*.html"))
    assert len(pages) == 6
    for page in pages:
        content, viewport = widths(page, 400)
        assert 0 < viewport <= 400 and content <= viewport, f"{page.name}: {content} px wide in {viewport} px"
    # a screenshot to look at, kept with the test's files
    shot = tmp_path / "P002-400px.png"
    chromium("--window-size=400,2400", f"--screenshot={shot}", (work / "send" / "P002.html").as_uri())
    assert shot.stat().st_size > 10_000


def test_the_check_sees_a_page_that_is_too_wide(tmp_path):
    wide = tmp_path / "wide.html"
    wide.write_text('<!DOCTYPE html><html><body><div style="width:600px">x</div></body></html>')
    content, viewport = widths(wide, 400)
    assert content > viewport
