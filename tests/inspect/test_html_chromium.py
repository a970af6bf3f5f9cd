"""The inspect report rendered by a real browser (headless Chromium): the DOM has every table
and figure of the report, the figures decode, and the screenshot shows them (non-blank pixels
inside the boxes the browser laid out), while the page margin stays blank.

Skipped when chromium is not installed (as root on Debian: `apt-get install -y chromium`, which
`make data` does).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess

import numpy as np
import pytest
import torch

import contrastlens

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None,
    reason="chromium is not installed (Debian, as root: apt-get install -y chromium; or make data)",
)
WIDTH = 1200
# Boxes of every img and table, in CSS pixels of the page, written into the DOM by the browser.
BOXES_JS = """<script>
window.addEventListener('load', () => {
  const box = e => { const r = e.getBoundingClientRect();
    return {x: r.left + scrollX, y: r.top + scrollY, w: r.width, h: r.height,
            natural: e.naturalWidth || 0}; };
  const out = {imgs: [...document.images].map(box),
               tables: [...document.querySelectorAll('table')].map(box),
               body: box(document.body),
               height: document.documentElement.scrollHeight};
  const pre = document.createElement('pre'); pre.id = 'boxes';
  pre.textContent = JSON.stringify(out); document.body.appendChild(pre);
});
</script>"""


def _chromium(profile, *args: str, timeout: int = 90) -> subprocess.CompletedProcess:
    flags = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={profile}",
        "--force-device-scale-factor=1",
        "--hide-scrollbars",
    ]
    done = subprocess.run(
        [CHROMIUM, *flags, *args], capture_output=True, text=True, timeout=timeout, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    g = torch.Generator().manual_seed(0)
    y = torch.randint(0, 4, (120,), generator=g)
    base = 2 * torch.randn(4, 16, generator=g)[y] + torch.randn(120, 16, generator=g)
    E, P = (
        base + 0.5 * torch.randn(120, 16, generator=g),
        base + 0.5 * torch.randn(120, 16, generator=g),
    )
    out = tmp_path_factory.mktemp("lens")
    contrastlens.inspect(E, positives=P, labels=y, out=out, batch_size=16, precisions=("float32",))
    return out


def test_the_browser_renders_every_table_and_figure(report, tmp_path):
    from matplotlib.image import imread

    html = (report / "report.html").read_text()
    md = (report / "report.md").read_text()
    probe = tmp_path / "probe.html"
    probe.write_text(html.replace("</body>", BOXES_JS + "</body>"))
    size = f"--window-size={WIDTH},900"  # the same width as the screenshot: the same layout
    dom = _chromium(tmp_path / "profile1", size, "--dump-dom", probe.as_uri()).stdout
    boxes = json.loads(re.search(r'<pre id="boxes">(.*?)</pre>', dom, re.S).group(1))
    # the DOM holds what the report wrote: one table per Markdown table, both figures, decoded
    assert len(boxes["tables"]) == md.count("\n|---|") == html.count("<table>")
    assert len(boxes["imgs"]) == 2 and all(b["natural"] > 0 and b["w"] > 200 for b in boxes["imgs"])
    for heading in re.findall(r"^## (.+)$", md, re.M):
        assert f"<h2>{heading}</h2>" in dom
    # the screenshot of the page as laid out
    height = int(boxes["height"])
    shot = tmp_path / "shot.png"
    _chromium(
        tmp_path / "profile2",
        f"--screenshot={shot}",
        f"--window-size={WIDTH},{height}",
        (report / "report.html").as_uri(),
    )
    pixels = imread(shot)[..., :3]  # (H, W, 3) floats in [0, 1]
    assert pixels.shape[1] == WIDTH and pixels.shape[0] >= min(height, 4000)
    ink = pixels.min(axis=2) < 0.85  # anything visibly darker than white

    def crop(b, pad=2):
        y0, x0 = int(b["y"]) + pad, int(b["x"]) + pad
        return slice(y0, int(b["y"] + b["h"]) - pad), slice(x0, int(b["x"] + b["w"]) - pad)

    for b in boxes["imgs"]:  # a plot: lines, axes and text, in many colors
        ys, xs = crop(b)
        region = pixels[ys, xs]
        assert ink[ys, xs].mean() > 0.02, b
        colors = np.unique((region.reshape(-1, 3) * 15).round(), axis=0)  # 16 levels per channel
        assert len(colors) > 5, b
    for b in boxes["tables"]:  # borders and digits
        ys, xs = crop(b, pad=0)
        assert ink[ys, xs].mean() > 0.01, b
    right = int(boxes["body"]["x"] + boxes["body"]["w"])  # the page's content ends here
    assert right + 10 < WIDTH and not ink[:, right + 10 :].any()  # the blank margin
