"""Hooks for the sphinx-gallery build of the mixtures docs.

sphinx-gallery runs every example in one Python process; a reader runs each on its own. The
reset below gives each example the fresh-process JAX state it would see on its own, so one
example that calls ``mixtures.enable_x64()`` does not change the precision of the next;
the clean-up removes the pages of examples that were renamed or deleted.
"""

from __future__ import annotations

import sys
from pathlib import Path


def reset_jax(gallery_conf, fname):
    """Switch JAX back to its default (float32) precision before an example runs."""
    jax = sys.modules.get("jax")
    if jax is not None:
        jax.config.update("jax_enable_x64", False)


def remove_stale_outputs(examples_dir: Path, gallery_dir: Path) -> list[Path]:
    """Delete what sphinx-gallery generated for examples that no longer exist.

    sphinx-gallery never removes the page of a renamed or deleted example, and with warnings
    as errors the orphaned page ("document isn't included in any toctree") fails the build.
    Only generated files under ``gallery_dir`` (git-ignored) are touched.
    """
    removed = []
    if not gallery_dir.is_dir():
        return removed
    for page in gallery_dir.rglob("*.rst"):
        if page.name in ("index.rst", "sg_execution_times.rst"):
            continue
        rel = page.relative_to(gallery_dir).with_suffix(".py")
        if (examples_dir / rel).exists():
            continue
        stem, folder = page.stem, page.parent
        stale = [p for p in folder.iterdir() if p.is_file() and p.name.startswith(stem + ".")]
        stale += list((folder / "images").glob(f"sphx_glr_{stem}_*"))
        stale += list((folder / "images" / "thumb").glob(f"sphx_glr_{stem}_thumb.*"))
        for path in stale:
            path.unlink()
            removed.append(path)
    return removed
