"""Benchmark iLA-SDP against SDP K-means, K-means and EM; time versus n.

Tables printed (one run):

1. mis-clustering error (Hungarian matching), mean and standard error over seeds, on each
   simulation design of :mod:`solvers.ila_sdp.datasets`, for iLA-SDP, SDP K-means,
   scikit-learn KMeans (n_init=10) and GaussianMixture (n_init=10);
2. iris and wine (standardised): the same methods;
3. time and error versus n for iLA-SDP with cvxpy+SCS (small n only), the ADMM on all
   points, the ADMM with sketch-and-lift ("auto"), and GaussianMixture.

Usage: ``python benchmarks/bench_ila_sdp.py [--quick] [--seeds 20]``.
"""

from __future__ import annotations

import argparse
import os
import time
import warnings

# single-threaded BLAS/XLA: on a shared machine oversubscribed threads cost far more than
# they give (an eigen-decomposition of 120x120 went from 2 ms to 0.3 s)
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false")

import numpy as np  # noqa: E402
from scipy.optimize import linear_sum_assignment  # noqa: E402
from sklearn.cluster import KMeans  # noqa: E402
from sklearn.datasets import load_iris, load_wine  # noqa: E402
from sklearn.metrics import confusion_matrix  # noqa: E402
from sklearn.mixture import GaussianMixture  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402

from mixtures import ConvergenceWarning  # noqa: E402
from solvers.ila_sdp import ILASDP, SDPKMeans, datasets  # noqa: E402


def misclustering(y, labels):
    cm = confusion_matrix(y, labels)
    r, c = linear_sum_assignment(-cm)
    return 1.0 - cm[r, c].sum() / len(y)


def methods(K, seed):
    return {
        "iLA-SDP": lambda X: ILASDP(K, random_state=seed).fit(X).labels_,
        "iLA-SDP (n_init=1)": lambda X: ILASDP(K, n_init=1, random_state=seed).fit(X).labels_,
        "SDP K-means": lambda X: SDPKMeans(K, random_state=seed).fit(X).labels_,
        "K-means": lambda X: KMeans(K, n_init=10, random_state=seed).fit(X).labels_,
        "EM": lambda X: GaussianMixture(K, n_init=10, random_state=seed).fit(X).predict(X),
    }


def table_designs(n_seeds, n_samples):
    settings = [("heterogeneous", {"separation": 3.0}),
                ("adversarial", {"separation": 2.0}),
                ("high_dim", {"n_features": 10, "separation": 3.0})]
    print(f"\n## Mis-clustering error, n = {n_samples}, {n_seeds} seeds (mean +- s.e.)")
    print("| design | iLA-SDP | iLA-SDP (n_init=1) | SDP K-means | K-means | EM "
          "| iLA-SDP s/fit (n_init=4 / 1) |")
    print("|---|---|---|---|---|---|---|")
    for name, kw in settings:
        errs, times = {}, {}
        for seed in range(n_seeds):
            X, y = datasets.make_design(name, n_samples=n_samples, random_state=seed, **kw)
            for meth, f in methods(len(np.unique(y)), seed).items():
                t = time.perf_counter()
                labels = f(X)
                times.setdefault(meth, []).append(time.perf_counter() - t)
                errs.setdefault(meth, []).append(misclustering(y, labels))
        cells = [f"{np.mean(e):.3f} +- {np.std(e) / np.sqrt(len(e)):.3f}" for e in errs.values()]
        t4, t1 = np.mean(times["iLA-SDP"]), np.mean(times["iLA-SDP (n_init=1)"])
        cells.append(f"{t4:.1f} / {t1:.1f}")
        print(f"| {name} {kw} | " + " | ".join(cells) + " |", flush=True)


def table_real():
    print("\n## Real data (standardised), mis-clustering error")
    print("| data | n | iLA-SDP (full) | iLA-SDP (diag) | SDP K-means | K-means | EM |")
    print("|---|---|---|---|---|---|---|")
    for name, loader in [("iris", load_iris), ("wine", load_wine)]:
        X, y = loader(return_X_y=True)
        X = StandardScaler().fit_transform(X)
        K = len(np.unique(y))
        m = methods(K, 0)
        m["iLA-SDP (diag)"] = lambda X, K=K: ILASDP(K, covariance_type="diag",
                                                    random_state=0).fit(X).labels_
        order = ["iLA-SDP", "iLA-SDP (diag)", "SDP K-means", "K-means", "EM"]  # not n_init=1
        cells = [f"{misclustering(y, m[k](X)):.3f}" for k in order]
        print(f"| {name} | {len(y)} | " + " | ".join(cells) + " |", flush=True)


def table_time(ns, cvxpy_max):
    print("\n## Time (s) and error vs n, heterogeneous design (separation 3)")
    print("| n | cvxpy+SCS | ADMM (all points) | auto (sketch 200) | GaussianMixture |")
    print("|---|---|---|---|---|")
    for n in ns:
        X, y = datasets.make_heterogeneous(n_samples=n, separation=3.0, random_state=0)
        cells = []
        for solver in ("cvxpy", "admm", "auto"):
            if (solver == "cvxpy" and n > cvxpy_max) or (solver == "admm" and n > 200):
                cells.append("-")
                continue
            t = time.perf_counter()
            labels = ILASDP(3, solver=solver, random_state=0).fit(X).labels_
            cells.append(f"{time.perf_counter() - t:.1f} ({misclustering(y, labels):.3f})")
        t = time.perf_counter()
        labels = GaussianMixture(3, n_init=10, random_state=0).fit(X).predict(X)
        cells.append(f"{time.perf_counter() - t:.2f} ({misclustering(y, labels):.3f})")
        print(f"| {n} | " + " | ".join(cells) + " |", flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="few seeds, small n")
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--n", type=int, default=150, help="sample size of the designs")
    parser.add_argument("--ns", type=int, nargs="+", default=[100, 200, 400, 1000, 2000],
                        help="sample sizes of the timing table")
    parser.add_argument("--only", choices=["designs", "real", "time"], default=None)
    args = parser.parse_args()
    warnings.simplefilter("ignore", ConvergenceWarning)
    seeds = 3 if args.quick else args.seeds
    if args.only in (None, "designs"):
        table_designs(seeds, 60 if args.quick else args.n)
    if args.only in (None, "real"):
        table_real()
    if args.only in (None, "time"):
        table_time([100, 500] if args.quick else args.ns, 100)


if __name__ == "__main__":
    main()
