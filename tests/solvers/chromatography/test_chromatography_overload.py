"""Overloaded (Langmuir) peaks: the Haarhoff-van der Linde peak against a PDE reference, and
the ``peak_shape`` option of ChromatogramFit."""

import warnings

import numpy as np
import pytest

from solvers.chromatography import ChromatogramFit, _pde, overload_profile
from tests.contract import count_compilations

# Equilibrium-dispersive column: t_M = 1 s, Pe = 1000, K = F a = 2; rectangular injection of
# 2 ms carrying an amount of 0.2 (concentration x s).
L, U, D, F, HENRY, AMOUNT, WIDTH = 1.0, 1.0, 1e-3, 1.0, 2.0, 0.2, 0.002
T = np.linspace(2.4, 3.6, 481)


def _reference(b):
    inj = np.array([WIDTH, AMOUNT / WIDTH, 0.0])
    return _pde.solve_equilibrium_dispersive(T, L, U, D, F, HENRY, b, "rectangular", inj, 500)


def _hvdl(loading):
    K, t_m, pe = F * HENRY, L / U, U * L / D
    t_r = t_m * (1.0 + K) + WIDTH / 2.0
    sd = np.sqrt(2.0 * t_r**2 / pe + WIDTH**2 / 12.0)
    return overload_profile(T, t_r, sd, loading, AMOUNT)


@pytest.fixture(scope="module")
def linear_error():
    """Error of the Gaussian base itself (b = 0), relative to the peak height."""
    c = _reference(0.0)
    return np.abs(c - _hvdl(0.0)).max() / c.max()


@pytest.mark.parametrize("b", [0.05, -0.05])
def test_haarhoff_van_der_linde_matches_the_pde(b, linear_error):
    # R = -Pe K b m / ((1 + K)^2 t_M): -2.2 (Langmuir, tailing) and +2.2 (anti-Langmuir)
    loading = -(U * L / D) * F * HENRY * b * AMOUNT / ((1.0 + F * HENRY) ** 2 * (L / U))
    c = _reference(b)
    err = np.abs(c - _hvdl(loading)).max() / c.max()
    err_linear_shape = np.abs(c - _hvdl(0.0)).max() / c.max()
    # no worse than the Gaussian base is for the linear column, and far better than
    # ignoring the overload
    assert err < linear_error + 0.01
    assert err < 0.15 * err_linear_shape
    # the band runs ahead of (Langmuir) or behind (anti-Langmuir) the linear peak
    apex, apex_linear = T[np.argmax(c)], T[np.argmax(_hvdl(0.0))]
    assert np.sign(apex - apex_linear) == np.sign(loading)


def test_profile_is_finite_far_out_and_at_large_loadings():
    t = np.linspace(-60.0, 60.0, 2001)
    for loading in (-200.0, -1e-9, 0.0, 1e-9, 200.0):
        y = overload_profile(t, 0.0, 1.0, loading)
        assert np.all(np.isfinite(y)) and np.all(y >= 0.0)
        assert np.trapezoid(y, t) == pytest.approx(1.0, rel=1e-6)


@pytest.fixture(scope="module")
def overloaded_run():
    t = np.arange(0.0, 120.0, 0.15)  # 800 samples: the 1024 bucket
    rng = np.random.default_rng(1)
    truth = [(40.0, 1.0, -3.0, 10.0), (60.0, 1.2, 2.0, 8.0), (80.0, 1.5, 0.0, 6.0)]
    y = sum(overload_profile(t, tr, sd, r, a) for tr, sd, r, a in truth)
    return t, y + 0.01 * rng.standard_normal(t.size), truth


def _fit(t, y, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return ChromatogramFit(baseline="linear", **kwargs).fit(t, y)


def test_fit_recovers_loadings_and_a_new_length_compiles_nothing(overloaded_run):
    t, y, truth = overloaded_run
    fit = _fit(t, y, peak_shape="auto")
    exact = sum(overload_profile(t, tr, sd, r, a) for tr, sd, r, a in truth)
    r2_truth = 1.0 - np.sum((y - exact) ** 2) / np.sum((y - y.mean()) ** 2)
    assert fit.n_analytes_ == 3 and fit.score(t, y) >= r2_truth - 1e-5
    # BIC keeps the loadings of the two overloaded peaks
    assert list(fit.peak_shapes_[:2]) == ["overload", "overload"]
    for (_, _, r, area), got, se, a in zip(truth, fit.loadings_, fit.loading_stderr_, fit.areas_):
        assert a == pytest.approx(area, rel=0.01)
        if r != 0.0:
            assert abs(got - r) < 3.0 * se + 0.05
        else:  # a linear peak: a loading, if kept, not distinguishable from zero
            assert np.isnan(se) or abs(got) < 3.0 * se
    assert fit.peak_table_["loading"].to_numpy() == pytest.approx(fit.loadings_)
    # a new length in the same bucket, overloaded shapes given per peak: nothing compiles
    with count_compilations() as c:
        again = _fit(t[:-40], y[:-40], n_analytes=3, peak_shape=["overload", "overload", "kinetic"])
    assert c.count == 0
    assert list(again.peak_shapes_) == ["overload", "overload", "kinetic"]


def test_peak_shape_is_validated(overloaded_run):
    t, y, _ = overloaded_run
    with pytest.raises(ValueError, match="peak_shape"):
        ChromatogramFit(peak_shape="fronting").fit(t, y)
    with pytest.raises(ValueError, match="integer n_analytes"):
        ChromatogramFit(peak_shape=["overload"]).fit(t, y)


def test_overload_density_is_the_burgers_solution():
    # independent check of the closed form: the Cole-Hopf solution of Burgers' equation
    # w_z + w w_tau = nu w_tau_tau, here by finite differences of the formula in (z, tau)
    nu, gamma, m = 0.01, 0.5, 0.3

    def c(z, tau):
        return overload_profile(tau, 0.0, np.sqrt(2.0 * nu * z), -gamma * m / (2.0 * nu), m)

    z, tau, h = 1.0, np.linspace(-0.3, 0.3, 13), 1e-4
    dz = (c(z + h, tau) - c(z - h, tau)) / (2 * h)
    dt = (c(z, tau + h) - c(z, tau - h)) / (2 * h)
    dtt = (c(z, tau + h) - 2 * c(z, tau) + c(z, tau - h)) / h**2
    # c_z - gamma c c_tau = nu c_tau_tau (w = -gamma c)
    residual = dz - gamma * c(z, tau) * dt - nu * dtt
    assert np.abs(residual).max() < 1e-5 * np.abs(dz).max() + 1e-6
