"""Bootstrap likelihood-ratio test and the Lo-Mendell-Rubin test in a small simulation:
p values under one true class (K = 1) rarely fall below 5 %, and two well separated classes
are detected. (A larger study belongs in ``benchmarks/bench_growth_moe.py``.)"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from solvers.growth_moe import blrt, lmr_test

N, T = 50, 4
KW = dict(curve="linear", n_init=1, n_initial=0, n_boot=19, boot_starts=4, boot_iter=150)


def _data(seed, separated):
    rng = np.random.default_rng(seed)
    t = np.tile(np.arange(T, dtype=float), (N, 1))
    lab = rng.random(N) < 0.5 if separated else np.zeros(N, bool)
    slope = np.where(lab, 2.0, -2.0) if separated else np.zeros(N)
    eta0 = rng.normal(0.0, 1.0, N)
    eta1 = slope + rng.normal(0.0, 0.3, N)
    return eta0[:, None] + eta1[:, None] * t + 0.5 * rng.standard_normal((N, T)), t


@pytest.fixture(scope="module")
def results():
    out = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name, sep, reps in (("h0", False, 3), ("h1", True, 1)):
            out[name] = [
                blrt(*_data(100 * sep + r, sep), random_state=r, return_models=True, **KW)
                for r in range(reps)
            ]
    return out


def test_blrt_size_and_power(results):
    p0 = np.array([r["p_value"] for r in results["h0"]])
    p1 = np.array([r["p_value"] for r in results["h1"]])
    # under H0 the p value is uniform on {1/20, ..., 1}: P(2 or more of 3 at or below 0.05)
    # and P(mean of 3 below 0.15) are both under 2 %
    assert np.sum(p0 <= 0.05) <= 1
    assert np.mean(p0) > 0.15
    assert np.all(p1 <= 0.05)
    for r in results["h0"] + results["h1"]:
        m0, m1 = r["models"]
        np.testing.assert_allclose(r["lr"], 2 * (m1.loglik_ - m0.loglik_))
        # a bootstrap refit of the larger model never loses to the smaller (nested) one
        assert np.all(r["lr_boot"] > -1e-3)


def test_lmr_agrees_with_blrt(results):
    for r in results["h1"]:
        assert lmr_test(*r["models"])["p_value_adjusted"] < 0.01
    p_h0 = [lmr_test(*r["models"])["p_value_adjusted"] for r in results["h0"]]
    assert np.sum(np.array(p_h0) <= 0.05) <= 1
