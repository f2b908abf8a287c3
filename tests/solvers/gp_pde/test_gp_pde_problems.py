"""The benchmark problems: sources and boundary data against finite differences of the exact
solutions (independent of the automatic differentiation that builds them), and the tables."""

import jax.numpy as jnp
import numpy as np
import pytest

from mixtures._config import x64
from solvers.gp_pde import SpectralMixtureGPSolver, problems
from solvers.gp_pde.problems import parse_key

H = 1e-5  # finite-difference step (relative truncation error (k h)^2 / 12 < 3e-6 for k <= 500)


class _FiniteDifferences(dict):
    """Derivative dict for an operator: pure derivatives of order <= 2 by central differences."""

    def __init__(self, solution, x, variables):
        super().__init__()
        self.solution, self.x, self.variables = solution, x, variables

    def __missing__(self, key):
        orders = parse_key(key, self.variables)
        assert orders is not None and sum(orders) == max(orders) <= 2, key  # pure, order <= 2
        u0 = self.solution(self.x)
        if sum(orders) == 0:
            value = u0
        else:
            e = np.zeros(self.x.shape[1])
            e[int(np.argmax(orders))] = H
            up, um = self.solution(self.x + e), self.solution(self.x - e)
            value = (up - um) / (2 * H) if sum(orders) == 1 else (up - 2 * u0 + um) / H**2
        self[key] = jnp.asarray(value)
        return self[key]


@pytest.mark.parametrize("name", sorted(problems.BENCHMARKS))
def test_benchmark_source_and_boundary_match_finite_differences(name):
    ctor = problems.BENCHMARKS[name][0]
    p = ctor()
    lo, hi = p.domain[:, 0], p.domain[:, 1]
    x = np.random.default_rng(0).uniform(lo + 0.01, hi - 0.01, (40, p.n_dims))
    d = _FiniteDifferences(p.solution, x, p.variables)
    with x64():
        lhs = np.asarray(p.operator(d, jnp.asarray(x)))
    scale = max(float(np.max(np.abs(v))) for v in d.values())  # the largest derivative term
    np.testing.assert_allclose(p.source(x), lhs, rtol=0, atol=1e-4 * scale)
    # boundary data: the exact solution on the box's faces
    xb = x.copy()
    xb[:, 0] = lo[0]
    np.testing.assert_allclose(p.boundary(xb), p.solution(xb), rtol=0, atol=1e-14)


def test_benchmark_tables():
    for name, (ctor, grid, freq, lam) in problems.BENCHMARKS.items():
        assert ctor().n_dims == len(grid), name
        assert freq > 0 and lam > 0, name
    for name, options in problems.BENCHMARK_SOLVER_OPTIONS.items():
        assert name in problems.BENCHMARKS
        SpectralMixtureGPSolver().set_params(**options)  # raises for an unknown parameter


def test_nyquist_frequency_is_half_the_sampling_rate():
    problem = problems.advection_1d()  # [0, 1]^2
    grid = (40, 128)
    spacing = [np.diff(np.linspace(lo, hi, m))[0] for (lo, hi), m in zip(problem.domain, grid)]
    np.testing.assert_allclose(problem.nyquist_frequency(grid), 0.5 / np.array(spacing))
    np.testing.assert_allclose(problem.nyquist_frequency(11), [5.0, 5.0])  # 10 steps of 0.1
    for bad in ((40,), (40, 1), 40.5, (40, 128, 3)):
        with pytest.raises(ValueError, match="grid must give 2 integer sizes"):
            problem.nyquist_frequency(bad)
