"""GaussianMixture benchmark: mixtures (JAX, vmapped multi-start EM) vs scikit-learn.

Fits n=100,000 points in d=10 drawn from a random 8-component full-covariance mixture, with
K=8, n_init=10, covariance_type="full", the same tol, max_iter and k-means initialisation
rule, and prints wall time of the first call (including JIT compilation) and of the steady
state, the best lower bound (mean log-likelihood per sample), and the ratios.

Run:  .venv/bin/python benchmarks/bench_gaussian_mixture.py [--quick] [--repeats R]
"""

from __future__ import annotations

import argparse
import os
import platform
import time
import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.mixture import GaussianMixture as SkGaussianMixture

from mixtures import GaussianMixture


def make_data(n, d, K, seed=0):
    """n points from a random K-component mixture in d dimensions (overlapping clusters)."""
    rng = np.random.default_rng(seed)
    means = rng.normal(scale=1.0, size=(K, d))
    A = rng.normal(size=(K, d, d)) / np.sqrt(d)
    covs = A @ np.swapaxes(A, 1, 2) + 0.2 * np.eye(d)
    labels = rng.choice(K, size=n, p=rng.dirichlet(5 * np.ones(K)))
    z = rng.normal(size=(n, d))
    return means[labels] + np.einsum("nij,nj->ni", np.linalg.cholesky(covs)[labels], z)


def timed_fit(est, X):
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est.fit(X)
    return time.perf_counter() - t0, est


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="n=20,000, n_init=4")
    parser.add_argument("--repeats", type=int, default=2, help="steady-state repeats (min)")
    args = parser.parse_args()
    n, d, K, n_init = (20_000, 10, 8, 4) if args.quick else (100_000, 10, 8, 10)
    X = make_data(n, d, K)
    common = dict(n_components=K, covariance_type="full", tol=1e-3, max_iter=100,
                  n_init=n_init, init_params="kmeans")

    rows = []
    t_first, ours = timed_fit(GaussianMixture(random_state=0, **common), X)
    t_ours = min(timed_fit(GaussianMixture(random_state=0, **common), X)[0]
                 for _ in range(args.repeats))
    rows.append(("mixtures (JAX)", t_first, t_ours, ours.lower_bound_, ours.n_iter_,
                 ours.converged_))
    t_sk = []
    for _ in range(args.repeats):
        t, sk = timed_fit(SkGaussianMixture(random_state=0, **common), X)
        t_sk.append(t)
    rows.append(("scikit-learn", t_sk[0], min(t_sk), sk.lower_bound_, sk.n_iter_,
                 sk.converged_))

    print(f"GaussianMixture  n={n} d={d} K={K} n_init={n_init} covariance_type=full "
          f"tol=1e-3 max_iter=100")
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
          f"load average {os.getloadavg()[0]:.1f}")
    print(f"{'':16s} {'first call [s]':>15s} {'steady [s]':>11s} {'best lower bound':>17s} "
          f"{'n_iter':>7s} {'converged':>10s}")
    for name, t1, t2, lb, it, conv in rows:
        print(f"{name:16s} {t1:15.2f} {t2:11.2f} {lb:17.6f} {it:7d} {str(conv):>10s}")
    print(f"speed-up (scikit-learn / mixtures): steady {t_sk and min(t_sk) / t_ours:.2f}x, "
          f"first call {t_sk[0] / t_first:.2f}x")
    print(f"lower bound difference (mixtures - scikit-learn): "
          f"{ours.lower_bound_ - sk.lower_bound_:+.3e}")


if __name__ == "__main__":
    main()
