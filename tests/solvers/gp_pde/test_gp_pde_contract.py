"""Regression tests of the estimator contract for SpectralMixtureGPSolver (issue 20).

One tiny fitted 1-D problem (32 grid points, 4 components, 5 iterations) is shared; the
contract test itself (``tests/test_contract.py``) runs the case in ``contract_case.py``.
"""

import pickle
import warnings

import jax.numpy as jnp
import numpy as np
import pytest
import scipy.sparse

from mixtures.base import ConvergenceWarning, DivergenceError, MixturesEstimator
from solvers.gp_pde import PDEProblem, SpectralMixtureGPSolver, problems
from solvers.gp_pde.problems import allen_cahn_operator, laplacian_operator

X = np.linspace(0.0, 1.0, 9)[:, None]


def _tiny(**kw):
    base = dict(n_components=4, grid=32, max_iter=5, random_state=0)
    base.update(kw)
    return SpectralMixtureGPSolver(**base)


@pytest.fixture(scope="module")
def problem():
    # a lambda on purpose: users write their problems this way
    return problems.poisson(lambda x: jnp.sin(2.0 * jnp.pi * x[:, 0]) + x[:, 0], [(0.0, 1.0)])


@pytest.fixture(scope="module")
def fitted(problem):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return _tiny().fit(problem)


def test_fitted_solver_with_lambdas_pickles(fitted, problem):
    """A fitted solver of a problem written with lambdas pickles (the problem is not part of
    its state) and predicts the same after reloading."""
    again = pickle.loads(pickle.dumps(fitted))
    for name in ("weights_", "frequencies_", "scales_", "grid_values_", "tau_", "loss_curve_"):
        np.testing.assert_array_equal(getattr(again, name), getattr(fitted, name))
    u, std = fitted.predict(X, return_std=True)
    u2, std2 = again.predict(X, return_std=True)
    np.testing.assert_array_equal(u2, u)
    np.testing.assert_array_equal(std2, std)
    np.testing.assert_array_equal(again.derivative(X, 2), fitted.derivative(X, 2))
    np.testing.assert_array_equal(again.predict_grid([X[:, 0]]), fitted.predict_grid([X[:, 0]]))
    # the error against the exact solution needs the problem back
    with pytest.raises(ValueError, match="pass problem="):
        again.relative_l2_error()
    assert again.relative_l2_error(problem=problem) == fitted.relative_l2_error()
    # the pickled state holds NumPy arrays and plain Python values only
    for name, value in vars(again).items():
        assert not callable(value), name
        assert not isinstance(value, PDEProblem), name


def test_contract_basics(fitted):
    assert isinstance(fitted, MixturesEstimator)
    assert fitted.n_features_in_ == 1
    assert fitted.n_iter_ == 5 and fitted.converged_ is False
    assert fitted.solution_scale_ == 1.0  # a solution of order one is fitted as given


def test_not_converged_warns_once(problem):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        _tiny().fit(problem)
    conv = [w for w in caught if issubclass(w.category, ConvergenceWarning)]
    assert len(conv) == 1
    assert "did not converge in 5 iteration" in str(conv[0].message)


@pytest.mark.parametrize("bad", ["yes", 1, None])
def test_verbose_must_be_a_bool(problem, bad):
    with pytest.raises(TypeError, match="verbose"):
        _tiny(verbose=bad).fit(problem)


@pytest.mark.parametrize(
    "param,value,error",
    [
        ("learn_frequencies", "no", TypeError),
        ("grid", 2.5, TypeError),
        ("grid", (32, "a"), TypeError),
        ("max_iter", 0, ValueError),
        ("tol", -1.0, ValueError),
        ("cg_iters", 1.5, TypeError),
    ],
)
def test_parameter_constraints(problem, param, value, error):
    with pytest.raises(error, match=param):
        _tiny(**{param: value}).fit(problem)


def _bad(arr):
    arr = np.asarray(arr, dtype=float)
    yield arr + 1j
    yield "abc"
    yield np.full(arr.shape, "a", dtype=object)
    if arr.ndim == 2:
        yield scipy.sparse.csr_matrix(arr)


def test_bad_prediction_input_is_a_type_error_naming_it(fitted):
    """Complex input used to lose its imaginary part with only a ComplexWarning."""
    for bad in _bad(X):
        for call in (fitted.predict, lambda x: fitted.derivative(x, 1)):
            with warnings.catch_warnings():
                warnings.simplefilter("error")  # no ComplexWarning path remains
                with pytest.raises(TypeError, match="X"):
                    call(bad)
    for bad in _bad(X[:, 0]):
        with pytest.raises(TypeError, match=r"axes\[0\]"):
            fitted.predict_grid([bad])


def test_divergence_from_the_start_raises(problem):
    """With nothing finite to keep, the fit raises the library's divergence error (it used to
    return the initial state)."""
    # a boundary weight at the edge of float64 overflows the first solve's normal equations
    with pytest.raises(DivergenceError, match="learning_rate"):
        _tiny(boundary_weight=1e308).fit(problem)


def test_only_linear_operators_are_rescaled(x64_context):
    """Rescaling (f, g) rescales u only for a linear operator: affine operators with a
    constant term and nonlinear ones are fitted at scale 1."""
    rng = np.random.default_rng(0)
    keys = (("u", (0,)), ("u_xx", (2,)))
    p = PDEProblem([(0.0, 1.0)], laplacian_operator(("x",)), np.sin, np.sin)
    check = SpectralMixtureGPSolver._is_affine
    assert check(p, keys, 7, rng) == (True, True)
    p.operator = lambda d, x: d["u_xx"] + 1.0
    assert check(p, keys, 7, rng) == (True, False)
    p.operator = allen_cahn_operator(("x",))
    assert check(p, keys, 7, rng) == (False, False)
