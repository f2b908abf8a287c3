"""The estimator contract's case for SpectralMixtureGPSolver (see ``tests/contract.py``).

A tiny 1-D Poisson problem (32 grid points, 4 components, 5 iterations) so that the whole
contract runs in seconds. The fit input is a :class:`~solvers.gp_pde.PDEProblem`, not a table,
so scikit-learn's estimator checks do not apply and the bad-input table is run on ``predict``
in ``test_gp_pde_estimator.py`` instead.
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from solvers.gp_pde import PDEProblem, SpectralMixtureGPSolver, problems
from tests.contract import ContractCase, UnitCase

X_TEST = np.linspace(0.0, 1.0, 23)[:, None]


def _solution(x):
    return jnp.sin(2.0 * jnp.pi * x[:, 0]) + x[:, 0]


def make_problem():
    return problems.poisson(_solution, [(0.0, 1.0)], "contract_poisson_1d")


def make(random_state):
    return SpectralMixtureGPSolver(n_components=4, grid=32, max_iter=5, random_state=random_state)


def scaled_problem(problem, c):
    """The same linear PDE with source and boundary data (so the solution) times ``c``."""

    def source(x):
        return c * np.asarray(problem.source(x))

    def boundary(x):
        return c * np.asarray(problem.boundary(x))

    def solution(x):
        return c * np.asarray(problem.solution(x))

    return PDEProblem(
        problem.domain,
        problem.operator,
        source,
        boundary,
        solution,
        problem.variables,
        problem.name,
    )


def _unit_case(c):
    def transform(args):
        return (scaled_problem(args[0], c),)

    def check(ref, scaled, args, scaled_args):
        # Poisson is linear: u solves (c f, c g) iff u / c solves (f, g); the fit must see
        # the same standardised problem and return c times the reference solution
        np.testing.assert_allclose(scaled.solution_scale_, c * ref.solution_scale_, rtol=1e-12)
        np.testing.assert_allclose(
            scaled.predict(X_TEST), c * ref.predict(X_TEST), rtol=1e-8, atol=1e-10 * abs(c)
        )
        np.testing.assert_allclose(
            scaled.grid_values_, c * ref.grid_values_, rtol=1e-8, atol=1e-10 * abs(c)
        )
        for name in ("weights_", "frequencies_", "scales_"):
            np.testing.assert_allclose(getattr(scaled, name), getattr(ref, name), rtol=1e-8)
        np.testing.assert_allclose(scaled.tau_, ref.tau_ / c**2, rtol=1e-8)
        np.testing.assert_allclose(scaled.checkpoint_scores_, c * ref.checkpoint_scores_, rtol=1e-8)
        # the negative log joint shifts by the log-Jacobian of u -> c u: (2 M + lambda_b N_b)
        # log c with M grid points and N_b boundary points
        m, n_b = ref.grid_values_.size, 2
        shift = (2 * m + ref.boundary_weight * n_b) * np.log(c)
        np.testing.assert_allclose(scaled.loss_curve_, ref.loss_curve_ + shift, rtol=1e-8)
        assert scaled.n_iter_ == ref.n_iter_ and scaled.best_iter_ == ref.best_iter_

    return UnitCase(f"f_and_g_times_{c:g}", transform, check)


CASES = [
    ContractCase(
        name="SpectralMixtureGPSolver",
        make=make,
        fit_args=lambda: (make_problem(),),
        output=lambda est, args: np.concatenate(
            [est.predict(X_TEST), est.derivative(X_TEST, 2), est.grid_values_]
        ),
        methods=(
            ("predict", lambda est, args: est.predict(X_TEST)),
            ("derivative", lambda est, args: est.derivative(X_TEST, 1)),
            ("predict_grid", lambda est, args: est.predict_grid([X_TEST[:, 0]])),
            ("test_grid", lambda est, args: est.test_grid()),
            ("relative_l2_error", lambda est, args: est.relative_l2_error()),
        ),
        units=(_unit_case(1e3), _unit_case(1e-3)),
        sklearn_checks=False,
    )
]
