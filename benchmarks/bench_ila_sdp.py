"""iLA-SDP beside mclust (R), the library's GaussianMixture and scikit-learn's, in one run.

For every simulation design of :mod:`solvers.ila_sdp.datasets` (several seeds) and for real
data (iris and wine, the sets the defaults were chosen on, and the breast-cancer set, which
was not used to choose anything; all standardised), each method clusters the same points
into the true number of clusters:

- ``ILASDP`` (defaults);
- ``GaussianMixture`` of :mod:`mixtures` with ``n_init=10`` (as it is in the library);
- scikit-learn's ``GaussianMixture`` with ``n_init=10``;
- mclust's ``Mclust(X, G = K)`` (covariance structure chosen by BIC, hierarchical start) and
  ``Mclust(X, G = K, modelNames = "VVV")``, run by ``Rscript`` on the same data written to
  CSV files in a temporary folder.

The table gives the mis-clustering error (best matching of labels, mean over seeds) and the
CPU seconds per fit (process time, after one untimed fit per data shape has compiled the
JAX programs; for mclust R's own ``proc.time`` around the fit, R's start-up excluded).
Without ``Rscript`` or the mclust package the mclust columns are left out and the reason is
printed. The table is written to its section of ``docs/benchmarks.md``.

Usage: ``python benchmarks/bench_ila_sdp.py [--quick] [--seeds 10] [--n 120]``; set-up of R
on Debian: ``apt-get install r-base-core r-cran-mclust``.
"""

from __future__ import annotations

import argparse
import os
import time
import warnings

# single-threaded BLAS/XLA: the CPU times compare one core against one core
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false")

import _mclust  # noqa: E402
import numpy as np  # noqa: E402
from _results import write_section  # noqa: E402
from scipy.optimize import linear_sum_assignment  # noqa: E402
from sklearn.datasets import load_breast_cancer, load_iris, load_wine  # noqa: E402
from sklearn.metrics import confusion_matrix  # noqa: E402
from sklearn.mixture import GaussianMixture as SkGaussianMixture  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402

import mixtures  # noqa: E402
from solvers.ila_sdp import ILASDP, datasets  # noqa: E402

METHODS = ["ILASDP", "GaussianMixture", "scikit-learn", "mclust BIC", "mclust VVV"]


def misclustering(y, labels):
    """Fraction of points mis-assigned under the best matching of cluster labels (NaN for a
    failed fit)."""
    if np.isnan(np.asarray(labels, dtype=float)).any():
        return np.nan
    cm = confusion_matrix(y, labels)
    r, c = linear_sum_assignment(-cm)
    return 1.0 - cm[r, c].sum() / len(y)


def _cpu(f):
    t = time.process_time()
    labels = f()
    return np.asarray(labels), time.process_time() - t


def python_methods(K, seed):
    return {
        "ILASDP": lambda X: ILASDP(K, random_state=seed).fit(X).labels_,
        "GaussianMixture": lambda X: (
            mixtures.GaussianMixture(K, n_init=10, random_state=seed).fit(X).predict(X)
        ),
        "scikit-learn": lambda X: (
            SkGaussianMixture(K, n_init=10, random_state=seed).fit(X).predict(X)
        ),
    }


def run_mclust(problems):
    """mclust on every ``(name, X, y)``: {name: {"mclust BIC": (labels, cpu, model), ...}}."""
    fits = _mclust.run([(X, len(np.unique(y))) for _, X, y in problems]) or []
    return {
        name: {f"mclust {v}": r[v][:3] for v in ("BIC", "VVV")}
        for (name, _, _), r in zip(problems, fits)
    }


def problems(n_samples, n_seeds):
    """``(design, seed, X, y)`` for the designs and ``(name, 0, X, y)`` for the real sets."""
    for design in datasets.DESIGNS:
        kw = {"n_features": 10} if design == "high_dim" else {}
        for seed in range(n_seeds):
            X, y = datasets.make_design(design, n_samples=n_samples, random_state=seed, **kw)
            yield design, seed, X, y
    for name, loader in [
        ("iris", load_iris),
        ("wine", load_wine),
        ("breast cancer (not tuned on)", load_breast_cancer),
    ]:
        X, y = loader(return_X_y=True)
        yield name, 0, StandardScaler().fit_transform(X), y


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2 seeds, n = 60")
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--n", type=int, default=120, help="sample size of the designs")
    parser.add_argument("--no-write", action="store_true", help="do not update the docs")
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    n_seeds, n = (2, 60) if args.quick else (args.seeds, args.n)
    probs = list(problems(n, n_seeds))
    missing = _mclust.missing()
    mclust = {}
    if missing:
        print(f"mclust columns skipped: {missing}")
    else:
        mclust = run_mclust([(f"{d}/{s}", X, y) for d, s, X, y in probs])
    errors, cpus, models, warm = {}, {}, {}, set()
    for design, seed, X, y in probs:
        K = len(np.unique(y))
        if (X.shape, K) not in warm:
            # compile once per shape, untimed: the table compares fits, not compilations
            warm.add((X.shape, K))
            for f in python_methods(K, seed + 1).values():
                f(X)
        results = {name: _cpu(lambda f=f, X=X: f(X)) for name, f in python_methods(K, seed).items()}
        for name, (labels, cpu, model) in mclust.get(f"{design}/{seed}", {}).items():
            results[name] = (labels, cpu)
            models.setdefault(design, []).append(model) if name == "mclust BIC" else None
        for name, (labels, cpu) in results.items():
            errors.setdefault(design, {}).setdefault(name, []).append(misclustering(y, labels))
            cpus.setdefault(design, {}).setdefault(name, []).append(cpu)
        print(design, seed, {k: round(v[-1], 3) for k, v in errors[design].items()}, flush=True)
    cols = [m for m in METHODS if m in errors[probs[0][0]]]
    lines = [
        f"Mis-clustering error (best label matching; mean over {n_seeds} seeds for the "
        f"designs, n = {n}) and CPU seconds per fit (one core), by "
        f"`python benchmarks/bench_ila_sdp.py{' --quick' if args.quick else ''}"
        f"{'' if args.quick else f' --seeds {n_seeds} --n {n}'}` (CPU after compilation). "
        "ILASDP: defaults (covariance model chosen by BIC). GaussianMixture and "
        "scikit-learn: full covariances, n_init = 10; mclust BIC: the covariance structure "
        "chosen by BIC (most frequent in brackets).",
        "",
        "| data | "
        + " | ".join(f"{c} error" for c in cols)
        + " | "
        + " | ".join(f"{c} CPU s" for c in cols)
        + " |",
        "|---" * (1 + 2 * len(cols)) + "|",
    ]
    for design in errors:
        cells = []
        for c in cols:
            cell = f"{np.mean(errors[design][c]):.3f}"
            if c == "mclust BIC" and design in models:
                names, counts = np.unique(models[design], return_counts=True)
                cell += f" ({names[np.argmax(counts)]})"
            cells.append(cell)
        cells += [f"{np.mean(cpus[design][c]):.2f}" for c in cols]
        lines.append(f"| {design} | " + " | ".join(cells) + " |")
    if missing:
        lines += ["", f"mclust columns skipped: {missing}."]
    text = "\n".join(lines)
    print(text)
    if not args.no_write:
        write_section("ila_sdp", "## iLA-SDP against mclust\n\n" + text)


if __name__ == "__main__":
    main()
