"""GMM <-> numpyro.distributions.MixtureSameFamily (issue 20 item 7)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from mixtures import gaussian as G
from mixtures import x64

dist = pytest.importorskip("numpyro.distributions")

CTYPES = ["full", "diag", "spherical", "tied"]


@pytest.fixture(autouse=True)
def _float64():
    with x64():
        yield


def _gmm(ctype, K=3, d=3, seed=0):
    rng = np.random.default_rng(seed)
    w = rng.dirichlet(np.full(K, 3.0))
    means = 2.0 * rng.normal(size=(K, d))
    A = rng.normal(size=(K, d, d))
    full = A @ np.swapaxes(A, 1, 2) + 0.5 * np.eye(d)
    cov = {"full": full, "tied": full[0], "diag": rng.uniform(0.3, 2.0, size=(K, d)),
           "spherical": rng.uniform(0.3, 2.0, size=K)}[ctype]
    return G.GMM.from_weights(w, means, cov, ctype)


@pytest.mark.parametrize("ctype", CTYPES)
def test_log_prob_equals_the_library_log_prob(ctype):
    g = _gmm(ctype)
    d = g.to_numpyro()
    assert isinstance(d, dist.MixtureSameFamily)
    assert isinstance(d.component_distribution, dist.MultivariateNormal)
    assert d.event_shape == (3,) and d.batch_shape == ()
    X = np.random.default_rng(1).normal(scale=3.0, size=(50, 3))
    np.testing.assert_allclose(d.log_prob(jnp.asarray(X)), G.log_prob(g, X), rtol=1e-11)


def test_unnormalised_weights_become_a_distribution():
    g = _gmm("full")
    shifted = G.GMM(g.log_weights + 2.0, g.means, g.covariances)  # weights sum to e^2
    X = np.random.default_rng(2).normal(size=(5, 3))
    np.testing.assert_allclose(shifted.to_numpyro().log_prob(jnp.asarray(X)),
                               G.log_prob(shifted, X) - 2.0, rtol=1e-11)


@pytest.mark.parametrize("ctype", ["full", "diag"])
def test_sample_moments_match_the_analytic_moments(ctype):
    """Mean and covariance of numpyro draws against ``gaussian.moments`` (closed form), to
    five Monte Carlo standard errors estimated from the draws themselves."""
    g = _gmm(ctype)
    n = 100_000
    Y = np.asarray(g.to_numpyro().sample(jax.random.PRNGKey(0), (n,)))
    mean, cov = (np.asarray(a) for a in G.moments(g))
    se_mean = Y.std(axis=0) / np.sqrt(n)
    assert np.all(np.abs(Y.mean(axis=0) - mean) < 5 * se_mean)
    C = Y - Y.mean(axis=0)
    prods = C[:, :, None] * C[:, None, :]
    se_cov = prods.std(axis=0) / np.sqrt(n)
    assert np.all(np.abs(prods.mean(axis=0) - cov) < 5 * se_cov)


@pytest.mark.parametrize("ctype", CTYPES)
def test_round_trip_returns_the_mixture(ctype):
    g = _gmm(ctype)
    back = G.GMM.from_numpyro(g.to_numpyro(), covariance_type=ctype)
    assert back.covariance_type == ctype
    for a, b in [(back.log_weights, g.log_weights), (back.means, g.means),
                 (back.covariances, g.covariances)]:
        assert a.shape == b.shape
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)
    default = G.from_numpyro(g.to_numpyro())
    assert default.covariance_type == "full"
    np.testing.assert_allclose(default.covariances, G.to_full(g).covariances, rtol=1e-12)


def test_from_numpyro_reads_independent_normals_and_a_single_gaussian():
    loc = np.array([[0.0, 1.0], [2.0, -1.0]])
    scale = np.array([[0.5, 1.5], [1.0, 0.2]])
    m = dist.MixtureSameFamily(dist.Categorical(probs=jnp.array([0.3, 0.7])),
                               dist.Independent(dist.Normal(loc, scale), 1))
    g = G.from_numpyro(m)
    assert g.covariance_type == "diag"
    np.testing.assert_allclose(g.covariances, scale**2, rtol=1e-12)
    X = np.random.default_rng(3).normal(size=(7, 2))
    np.testing.assert_allclose(G.log_prob(g, X), m.log_prob(jnp.asarray(X)), rtol=1e-11)
    one = G.from_numpyro(dist.MultivariateNormal(jnp.zeros(2), jnp.array([[2.0, 0.3],
                                                                          [0.3, 1.0]])))
    assert one.n_components == 1
    np.testing.assert_allclose(G.log_prob(one, X),
                               dist.MultivariateNormal(jnp.zeros(2), one.covariances[0])
                               .log_prob(jnp.asarray(X)), rtol=1e-12)


def test_from_numpyro_rejects_what_it_cannot_represent():
    full = _gmm("full").to_numpyro()
    with pytest.raises(ValueError, match="diagonal"):
        G.from_numpyro(full, covariance_type="diag")
    with pytest.raises(ValueError, match="tied"):
        G.from_numpyro(full, covariance_type="tied")
    with pytest.raises(TypeError, match="dist"):
        G.from_numpyro(dist.Normal(0.0, 1.0).expand([2]).to_event(1))
    with pytest.raises(ValueError, match="batch shape"):
        G.from_numpyro(dist.MultivariateNormal(jnp.zeros((3, 2)), jnp.eye(2)))
    with pytest.raises(TypeError, match="dist"):
        G.from_numpyro("not a distribution")
