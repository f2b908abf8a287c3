"""Outlet profiles: closed form vs Laplace inversion vs PDE, mass balance, cumulants."""

import numpy as np
import pytest
from scipy import integrate

from solvers.chromatography import Analyte, Column, Injection, moments, outlet_concentration

T_M = 60.0
COLUMN = Column(length=1.0, velocity=1.0 / T_M)


def analyte(A, k_d, column=COLUMN):
    """Analyte with Damkohler number A and desorption rate k_d on ``column``."""
    return Analyte(A / (column.phase_ratio * column.hold_up_time), k_d)


def numerical_moments(t, c):
    area = integrate.trapezoid(c, t)
    mean = integrate.trapezoid(t * c, t) / area
    var = integrate.trapezoid((t - mean) ** 2 * c, t) / area
    skew = integrate.trapezoid((t - mean) ** 3 * c, t) / area / var**1.5
    return area, mean, var, skew


def cumulant_formulas(A, k_d, eps, inj_mean, inj_var, t_m=T_M):
    """Mean, variance, skewness of the outlet from the expansion log G = -psi + eps psi^2 - ..."""
    a, b, c = t_m + A / k_d, -2.0 * A / k_d**2, 6.0 * A / k_d**3
    k1 = a + inj_mean
    k2 = -b + 2.0 * eps * a**2 + inj_var
    k3 = c - 6.0 * eps * a * b + 12.0 * eps**2 * a**3
    return k1, k2, k3 / k2**1.5


# Broad tailing (A = 50), realistic sharp (A = 1e4) and weakly retained (A = 5) peaks.
CASES = [(50.0, 0.5), (1.0e4, 70.0), (5.0, 0.1)]
T = np.linspace(0.0, 700.0, 3501)


@pytest.fixture(scope="module")
def rectangular_profiles():
    inj = Injection.rectangular(1.0, 2.0)
    items = [analyte(A, k_d) for A, k_d in CASES]
    lap = outlet_concentration(COLUMN, items, inj, T, method="laplace")
    exact = outlet_concentration(COLUMN, items, inj, T, method="analytic")
    return inj, lap, exact


def test_laplace_matches_closed_form_broad_and_sharp(rectangular_profiles):
    _, lap, exact = rectangular_profiles
    assert lap.shape == exact.shape == (3, T.size)
    for row_l, row_e in zip(lap, exact):
        assert np.max(np.abs(row_l - row_e)) <= 1e-8 * np.max(row_e)


def test_closed_form_dirac_matches_laplace():
    inj = Injection.dirac(1.5)
    items = [analyte(A, k_d) for A, k_d in CASES]
    lap = outlet_concentration(COLUMN, items, inj, T, method="laplace")
    exact = outlet_concentration(COLUMN, items, inj, T, method="analytic")
    assert lap.dtype == np.float64 and lap.shape == (3, T.size)
    for row_l, row_e in zip(lap, exact):
        assert np.max(np.abs(row_l - row_e)) <= 1e-8 * np.max(row_e)


def test_area_and_cumulants_rectangular(rectangular_profiles):
    inj, lap, exact = rectangular_profiles
    for (A, k_d), row_l, row_e in zip(CASES[:2], lap, exact):
        expected = cumulant_formulas(A, k_d, 0.0, inj.mean, inj.variance)
        for row in (row_l, row_e):
            area, mean, var, skew = numerical_moments(T, row)
            assert area == pytest.approx(inj.amount, rel=1e-6)
            np.testing.assert_allclose([mean, var, skew], expected, rtol=1e-6)
        mom = moments(COLUMN, analyte(A, k_d), inj)
        np.testing.assert_allclose([mom.mean, mom.variance, mom.skewness], expected, rtol=1e-10)
        assert mom.area == pytest.approx(inj.amount)


def test_dirac_skewness_is_three_over_sqrt_2A():
    A = 200.0
    mom = moments(COLUMN, analyte(A, 2.0), Injection.dirac())
    assert mom.skewness == pytest.approx(3.0 / np.sqrt(2.0 * A), rel=1e-10)
    assert mom.mean == pytest.approx(T_M * (1.0 + A / (2.0 * T_M)), rel=1e-12)


# ---------------------------------------------------------------- dispersion: Laplace vs PDE
PE = 1.0e3
DISPERSIVE = Column(length=1.0, velocity=1.0 / T_M, dispersion=1.0 / (T_M * PE))
T_PDE = np.linspace(0.0, 450.0, 901)
GAUSS = Injection.gaussian(10.0, 2.0, 1.0)


@pytest.fixture(scope="module")
def dispersive_profiles():
    item = analyte(50.0, 0.5, DISPERSIVE)
    lap = outlet_concentration(DISPERSIVE, item, GAUSS, T_PDE, method="laplace")
    pde = outlet_concentration(DISPERSIVE, item, GAUSS, T_PDE, method="pde", n_cells=250)
    return lap, pde


def test_laplace_matches_pde_at_peclet_1e3(dispersive_profiles):
    lap, pde = dispersive_profiles
    assert DISPERSIVE.peclet == pytest.approx(PE)
    assert np.max(np.abs(lap - pde)) <= 1e-4 * np.max(lap)


def test_dispersive_area_and_cumulants(dispersive_profiles):
    lap, pde = dispersive_profiles
    expected = cumulant_formulas(50.0, 0.5, 1.0 / PE, GAUSS.mean, GAUSS.variance)
    area, *rest = numerical_moments(T_PDE, lap)
    assert area == pytest.approx(1.0, rel=1e-6)
    np.testing.assert_allclose(rest, expected, rtol=1e-6)
    area, *rest = numerical_moments(T_PDE, pde)
    assert area == pytest.approx(1.0, rel=1e-4)
    np.testing.assert_allclose(rest, expected, rtol=2e-3)
    mom = moments(DISPERSIVE, analyte(50.0, 0.5, DISPERSIVE), GAUSS)
    np.testing.assert_allclose([mom.mean, mom.variance, mom.skewness], expected, rtol=1e-8)


# ---------------------------------------------------------------- variable velocity
def test_james_martin_hold_up_time_is_integral_of_inverse_velocity():
    col = Column(length=30.0, velocity=0.4, inlet_pressure=3.0, outlet_pressure=1.0)
    integral = integrate.quad(lambda x: 1.0 / col.velocity_at(x), 0.0, col.length)[0]
    assert col.hold_up_time == pytest.approx(integral, rel=1e-10)
    P = 3.0
    assert col.james_martin_factor == pytest.approx(1.5 * (P**2 - 1) / (P**3 - 1))


def test_variable_velocity_equals_constant_velocity_with_james_martin_time():
    col = Column(length=1.0, velocity=1.0 / 40.0, inlet_pressure=2.0, outlet_pressure=1.0)
    equivalent = Column(length=1.0, velocity=1.0 / col.hold_up_time)
    item = Analyte(1.0, 0.5)
    inj = Injection.gaussian(10.0, 2.0, 1.0)
    varying = outlet_concentration(col, item, inj, T_PDE)
    constant = outlet_concentration(equivalent, item, inj, T_PDE)
    assert varying.shape == T_PDE.shape and varying.dtype == np.float64
    np.testing.assert_allclose(varying, constant / col.pressure_ratio, atol=1e-14)
    # Independent check: the PDE with u(x) = u_o p_o / p(x).
    pde = outlet_concentration(col, item, inj, T_PDE, method="pde", n_cells=300)
    assert np.max(np.abs(pde - varying)) <= 2e-3 * np.max(varying)
    assert integrate.trapezoid(pde, T_PDE) == pytest.approx(1.0 / col.pressure_ratio, rel=1e-4)
    mom = moments(col, item, inj)
    assert mom.area == pytest.approx(1.0 / col.pressure_ratio)
    assert mom.mean == pytest.approx(col.hold_up_time * (1.0 + item.retention_factor(col)) + 10.0)


# ---------------------------------------------------------------- competitive kinetics
def test_competitive_pde_reduces_to_linear_and_saturation_speeds_elution():
    col = Column(length=1.0, velocity=1.0 / 20.0, dispersion=1.0 / (20.0 * 300.0))
    items = [Analyte(1.0, 0.5), Analyte(2.0, 0.5)]
    inj = Injection.gaussian(5.0, 1.5, 1.0)
    t = np.linspace(0.0, 200.0, 401)
    linear = outlet_concentration(col, items, inj, t, method="pde", n_cells=50)
    huge = outlet_concentration(
        col, items, inj, t, method="pde", n_cells=50, competitive=True, q_max=1e9
    )
    np.testing.assert_allclose(huge, linear, atol=1e-6 * linear.max())
    loaded = outlet_concentration(
        col, items, inj, t, method="pde", n_cells=50, competitive=True, q_max=0.2
    )
    for lin, sat in zip(linear, loaded):
        assert integrate.trapezoid(sat, t) == pytest.approx(1.0, rel=1e-3)
        assert numerical_moments(t, sat)[1] < numerical_moments(t, lin)[1] - 1.0


# ---------------------------------------------------------------- output types and bad input
@pytest.mark.parametrize(
    "make, match",
    [
        (lambda: Column(length=-1.0, velocity=1.0), "length"),
        (lambda: Column(length=1.0, velocity=0.0), "velocity"),
        (lambda: Column(length=1.0, velocity=1.0, dispersion=-1e-3), "dispersion"),
        (
            lambda: Column(length=1.0, velocity=1.0, inlet_pressure=0.5, outlet_pressure=1.0),
            "inlet_pressure",
        ),
        (lambda: Column(length=1.0, velocity=1.0, inlet_pressure=2.0), "together"),
        (lambda: Analyte(-1.0, 1.0), "k_a"),
        (lambda: Analyte(1.0, -0.1), "k_d"),
        (lambda: Injection.rectangular(0.0, 1.0), "duration"),
        (lambda: Injection.gaussian(5.0, -1.0), "width"),
    ],
)
def test_bad_parameters(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_bad_times_and_methods():
    item, inj = analyte(50.0, 0.5), Injection.rectangular(1.0)
    with pytest.raises(ValueError, match="strictly increasing"):
        outlet_concentration(COLUMN, item, inj, [0.0, 2.0, 1.0])
    with pytest.raises(ValueError, match="t contains NaN"):
        outlet_concentration(COLUMN, item, inj, [0.0, np.nan, 1.0])
    with pytest.raises(ValueError, match="t contains infinite"):
        outlet_concentration(COLUMN, item, inj, [0.0, np.inf])
    with pytest.raises(ValueError, match="method must be one of"):
        outlet_concentration(COLUMN, item, inj, T, method="talbot")
    with pytest.raises(ValueError, match="competitive=True needs method='pde'"):
        outlet_concentration(COLUMN, item, inj, T, competitive=True, q_max=1.0)
    with pytest.raises(ValueError, match="D = 0 closed form"):
        outlet_concentration(DISPERSIVE, item, inj, T, method="analytic")
    with pytest.raises(ValueError, match="Dirac"):
        outlet_concentration(COLUMN, item, Injection.dirac(), T, method="pde")
    with pytest.raises(TypeError, match="analytes"):
        outlet_concentration(COLUMN, [], inj, T)


# ---------------------------------------------------------------- Danckwerts finite column
PE_LOW = 30.0  # low enough that the two boundary models differ visibly


def test_danckwerts_moments_and_profile_match_closed_form_and_pde():
    A, k_d = 50.0, 0.5
    inj = Injection.gaussian(10.0, 2.0, 1.0)
    t = np.linspace(0.0, 600.0, 601)
    kw = dict(length=1.0, velocity=1.0 / T_M, dispersion=1.0 / (T_M * PE_LOW))
    finite, semi = Column(**kw, boundary="danckwerts"), Column(**kw)
    item = analyte(A, k_d, finite)
    # Closed forms: same mean t_R; variance 2 A / k_d^2 + t_R^2 (2 / Pe - 2 (1 - e^-Pe) / Pe^2)
    # for the closed vessel (van der Laan) against 2 A / k_d^2 + 2 t_R^2 / Pe.
    t_r = T_M + A / k_d
    var_semi = 2.0 * A / k_d**2 + 2.0 * t_r**2 / PE_LOW + inj.variance
    var_finite = var_semi - 2.0 * t_r**2 * (1.0 - np.exp(-PE_LOW)) / PE_LOW**2
    mom_f, mom_s = moments(finite, item, inj), moments(semi, item, inj)
    assert mom_f.mean == pytest.approx(t_r + inj.mean, rel=1e-10)
    assert mom_s.mean == pytest.approx(t_r + inj.mean, rel=1e-10)
    assert mom_f.variance == pytest.approx(var_finite, rel=1e-10)
    assert mom_s.variance == pytest.approx(var_semi, rel=1e-10)
    lap = outlet_concentration(finite, item, inj, t)
    area, mean, var, _ = numerical_moments(t, lap)
    assert area == pytest.approx(1.0, rel=1e-6)
    # rtol covers the tail cut at 600 s; the two models differ by 3 % in variance.
    np.testing.assert_allclose([mean, var], [t_r + inj.mean, var_finite], rtol=2e-5)
    # Method-of-lines reference with the Danckwerts conditions: close to the finite Laplace
    # solution, and the semi-infinite solution is visibly different from both.
    pde = outlet_concentration(finite, item, inj, t, method="pde", n_cells=200)
    semi_lap = outlet_concentration(semi, item, inj, t)
    assert np.max(np.abs(lap - pde)) <= 1e-3 * np.max(lap)
    assert np.max(np.abs(semi_lap - pde)) >= 5e-3 * np.max(lap)
