"""The documentation builds and shows what it should (issue: the site a user reads).

The full site (`make docs`) runs every example and takes minutes, so it is not run here: a
small Sphinx project in a temporary folder builds two real examples from two solver folders
with sphinx-gallery, warnings as errors, and ``tools/check_docs.py`` checks the result (every
gallery page has a figure, no figure or framed axes is blank, no stray reprs, no broken
links). The checker itself is tested on figures with a known empty axes.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import matplotlib
import numpy as np
import pytest

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

pytest.importorskip("sphinx_gallery")

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
# two fast examples from two solver folders; each builds several figures in separate cells
BUILT = ["mixtures/plot_gaussian_mixture.py", "chromatography/plot_chromatography_column.py"]


def _load(path: Path, name: str):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


check_docs = _load(ROOT / "tools" / "check_docs.py", "check_docs")


def _conf() -> dict:
    """The namespace of docs/conf.py, executed as Sphinx executes it (from docs/)."""
    namespace = {"__file__": str(ROOT / "docs" / "conf.py")}
    cwd = os.getcwd()
    path = list(sys.path)
    try:
        os.chdir(ROOT / "docs")
        exec(compile((ROOT / "docs" / "conf.py").read_text(), "conf.py", "exec"), namespace)
    finally:
        os.chdir(cwd)
        sys.path[:] = path
    return namespace


def test_conf_loads_and_hides_nothing():
    conf = _conf()
    sg = conf["sphinx_gallery_conf"]
    assert "sphinx_gallery.gen_gallery" in conf["extensions"]
    assert (ROOT / "docs" / sg["examples_dirs"]).resolve() == EXAMPLES
    assert not conf.get("suppress_warnings"), "warnings are fixed at their source, not hidden"
    assert sg["capture_repr"] == (), "stray Text(...) / Legend reprs must not be shown"
    # every solver package gets its public names listed on its API page
    solvers = {p.name for p in (ROOT / "solvers").iterdir() if (p / "__init__.py").exists()}
    assert set(conf["autosummary_context"]["public_names"]) == {f"solvers.{s}" for s in solvers}


def test_every_solver_has_a_gallery_section_linked_from_its_method_page():
    folders = sorted(p for p in EXAMPLES.iterdir() if p.is_dir() and p.name != "__pycache__")
    assert (EXAMPLES / "README.rst").exists()
    assert not list(EXAMPLES.glob("*.py")), "examples live in examples/<solver>/ folders"
    for folder in folders:
        readme = folder / "README.rst"
        assert readme.exists(), f"{folder.name} has no README.rst: not a gallery subsection"
        title, underline = readme.read_text().splitlines()[:2]
        assert title.strip() and set(underline.strip()) <= set("-=~^"), readme
        assert list(folder.glob("*.py")), f"{folder.name} holds no example"
    names = {f.name for f in folders}
    for page in sorted((ROOT / "docs" / "methods").glob("*.rst")):
        solver = page.stem
        assert solver in names, f"no examples/{solver}/ for {page.name}"
        text = page.read_text()
        assert f"sphx_glr_auto_examples_{solver}" in text, f"{page.name} does not link its examples"
        assert f".. figure:: /auto_examples/{solver}/images/" in text, f"{page.name}: no figure"
        assert f".. minigallery:: ../examples/{solver}/" in text, page.name


def _figure(path: Path, fill_second: bool) -> Path:
    fig, (a, b) = plt.subplots(1, 2, figsize=(8, 3), dpi=100)
    a.plot(np.linspace(0, 1, 50), np.sin(np.linspace(0, 6, 50)))
    if fill_second:
        b.scatter([0.2, 0.5, 0.7], [0.1, 0.9, 0.4])
    fig.savefig(path)
    plt.close(fig)
    return path


def test_checker_finds_an_empty_axes_and_a_blank_image(tmp_path):
    assert check_docs.blank_panels(_figure(tmp_path / "full.png", True)) == []
    found = check_docs.blank_panels(_figure(tmp_path / "half.png", False))
    assert len(found) == 1 and "empty axes" in found[0]
    # the empty axes is the right-hand one: it starts past the middle of the 800 px image
    assert int(found[0].split("x ")[1].split("-")[0]) > 400
    fig = plt.figure(figsize=(4, 3), dpi=100)
    fig.savefig(tmp_path / "blank.png")
    plt.close(fig)
    assert "blank" in check_docs.blank_panels(tmp_path / "blank.png")[0]


def test_checker_finds_stray_reprs_and_broken_links(tmp_path):
    site = tmp_path / "html"
    (site / "auto_examples" / "a").mkdir(parents=True)
    (site / "index.html").write_text(
        '<a href="auto_examples/a/plot_x.html#top">x</a> <a href="missing.html">m</a>'
    )
    (site / "auto_examples" / "a" / "plot_x.html").write_text(
        '<section class="sphx-glr-example-title" id="top"><h1>x</h1>'
        '<div class="sphx-glr-script-out"><pre>Text(0.5, 1.0, "t")</pre></div>'
        '<a href="../../index.html#nowhere">back</a></section>'
    )
    problems = "\n".join(check_docs.check(site))
    assert "without a figure" in problems
    assert "stray repr" in problems
    assert "broken link missing.html" in problems
    assert "missing anchor ../../index.html#nowhere" in problems
    assert "plot_x.html#top" not in problems


@pytest.fixture(scope="module")
def small_site(tmp_path_factory):
    """Two real examples built by sphinx-gallery with the project's gallery settings."""
    # the same layout as the project: examples/ beside the Sphinx source folder docs/
    base = tmp_path_factory.mktemp("site")
    src, examples = base / "docs", base / "examples"
    src.mkdir()
    examples.mkdir()
    shutil.copy(EXAMPLES / "README.rst", examples / "README.rst")
    for rel in BUILT:
        folder = examples / Path(rel).parent
        folder.mkdir(exist_ok=True)
        shutil.copy(EXAMPLES / Path(rel).parent / "README.rst", folder / "README.rst")
        shutil.copy(EXAMPLES / rel, folder / Path(rel).name)
    sg = _conf()["sphinx_gallery_conf"]
    keep = {k: sg[k] for k in ("filename_pattern", "capture_repr", "remove_config_comments")}
    (src / "conf.py").write_text(
        textwrap.dedent(
            f"""
            import sys
            sys.path.insert(0, {str(ROOT)!r})
            sys.path.insert(0, {str(ROOT / "docs" / "_ext")!r})
            extensions = ["sphinx_gallery.gen_gallery"]
            sphinx_gallery_conf = dict(
                examples_dirs="../examples", gallery_dirs="auto_examples",
                download_all_examples=False, show_memory=False,
                reset_modules={sg["reset_modules"]!r}, **{keep!r},
            )
            """
        )
    )
    (src / "index.rst").write_text("Site\n====\n\n.. toctree::\n\n   auto_examples/index\n")
    out = src / "_build" / "html"
    env = dict(os.environ, MPLBACKEND="Agg")
    cmd = [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html"]
    cmd += [str(src), str(out)]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return out


def test_small_site_builds_with_figures_and_passes_the_checker(small_site):
    assert check_docs.check(small_site) == []
    index = (small_site / "auto_examples" / "index.html").read_text()
    for rel in BUILT:
        folder, name = Path(rel).parent.name, Path(rel).stem
        title = (EXAMPLES / folder / "README.rst").read_text().splitlines()[0].strip()
        assert title in index, f"gallery subsection {folder!r} missing from the index"
        page = small_site / "auto_examples" / folder / f"{name}.html"
        assert page.exists()
        images = sorted((small_site / "_images").glob(f"sphx_glr_{name}_[0-9]*.png"))
        assert images, f"{name}: no figure"
        for img in images:
            assert check_docs.blank_panels(img) == [], img.name
