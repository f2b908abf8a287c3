"""KinematicForecaster's case of the estimator contract (see ``tests/contract.py``).

The units case gives the positions in feet instead of metres (factor 3.28084): the fitted
model must be the same, its predicted means and covariances scaled by the factor and its
square, and its log-likelihood per trajectory shifted by the log-Jacobian
``-2 * horizon * log(c)`` (two coordinates per step over ``horizon`` steps).
"""

from __future__ import annotations

import functools

import numpy as np

from solvers.kinematic import (
    ConstantVelocity,
    ConstantVelocityKalman,
    KinematicForecaster,
    KinematicPropagation,
    datasets,
)
from tests.contract import ContractCase, UnitCase

HORIZON = 3
FEET_PER_METRE = 3.28084
# the physics baseline's noise levels are fitted iteratively (L-BFGS-B): rescaled inputs
# reach the same optimum up to the optimiser's tolerance, not to rounding
RTOL = 1e-4


@functools.lru_cache(maxsize=1)
def _data():
    return datasets.synthetic_traffic(24, horizon=HORIZON, n_past=4, noise=1.0, random_state=0)


def _make(random_state):
    # max_iter below one convergence window: the fit warns, which the contract allows
    return KinematicForecaster(
        n_modes=2,
        horizon=HORIZON,
        hidden=4,
        max_iter=5,
        batch_size=None,
        learning_rate=1e-2,
        random_state=random_state,
    )


def _fit_args():
    data = _data()
    return data.past.copy(), data.future.copy()


def _output(est, args):
    gmm = est.predict(args[0])
    return np.concatenate([gmm.log_weights.ravel(), gmm.means.ravel(), gmm.covariances.ravel()])


def _positions_scaled(c, name):
    def transform(args):
        past, future = args
        return past * c, future * c

    def check(ref, scaled, args, scaled_args):
        np.testing.assert_allclose(scaled.length_scale_, c * ref.length_scale_, rtol=1e-12)
        if hasattr(ref, "wheelbase_"):
            np.testing.assert_allclose(scaled.wheelbase_, c * ref.wheelbase_, rtol=1e-12)
        a, b = ref.predict(args[0]), scaled.predict(scaled_args[0])
        np.testing.assert_allclose(b.log_weights, a.log_weights, rtol=RTOL, atol=1e-10)
        np.testing.assert_allclose(b.means, c * a.means, rtol=RTOL, atol=RTOL * c)
        np.testing.assert_allclose(
            b.covariances,
            c**2 * a.covariances,
            rtol=RTOL,
            atol=RTOL * c**2 * np.abs(a.covariances).max(),
        )
        shift = -2 * HORIZON * np.log(c)
        np.testing.assert_allclose(
            scaled.score_samples(*scaled_args),
            ref.score_samples(*args) + shift,
            rtol=RTOL,
            atol=RTOL,
        )
        if hasattr(ref, "loss_curve_"):
            np.testing.assert_allclose(
                scaled.loss_curve_, ref.loss_curve_ - shift, rtol=RTOL, atol=1e-9
            )

    return UnitCase(name, transform, check)


def _min_ade(est, args):
    return est.min_ade_fde(*args)


CASES = [
    ContractCase(
        name="KinematicForecaster",
        make=_make,
        fit_args=_fit_args,
        output=_output,
        array_args=((0, "past"), (1, "future")),
        methods=(
            ("predict", lambda est, args: est.predict(args[0])),
            ("score", lambda est, args: est.score(*args)),
            ("score_samples", lambda est, args: est.score_samples(*args)),
            ("nll", lambda est, args: est.nll(*args)),
            ("min_ade_fde", _min_ade),
        ),
        score=lambda est, args: est.score(*args),
        units=(_positions_scaled(FEET_PER_METRE, "positions in feet"),),
        sklearn_checks=False,  # fit takes 3-D tracks (past, future), not a table X
    )
]


def _baseline_case(cls):
    """The physics baselines share the forecaster's interface (one mode)."""
    return ContractCase(
        name=cls.__name__,
        make=lambda random_state: cls(dt=0.25),
        fit_args=_fit_args,
        output=_output,
        array_args=((0, "past"), (1, "future")),
        methods=(
            ("predict", lambda est, args: est.predict(args[0])),
            ("score", lambda est, args: est.score(*args)),
            ("score_samples", lambda est, args: est.score_samples(*args)),
            ("nll", lambda est, args: est.nll(*args)),
            ("min_ade_fde", _min_ade),
        ),
        score=lambda est, args: est.score(*args),
        units=(_positions_scaled(FEET_PER_METRE, "positions in feet"),),
        sklearn_checks=False,
    )


CASES += [
    _baseline_case(c) for c in (ConstantVelocity, ConstantVelocityKalman, KinematicPropagation)
]
