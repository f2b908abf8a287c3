"""Sphinx configuration for mixtures."""

import os
import sys
from pathlib import Path

sys.path.insert(0, os.path.abspath(".."))
sys.path.insert(0, os.path.abspath("_ext"))
os.environ.setdefault("MPLBACKEND", "Agg")

import gallery_hooks  # noqa: E402

project = "mixtures"
author = "mixtures developers"
copyright = "2026, mixtures developers"
release = "0.1.0"

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
    "numpydoc",
    "myst_parser",
    "sphinx_gallery.gen_gallery",
]
autosummary_generate = True
templates_path = ["_templates"]


def _solver_public_names() -> dict[str, list[str]]:
    """``solvers.<name>`` -> its ``__all__``: lazily loaded names autosummary cannot find."""
    import importlib
    import pkgutil

    import solvers

    names = {}
    for info in pkgutil.iter_modules(solvers.__path__):
        if info.ispkg and not info.name.startswith("_"):
            module = importlib.import_module(f"solvers.{info.name}")
            names[module.__name__] = sorted(getattr(module, "__all__", []))
    return names


autosummary_context = {"public_names": _solver_public_names()}
numpydoc_show_class_members = False
numpydoc_validation_checks = set()
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
exclude_patterns = ["_build"]

sphinx_gallery_conf = {
    # the primitives first, then the solvers in the order of the landing page
    "subsection_order": [
        f"../examples/{name}"
        for name in (
            "mixtures",
            "gp_pde",
            "kinematic",
            "ila_sdp",
            "lightsb",
            "chromatography",
            "growth_moe",
        )
    ],
    "examples_dirs": "../examples",
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"/plot_",
    "download_all_examples": False,
    "remove_config_comments": True,
    # method pages and API pages list the examples that use each estimator
    "doc_module": ("mixtures", "solvers"),
    "backreferences_dir": "api/backreferences",
    # a stray last-expression value (Text(...), Legend objects) is not output worth showing
    "capture_repr": (),
    # each example starts from the state a fresh Python process has (matplotlib and JAX)
    "reset_modules": ("matplotlib", "gallery_hooks.reset_jax"),
}

# pages of renamed or deleted examples would be orphans (a warning, so an error)
gallery_hooks.remove_stale_outputs(Path("../examples").resolve(), Path("auto_examples").resolve())

html_theme = "pydata_sphinx_theme"
html_title = "mixtures"
html_theme_options = {
    "header_links_before_dropdown": 5,
}
# pages without sub-pages: no empty "Section Navigation" column
html_sidebars = {"index": [], "benchmarks": []}
html_static_path = ["_static"]
html_css_files = ["custom.css"]
