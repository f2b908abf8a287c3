"""The LAPACK-free small linear algebra and the batched normal log-density, against NumPy and
SciPy's dense routines."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

from mixtures import gaussian, linalg

pytestmark = pytest.mark.usefixtures("x64_context")


def _spd(rng, batch, d):
    A = rng.normal(size=(*batch, d, d))
    return A @ np.swapaxes(A, -1, -2) + 0.5 * np.eye(d)


def test_cholesky_and_solves_match_numpy_on_a_batch():
    rng = np.random.default_rng(0)
    A = _spd(rng, (3, 2), 5)
    b = rng.normal(size=(3, 2, 5))
    L = np.asarray(linalg.cholesky(jnp.asarray(A)))
    np.testing.assert_allclose(L, np.linalg.cholesky(A), rtol=1e-12, atol=1e-12)
    x = np.asarray(linalg.solve_lower_transpose(L, linalg.solve_lower(L, b)))
    np.testing.assert_allclose(x, np.linalg.solve(A, b[..., None])[..., 0], rtol=1e-10)
    np.testing.assert_allclose(
        np.asarray(linalg.logdet_from_cholesky(L)), np.linalg.slogdet(A)[1], rtol=1e-12
    )


def test_cholesky_of_a_rank_deficient_psd_matrix_reconstructs_it():
    rng = np.random.default_rng(1)
    B = rng.normal(size=(4, 2))
    A = B @ B.T  # rank 2
    L = np.asarray(linalg.cholesky(jnp.asarray(A)))
    assert np.all(np.isfinite(L))
    np.testing.assert_allclose(L @ L.T, A, atol=1e-12)


@pytest.mark.parametrize("d", [3, linalg.UNROLL_MAX + 2])
def test_batched_mvn_logpdf_matches_scipy(d):
    rng = np.random.default_rng(d)
    K, n = 3, 7
    means = rng.normal(size=(K, d))
    covs = _spd(rng, (K,), d)
    X = rng.normal(size=(n, d))
    got = np.asarray(gaussian.mvn_logpdf(X[:, None, :], means, covs))
    assert got.shape == (n, K)
    want = np.stack(
        [stats.multivariate_normal(means[k], covs[k]).logpdf(X) for k in range(K)], axis=1
    )
    np.testing.assert_allclose(got, want, rtol=1e-10)
    one = np.asarray(gaussian.mvn_logpdf(X, means[1], covs[1]))
    np.testing.assert_allclose(one, want[:, 1], rtol=1e-10)
    host = gaussian.mvn_logpdf_numpy(X[:, None, :], means, covs)
    assert isinstance(host, np.ndarray) and host.shape == (n, K)
    np.testing.assert_allclose(host, want, rtol=1e-10)
    for unroll in (True, False):
        forced = np.asarray(gaussian.mvn_logpdf(X[:, None, :], means, covs, unroll=unroll))
        np.testing.assert_allclose(forced, want, rtol=1e-10)


def test_mvn_logpdf_rejects_shapes_that_do_not_broadcast():
    with pytest.raises(ValueError, match="broadcast"):
        gaussian.mvn_logpdf(np.zeros((4, 2)), np.zeros((3, 2)), np.tile(np.eye(2), (3, 1, 1)))
    with pytest.raises(ValueError, match="cov"):
        gaussian.mvn_logpdf(np.zeros((4, 2)), np.zeros(2), np.eye(3))
    with pytest.raises(TypeError, match="unroll"):
        gaussian.mvn_logpdf(np.zeros((4, 2)), np.zeros(2), np.eye(2), unroll="yes")


def test_small_normal_density_compiles_without_lapack_under_jacfwd_and_vmap():
    def f(mean, cov, X):
        return jnp.sum(gaussian.mvn_logpdf(X[:, None, :], mean, cov))

    rng = np.random.default_rng(2)
    args = (jnp.asarray(rng.normal(size=(2, 3))), jnp.asarray(_spd(rng, (2,), 3)))
    X = jnp.asarray(rng.normal(size=(5, 3)))
    prog = jax.jit(jax.vmap(jax.jacfwd(f, argnums=(0, 1)), in_axes=(None, None, 0)))
    text = prog.lower(*args, jnp.stack([X, X])).as_text()
    assert "custom_call" not in text
