"""Tests of mixtures.em: the generic multi-start EM loop, the Gaussian steps and k-means."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from sklearn.cluster import KMeans
from sklearn.metrics import adjusted_rand_score
from sklearn.mixture import GaussianMixture as SkGaussianMixture

from mixtures import em
from mixtures import gaussian as G

pytestmark = pytest.mark.usefixtures("x64_context")

TYPES = ("full", "tied", "diag", "spherical")


@pytest.fixture(scope="module")
def blobs():
    rng = np.random.default_rng(0)
    X = np.concatenate(
        [
            rng.normal(size=(60, 2)) * [1.0, 0.4] + [4.0, 0.0],
            rng.normal(size=(50, 2)) * 0.6 - [2.0, 2.0],
            rng.normal(size=(40, 2)) * [0.5, 1.2] + [0.0, 4.0],
        ]
    )
    return X - X.mean(axis=0)


def _data(X, covariance_type, reg=1e-6):
    F = em.gaussian_features(jnp.asarray(X), covariance_type)
    return em.GaussianEMData(F, jnp.ones(X.shape[0]), jnp.asarray(reg))


def _random_params(rng, K, d, covariance_type):
    w = rng.dirichlet(np.ones(K))
    means = rng.normal(size=(K, d)) * 2
    if covariance_type == "full":
        A = rng.normal(size=(K, d, d))
        cov = A @ np.swapaxes(A, 1, 2) + 0.5 * np.eye(d)
    elif covariance_type == "tied":
        A = rng.normal(size=(d, d))
        cov = A @ A.T + 0.5 * np.eye(d)
    elif covariance_type == "diag":
        cov = rng.uniform(0.3, 2.0, size=(K, d))
    else:
        cov = rng.uniform(0.3, 2.0, size=K)
    return w, means, cov


@pytest.mark.parametrize("covariance_type", TYPES)
def test_weighted_log_prob_matches_cholesky_density(blobs, covariance_type):
    """F @ c_k equals log w_k + log N(x | mu_k, Sigma_k) from the Cholesky-based primitive."""
    rng = np.random.default_rng(1)
    K, d = 3, blobs.shape[1]
    w, means, cov = _random_params(rng, K, d, covariance_type)
    inv = np.linalg.inv(cov) if covariance_type in ("full", "tied") else 1.0 / cov
    params = em.GaussianParams(
        jnp.asarray(w), jnp.asarray(means), jnp.asarray(cov), jnp.asarray(inv),
        jnp.zeros(K),
    )
    params = em.gaussian_params_from_init(params, None, None, inv, covariance_type)
    ours = em._weighted_log_prob(params, _data(blobs, covariance_type).F, covariance_type)
    gmm = G.GMM(jnp.log(w), jnp.asarray(means), jnp.asarray(cov), covariance_type)
    ref = jax.jit(G.component_log_prob)(gmm, jnp.asarray(blobs))
    np.testing.assert_allclose(ours, np.asarray(ref) + np.log(w), rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("covariance_type", TYPES)
def test_m_step_from_hard_labels_is_per_cluster_mean_and_covariance(blobs, covariance_type):
    labels = np.repeat([0, 1, 2], [60, 50, 40])
    resp = np.eye(3)[labels]
    reg = 1e-3
    p = em.gaussian_params_from_resp(jnp.asarray(resp), _data(blobs, covariance_type, reg),
                                     covariance_type)
    d = blobs.shape[1]
    groups = [blobs[labels == k] for k in range(3)]
    covs = np.stack([np.cov(g.T, bias=True) for g in groups])
    np.testing.assert_allclose(p.weights, [0.4, 1 / 3, 0.4 * 2 / 3], rtol=1e-12)
    np.testing.assert_allclose(p.means, [g.mean(axis=0) for g in groups], atol=1e-12)
    if covariance_type == "full":
        expected = covs + reg * np.eye(d)
    elif covariance_type == "tied":
        expected = np.einsum("k,kij->ij", [60, 50, 40], covs) / 150 + reg * np.eye(d)
    elif covariance_type == "diag":
        expected = np.diagonal(covs, axis1=1, axis2=2) + reg
    else:
        expected = np.diagonal(covs, axis1=1, axis2=2).mean(axis=1) + reg
    np.testing.assert_allclose(p.covariances, expected, rtol=1e-10, atol=1e-12)
    inv = np.linalg.inv(expected) if covariance_type in ("full", "tied") else 1.0 / expected
    np.testing.assert_allclose(p.precisions, inv, rtol=1e-9)


def test_multistart_matches_independent_sklearn_runs(blobs):
    """Each vmapped start reproduces scikit-learn started from the same parameters."""
    rng = np.random.default_rng(2)
    K, d, S = 3, blobs.shape[1], 3
    data = _data(blobs, "full")
    starts, refs = [], []
    base = em.gaussian_params_from_resp(jnp.full((blobs.shape[0], K), 1.0 / K), data, "full")
    for _ in range(S):
        w, means, cov = _random_params(rng, K, d, "full")
        prec = np.linalg.inv(cov)
        starts.append(em.gaussian_params_from_init(base, w, means, prec, "full"))
        ref = SkGaussianMixture(
            K, weights_init=w, means_init=means, precisions_init=prec, tol=1e-6, max_iter=200
        ).fit(blobs)
        refs.append(ref)
    params0 = jax.tree_util.tree_map(lambda *a: jnp.stack(a), *starts)
    e_step, m_step = em.gaussian_steps("full")
    res = em.run_em(e_step, m_step, params0, data, 1e-6, 200)
    np.testing.assert_allclose(res.lower_bound, [r.lower_bound_ for r in refs], rtol=1e-10)
    np.testing.assert_array_equal(res.n_iter, [r.n_iter_ for r in refs])
    assert res.converged.all() and not res.failed.any()
    for s, ref in enumerate(refs):
        np.testing.assert_allclose(res.params.means[s], ref.means_, atol=1e-8)
        np.testing.assert_allclose(res.params.covariances[s], ref.covariances_, atol=1e-8)


# A model of its own through the generic loop: mixture of two exponentials (rates a, b).
def _exp_e_step(params, x):
    w, rates = params
    logp = jnp.log(w) + jnp.log(rates) - x[:, None] * rates
    norm = jax.scipy.special.logsumexp(logp, axis=1)
    resp = jnp.exp(logp - norm[:, None])
    return jnp.mean(norm), (resp.sum(0), resp.T @ x)


def _exp_m_step(stats, x):
    nk, sx = stats
    return nk / x.shape[0], nk / sx


def _exp_em_numpy(x, w, rates, tol, max_iter):
    lower = -np.inf
    for it in range(1, max_iter + 1):
        logp = np.log(w) + np.log(rates) - x[:, None] * rates
        norm = np.logaddexp.reduce(logp, axis=1)
        resp = np.exp(logp - norm[:, None])
        nk = resp.sum(0)
        w, rates = nk / len(x), nk / (resp.T @ x)
        prev, lower = lower, norm.mean()
        if abs(lower - prev) < tol:
            return w, rates, lower, it
    return w, rates, lower, max_iter


def test_generic_loop_with_custom_steps():
    rng = np.random.default_rng(3)
    x = np.concatenate([rng.exponential(0.5, 300), rng.exponential(4.0, 200)])
    inits = [(np.array([0.5, 0.5]), np.array([1.0, 0.1])),
             (np.array([0.3, 0.7]), np.array([3.0, 0.5]))]
    params0 = (jnp.asarray([w for w, _ in inits]), jnp.asarray([r for _, r in inits]))
    res = em.run_em(_exp_e_step, _exp_m_step, params0, jnp.asarray(x), 1e-9, 500)
    for s, (w, r) in enumerate(inits):
        w_ref, r_ref, lower_ref, it_ref = _exp_em_numpy(x, w, r, 1e-9, 500)
        np.testing.assert_allclose(res.params[0][s], w_ref, rtol=1e-9)
        np.testing.assert_allclose(res.params[1][s], r_ref, rtol=1e-9)
        np.testing.assert_allclose(res.lower_bound[s], lower_ref, rtol=1e-12)
        assert int(res.n_iter[s]) == it_ref


def test_max_iter_stops_and_reports_not_converged():
    x = jnp.asarray(np.random.default_rng(4).exponential(1.0, 100))
    params0 = (jnp.asarray([[0.5, 0.5]]), jnp.asarray([[2.0, 0.3]]))
    res = em.run_em(_exp_e_step, _exp_m_step, params0, x, 0.0, 3)
    assert int(res.n_iter[0]) == 3 and not bool(res.converged[0])


def _nan_m_step(stats, x):
    nk, sx = stats
    return nk / x.shape[0], jnp.where(nk[0] > 0, jnp.nan, 1.0) * nk / sx


def test_non_finite_step_marks_start_failed_and_keeps_finite_params():
    x = jnp.asarray(np.random.default_rng(5).exponential(1.0, 100))
    params0 = (jnp.asarray([[0.5, 0.5]]), jnp.asarray([[2.0, 0.3]]))
    res = em.run_em(_exp_e_step, _nan_m_step, params0, x, 1e-6, 50)
    assert bool(res.failed[0]) and not bool(res.converged[0])
    assert int(res.n_iter[0]) == 0
    np.testing.assert_array_equal(res.params[1], [[2.0, 0.3]])


def test_kmeans_recovers_sklearn_partition(blobs):
    u = np.random.default_rng(0).random((3, 3))
    centers, labels = em.kmeans(jnp.asarray(blobs), jnp.ones(blobs.shape[0]), jnp.asarray(u))
    ref = KMeans(3, n_init=10, random_state=0).fit(blobs)
    assert adjusted_rand_score(ref.labels_, np.asarray(labels)) == 1.0
    inertia = ((blobs - np.asarray(centers)[np.asarray(labels)]) ** 2).sum()
    np.testing.assert_allclose(inertia, ref.inertia_, rtol=1e-10)


def test_kmeans_plusplus_ignores_zero_weight_rows(blobs):
    w = np.ones(blobs.shape[0])
    w[:100] = 0.0
    u = np.random.default_rng(1).random((3, 3))
    _, idx = em.kmeans_plusplus(jnp.asarray(blobs), jnp.asarray(w), jnp.asarray(u))
    assert (np.asarray(idx) >= 100).all() and len(set(np.asarray(idx).tolist())) == 3


@pytest.mark.parametrize("covariance_type", TYPES)
def test_masked_components_are_exact_padding(blobs, covariance_type):
    """Padding components (component_mask False) get weight exactly zero and change neither
    the lower bound nor the real components' EM step (compared with the unpadded data)."""
    labels = np.repeat([0, 1, 2], [60, 50, 40])
    resp = np.eye(3)[labels]
    plain = _data(blobs, covariance_type)
    masked = plain._replace(component_mask=jnp.arange(5) < 3)
    p3 = em.gaussian_params_from_resp(jnp.asarray(resp), plain, covariance_type)
    p5 = em.gaussian_params_from_resp(jnp.asarray(np.pad(resp, ((0, 0), (0, 2)))), masked,
                                      covariance_type)
    assert np.all(np.asarray(p5.weights[3:]) == 0.0)
    lb3, s3 = em.gaussian_e_step(p3, plain, covariance_type)
    lb5, s5 = em.gaussian_e_step(p5, masked, covariance_type)
    np.testing.assert_allclose(lb5, lb3, rtol=1e-13)
    assert np.all(np.asarray(s5[3:]) == 0.0)
    q3 = em.gaussian_m_step(s3, plain, covariance_type)
    q5 = em.gaussian_m_step(s5, masked, covariance_type)
    np.testing.assert_allclose(q5.weights[:3], q3.weights, rtol=1e-13)
    np.testing.assert_allclose(q5.means[:3], q3.means, rtol=1e-12, atol=1e-14)
    cov5 = q5.covariances if covariance_type == "tied" else q5.covariances[:3]
    np.testing.assert_allclose(cov5, q3.covariances, rtol=1e-12, atol=1e-13)
    assert np.all(np.isfinite(np.asarray(q5.precisions)))
