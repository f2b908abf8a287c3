"""Sphinx configuration for mixtures."""

import os
import sys

sys.path.insert(0, os.path.abspath(".."))
os.environ.setdefault("MPLBACKEND", "Agg")

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
numpydoc_show_class_members = False
numpydoc_validation_checks = set()
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
exclude_patterns = ["_build"]

sphinx_gallery_conf = {
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
}

html_theme = "pydata_sphinx_theme"
html_title = "mixtures"
html_theme_options = {"header_links_before_dropdown": 5}
