"""The HTML report renders in a real browser: headless Chromium screenshots, checked pixel by pixel.

The report is written by ``prioq simulate`` on a tiny trace. Each plot is also
cut out into a page of its own, so that every one of the four is checked (the
whole report is longer than one screenshot). A plot "renders" when its
screenshot is not blank and shows the colours its series are drawn in.

Outside CI the test skips, with the reason, when no browser is installed;
under ``CI=true`` (``.ci/run`` installs Debian's ``chromium``) a missing browser fails.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from prioq.sim.cli import main
from test_cli import JOBS_CSV, NODES_CSV  # one tiny trace for the CLI and browser tests

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


# matplotlib's default colours: the first series (fifo) is blue, the second orange; the preemption
# bars are red (count) and orange (GPU-hours lost).
BLUE, ORANGE, RED = (0x1F, 0x77, 0xB4), (0xFF, 0x7F, 0x0E), (0xD6, 0x27, 0x28)
EXPECTED_COLOURS = {
    "wait-cdf": (BLUE, ORANGE),
    "queue-length": (BLUE, ORANGE),
    "gpu-utilization": (BLUE, ORANGE),
    "preemptions": (RED, ORANGE),
}


def browser() -> str:
    for name in BROWSERS:
        path = shutil.which(name)
        if path:
            return path
    reason = f"no headless browser found (looked for {', '.join(BROWSERS)}): apt-get install chromium"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(reason)
    pytest.skip(reason)


def screenshot(exe: str, page: Path, png: Path, profile: Path) -> Any:
    """Render ``page`` headless at 1200x2400 and return the screenshot as an RGB(A) array in 0..1."""
    from matplotlib.image import imread

    cmd = [
        exe, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        f"--user-data-dir={profile}", f"--screenshot={png}", "--window-size=1200,2400",
        page.resolve().as_uri(),
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0 and png.exists(), f"{exe} failed ({done.returncode}): {done.stderr[-2000:]}"
    return imread(str(png))


def colour_pixels(image: Any, rgb: tuple[int, int, int], tolerance: int = 40) -> int:
    """Pixels within ``tolerance`` (per channel, 0..255) of ``rgb``."""
    import numpy as np

    pixels = np.asarray(image)[..., :3] * 255
    return int((np.abs(pixels - np.array(rgb)) <= tolerance).all(axis=-1).sum())


def ink(image: Any) -> tuple[float, int, int]:
    """Share of pixels that are not (near) white, and the width and height of the box that holds them."""
    import numpy as np

    inked = (np.asarray(image)[..., :3] < 0.94).any(axis=-1)
    rows, cols = np.nonzero(inked.any(axis=1))[0], np.nonzero(inked.any(axis=0))[0]
    if not len(rows):
        return 0.0, 0, 0
    return float(inked.mean()), int(cols[-1] - cols[0] + 1), int(rows[-1] - rows[0] + 1)


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("report")
    (folder / "jobs.csv").write_text(JOBS_CSV)
    (folder / "nodes.csv").write_text(NODES_CSV)
    path = folder / "report.html"
    code = main([
        "simulate", "--trace", str(folder / "jobs.csv"), "--nodes", str(folder / "nodes.csv"),
        "--policies", "fifo,priority+preemption", "--report", str(path), "--no-progress",
    ])
    assert code == 0
    return path


def test_the_report_renders_in_a_headless_browser(report: Path, tmp_path: Path) -> None:
    exe = browser()
    image = screenshot(exe, report, tmp_path / "report.png", tmp_path / "profile")
    assert image.shape[0] >= 2400 and image.shape[1] >= 1200
    share, _, height = ink(image)
    assert share > 0.03 and height > 2000  # text, the metrics table and plots: far from a blank page
    for colour in (BLUE, ORANGE, RED):
        assert colour_pixels(image, colour) > 150, colour


@pytest.mark.parametrize("figure", list(EXPECTED_COLOURS))
def test_each_plot_renders_its_series(report: Path, tmp_path: Path, figure: str) -> None:
    exe = browser()
    html = report.read_text(encoding="utf-8")
    head = html[: html.index("<body>")]
    match = re.search(rf'<figure id="{figure}">.*?</figure>', html, flags=re.S)
    assert match, figure
    page = tmp_path / f"{figure}.html"
    page.write_text(f"{head}<body>{match.group(0)}</body></html>", encoding="utf-8")
    image = screenshot(exe, page, tmp_path / f"{figure}.png", tmp_path / "profile")
    share, width, height = ink(image)
    # A plot at its size (several hundred pixels each way) with axes, labels and series drawn.
    assert share > 0.002 and width > 400 and height > 200, f"{figure} looks blank: {share, width, height}"
    for colour in EXPECTED_COLOURS[figure]:
        # A legend swatch alone is under 50 such pixels; a drawn series is several hundred.
        assert colour_pixels(image, colour) > 150, f"{figure}: no {colour} series drawn"
