"""ChromatogramFit's case of the estimator contract (see ``tests/contract.py``).

The units cases rescale the signal (x 1e-6, x 1e6). Time in minutes is not a UnitCase: the
time unit is carried by the ``column`` and ``injection`` hyper-parameters as well as by ``t``,
and a UnitCase transforms only the arguments of ``fit``; it is tested in
``test_chromatography_contract.py`` instead.
"""

from __future__ import annotations

import functools

import numpy as np

from solvers.chromatography import ChromatogramFit, datasets, read_chromatogram
from tests.contract import ContractCase, UnitCase


@functools.lru_cache(maxsize=1)
def _data():
    # tailing peaks sampled at 1 Hz: 720 samples, four peaks (a small, quick case)
    return datasets.btex("tailing", noise=0.01, random_state=0, sampling_rate=1.0)


def _make(random_state):
    data = _data()
    return ChromatogramFit(4, data.column, data.injection, random_state=random_state)


def _fit_args():
    data = _data()
    return data.t.copy(), data.signal.copy()


def _output(est, args):
    return np.concatenate([est.params_.ravel(), est.baseline_, [est.residual_std_]])


def _signal_scale(c):
    def transform(args):
        t, y = args
        return t, y * c

    def check(ref, scaled, args, scaled_args):
        assert scaled.converged_ and scaled.n_iter_ > 1
        np.testing.assert_allclose(scaled.params_[:, :2], ref.params_[:, :2], rtol=1e-7)
        np.testing.assert_allclose(scaled.areas_, c * ref.areas_, rtol=1e-7)
        np.testing.assert_allclose(scaled.stderr_[:, :2], ref.stderr_[:, :2], rtol=1e-5)
        np.testing.assert_allclose(scaled.residual_std_, c * ref.residual_std_, rtol=1e-6)
        np.testing.assert_allclose(scaled.score(*scaled_args), ref.score(*args), atol=1e-10)

    return UnitCase(f"signal x {c:g}", transform, check)


@functools.lru_cache(maxsize=1)
def _real():
    # a real GC-FID window with four peaks (the shapes test_chromatography_real.py compiles)
    run = read_chromatogram(datasets.data_path("agilent_gc_fid.ch")).window(370.0, 500.0)
    return run.t, run.signal


def _make_auto(random_state):
    return ChromatogramFit(baseline="linear", random_state=random_state)


def _output_auto(est, args):
    return np.concatenate([est.params_.ravel(), est.run_params_, [est.residual_std_]])


def _signal_scale_auto(c):
    def transform(args):
        t, y = args
        return t, y * c

    def check(ref, scaled, args, scaled_args):
        assert scaled.converged_ and scaled.n_analytes_ == ref.n_analytes_
        np.testing.assert_allclose(scaled.run_params_, ref.run_params_, rtol=1e-6)
        np.testing.assert_allclose(scaled.areas_, c * ref.areas_, rtol=1e-6)
        np.testing.assert_allclose(scaled.score(*scaled_args), ref.score(*args), atol=1e-10)

    return UnitCase(f"signal x {c:g}", transform, check)


CASES = [
    ContractCase(
        name="ChromatogramFit",
        make=_make,
        fit_args=_fit_args,
        output=_output,
        array_args=[(0, "t"), (1, "signal")],
        methods=[
            ("predict", lambda est, args: est.predict(args[0])),
            ("predict_components", lambda est, args: est.predict_components(args[0])),
            ("score", lambda est, args: est.score(*args)),
        ],
        score=lambda est, args: est.score(*args),
        units=[_signal_scale(1e-6), _signal_scale(1e6)],
        sklearn_checks=False,  # fit takes (t, signal) of one chromatogram, not a table X
    ),
    ContractCase(
        name="ChromatogramFit-auto",
        make=_make_auto,
        fit_args=lambda: tuple(a.copy() for a in _real()),
        output=_output_auto,
        array_args=[(0, "t"), (1, "signal")],
        methods=[
            ("predict", lambda est, args: est.predict(args[0])),
            ("predict_baseline", lambda est, args: est.predict_baseline(args[0])),
            ("score", lambda est, args: est.score(*args)),
        ],
        score=lambda est, args: est.score(*args),
        units=[_signal_scale_auto(1e3)],
        sklearn_checks=False,
    ),
]
