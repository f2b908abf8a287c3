import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mixtures import kronecker as Kr

pytestmark = pytest.mark.usefixtures("x64_context")


def _spd(rng, m):
    A = rng.normal(size=(m, m))
    return A @ A.T / m + 0.1 * np.eye(m)


def _dense(factors):
    out = np.ones((1, 1))
    for A in factors:
        out = np.kron(out, A)
    return out


@settings(max_examples=10, deadline=None)
@given(sizes=st.lists(st.integers(1, 5), min_size=1, max_size=3), seed=st.integers(0, 99))
def test_matvec_matches_dense(sizes, seed):
    rng = np.random.default_rng(seed)
    factors = [rng.normal(size=(m, m + 1)) for m in sizes]
    x = rng.normal(size=(int(np.prod([m + 1 for m in sizes])), 2))
    np.testing.assert_allclose(Kr.kron_matvec(factors, x), _dense(factors) @ x,
                               rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(Kr.kron_matvec(factors, x[:, 0]), _dense(factors) @ x[:, 0],
                               rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("sizes", [(6,), (4, 5), (3, 4, 2)])
@pytest.mark.parametrize("noise", [0.0, 0.3])
def test_solve_logdet_logpdf_match_dense(sizes, noise):
    rng = np.random.default_rng(len(sizes))
    factors = [_spd(rng, m) for m in sizes]
    K = _dense(factors) + noise * np.eye(int(np.prod(sizes)))
    b = rng.normal(size=K.shape[0])
    np.testing.assert_allclose(Kr.kron_solve(factors, b, noise), np.linalg.solve(K, b),
                               rtol=1e-10)
    ld = np.linalg.slogdet(K)[1]
    np.testing.assert_allclose(Kr.kron_logdet(factors, noise), ld, rtol=1e-10)
    from scipy import stats

    ref = stats.multivariate_normal(np.zeros(K.shape[0]), K).logpdf(b)
    np.testing.assert_allclose(Kr.kron_mvn_logpdf(b, factors, noise), ref, rtol=1e-10)


def test_mode_product_and_grid_follow_row_major_convention():
    rng = np.random.default_rng(3)
    A1, A2 = rng.normal(size=(3, 3)), rng.normal(size=(4, 4))
    U = rng.normal(size=(3, 4))
    np.testing.assert_allclose(
        Kr.mode_product(A2, Kr.mode_product(A1, U, 0), 1), A1 @ U @ A2.T, rtol=1e-12)
    ax = [np.array([0.0, 1.0, 2.0]), np.array([10.0, 20.0])]
    pts = np.asarray(Kr.grid(ax))
    np.testing.assert_array_equal(pts[:3], [[0, 10], [0, 20], [1, 10]])
    # a separable function on the grid, vectorised, equals the Kronecker product of its factors
    f1, f2 = np.sin(ax[0]), np.cos(ax[1])
    np.testing.assert_allclose(np.sin(pts[:, 0]) * np.cos(pts[:, 1]), np.kron(f1, f2))


def test_kronecker_functions_work_under_jit():
    import jax

    rng = np.random.default_rng(7)
    factors = [_spd(rng, 3), _spd(rng, 4)]
    b = rng.normal(size=12)
    K = _dense(factors) + 0.2 * np.eye(12)
    solve = jax.jit(lambda f, y: Kr.kron_solve(f, y, 0.2))
    np.testing.assert_allclose(solve(factors, b), np.linalg.solve(K, b), rtol=1e-10)
    logpdf = jax.jit(lambda f, y: Kr.kron_mvn_logpdf(y, f, 0.2))
    from scipy import stats

    np.testing.assert_allclose(logpdf(factors, b),
                               stats.multivariate_normal(np.zeros(12), K).logpdf(b), rtol=1e-10)


def test_kron_diag_is_the_diagonal_of_the_dense_kronecker_product():
    rng = np.random.default_rng(7)
    vs = [rng.normal(size=m) for m in (3, 4, 2)]
    dense = np.kron(np.kron(np.diag(vs[0]), np.diag(vs[1])), np.diag(vs[2]))
    np.testing.assert_allclose(np.asarray(Kr.kron_diag(vs)), np.diag(dense), rtol=1e-14)
