"""LightSB's contract case (see ``tests/contract.py``): tiny d = 2 samples, a few Adam steps."""

from __future__ import annotations

import numpy as np

from solvers.lightsb import LightSB
from tests.contract import ContractCase, UnitCase

_EPS = 0.5


def _make(random_state):
    return LightSB(
        n_components=2, epsilon=_EPS, max_iter=40, batch_size=16, random_state=random_state
    )


def _fit_args():
    rng = np.random.default_rng(0)
    X0 = rng.standard_normal((40, 2))
    X1 = 0.5 * rng.standard_normal((36, 2)) @ np.array([[1.0, 0.4], [0.0, 1.0]]) + [2.0, -1.0]
    return X0, X1


def _output(est, args):
    return np.concatenate(
        [
            est.predict(args[0][:5]).ravel(),
            est.means_.ravel(),
            est.covariances_.ravel(),
            est.log_weights_,
        ]
    )


def _unit_case(c):
    def transform(args):
        return tuple(c * X for X in args)

    def check(ref, scaled, args, scaled_args):
        # epsilon is a variance (data units squared): the same problem in the new units has
        # epsilon * c**2, so the scaled estimator is refitted with it
        scaled.set_params(epsilon=ref.epsilon * c**2).fit(*scaled_args)
        d = args[0].shape[1]
        np.testing.assert_allclose(scaled.log_weights_, ref.log_weights_, rtol=1e-7, atol=1e-9)
        np.testing.assert_allclose(scaled.means_, c * ref.means_, rtol=1e-7, atol=1e-9 * c)
        np.testing.assert_allclose(
            scaled.covariances_, c**2 * ref.covariances_, rtol=1e-7, atol=1e-9 * c**2
        )
        np.testing.assert_allclose(
            scaled.predict(scaled_args[0]), c * ref.predict(args[0]), rtol=1e-7, atol=1e-9 * c
        )
        # score: a mean log-density in y shifted by the log-Jacobian -d log c
        np.testing.assert_allclose(
            scaled.score(*scaled_args), ref.score(*args) - d * np.log(c), rtol=0, atol=1e-7
        )

    return UnitCase(f"X_times_{c:g}", transform, check)


CASES = [
    ContractCase(
        name="LightSB",
        make=_make,
        fit_args=_fit_args,
        output=_output,
        array_args=[(0, "X0"), (1, "X1")],
        methods=[
            ("predict", lambda est, args: est.predict(args[0])),
            ("conditional", lambda est, args: est.conditional(args[0])),
            ("sample", lambda est, args: est.sample(args[0])),
            ("sample_trajectory", lambda est, args: est.sample_trajectory(args[0], 4)),
            ("drift", lambda est, args: est.drift(args[0], 0.5)),
            ("score", lambda est, args: est.score(*args)),
        ],
        score=lambda est, args: est.score(*args),
        units=[_unit_case(1e-4), _unit_case(1e4)],
        # fit takes two unpaired samples (X0, X1), not an ordinary (X, y): scikit-learn's
        # estimator checks call fit(X, y) with a label vector and do not apply
        sklearn_checks=False,
    ),
]
