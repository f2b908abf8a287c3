"""calibrate / Calibration.quantify against numpy.polyfit and a Monte Carlo of the standards."""

import numpy as np
import pytest

from solvers.chromatography import calibrate


def test_line_matches_polyfit():
    rng = np.random.default_rng(0)
    x = np.array([0.5, 1.0, 2.0, 5.0, 10.0, 20.0])
    y = 3.2 * x + 0.7 + 0.3 * rng.standard_normal(x.size)
    cal = calibrate(x, y)
    coef, cov = np.polyfit(x, y, 1, cov="unscaled")
    resid = y - np.polyval(coef, x)
    s2 = resid @ resid / (x.size - 2)
    assert cal.slope == pytest.approx(coef[0]) and cal.intercept == pytest.approx(coef[1])
    assert cal.slope_stderr == pytest.approx(np.sqrt(s2 * cov[0, 0]))
    assert cal.intercept_stderr == pytest.approx(np.sqrt(s2 * cov[1, 1]))
    origin = calibrate(x, y, through_origin=True)
    assert origin.intercept == 0.0 and origin.slope == pytest.approx((x @ y) / (x @ x))


def test_quantify_inverts_the_line_and_its_error_matches_monte_carlo():
    rng = np.random.default_rng(1)
    x = np.linspace(1.0, 10.0, 8)
    slope, intercept, noise, x0 = 2.0, 1.0, 0.2, 7.5
    estimates = []
    for _ in range(1500):
        cal = calibrate(x, slope * x + intercept + noise * rng.standard_normal(x.size))
        y0 = slope * x0 + intercept + noise * rng.standard_normal()
        estimates.append(cal.quantify([y0])[0][0])
    cal = calibrate(x, slope * x + intercept)
    exact, _ = cal.quantify([slope * x0 + intercept])
    assert exact[0] == pytest.approx(x0)
    # the formula's error at the true line and noise level, against the spread of estimates
    sxx = np.sum((x - x.mean()) ** 2)
    formula = noise / slope * np.sqrt(1 + 1 / x.size + (x0 - x.mean()) ** 2 / sxx)
    assert np.std(estimates) == pytest.approx(formula, rel=0.08)
    noisy = calibrate(x, slope * x + intercept + noise * rng.standard_normal(x.size))
    _, err = noisy.quantify([slope * x0 + intercept])
    assert err[0] == pytest.approx(formula, rel=0.6)  # one noisy line's estimate of it


def test_bad_input():
    with pytest.raises(ValueError, match="standards"):
        calibrate([1.0, 2.0], [1.0, 2.0])
    with pytest.raises(ValueError, match="equal"):
        calibrate([1.0, 1.0, 1.0], [1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="replicates"):
        calibrate([1.0, 2.0, 3.0], [1.0, 2.1, 2.9]).quantify([1.0], replicates=0)
