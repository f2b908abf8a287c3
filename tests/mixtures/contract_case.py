"""The estimator contract's case for :class:`mixtures.GaussianMixture` (see tests/contract.py)."""

from __future__ import annotations

import math

import numpy as np

from mixtures import GaussianMixture
from tests.contract import ContractCase, UnitCase


def _data():
    rng = np.random.default_rng(0)
    return (np.concatenate([rng.normal(size=(30, 2)) * 0.6 + [2.0, 0.0],
                            rng.normal(size=(30, 2)) * 0.5 - [2.0, 1.0]]),)


def _make(random_state):
    return GaussianMixture(2, n_init=2, tol=1e-8, max_iter=300, random_state=random_state)


def _output(est, args):
    return np.concatenate([est.weights_, est.means_.ravel(), est.covariances_.ravel(),
                           est.predict_proba(args[0]).ravel()])


def _rescale(c):
    def transform(args):
        return (args[0] * c,)

    def check(ref, scaled, args, scaled_args):
        X, Xc = args[0], scaled_args[0]
        d = X.shape[1]
        # the same model in other units: means x c, covariances x c^2, log-density - d log c
        np.testing.assert_allclose(scaled.weights_, ref.weights_, rtol=1e-7)
        np.testing.assert_allclose(scaled.means_, ref.means_ * c, rtol=1e-7, atol=1e-9 * c)
        np.testing.assert_allclose(scaled.covariances_, ref.covariances_ * c**2, rtol=1e-7)
        np.testing.assert_allclose(scaled.precisions_, ref.precisions_ / c**2, rtol=1e-7)
        shift = -d * math.log(c)
        np.testing.assert_allclose(scaled.score(Xc), ref.score(X) + shift, rtol=1e-9)
        np.testing.assert_allclose(scaled.lower_bound_, ref.lower_bound_ + shift, rtol=1e-9)
        np.testing.assert_array_equal(scaled.predict(Xc), ref.predict(X))
        assert scaled.n_iter_ == ref.n_iter_ and scaled.converged_ == ref.converged_

    return UnitCase(f"X*{c:g}", transform, check)


CASES = [
    ContractCase(
        name="GaussianMixture",
        make=_make,
        fit_args=_data,
        output=_output,
        array_args=[(0, "X")],
        methods=[
            ("predict", lambda est, args: est.predict(args[0])),
            ("predict_proba", lambda est, args: est.predict_proba(args[0])),
            ("score_samples", lambda est, args: est.score_samples(args[0])),
            ("score", lambda est, args: est.score(args[0])),
            ("bic", lambda est, args: est.bic(args[0])),
            ("aic", lambda est, args: est.aic(args[0])),
            ("sample", lambda est, args: est.sample(3)),
        ],
        score=lambda est, args: est.score(args[0]),
        units=[_rescale(1e-4), _rescale(1e4)],
        sklearn_checks=True,
        expected_failed_checks={
            "check_complex_data": "complex X raises the library's TypeError naming X (the "
            "contract), not scikit-learn's ValueError",
            "check_dtype_object": "an object X with a non-number entry raises the library's "
            "TypeError naming X, whose message is not NumPy's",
        },
    )
]
