"""Write a benchmark's current table into its section of ``docs/benchmarks.md``.

Each script owns one section, delimited by ``<!-- BEGIN name -->`` / ``<!-- END name -->``;
running the script replaces that section (or appends it), so the page states current results
and git keeps the history.
"""

from __future__ import annotations

from pathlib import Path

DOCS = Path(__file__).resolve().parent.parent / "docs" / "benchmarks.md"


def write_section(name: str, text: str, path: Path = DOCS) -> None:
    begin, end = f"<!-- BEGIN {name} -->", f"<!-- END {name} -->"
    block = f"{begin}\n{text.rstrip()}\n{end}"
    page = path.read_text() if path.exists() else "# Benchmarks\n"
    if begin in page and end in page:
        head, rest = page.split(begin, 1)
        _, tail = rest.split(end, 1)
        page = head + block + tail
    else:
        page = page.rstrip() + "\n\n" + block + "\n"
    path.write_text(page)
