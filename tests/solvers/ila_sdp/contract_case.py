"""ILASDP's and SDPKMeans's cases of the estimator contract (see ``tests/contract.py``).

The units cases multiply X by 1e-4 and 1e4: the labels must not change, means and centres
scale by the factor, covariances by its square, the SDP objectives (``-2 log L`` up to a
constant for ILASDP) shift by the log-Jacobian ``2 m p log c`` (SDPKMeans: scale by ``c^2``),
and ``score`` (mean log-likelihood per sample) by ``-p log c``.

Both estimators solve the SDP on a 20-point sketch so that scikit-learn's checks, which fit
dozens of times, stay cheap; with sketch-and-lift ``labels_`` is ``predict(X)``, which
``check_clusterer_compute_labels_predict`` asks for.
"""

from __future__ import annotations

import functools

import numpy as np

from solvers.ila_sdp import ILASDP, SDPKMeans, datasets
from tests.contract import ContractCase, UnitCase


@functools.lru_cache(maxsize=1)
def _data():
    X, _ = datasets.make_heterogeneous(n_samples=30, separation=8.0, random_state=0)
    return X


def _fit_args():
    return (_data().copy(),)


def _make_ila(random_state):
    return ILASDP(3, n_init=2, solver="admm", sketch_size=20, random_state=random_state)


def _make_sdp(random_state):
    return SDPKMeans(3, solver="admm", sketch_size=20, random_state=random_state)


def _ila_output(est, args):
    return np.concatenate(
        [
            est.labels_.astype(float),
            est.weights_,
            est.means_.ravel(),
            est.covariances_.ravel(),
            est.predict(args[0]).astype(float),
        ]
    )


def _sdp_output(est, args):
    return np.concatenate(
        [
            est.labels_.astype(float),
            est.cluster_centers_.ravel(),
            est.predict(args[0]).astype(float),
        ]
    )


def _scaled(c):
    def transform(args):
        return (args[0] * c,)

    return transform


def _ila_units(c):
    def check(ref, scaled, args, scaled_args):
        X, Xc = args[0], scaled_args[0]
        m, p = len(ref.sample_indices_), X.shape[1]
        np.testing.assert_array_equal(scaled.labels_, ref.labels_)
        np.testing.assert_array_equal(scaled.sample_indices_, ref.sample_indices_)
        np.testing.assert_allclose(scaled.weights_, ref.weights_, rtol=1e-9)
        np.testing.assert_allclose(scaled.means_, c * ref.means_, rtol=1e-9, atol=1e-12 * c)
        np.testing.assert_allclose(
            scaled.covariances_, c**2 * ref.covariances_, rtol=1e-8, atol=1e-12 * c**2
        )
        shift = 2.0 * m * p * np.log(c)
        np.testing.assert_allclose(scaled.objective_, ref.objective_ + shift, rtol=1e-8)
        np.testing.assert_allclose(scaled.init_objectives_, ref.init_objectives_ + shift, rtol=1e-8)
        np.testing.assert_allclose(scaled.score(Xc), ref.score(X) - p * np.log(c), rtol=1e-9)
        assert scaled.n_iter_ == ref.n_iter_ and scaled.converged_ == ref.converged_

    return UnitCase(f"X*{c:g}", _scaled(c), check)


def _sdp_units(c):
    def check(ref, scaled, args, scaled_args):
        np.testing.assert_array_equal(scaled.labels_, ref.labels_)
        np.testing.assert_allclose(
            scaled.cluster_centers_, c * ref.cluster_centers_, rtol=1e-9, atol=1e-12 * c
        )
        np.testing.assert_allclose(scaled.objective_, c**2 * ref.objective_, rtol=1e-8)
        np.testing.assert_allclose(scaled.inertia_, c**2 * ref.inertia_, rtol=1e-9)
        np.testing.assert_array_equal(scaled.predict(scaled_args[0]), ref.predict(args[0]))

    return UnitCase(f"X*{c:g}", _scaled(c), check)


# The library's contract differs from scikit-learn's on complex input, and the messages of
# mixtures.base.check_array (shared by every estimator) are not the ones these checks match.
_EXPECTED_FAILED_CHECKS = {
    "check_complex_data": "the contract raises TypeError for complex X (scikit-learn expects "
    "ValueError)",
    "check_dtype_object": "mixtures.base.check_array's TypeError for non-numeric object "
    "entries does not contain 'argument must be a string or a number'",
    "check_estimators_empty_data_messages": "mixtures.base.check_array's message for 0 "
    "features differs from scikit-learn's",
    "check_fit2d_predict1d": "mixtures.base.check_array's message for 1-D X does not say "
    "'Reshape your data'",
}

CASES = [
    ContractCase(
        name="ILASDP",
        make=_make_ila,
        fit_args=_fit_args,
        output=_ila_output,
        array_args=((0, "X"),),
        methods=(
            ("predict", lambda est, args: est.predict(args[0])),
            ("score", lambda est, args: est.score(args[0])),
        ),
        score=lambda est, args: est.score(args[0]),
        units=[_ila_units(1e-4), _ila_units(1e4)],
        sklearn_checks=True,
        expected_failed_checks=_EXPECTED_FAILED_CHECKS,
    ),
    ContractCase(
        name="SDPKMeans",
        make=_make_sdp,
        fit_args=_fit_args,
        output=_sdp_output,
        array_args=((0, "X"),),
        methods=(("predict", lambda est, args: est.predict(args[0])),),
        units=[_sdp_units(1e-4), _sdp_units(1e4)],
        sklearn_checks=True,
        expected_failed_checks=_EXPECTED_FAILED_CHECKS,
    ),
]
