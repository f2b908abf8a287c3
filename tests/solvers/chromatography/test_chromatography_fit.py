"""ChromatogramFit on synthetic BTEX chromatograms: recovery, uncertainties, bad input."""

import warnings

import numpy as np
import pytest

from mixtures import ConvergenceWarning
from solvers.chromatography import ChromatogramFit, Column, datasets, plot_chromatogram

SEEDS = (0, 1)


def fit_one(data, **kwargs):
    return ChromatogramFit(4, data.column, data.injection, **kwargs).fit(data.t, data.signal)


@pytest.fixture(scope="module")
def fits():
    out = {}
    for kind in ("sharp", "tailing"):
        for seed in SEEDS:
            data = datasets.btex(kind, noise=0.01, random_state=seed)
            out[kind, seed] = (data, fit_one(data))
    return out


@pytest.mark.parametrize("kind, tol", [("sharp", 0.01), ("tailing", 0.02)])
def test_recovers_rates(fits, kind, tol):
    errors = []
    for seed in SEEDS:
        data, fit = fits[kind, seed]
        assert fit.converged_
        errors.append(np.abs(fit.params_[:, :2] / data.params[:, :2] - 1.0))
        np.testing.assert_allclose(fit.areas_, data.areas, rtol=0.03)
        K = [a.retention_factor(data.column) for a in data.analytes]
        np.testing.assert_allclose(fit.retention_factors_, K, rtol=2e-3)
    assert np.median(errors) <= tol


def test_standard_errors_cover_truth(fits):
    z = np.concatenate(
        [((fit.params_ - data.params) / fit.stderr_).ravel() for data, fit in fits.values()]
    )
    assert np.all(np.isfinite(z))
    assert np.mean(np.abs(z) < 1.96) >= 0.75  # nominal 95 %, 48 correlated values
    assert np.max(np.abs(z)) < 4.5


def test_fit_outputs(fits):
    data, fit = fits["tailing", 0]
    assert fit.params_.shape == (4, 3) and fit.params_.dtype == np.float64
    assert fit.stderr_.dtype == np.float64 and fit.residual_std_ == pytest.approx(
        data.noise_std, rel=0.05
    )
    assert [a.name for a in fit.analytes_] == ["peak 1", "peak 2", "peak 3", "peak 4"]
    comps = fit.predict_components(data.t)
    pred = fit.predict(data.t)
    assert comps.shape == (4, data.t.size) and pred.dtype == np.float64
    np.testing.assert_allclose(comps.sum(axis=0), pred, atol=1e-12)
    assert np.max(np.abs(pred - data.clean)) < 3 * data.noise_std
    assert fit.score(data.t, data.signal) > 0.99


def test_linear_baseline():
    data = datasets.btex("sharp", noise=0.01, drift=0.1, random_state=3)
    fit = fit_one(data, baseline="linear")
    n, span = data.t.size, np.ptp(data.t)
    assert abs(fit.baseline_[0] - data.baseline[0]) < 10 * data.noise_std / np.sqrt(n)
    assert abs(fit.baseline_[1] - data.baseline[1]) < 5 * data.noise_std * np.sqrt(12 / n) / span
    assert np.median(np.abs(fit.params_[:, :2] / data.params[:, :2] - 1.0)) < 0.01


def test_not_converged_warns(fits):
    data, _ = fits["sharp", 0]
    with pytest.warns(ConvergenceWarning, match="did not converge"):
        fit = fit_one(data, max_iter=1)
    assert not fit.converged_


def test_plot_helper(fits):
    import matplotlib

    matplotlib.use("Agg")
    data, fit = fits["sharp", 0]
    fig, (top, bottom) = plot_chromatogram(fit, data.t, data.signal, names=data.names)
    assert len(top.collections) == 4 and len(bottom.lines) == 2
    import matplotlib.pyplot as plt

    plt.close(fig)


def test_bad_input(fits):
    data, _ = fits["sharp", 0]
    est = ChromatogramFit(4, data.column, data.injection)
    with pytest.raises(ValueError, match="same length"):
        est.fit(data.t, data.signal[:-1])
    with pytest.raises(ValueError, match="strictly increasing"):
        est.fit(data.t[::-1], data.signal)
    bad = data.signal.copy()
    bad[5] = np.nan
    with pytest.raises(ValueError, match="signal contains NaN"):
        est.fit(data.t, bad)
    with pytest.raises(ValueError, match="only 4 peak"):
        ChromatogramFit(6, data.column, data.injection).fit(data.t, data.signal)
    with pytest.raises(ValueError, match="no peak"):
        est.fit(data.t, np.random.default_rng(0).standard_normal(data.t.size))
    with pytest.raises(ValueError, match="baseline must be one of"):
        ChromatogramFit(4, data.column, data.injection, baseline="cubic").fit(data.t, data.signal)
    with pytest.raises(ValueError, match="n_analytes"):
        ChromatogramFit(0, data.column, data.injection).fit(data.t, data.signal)
    with pytest.raises(TypeError, match="column must be a Column"):
        ChromatogramFit(4, "column", data.injection).fit(data.t, data.signal)
    with pytest.raises(ValueError, match="length"):
        Column(length=-30.0, velocity=0.5)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ValueError, match="noise"):
            datasets.btex(noise=-0.1)
