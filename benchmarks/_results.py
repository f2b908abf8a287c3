"""Write a benchmark's current table into its section of ``docs/benchmarks.md``.

Each script owns one section, delimited by ``<!-- BEGIN name -->`` / ``<!-- END name -->``;
running the script replaces that section (or appends it), so the page states current results
and git keeps the history.
"""

from __future__ import annotations

import re
from pathlib import Path

DOCS = Path(__file__).resolve().parent.parent / "docs" / "benchmarks.md"


_MARKER = re.compile(r"<!-- (BEGIN|END) (.+?) -->")


def write_section(name: str, text: str, path: Path = DOCS) -> None:
    """Replace section ``name`` of ``path`` by ``text`` (or append it).

    Robust to a page whose markers went wrong: the section is each run of consecutive
    markers of ``name`` (no other section's marker between them) with the text they
    enclose, e.g. an empty ``BEGIN``/``END`` pair, the content and a stray second ``END``;
    a run ending with ``BEGIN`` reaches the next section's marker or the end of the page.
    The first run is replaced and any later one removed.
    """
    begin, end = f"<!-- BEGIN {name} -->", f"<!-- END {name} -->"
    block = f"{begin}\n{text.rstrip()}\n{end}"
    page = path.read_text() if path.exists() else "# Benchmarks\n"
    marks = list(_MARKER.finditer(page))
    runs, k = [], 0
    while k < len(marks):
        if marks[k].group(2) != name:
            k += 1
            continue
        first = k
        while k + 1 < len(marks) and marks[k + 1].group(2) == name:
            k += 1
        stop = marks[k].end()
        if marks[k].group(1) == "BEGIN":  # unterminated: up to the next section
            stop = marks[k + 1].start() if k + 1 < len(marks) else len(page)
        runs.append((marks[first].start(), stop))
        k += 1
    if not runs:
        path.write_text(page.rstrip() + "\n\n" + block + "\n")
        return
    out, pos = [], 0
    for i, (a, b) in enumerate(runs):
        out.append(page[pos:a])
        if i == 0:
            out.append(block + ("\n\n" if page[b:].startswith("<!-- ") else ""))
        pos = b
    out.append(page[pos:])
    path.write_text("".join(out))
