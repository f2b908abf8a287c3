"""Core of the SDP clustering solvers against independent references (cvxpy, scipy)."""

import cvxpy as cp
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.stats import multivariate_normal

from mixtures import x64
from solvers.ila_sdp import _core, datasets
from solvers.ila_sdp._cvxpy import cvxpy_solve
from solvers.ila_sdp.estimator import _membership, _spectral_round


@pytest.fixture(scope="module")
def data():
    X, y = datasets.make_heterogeneous(n_samples=30, separation=3.0, random_state=1)
    return (X - X.mean(0)) / X.std(), y


def test_project_simplex_matches_cvxpy():
    rng = np.random.default_rng(0)
    v = rng.normal(size=(3, 7))
    with x64():
        got = np.asarray(_core.project_simplex(jnp.asarray(v), 2.0))
    for row, g in zip(v, got):
        x = cp.Variable(7)
        cp.Problem(cp.Minimize(cp.sum_squares(x - row)), [x >= 0, cp.sum(x) == 2.0]).solve()
        np.testing.assert_allclose(g, x.value, atol=1e-6)


def test_la_cost_is_profile_likelihood(data):
    X, y = data
    K, (n, p) = 3, data[0].shape
    covs = np.stack([np.cov(X[y == k].T, bias=True) + 0.1 * np.eye(p) for k in range(K)])
    weights = np.bincount(y) / n
    with x64():
        C = np.asarray(_core.la_cost(jnp.asarray(X), jnp.asarray(covs), jnp.log(weights)))
    value = np.sum(C * _membership(y, K))
    loglik = sum(
        multivariate_normal(X[y == k].mean(0), covs[k]).logpdf(X[y == k]).sum()
        + np.sum(y == k) * np.log(weights[k])
        for k in range(K)
    )
    np.testing.assert_allclose(value, -2 * loglik - n * p * np.log(2 * np.pi), rtol=1e-10)


def test_scatter_from_membership_matches_numpy(data):
    X, y = data
    with x64():
        sizes, means, covs = _core.scatter_from_membership(
            jnp.asarray(X), jnp.asarray(_membership(y, 3))
        )
    for k in range(3):
        np.testing.assert_allclose(sizes[k], np.sum(y == k))
        np.testing.assert_allclose(means[k], X[y == k].mean(0), atol=1e-12)
        np.testing.assert_allclose(covs[k], np.cov(X[y == k].T, bias=True), atol=1e-12)


def _admm(C, trace):
    B, n, _ = C.shape
    Z0 = jnp.full((B, n, n), trace / (B * n))
    res = _core.admm_solve(jnp.asarray(C), trace, Z0, jnp.zeros_like(Z0), 1.0, tol=1e-7)
    assert bool(res.converged)
    return np.asarray(res.Z)


def test_admm_matches_cvxpy_kmeans_sdp(data):
    X, _ = data
    with x64():
        C = np.asarray(_core.kmeans_cost(jnp.asarray(X)))
        Z = _admm(C, 3.0)
    Zref, status = cvxpy_solve(C, 3.0)
    assert status == "optimal"
    np.testing.assert_allclose(np.sum(C * Z), np.sum(C * Zref), rtol=1e-4)
    a, b = _spectral_round(Z[0], 3, 0), _spectral_round(Zref[0], 3, 0)
    assert np.array_equal(_membership(a, 3).sum(0), _membership(b, 3).sum(0))


def test_admm_matches_cvxpy_la_sdp(data):
    X, y = data
    covs = np.stack([np.cov(X[y == k].T, bias=True) for k in range(3)])
    with x64():
        C = np.asarray(_core.la_cost(jnp.asarray(X), jnp.asarray(covs), jnp.log(np.ones(3) / 3)))
        Z = _admm(C, 1.0)
    Zref, _ = cvxpy_solve(C, 1.0)
    np.testing.assert_allclose(np.sum(C * Z), np.sum(C * Zref), rtol=1e-4)
    np.testing.assert_array_equal(Z.sum(2).argmax(0), Zref.sum(2).argmax(0))
    # feasibility of the ADMM answer
    assert Z.min() >= 0
    np.testing.assert_allclose(Z.sum(axis=(0, 2)), 1.0, atol=1e-5)
    np.testing.assert_allclose(np.trace(Z, axis1=1, axis2=2), 1.0, atol=1e-4)


def test_cvxpy_failure_raises_with_status(data):
    C = np.zeros((1, 4, 4))
    with pytest.raises(RuntimeError, match="status 'infeasible'"):
        cvxpy_solve(C, -1.0)


@pytest.mark.parametrize("kind", ["kmeans", "la"])
def test_padded_admm_equals_unpadded(data, kind):
    # padding rows/columns, even with garbage cost entries, change nothing but rounding
    X, y = data
    n, N = len(X), 40
    with x64():
        if kind == "kmeans":
            C, t = np.asarray(_core.kmeans_cost(jnp.asarray(X))), 3.0
        else:
            covs = np.stack([np.cov(X[y == k].T, bias=True) for k in range(3)])
            logw = jnp.log(np.ones(3) / 3)
            C, t = np.asarray(_core.la_cost(jnp.asarray(X), jnp.asarray(covs), logw)), 1.0
        B = C.shape[0]
        Z0 = np.full((B, n, n), t / (B * n))
        ref = _core.admm_solve(
            jnp.asarray(C), t, jnp.asarray(Z0), jnp.zeros((B, n, n)), 1.0, tol=1e-7
        )
        Cp = np.full((B, N, N), 5.0)
        Cp[:, :n, :n] = C
        Zp = np.zeros((B, N, N))
        Zp[:, :n, :n] = Z0
        got = _core.admm_solve(
            jnp.asarray(Cp), t, jnp.asarray(Zp), jnp.zeros((B, N, N)), 1.0, n, tol=1e-7
        )
    assert int(got.n_iter) == int(ref.n_iter) and bool(got.converged)
    Z = np.asarray(got.Z)
    np.testing.assert_allclose(Z[:, :n, :n], np.asarray(ref.Z), atol=1e-12)
    assert not Z[:, n:, :].any() and not Z[:, :, n:].any()


def test_warm_projection_equals_full_projection():
    # a low-rank PSD part plus small noise: the kept eigenvectors lie in the warm subspace
    # (certified, no fall-back) and the projection equals the one by a full eigh
    rng = np.random.default_rng(3)
    n, B, r = 24, 2, 4
    U = np.linalg.qr(rng.normal(size=(B, n, 2)))[0]
    noise = 1e-3 * rng.normal(size=(B, n, n))
    M = np.einsum("bir,br,bjr->bij", U, [[2.0, 0.7], [1.5, 0.2]], U) + noise
    with x64():
        full = np.asarray(_core.project_spectraplex(jnp.asarray(M), 1.0))
        Q = np.linalg.qr(np.concatenate([U, rng.normal(size=(B, n, r - 2))], axis=2))[0]
        Z, _, fallback = _core.project_spectraplex_warm(jnp.asarray(M), 1.0, jnp.asarray(Q))
        # a subspace orthogonal to the top eigenvectors cannot be certified: full eigh used
        Qbad = np.linalg.qr(
            rng.normal(size=(B, n, r)) - U @ (np.swapaxes(U, 1, 2) @ rng.normal(size=(B, n, r)))
        )[0]
        Qbad = Qbad - U @ (np.swapaxes(U, 1, 2) @ Qbad)
        Z2, _, fallback2 = _core.project_spectraplex_warm(
            jnp.asarray(M), 1.0, jnp.asarray(np.linalg.qr(Qbad)[0])
        )
    # reference: numpy eigh and the sort-based simplex projection of the eigenvalues
    w, V = np.linalg.eigh(0.5 * (M + np.swapaxes(M, 1, 2)))
    ref = []
    for b in range(B):
        u = np.sort(w[b])[::-1]
        css = np.cumsum(u) - 1.0
        k = np.max(np.nonzero(u - css / np.arange(1, n + 1) > 0)[0]) + 1
        lam = np.maximum(w[b] - css[k - 1] / k, 0.0)
        ref.append((V[b] * lam) @ V[b].T)
    np.testing.assert_allclose(full, np.stack(ref), atol=1e-10)
    assert not bool(fallback)
    np.testing.assert_allclose(Z, full, atol=1e-8)
    assert bool(fallback2)
    np.testing.assert_allclose(Z2, full, atol=1e-10)


def test_low_rank_admm_matches_full_admm(data):
    X, y = data
    covs = np.stack([np.cov(X[y == k].T, bias=True) for k in range(3)])
    with x64():
        C = _core.la_cost(jnp.asarray(X), jnp.asarray(covs), jnp.log(np.ones(3) / 3))
        Z0 = jnp.full(C.shape, 1.0 / (3 * len(X)))
        a = _core.admm_solve(C, 1.0, Z0, jnp.zeros_like(Z0), 1.0, tol=1e-7)
        b = _core.admm_solve(C, 1.0, Z0, jnp.zeros_like(Z0), 1.0, tol=1e-7, rank=6)
    assert bool(b.converged)
    np.testing.assert_allclose(np.asarray(b.Z), np.asarray(a.Z), atol=1e-6)
