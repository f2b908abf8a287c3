"""Run every examples/plot_*.py, save each figure it makes as PNG, print one line per example.

Usage: python tools/run_gallery.py [pattern ...]   (default: all examples)
Exits non-zero if any example fails. Figures go to docs/_build/gallery/<example>_<n>.png.
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


def run_one(path: Path) -> tuple[bool, float, int]:
    plt.close("all")
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
    for num in plt.get_fignums():
        fig = plt.figure(num)
        n += 1
        fig.savefig(OUT / f"{path.stem}_{n}.png", dpi=90, bbox_inches="tight")
    plt.close("all")
    return ok, seconds, n


def main(patterns: list[str]) -> int:
    OUT.mkdir(parents=True, exist_ok=True)
    examples = sorted((ROOT / "examples").glob("plot_*.py"))
    if patterns:
        examples = [p for p in examples if any(fnmatch.fnmatch(p.name, f"*{q}*") for q in patterns)]
    if not examples:
        print("no examples found")
        return 1
    failed = []
    for path in examples:
        ok, seconds, n = run_one(path)
        status = "ok" if ok else "FAILED"
        print(f"{path.name:<45s} {seconds:7.1f} s  {n:2d} figure(s)  {status}", flush=True)
        if not ok:
            failed.append(path.name)
    print(f"{len(examples) - len(failed)} examples ran, {len(failed)} failed; figures in {OUT}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
