import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from mixtures import gaussian as G

pytestmark = pytest.mark.usefixtures("x64_context")


def _random_gmm(rng, K, d, ctype):
    means = rng.normal(size=(K, d)) * 3
    w = rng.dirichlet(np.ones(K))
    if ctype == "full":
        A = rng.normal(size=(K, d, d))
        cov = A @ np.swapaxes(A, 1, 2) + 0.5 * np.eye(d)
    elif ctype == "diag":
        cov = rng.uniform(0.3, 2.0, size=(K, d))
    elif ctype == "spherical":
        cov = rng.uniform(0.3, 2.0, size=K)
    else:
        A = rng.normal(size=(d, d))
        cov = A @ A.T + 0.5 * np.eye(d)
    return w, means, cov


def _dense_cov(cov, ctype, K, d):
    if ctype == "full":
        return cov
    if ctype == "diag":
        return np.stack([np.diag(c) for c in cov])
    if ctype == "spherical":
        return cov[:, None, None] * np.eye(d)
    return np.broadcast_to(cov, (K, d, d))


@pytest.mark.parametrize("ctype", G.COVARIANCE_TYPES)
def test_log_prob_matches_scipy(ctype):
    rng = np.random.default_rng(0)
    K, d, n = 3, 4, 50
    w, means, cov = _random_gmm(rng, K, d, ctype)
    X = rng.normal(size=(n, d)) * 3
    gmm = G.GMM.from_weights(w, means, cov, ctype)
    dense = _dense_cov(cov, ctype, K, d)
    comp = np.stack(
        [stats.multivariate_normal(means[k], dense[k]).logpdf(X) for k in range(K)], axis=1
    )
    np.testing.assert_allclose(G.component_log_prob(gmm, X), comp, rtol=1e-10)
    ref = np.log(np.sum(w[None] * np.exp(comp), axis=1))
    np.testing.assert_allclose(G.log_prob(gmm, X), ref, rtol=1e-10)
    resp = G.responsibilities(gmm, X)
    np.testing.assert_allclose(resp, w * np.exp(comp) / np.exp(ref)[:, None], rtol=1e-9)
    np.testing.assert_allclose(np.asarray(resp).sum(1), 1.0, rtol=1e-12)


def test_log_prob_is_finite_far_from_all_components():
    gmm = G.GMM.from_weights(np.array([0.5, 0.5]), np.array([[0.0], [1.0]]),
                             np.array([[[1e-4]], [[1e-4]]]))
    lp = G.log_prob(gmm, np.array([[1e3]]))
    lr = G.log_responsibilities(gmm, np.array([[1e3]]))
    assert np.isfinite(lp).all() and np.isfinite(lr).all()
    np.testing.assert_allclose(np.exp(lr).sum(), 1.0)


def test_mvn_logpdf_matches_scipy_batched():
    rng = np.random.default_rng(1)
    A = rng.normal(size=(3, 3))
    cov = A @ A.T + np.eye(3)
    X = rng.normal(size=(4, 5, 3))
    ref = stats.multivariate_normal(np.ones(3), cov).logpdf(X)
    np.testing.assert_allclose(G.mvn_logpdf(X, np.ones(3), cov), ref, rtol=1e-12)


@pytest.mark.parametrize("ctype", G.COVARIANCE_TYPES)
def test_precisions_cholesky_matches_sklearn(ctype):
    from sklearn.mixture._gaussian_mixture import _compute_precision_cholesky

    rng = np.random.default_rng(2)
    _, _, cov = _random_gmm(rng, 3, 4, ctype)
    ref = _compute_precision_cholesky(cov, ctype)
    np.testing.assert_allclose(G.precisions_cholesky(cov, ctype), ref, rtol=1e-10)


@pytest.mark.parametrize("ctype", G.COVARIANCE_TYPES)
def test_sampling_moments_match_analytic(ctype):
    rng = np.random.default_rng(3)
    w, means, cov = _random_gmm(rng, 3, 2, ctype)
    gmm = G.GMM.from_weights(w, means, cov, ctype)
    n = 200_000
    X, labels = G.sample(gmm, jax.random.PRNGKey(0), n)
    mean, C = G.moments(gmm)
    # analytic moments by hand
    dense = _dense_cov(cov, ctype, 3, 2)
    m_ref = w @ means
    C_ref = sum(w[k] * (dense[k] + np.outer(means[k] - m_ref, means[k] - m_ref)) for k in range(3))
    np.testing.assert_allclose(mean, m_ref, rtol=1e-12)
    np.testing.assert_allclose(C, C_ref, rtol=1e-12)
    se = np.sqrt(np.diag(C_ref) / n)
    assert np.all(np.abs(np.asarray(X).mean(0) - m_ref) < 5 * se)
    np.testing.assert_allclose(np.cov(np.asarray(X).T), C_ref, rtol=0.03, atol=0.03)
    np.testing.assert_allclose(np.bincount(np.asarray(labels), minlength=3) / n, w, atol=0.01)


def test_sampling_is_reproducible():
    gmm = G.GMM.from_weights(np.array([0.3, 0.7]), np.zeros((2, 2)), np.ones((2, 2)), "diag")
    a, _ = G.sample(gmm, jax.random.PRNGKey(5), 10)
    b, _ = G.sample(gmm, jax.random.PRNGKey(5), 10)
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("ctype", G.COVARIANCE_TYPES)
def test_marginal_matches_dense(ctype):
    rng = np.random.default_rng(4)
    w, means, cov = _random_gmm(rng, 2, 3, ctype)
    gmm = G.GMM.from_weights(w, means, cov, ctype)
    marg = G.to_full(G.marginal(gmm, [0, 2]))
    dense = _dense_cov(cov, ctype, 2, 3)
    np.testing.assert_allclose(marg.covariances, dense[:, [0, 2]][:, :, [0, 2]], rtol=1e-12)
    np.testing.assert_allclose(marg.means, means[:, [0, 2]])


def _brute_conditional_density(w, means, covs, obs, x_obs, grid_pts):
    """p(x_a | x_b) by Bayes' rule on the joint density, normalised numerically."""
    d = means.shape[1]
    rest = [i for i in range(d) if i not in obs]
    full = np.zeros((len(grid_pts), d))
    full[:, rest] = grid_pts
    full[:, obs] = x_obs
    joint = sum(w[k] * stats.multivariate_normal(means[k], covs[k]).pdf(full)
                for k in range(len(w)))
    return joint


def test_conditional_matches_bayes_rule_by_brute_force():
    rng = np.random.default_rng(5)
    w, means, cov = _random_gmm(rng, 3, 3, "full")
    gmm = G.GMM.from_weights(w, means, cov, "full")
    obs, x_obs = [1], np.array([0.7])
    cond = G.conditional(gmm, obs, x_obs)
    # brute force on a 2-D grid over the remaining coordinates (0, 2)
    g = np.linspace(-15, 15, 241)
    XX, YY = np.meshgrid(g, g, indexing="ij")
    pts = np.column_stack([XX.ravel(), YY.ravel()])
    joint = _brute_conditional_density(w, means, cov, obs, x_obs, pts)
    cell = (g[1] - g[0]) ** 2
    brute = joint / (joint.sum() * cell)
    ours = np.exp(np.asarray(G.log_prob(cond, pts)))
    np.testing.assert_allclose(ours.sum() * cell, 1.0, rtol=1e-6)
    assert np.max(np.abs(ours - brute)) < 1e-6 * max(1.0, brute.max()) + 1e-4 * brute.max()
    # weights: Bayes' rule on the observed marginal
    lik = np.array([stats.norm(means[k, 1], np.sqrt(cov[k, 1, 1])).pdf(0.7) for k in range(3)])
    np.testing.assert_allclose(cond.weights, w * lik / np.sum(w * lik), rtol=1e-10)


def test_gmm_is_a_pytree_that_vmaps():
    rng = np.random.default_rng(6)
    means = rng.normal(size=(5, 2, 3))  # a batch of 5 mixtures
    cov = np.broadcast_to(np.eye(3), (5, 2, 3, 3))
    batch = G.GMM(jnp.log(jnp.full((5, 2), 0.5)), jnp.asarray(means), jnp.asarray(cov))
    X = rng.normal(size=(7, 3))
    out = jax.vmap(lambda g: G.log_prob(g, X))(batch)
    assert out.shape == (5, 7)
    one = G.GMM(batch.log_weights[2], batch.means[2], batch.covariances[2])
    np.testing.assert_allclose(out[2], G.log_prob(one, X), rtol=1e-12)


def test_unknown_covariance_type_rejected():
    with pytest.raises(ValueError, match="covariance_type must be one of"):
        G.GMM(jnp.zeros(1), jnp.zeros((1, 2)), jnp.ones((1, 2)), "banana")


@settings(max_examples=15, deadline=None)
@given(d=st.integers(1, 4), shift=st.floats(-5, 5), scale=st.floats(0.2, 5))
def test_mixture_of_identical_components_is_the_component(d, shift, scale):
    """Property: a mixture of K copies of one Gaussian has that Gaussian's density."""
    gmm = G.GMM.from_weights(np.full(3, 1 / 3), np.full((3, d), shift),
                             np.full((3, d), scale), "diag")
    X = np.linspace(-3, 3, 4 * d).reshape(4, d)
    ref = stats.multivariate_normal(np.full(d, shift), np.diag(np.full(d, scale))).logpdf(X)
    np.testing.assert_allclose(G.log_prob(gmm, X), np.atleast_1d(ref), rtol=1e-10)
