"""ChromatogramFit and outlet_concentration against the estimator contract (issues 20, 21):
units, convergence reporting, bad input, divergence, shape buckets."""

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mixtures.base import ConvergenceWarning, DivergenceError, MixturesEstimator
from solvers.chromatography import (
    ChromatogramFit,
    Column,
    Injection,
    _core,
    datasets,
    estimator,
    outlet_concentration,
)
from tests.contract import count_compilations


@pytest.fixture(scope="module")
def data():
    return datasets.btex("tailing", noise=0.01, random_state=0, sampling_rate=1.0)


@pytest.fixture(scope="module")
def ref(data):
    return ChromatogramFit(4, data.column, data.injection).fit(data.t, data.signal)


def test_is_a_mixtures_estimator(ref):
    assert isinstance(ref, MixturesEstimator)
    assert ref.converged_ and 1 < ref.n_iter_ <= ref.max_iter


@pytest.mark.parametrize("scale", [1e-6, 1e6])
def test_signal_units_do_not_change_the_fit(data, ref, scale):
    # Regression: at scale 1e-6 the fit stopped after one evaluation with converged_=True
    # and parameters 10 % off (an absolute gradient tolerance met by a tiny signal).
    fit = ChromatogramFit(4, data.column, data.injection).fit(data.t, data.signal * scale)
    assert fit.converged_ and fit.n_iter_ > 1
    np.testing.assert_allclose(fit.params_[:, :2], ref.params_[:, :2], rtol=1e-7)
    np.testing.assert_allclose(fit.areas_, scale * ref.areas_, rtol=1e-7)
    np.testing.assert_allclose(
        fit.score(data.t, data.signal * scale), ref.score(data.t, data.signal), atol=1e-10
    )
    # and against the truth that generated the data
    assert np.median(np.abs(fit.params_[:, :2] / data.params[:, :2] - 1.0)) < 0.03
    np.testing.assert_allclose(fit.areas_ / scale, data.areas, rtol=0.03)


def test_time_in_minutes_gives_the_same_model(data, ref):
    # Time in minutes: t, the velocity (m/min) and the injection's duration (min) change
    # together; rates then come out per minute and areas in signal x min.
    column = Column(length=data.column.length, velocity=data.column.velocity * 60.0)
    injection = Injection.rectangular(data.injection.params[0] / 60.0, data.injection.params[1])
    t_min = data.t / 60.0
    fit = ChromatogramFit(4, column, injection).fit(t_min, data.signal)
    assert fit.converged_
    np.testing.assert_allclose(fit.params_[:, :2], 60.0 * ref.params_[:, :2], rtol=1e-7)
    np.testing.assert_allclose(fit.areas_, ref.areas_ / 60.0, rtol=1e-7)
    np.testing.assert_allclose(fit.retention_factors_, ref.retention_factors_, rtol=1e-7)
    np.testing.assert_allclose(
        fit.predict(t_min), ref.predict(data.t), rtol=1e-6, atol=1e-9 * data.signal.max()
    )
    np.testing.assert_allclose(
        fit.score(t_min, data.signal), ref.score(data.t, data.signal), atol=1e-10
    )


def test_linear_baseline_units(data):
    y = data.signal + 0.05 + 1e-4 * data.t
    a = ChromatogramFit(4, data.column, data.injection, baseline="linear").fit(data.t, y)
    b = ChromatogramFit(4, data.column, data.injection, baseline="linear").fit(data.t, y * 1e-6)
    np.testing.assert_allclose(b.baseline_, 1e-6 * a.baseline_, rtol=1e-6)
    np.testing.assert_allclose(b.params_[:, :2], a.params_[:, :2], rtol=1e-7)
    np.testing.assert_allclose(a.baseline_, [0.05, 1e-4], rtol=0.2)


def test_stopping_early_is_not_converged(data):
    with pytest.warns(ConvergenceWarning, match="did not converge") as record:
        fit = ChromatogramFit(4, data.column, data.injection, max_iter=1).fit(
            data.t, data.signal * 1e-6
        )
    assert not fit.converged_ and fit.n_iter_ == 1
    assert sum(issubclass(w.category, ConvergenceWarning) for w in record) == 1


def test_complex_input_is_a_type_error(data, ref):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no ComplexWarning path remains
        est = ChromatogramFit(4, data.column, data.injection)
        with pytest.raises(TypeError, match="signal"):
            est.fit(data.t, data.signal + 1e-3j)
        with pytest.raises(TypeError, match="t must be real"):
            est.fit(data.t + 0j, data.signal)
        with pytest.raises(TypeError, match="t must be real"):
            ref.predict(data.t + 1j)
        with pytest.raises(TypeError, match="signal"):
            ref.score(data.t, data.signal + 1j)
        with pytest.raises(TypeError, match="t must be real"):
            outlet_concentration(data.column, data.analytes, data.injection, data.t + 1j)


def test_divergence_raises_divergence_error(data, monkeypatch):
    def nan_peaks(self, t_pad, n_t, z, inj):
        return np.full((z.shape[0], n_t), np.nan), np.full((z.shape[0], n_t, 2), np.nan)

    monkeypatch.setattr(ChromatogramFit, "_peaks", nan_peaks)
    with pytest.raises(DivergenceError, match="not finite"):
        ChromatogramFit(4, data.column, data.injection).fit(data.t, data.signal)


def test_hyper_parameters_are_validated(data):
    with pytest.raises(TypeError, match="injection must be an Injection"):
        ChromatogramFit(4, data.column, "rect").fit(data.t, data.signal)
    with pytest.raises(TypeError, match="n_init"):
        ChromatogramFit(4, data.column, data.injection, n_init=1.5).fit(data.t, data.signal)
    with pytest.raises(ValueError, match="tol"):
        ChromatogramFit(4, data.column, data.injection, tol=0.0).fit(data.t, data.signal)
    with pytest.raises(ValueError, match="identically zero"):
        ChromatogramFit(1, data.column, data.injection).fit(data.t, 0.0 * data.t)


def _three_peaks(data, n_t):
    """The first three analytes alone, on the first ``n_t`` samples (independent noise)."""
    # profiles on the full time axis reuse the program that generated ``data``
    clean = data.areas[:3] @ outlet_concentration(
        data.column, data.analytes[:3], data.injection, data.t, n_terms=128
    )
    clean = clean[:n_t] / data.injection.amount
    noise = 0.01 * clean.max() * np.random.default_rng(1).standard_normal(n_t)
    return data.t[:n_t], clean + noise


def test_padding_equals_the_unpadded_fit(data, monkeypatch):
    # 600 samples and 3 analytes: both axes are padded (to 1024 and 4)
    t, y = _three_peaks(data, 600)
    padded = ChromatogramFit(3, data.column, data.injection).fit(t, y)
    monkeypatch.setattr(estimator, "padded_length", lambda n, minimum=32: n)
    monkeypatch.setattr(estimator, "_pad_analytes", lambda n: n)
    plain = ChromatogramFit(3, data.column, data.injection).fit(t, y)
    assert padded.n_iter_ == plain.n_iter_
    np.testing.assert_allclose(padded.params_, plain.params_, rtol=1e-10)
    np.testing.assert_allclose(padded.stderr_, plain.stderr_, rtol=1e-8)


def test_outlet_concentration_padding_equals_the_core(data):
    from mixtures import x64

    t = data.t[:600]  # padded to 1024 samples; 3 analytes padded to 4
    out = outlet_concentration(data.column, data.analytes[:3], data.injection, t, n_terms=128)
    A = np.array([a.damkohler(data.column) for a in data.analytes[:3]])
    k_d = np.array([a.k_d for a in data.analytes[:3]])
    with x64():
        direct = np.asarray(
            _core.outlet_profiles(
                t,
                data.column.hold_up_time,
                A,
                k_d,
                0.0,
                np.array(data.injection.params),
                data.injection.kind,
                128,
            )
        )
    np.testing.assert_allclose(out, direct, rtol=1e-12, atol=1e-14 * direct.max())


def test_new_signal_length_compiles_nothing(data, ref):
    # ref (720 samples, 4 analytes) warmed the 1024-sample, 4-analyte program up
    t, y = _three_peaks(data, 550)
    with count_compilations() as c:
        fit = ChromatogramFit(3, data.column, data.injection).fit(t, y)
        fit4 = ChromatogramFit(4, data.column, data.injection).fit(data.t[:700], data.signal[:700])
    assert c.count == 0
    assert fit.converged_ and fit4.converged_
    np.testing.assert_allclose(fit.params_[:, :2], data.params[:3, :2], rtol=0.1)


@settings(max_examples=4, deadline=None, derandomize=True)
@given(log_signal=st.floats(-9.0, 9.0), log_time=st.floats(-3.0, 3.0))
def test_any_units_give_the_same_model(data, ref, log_signal, log_time):
    # signal in units 10**-log_signal, time in units of 10**-log_time s
    a, b = 10.0**log_signal, 10.0**log_time
    column = Column(length=data.column.length, velocity=data.column.velocity / b)
    injection = Injection.rectangular(data.injection.params[0] * b, data.injection.params[1])
    fit = ChromatogramFit(4, column, injection).fit(data.t * b, data.signal * a)
    assert fit.converged_ and fit.n_iter_ > 1
    np.testing.assert_allclose(fit.params_[:, :2], ref.params_[:, :2] / b, rtol=1e-7)
    np.testing.assert_allclose(fit.areas_, ref.areas_ * a * b, rtol=1e-7)
    np.testing.assert_allclose(
        fit.score(data.t * b, data.signal * a), ref.score(data.t, data.signal), atol=1e-10
    )


@pytest.mark.parametrize(
    "injection", [Injection.gaussian(3.0, 0.5), Injection.dirac(2.0)], ids=["gaussian", "dirac"]
)
def test_other_injections_in_minutes_recover_the_truth(injection):
    # Two tailing peaks generated in seconds, fitted in minutes: the standardisation must map
    # every injection kind's times and amount consistently.
    from solvers.chromatography import Analyte

    column = Column(length=30.0, velocity=0.5)
    truth = [Analyte(1.5, 1.0), Analyte(1.5, 0.5)]
    areas = np.array([1.0, 2.0])
    t = np.arange(60.0, 360.0, 1.5)  # 200 samples
    clean = areas @ outlet_concentration(column, truth, injection, t, n_terms=128)
    y = clean / injection.amount + 1e-4 * np.random.default_rng(0).standard_normal(t.size)
    scaled = (
        Injection.gaussian(
            injection.params[0] / 60.0, injection.params[1] / 60.0, injection.params[2] / 60.0
        )
        if injection.kind == "gaussian"
        else Injection.dirac(injection.params[2] / 60.0)
    )
    fit = ChromatogramFit(2, Column(length=30.0, velocity=30.0), scaled).fit(t / 60.0, y)
    in_seconds = ChromatogramFit(2, column, injection).fit(t, y)
    assert fit.converged_ and in_seconds.converged_
    np.testing.assert_allclose(fit.params_[:, :2], 60.0 * in_seconds.params_[:, :2], rtol=1e-7)
    np.testing.assert_allclose(fit.areas_, in_seconds.areas_ / 60.0, rtol=1e-7)
    expected = 60.0 * np.array([[a.k_a, a.k_d] for a in truth])
    np.testing.assert_allclose(fit.params_[:, :2], expected, rtol=0.02)
    np.testing.assert_allclose(fit.areas_, areas / 60.0, rtol=0.02)
