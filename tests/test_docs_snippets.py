"""Every Python code block of README.md and docs/ runs (issue: docs that run).

The blocks of one file run in order in one namespace, as a reader would paste them. They
must stay small enough to run in seconds; the full-size settings live in ``benchmarks/``.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FILES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.rst")),
         *sorted(p for p in (ROOT / "docs").rglob("*.md") if "_build" not in p.parts)]

_MD = re.compile(r"^```python\n(.*?)^```", re.S | re.M)


def _rst_blocks(text: str) -> list[str]:
    blocks, lines, i = [], text.splitlines(), 0
    while i < len(lines):
        if re.match(r"\s*\.\. code-block:: python\s*$", lines[i]):
            indent = len(lines[i]) - len(lines[i].lstrip())
            i += 1
            body = []
            while i < len(lines) and (not lines[i].strip()
                                      or len(lines[i]) - len(lines[i].lstrip()) > indent):
                body.append(lines[i])
                i += 1
            blocks.append(textwrap.dedent("\n".join(body)).strip("\n"))
        else:
            i += 1
    return blocks


def blocks_of(path: Path) -> list[str]:
    text = path.read_text()
    return _MD.findall(text) if path.suffix == ".md" else _rst_blocks(text)


CASES = [p for p in FILES if blocks_of(p)]


def test_the_extractor_finds_blocks():
    assert blocks_of(ROOT / "README.md"), "README.md has a Python example"
    assert _rst_blocks(".. code-block:: python\n\n   a = 1\n   b = a\n\nText\n") == ["a = 1\nb = a"]


_RUNNER = """
import sys, warnings
warnings.simplefilter("error")  # a documented example must not warn
warnings.filterwarnings("ignore", category=DeprecationWarning)
namespace = {"__name__": "__docs__"}
for k, block in enumerate(BLOCKS):
    exec(compile(block, f"{NAME}[block {k}]", "exec"), namespace)
print("ran", len(BLOCKS), "blocks")
"""


@pytest.mark.parametrize("path", CASES, ids=[str(p.relative_to(ROOT)) for p in CASES])
def test_code_blocks_run(path, tmp_path):
    # a fresh process per file: snippets may change global settings (x64, the JAX cache);
    # HOME is a temporary folder so that "~" in a snippet writes nowhere else
    blocks = blocks_of(path)
    code = f"BLOCKS = {blocks!r}\nNAME = {path.name!r}\n" + _RUNNER
    env = dict(os.environ, HOME=str(tmp_path), MPLBACKEND="Agg")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=tmp_path, env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert f"ran {len(blocks)} blocks" in proc.stdout
