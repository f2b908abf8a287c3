"""Run every examples/<solver>/plot_*.py, save each figure as PNG, print one line per example.

Usage: python tools/run_gallery.py [pattern ...]   (default: all examples)
Exits non-zero if any example fails, runs over its time budget (GALLERY_BUDGET_S seconds,
default 60: the gallery tells stories; benchmarks belong in benchmarks/), or leaves an axes
with nothing drawn on it. Figures go to docs/_build/gallery/<example>_<n>.png.
"""

from __future__ import annotations

import fnmatch
import os
import runpy
import sys
import time
import traceback
from pathlib import Path

os.environ.setdefault("MPLBACKEND", "Agg")

import matplotlib  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "docs" / "_build" / "gallery"
BUDGET_S = float(os.environ.get("GALLERY_BUDGET_S", "60"))


def empty_axes(fig) -> list[str]:
    """Titles (or positions) of the visible axes of ``fig`` with no data drawn on them."""
    out = []
    for i, ax in enumerate(fig.axes):
        # colour bars and text-only panels (axis turned off) carry no data artists
        if not ax.get_visible() or not ax.axison or hasattr(ax, "_colorbar"):
            continue
        if not ax.has_data():
            out.append(ax.get_title() or f"axes {i}")
    return out


def run_one(path: Path) -> tuple[bool, float, int, list[str]]:
    plt.close("all")
    # each example starts with the JAX precision a fresh process has (one example's
    # mixtures.enable_x64() must not change the next one's)
    if "jax" in sys.modules:
        sys.modules["jax"].config.update("jax_enable_x64", False)
    plt.show = lambda *a, **k: None  # figures are saved below, never shown
    t0 = time.perf_counter()
    ok = True
    try:
        runpy.run_path(str(path), run_name="__main__")
    except BaseException:  # noqa: BLE001 - report every failure, including SystemExit
        traceback.print_exc()
        ok = False
    seconds = time.perf_counter() - t0
    n = 0
    empty = []
    for num in plt.get_fignums():
        fig = plt.figure(num)
        n += 1
        fig.savefig(OUT / f"{path.stem}_{n}.png", dpi=90, bbox_inches="tight")
        empty += [f"figure {n}: {title}" for title in empty_axes(fig)]
    plt.close("all")
    return ok, seconds, n, empty


def main(patterns: list[str]) -> int:
    OUT.mkdir(parents=True, exist_ok=True)
    examples = sorted((ROOT / "examples").glob("*/plot_*.py"))
    if patterns:
        examples = [p for p in examples if any(fnmatch.fnmatch(p.name, f"*{q}*") for q in patterns)]
    if not examples:
        print("no examples found")
        return 1
    failed = []
    for path in examples:
        ok, seconds, n, empty = run_one(path)
        status = "ok"
        if not ok:
            status = "FAILED"
        elif empty:
            status = "FAILED: empty axes (" + "; ".join(empty) + ")"
        elif seconds > BUDGET_S:
            status = f"FAILED: over the {BUDGET_S:.0f} s budget"
        print(f"{path.name:<45s} {seconds:7.1f} s  {n:2d} figure(s)  {status}", flush=True)
        if status != "ok":
            failed.append(path.name)
    print(f"{len(examples) - len(failed)} examples ran, {len(failed)} failed; figures in {OUT}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
