"""The compiled growth-model programs make no LAPACK call.

XLA:CPU runs independent LAPACK custom calls of one program concurrently on its intra-op
thread pool, and each batched call splits its batch over that same pool and blocks until the
parts are done: with few cores, two such calls (e.g. the triangular solves of a Cholesky
tangent under ``jacfwd`` in the per-person scores of the LMR test) can hold every pool thread
and wait for each other forever. The likelihood therefore uses unrolled small-matrix algebra;
these tests fail if a LAPACK call comes back (tests/mixtures/test_linalg.py checks that
algebra against NumPy)."""

import re

import numpy as np
import pytest

from mixtures._config import x64
from solvers.growth_moe import _core
from solvers.growth_moe._fitting import _dev, _make_data


@pytest.fixture(scope="module")
def problem():
    rng = np.random.default_rng(0)
    n, T, curve = 12, 5, "bilinear_spline"
    dims = (2, 3, 1, 1, 2, 1, 2, 1)  # K, q, c, pg, pe, pej, pz, r: every block present
    times = np.sort(rng.uniform(0.0, 4.0, (n, T)), axis=1)
    Y = rng.normal(size=(n, T))
    mask = rng.random((n, T)) > 0.2
    X = rng.normal(size=(n, 2))
    Z = rng.normal(size=(n, T, 2))  # time-varying covariates
    with x64():
        data = _make_data(Y, times, mask, X[:, :1], X, X[:, 1:], 0.0, 4.0, 16, Z=Z)
        w = _dev(0.1 * rng.normal(size=_core.n_params(dims)))
    return data, w, dims, curve, (Y, times, mask, X, Z)


def _lapack_calls(lowered):
    # the CPU lowering names LAPACK kernels in the StableHLO text (no XLA compilation needed)
    return sorted(set(re.findall(r"custom_call @(\w+)", lowered.as_text())))


def test_compiled_programs_have_no_lapack_calls(problem):
    data, w, dims, curve, _ = problem
    with x64():
        sc = _core.Scaling(*(_dev(v) for v in (0.0, 1.0, 0.0, 1.0) + (np.zeros(1), np.ones(1))
                             + (np.zeros(2), np.ones(2), np.zeros(1), np.ones(1))
                             + (np.zeros(2), np.ones(2))))  # fmt: skip
        p = _core.params_from_unconstrained(w, data.lo, data.hi, dims, curve)
        programs = {
            "person_scores": _core.person_scores.lower(w, data, dims, curve),
            "nll_and_grad": _core.nll_and_grad.lower(w, data, dims, curve),
            "natural_params": _core.natural_params.lower(w, data.lo, data.hi, sc, dims, curve),
            "posterior": _core.posterior.lower(p, data, curve),
            "growth_factor_posterior_means": _core.growth_factor_posterior_means.lower(
                p, data, curve
            ),
            "unconstrained_from_params": _core.unconstrained_from_params.lower(
                p, data.lo, data.hi, curve
            ),
        }
        found = {k: _lapack_calls(v) for k, v in programs.items()}
    assert found == {k: [] for k in programs}


def _dense_class(p, k, t, x):
    """Bilinear-spline basis with a random knot (its linearised loading, the derivative of
    the curve in the knot with the value at the knot and both slopes fixed, at the mean
    growth factors), random-effect mean and outcome covariance of class ``k`` at the observed
    times ``t`` of a person with expert covariates ``x`` (dense NumPy)."""
    g = p["curve"][k, 0]
    eta = p["alpha"][k] + p["beta"][k] @ x
    knot = np.where(t < g, -eta[1], np.where(t > g, -eta[2], 0.0))
    lam = np.column_stack([np.ones_like(t), np.minimum(t, g), np.maximum(t - g, 0), knot])
    eta = np.append(eta, 0.0)  # the knot's deviation has mean zero
    return lam, eta, lam @ p["psi"][k] @ lam.T + p["theta"][k] * np.eye(len(t))


def test_growth_factor_posterior_means_match_dense_formula(problem):
    data, w, dims, curve, (Y, times, mask, X, Z) = problem
    with x64():
        p = _core.params_from_unconstrained(w, data.lo, data.hi, dims, curve)
        ours = np.asarray(_core.growth_factor_posterior_means(p, data, curve))
    p = {k: np.asarray(v) for k, v in p._asdict().items()}
    for i in range(Y.shape[0]):
        o = mask[i]
        t = times[i, o]
        for k in range(dims[0]):
            lam, eta, cov = _dense_class(p, k, t, X[i])
            y = Y[i, o] - Z[i, o] @ p["kappa"][k]
            ref = eta + p["psi"][k] @ lam.T @ np.linalg.solve(cov, y - lam @ eta)
            np.testing.assert_allclose(ours[i, k], ref, rtol=1e-9, atol=1e-9)


def test_density_is_accurate_when_the_residual_variance_is_tiny(problem):
    """The Mahalanobis term is a sum of squares (the ridge minimum), not a difference of two
    large terms: with theta 1e-5 against growth-factor variances of order 100 it still
    equals SciPy's dense density of the observed occasions."""
    from scipy import stats

    data, w, dims, curve, (Y, times, mask, X, Z) = problem
    with x64():
        p = _core.params_from_unconstrained(w, data.lo, data.hi, dims, curve)
        p = p._replace(theta=p.theta * 0.0 + 1e-5, psi=100.0 * p.psi)
        ours = np.asarray(_core.component_loglik(p, data, curve))
    p = {k: np.asarray(v) for k, v in p._asdict().items()}
    for i in range(Y.shape[0]):
        o = mask[i]
        t = times[i, o]
        for k in range(dims[0]):
            lam, eta, cov = _dense_class(p, k, t, X[i])
            ref = stats.multivariate_normal(lam @ eta + Z[i, o] @ p["kappa"][k], cov)
            ref = ref.logpdf(Y[i, o]) + stats.multivariate_normal(p["mux"][k], p["phi"][k]).logpdf(
                X[i, 1:]
            )
            np.testing.assert_allclose(ours[i, k], ref, rtol=1e-6)
