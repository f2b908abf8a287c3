"""Check a built HTML site (after `make docs`) for what a reader would see as broken.

Usage: python tools/check_docs.py [docs/_build/html]

Fails (exit 1) and says where when
- a gallery page of an executed example (``plot_*.py``) shows no figure;
- a gallery figure is blank, or has a framed axes with nothing drawn inside it;
- a gallery page prints a stray ``Text(...)`` or ``<matplotlib....>`` repr;
- an internal link (``href``/``src``) points to a missing file or to a missing anchor.
"""

from __future__ import annotations

import re
import sys
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
STRAY = re.compile(r"Text\(|&lt;matplotlib\.|<matplotlib\.")
# Spines are drawn in black; an axes frame is a rectangle of dark lines at least this long.
DARK = 100
MIN_SIDE = 40
TICK = 8  # tick marks are at most this many pixels long


class _Page(HTMLParser):
    """Links, anchors, gallery images and script outputs of one HTML page."""

    def __init__(self):
        super().__init__(convert_charrefs=False)
        self.links: list[str] = []
        self.ids: set[str] = set()
        self.images: list[str] = []
        self.outputs: list[str] = []
        self.example = False
        self._out_depth = 0
        self._depth = 0

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self._depth += 1
        for key in ("id", "name"):
            if a.get(key):
                self.ids.add(a[key])
        classes = (a.get("class") or "").split()
        if "sphx-glr-example-title" in classes:
            self.example = True
        if "sphx-glr-script-out" in classes and not self._out_depth:
            self._out_depth = self._depth
            self.outputs.append("")
        for key in ("href", "src"):
            if a.get(key):
                self.links.append(a[key])
        if tag == "img" and "sphx_glr_" in (a.get("src") or "") and "_thumb" not in a["src"]:
            self.images.append(a["src"])

    def handle_startendtag(self, tag, attrs):
        self.handle_starttag(tag, attrs)
        self._depth -= 1

    def handle_endtag(self, tag):
        if self._out_depth and self._depth == self._out_depth:
            self._out_depth = 0
        self._depth -= 1

    def handle_data(self, data):
        if self._out_depth:
            self.outputs[-1] += data

    def handle_entityref(self, name):
        self.handle_data(f"&{name};")


def _runs(mask_1d: np.ndarray) -> list[tuple[int, int]]:
    """Start and end (exclusive) of the runs of True in a boolean vector."""
    padded = np.concatenate([[False], mask_1d, [False]]).astype(np.int8)
    edges = np.flatnonzero(np.diff(padded))
    return list(zip(edges[::2], edges[1::2]))


def axes_frames(gray: np.ndarray) -> list[tuple[int, int, int, int]]:
    """Rectangles (top, bottom, left, right) framed by dark lines: the spines of each axes."""
    dark = gray < DARK
    lines: dict[tuple[int, int], list[int]] = {}
    for y in range(dark.shape[0]):
        for x0, x1 in _runs(dark[y]):
            if x1 - x0 >= MIN_SIDE:
                lines.setdefault((x0, x1 - 1), []).append(y)
    frames = []
    for (x0, x1), rows in lines.items():
        # rows of one line of a few pixels' width collapse to one
        ys = [r for i, r in enumerate(rows) if i == 0 or r > rows[i - 1] + 3]
        i = 0
        while i < len(ys) - 1:
            # the farthest lower line joined to this one by dark verticals at both ends
            best = None
            for j in range(i + 1, len(ys)):
                top, bottom = ys[i], ys[j]
                if bottom - top < MIN_SIDE // 2:
                    continue
                # a tick mark at a corner lengthens the spine's row by a few pixels
                cover = dark[top:bottom, x0 : x1 + 1].mean(axis=0)
                left = x0 + int(np.argmax(cover[:TICK]))
                right = x1 - int(np.argmax(cover[::-1][:TICK]))
                if min(cover[left - x0], cover[right - x0]) > 0.97:
                    best = (j, left, right)
            if best is None:
                i += 1
                continue
            j, left, right = best
            frames.append((ys[i], ys[j], left, right))
            i = j
    return frames


def blank_panels(path: Path) -> list[str]:
    """Problems of one figure: blank as a whole, or framed axes with an empty interior."""
    gray = np.asarray(Image.open(path).convert("L"), dtype=float)
    if gray.std() < 1.0:
        return [f"{path.name}: the whole image is blank"]
    out = []
    for top, bottom, left, right in axes_frames(gray):
        inside = gray[top + 3 : bottom - 2, left + 3 : right - 2]
        if inside.size == 0:
            continue
        background = np.median(inside)
        # a dark uniform interior is a filled region (an image, a colour map), not an
        # empty axes, whose face is white or light
        if background > 200 and np.mean(np.abs(inside - background) > 30) < 1e-4:
            out.append(f"{path.name}: empty axes at x {left}-{right}, y {top}-{bottom} px")
    return out


def check(html_dir: Path) -> list[str]:
    problems = []
    pages = {p: _Page() for p in sorted(html_dir.rglob("*.html"))}
    for path, page in pages.items():
        page.feed(path.read_text(encoding="utf-8"))
    for path, page in pages.items():
        rel = path.relative_to(html_dir)
        if rel.parts[0] == "_static":  # the theme's template fragments, not pages
            continue
        if page.example and rel.parts[0] == "auto_examples":
            if rel.name.startswith("plot_") and not page.images:
                problems.append(f"{rel}: gallery page without a figure")
            for text in page.outputs:
                if STRAY.search(text):
                    problems.append(f"{rel}: stray repr in the output: {STRAY.search(text)[0]}")
        for link in page.links:
            parts = urlsplit(link)
            if parts.scheme or parts.netloc or link.startswith(("mailto:", "javascript:")):
                continue
            target = (path.parent / unquote(parts.path)).resolve() if parts.path else path
            if target.is_dir():
                target = target / "index.html"
            if not target.exists():
                problems.append(f"{rel}: broken link {link}")
            # viewcode's [docs] back-links aim at the first place an object is described,
            # not always where its anchor is; they still land on the right page
            elif parts.fragment and target.suffix == ".html" and rel.parts[0] != "_modules":
                ids = pages[target].ids if target in pages else set()
                if target in pages and parts.fragment not in ids:
                    problems.append(f"{rel}: link to a missing anchor {link}")
    for png in sorted((html_dir / "_images").glob("sphx_glr_*.png")):
        if "_thumb" not in png.name:
            problems += blank_panels(png)
    return problems


def main(argv: list[str]) -> int:
    html_dir = Path(argv[0]) if argv else ROOT / "docs" / "_build" / "html"
    if not (html_dir / "index.html").exists():
        print(f"no built site in {html_dir}: run `make docs` first")
        return 1
    problems = check(html_dir.resolve())
    for p in problems:
        print(p)
    n_pages = len(list(html_dir.rglob("*.html")))
    print(f"checked {n_pages} pages: {len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
