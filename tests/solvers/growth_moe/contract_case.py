"""GrowthMixtureMoE's case of the estimator contract (see ``tests/contract.py``).

Two changes of units must leave the fitted model unchanged:

- times x 1000: intercepts, covariances of the intercept and the residual variance are
  unchanged, slopes divide by 1000, the log-likelihood is unchanged;
- Y x 1e6: every growth factor (and the expert effects) multiplies by 1e6, covariances and the
  residual variance by 1e12, and the log-likelihood shifts by ``-N_obs log(1e6)`` (the
  log-Jacobian of ``y -> c y`` over the ``N_obs`` observed values).

In both the posterior classes and the gate are the same.
"""

from __future__ import annotations

import functools

import numpy as np

from solvers.growth_moe import GrowthMixtureMoE, datasets
from tests.contract import ContractCase, UnitCase


@functools.lru_cache(maxsize=1)
def _data():
    return datasets.simulate(n=60, n_waves=5, placement="gating", random_state=0)


def _make(random_state):
    return GrowthMixtureMoE(2, curve="linear", n_init=2, random_state=random_state)


def _fit_args():
    d = _data()
    return d.Y.copy(), d.times.copy(), d.X.copy()


def _output(est, args):
    return np.concatenate([est.class_means_.ravel(), est.predict_proba(*args).ravel()])


def _times_scaled(c):
    def transform(args):
        Y, times, X = args
        return Y, times * c, X

    def check(ref, scaled, args, scaled_args):
        # linear curve eta0 + eta1 t: eta1 per unit of time divides by c
        a = np.array([1.0, 1.0 / c])
        np.testing.assert_allclose(scaled.class_means_, ref.class_means_ * a, rtol=1e-6)
        np.testing.assert_allclose(
            scaled.class_covariances_,
            ref.class_covariances_ * np.outer(a, a),
            rtol=1e-5,
            atol=1e-8 * np.abs(ref.class_covariances_).max(),
        )
        np.testing.assert_allclose(scaled.residual_variance_, ref.residual_variance_, rtol=1e-6)
        np.testing.assert_allclose(scaled.gating_coef_, ref.gating_coef_, rtol=1e-5, atol=1e-8)
        np.testing.assert_allclose(scaled.loglik_, ref.loglik_, rtol=1e-9)
        np.testing.assert_allclose(
            scaled.predict_proba(*scaled_args), ref.predict_proba(*args), atol=1e-6
        )
        np.testing.assert_array_equal(scaled.predict(*scaled_args), ref.predict(*args))

    return UnitCase(f"times*{c:g}", transform, check)


def _y_scaled(c):
    def transform(args):
        Y, times, X = args
        return Y * c, times, X

    def check(ref, scaled, args, scaled_args):
        n_obs = np.sum(~np.isnan(args[0]))
        np.testing.assert_allclose(scaled.loglik_, ref.loglik_ - n_obs * np.log(c), rtol=1e-9)
        np.testing.assert_allclose(
            scaled.score(*scaled_args),
            ref.score(*args) - n_obs / len(args[0]) * np.log(c),
            rtol=1e-9,
        )
        np.testing.assert_allclose(scaled.class_means_, c * ref.class_means_, rtol=1e-6)
        np.testing.assert_allclose(
            scaled.class_covariances_,
            c**2 * ref.class_covariances_,
            rtol=1e-5,
            atol=1e-8 * c**2 * ref.class_covariances_.max(),
        )
        np.testing.assert_allclose(
            scaled.residual_variance_, c**2 * ref.residual_variance_, rtol=1e-6
        )
        np.testing.assert_allclose(
            scaled.gating_intercept_, ref.gating_intercept_, rtol=1e-5, atol=1e-8
        )
        np.testing.assert_allclose(scaled.gating_coef_, ref.gating_coef_, rtol=1e-5, atol=1e-8)
        np.testing.assert_array_equal(scaled.predict(*scaled_args), ref.predict(*args))

    return UnitCase(f"Y*{c:g}", transform, check)


CASES = [
    ContractCase(
        name="GrowthMixtureMoE",
        make=_make,
        fit_args=_fit_args,
        output=_output,
        array_args=((0, "Y"), (1, "times"), (2, "X")),
        methods=(
            ("predict", lambda est, args: est.predict(*args)),
            ("predict_proba", lambda est, args: est.predict_proba(*args)),
            ("score", lambda est, args: est.score(*args)),
            ("predict_trajectories", lambda est, args: est.predict_trajectories(args[1][0])),
            ("summary", lambda est, args: est.summary()),
        ),
        score=lambda est, args: est.score(*args),
        units=(_times_scaled(1000.0), _y_scaled(1e6)),
        sklearn_checks=False,  # fit takes (Y, times, X), not an ordinary X
    )
]
