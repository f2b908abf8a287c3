"""Temperature-programmed GC: retention time and width against the PDE solver with
time-varying rates, the isothermal cumulants, and the fit of ln K = a + b / T."""

import numpy as np
import pytest

from solvers.chromatography import OvenProgram, _pde, fit_retention, programmed_peak

T_M, A, B = 1.0, -9.0, 3500.0  # K = e at 350 K, 0.14 at 500 K


def _k_d(T):
    # desorption speeds up with temperature (Arrhenius), 100 1/s at 350 K
    return 100.0 * np.exp(-1000.0 * (1.0 / T - 1.0 / 350.0))


def test_programmed_peak_matches_the_pde_with_time_varying_rates():
    program = OvenProgram(initial=350.0, rate=40.0, hold=0.5, final=500.0)
    center, width = 0.02, 0.004  # Gaussian injection (s)

    def rates(t):
        T = program.temperature(t)
        K = np.exp(A + B / T)
        return np.array([K * _k_d(T)]), np.array([_k_d(T)])  # phase ratio 1: k_a = K k_d

    t = np.linspace(0.5, 4.0, 400)
    c = _pde.solve(
        t,
        1.0,
        lambda x: np.ones_like(x),
        0.0,
        1.0,
        np.zeros(1),
        np.zeros(1),
        "gaussian",
        np.array([center, width, 1.0]),
        n_cells=200,
        rtol=1e-7,
        rates=rates,
    )[0]
    area = np.trapezoid(c, t)
    mean = np.trapezoid(c * t, t) / area
    sd = np.sqrt(np.trapezoid(c * (t - mean) ** 2, t) / area)
    # the band enters at the injection's centre, so its programme starts `center` later
    later = OvenProgram(initial=350.0, rate=40.0, hold=0.5 - center, final=500.0)
    t_r, sd_r = programmed_peak(T_M, A, B, later, k_d=_k_d, injection_sd=width)
    assert area == pytest.approx(1.0, rel=1e-5)
    assert t_r + center == pytest.approx(mean, rel=5e-4)
    assert sd_r == pytest.approx(sd, rel=5e-3)
    # the programme matters: isothermal at the initial temperature is far off
    K0 = np.exp(A + B / 350.0)
    assert abs(T_M * (1.0 + K0) - mean) > 0.3 * mean
    assert np.sqrt(2.0 * T_M * K0 / _k_d(350.0)) > 2.0 * sd


def test_isothermal_run_gives_the_column_cumulants():
    K = np.exp(A + B / 400.0)
    t_r, sd = programmed_peak(T_M, A, B, OvenProgram(400.0), k_d=50.0, peclet=2000.0)
    assert t_r == pytest.approx(T_M * (1.0 + K), rel=1e-9)
    assert sd**2 == pytest.approx(2.0 * T_M * K / 50.0 + 2.0 * t_r**2 / 2000.0, rel=1e-8)


def test_fit_retention_from_isothermal_and_programmed_runs():
    temps = np.array([360.0, 380.0, 400.0, 420.0])
    # isothermal: t_R = t_M (1 + exp(a + b / T)) in closed form
    t_iso = T_M * (1.0 + np.exp(A + B / temps))
    params, stderr = fit_retention(T_M, t_iso, temperatures=temps)
    assert params == pytest.approx([A, B], rel=1e-9)
    programs = [OvenProgram(340.0, rate) for rate in (5.0, 10.0, 20.0)]
    t_prog = np.array([programmed_peak(T_M, A, B, p)[0] for p in programs])
    params, _ = fit_retention(T_M, t_prog, programs=programs)
    assert params == pytest.approx([A, B], rel=1e-6)
    # noisy isothermal retention times: the parameters move within a few standard errors
    rng = np.random.default_rng(0)
    noisy = t_iso + 1e-3 * rng.standard_normal(t_iso.size)
    params, stderr = fit_retention(T_M, noisy, temperatures=temps)
    assert np.all(np.abs(params - [A, B]) < 4.0 * stderr)
    with pytest.raises(ValueError, match="exactly one"):
        fit_retention(T_M, t_iso)
    with pytest.raises(ValueError, match="exceed hold_up_time"):
        fit_retention(T_M, [0.5, 2.0], temperatures=[400.0, 420.0])
