"""Argument checks of the functional API (issue 20 item 4): one regression test per defect
measured on main, and the checks' contract with jit / vmap / grad (shape checks at trace
time, no value checks on tracers, nothing per call)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.stats import multivariate_normal

from mixtures import as_key, gating, x64
from mixtures import gaussian as G
from mixtures import kronecker as Kr
from mixtures import spectral as S
from mixtures import student_t as T


@pytest.fixture(autouse=True)
def _float64():
    with x64():
        yield


def _gmm(ctype="full"):
    means = np.array([[0.0, 1.0, -1.0], [2.0, 0.5, 0.0]])
    A = np.array([[1.0, 0.3, 0.1], [0.3, 2.0, -0.4], [0.1, -0.4, 1.5]])
    cov = {"full": np.stack([A, 0.5 * A + 0.2 * np.eye(3)]), "tied": A,
           "diag": np.array([[1.0, 2.0, 0.5], [0.3, 1.0, 4.0]]),
           "spherical": np.array([0.7, 1.9])}[ctype]
    return G.GMM.from_weights(np.array([0.35, 0.65]), means, cov, ctype)


def _sm(q=2):
    return S.SpectralMixture(jnp.zeros(q), jnp.linspace(0.0, 1.0, q), jnp.full(q, -0.5))


# ---------------------------------------------------------------- indices (marginal, conditional)
@pytest.mark.parametrize("idx", [[5], [0, 3], [-4], 7])
def test_marginal_rejects_out_of_range_index(idx):
    """On main, ``marginal(g, [5])`` on a 3-D mixture clamped the index to the last one."""
    with pytest.raises(ValueError, match="idx"):
        G.marginal(_gmm(), idx)


@pytest.mark.parametrize("idx, err", [([0, 0], ValueError), ([], ValueError),
                                      ([0.0, 1.0], TypeError), ("01", TypeError)])
def test_marginal_rejects_repeated_empty_and_non_integer_indices(idx, err):
    with pytest.raises(err, match="idx"):
        G.marginal(_gmm(), idx)


def test_marginal_negative_index_means_counting_from_the_end():
    g = _gmm()
    m = G.marginal(g, [-1, 0])
    full = np.asarray(g.covariances)
    np.testing.assert_allclose(m.means, np.asarray(g.means)[:, [2, 0]])
    np.testing.assert_allclose(m.covariances, full[:, [2, 0]][:, :, [2, 0]])


@pytest.mark.parametrize("idx_obs", [[3], [1, 9], [-5]])
def test_conditional_rejects_out_of_range_index(idx_obs):
    """On main, ``conditional`` with an out-of-range index returned a garbage mixture."""
    with pytest.raises(ValueError, match="idx_obs"):
        G.conditional(_gmm(), idx_obs, np.zeros(len(np.atleast_1d(idx_obs))))


def test_conditional_checks_x_obs_against_idx_obs():
    with pytest.raises(ValueError, match="x_obs"):
        G.conditional(_gmm(), [0, 1], np.zeros(3))
    with pytest.raises(ValueError, match="unobserved"):
        G.conditional(_gmm(), [0, 1, 2], np.zeros(3))


def test_conditional_with_negative_index_equals_the_dense_formula():
    """``idx_obs=[-1]`` observes the last coordinate (reference: Gaussian conditioning and
    Bayes' rule for the weights, in NumPy)."""
    g = _gmm()
    x_b = 0.3
    cond = G.conditional(g, [-1], np.array([x_b]))
    w = np.asarray(g.weights)
    mu, Sig = np.asarray(g.means), np.asarray(g.covariances)
    lik = np.array([multivariate_normal(mu[k, 2], Sig[k, 2, 2]).pdf(x_b) for k in range(2)])
    np.testing.assert_allclose(np.exp(cond.log_weights), w * lik / (w * lik).sum(), rtol=1e-12)
    for k in range(2):
        gain = Sig[k, :2, 2] / Sig[k, 2, 2]
        np.testing.assert_allclose(cond.means[k], mu[k, :2] + gain * (x_b - mu[k, 2]),
                                   rtol=1e-12)
        np.testing.assert_allclose(cond.covariances[k],
                                   Sig[k, :2, :2] - np.outer(gain, Sig[k, 2, :2]), rtol=1e-12)


# ---------------------------------------------------------------- shapes
def test_product_gram_rejects_a_column_count_that_differs_from_the_mixtures():
    """On main, ``product_gram`` silently ignored a third input dimension."""
    X = np.random.default_rng(0).normal(size=(4, 3))
    with pytest.raises(ValueError, match="X1"):
        S.product_gram(X, X[:, :2], [_sm(), _sm()])
    with pytest.raises(ValueError, match="X2"):
        S.product_gram(X[:, :2], X, [_sm(), _sm()])
    with pytest.raises(ValueError, match="d1"):
        S.product_gram(X, X, [_sm()] * 3, d1=(1, 0))
    with pytest.raises(TypeError, match="sms"):
        S.product_gram(X[:, :1], X[:, :1], _sm())


def test_gram_checks_orders_and_dimensions():
    x = np.linspace(0.0, 1.0, 4)
    with pytest.raises(ValueError, match="d1 \\+ d2"):
        S.gram(x, x, _sm(), 3, 2)
    with pytest.raises(ValueError, match="x1"):
        S.gram(x[:, None], x, _sm())
    with pytest.raises(ValueError, match="sm.log_weights"):
        S.kernel(x, S.SpectralMixture(jnp.zeros(2), jnp.zeros(3), jnp.zeros(2)))


def test_log_gate_rejects_a_class_count_mismatch():
    """On main, an intercept of K-1 = 2 entries and coef of 3 rows broadcast silently."""
    X = np.ones((5, 2))
    with pytest.raises(ValueError, match="intercept"):
        gating.log_gate(X, np.zeros(2), np.zeros((3, 2)))
    with pytest.raises(ValueError, match="coef"):
        gating.log_gate(X, np.zeros(2), np.zeros((2, 3)))
    with pytest.raises(ValueError, match="resp"):
        gating.gating_nll(np.zeros(2), np.zeros((2, 2)), X, np.ones((5, 4)) / 4)


def test_gmm_shape_mismatches_name_the_array():
    g = _gmm()
    with pytest.raises(ValueError, match="covariances"):
        G.log_prob(G.GMM(g.log_weights, g.means, g.covariances[:, :2, :2]), np.zeros((1, 3)))
    with pytest.raises(ValueError, match="log_weights"):
        G.log_prob(G.GMM(jnp.zeros(3), g.means, g.covariances), np.zeros((1, 3)))
    with pytest.raises(ValueError, match="X must have 3 feature"):
        G.log_prob(g, np.zeros((4, 2)))
    with pytest.raises(TypeError, match="gmm"):
        G.log_prob((g.log_weights, g.means, g.covariances), np.zeros((1, 3)))


def test_kronecker_helpers_check_shapes():
    A, B = np.eye(2), 2.0 * np.eye(3)
    with pytest.raises(ValueError, match="x must have 6 rows"):
        Kr.kron_matvec([A, B], np.ones(5))
    with pytest.raises(ValueError, match="square"):
        Kr.kron_solve([A, np.ones((3, 2))], np.ones(6))
    with pytest.raises(ValueError, match="y must have shape"):
        Kr.kron_mvn_logpdf(np.ones(7), [A, B], 0.1)
    with pytest.raises(ValueError, match="mode"):
        Kr.mode_product(A, np.ones((2, 2)), 2)


# ---------------------------------------------------------------- definiteness
@pytest.mark.parametrize("ctype", ["full", "tied", "diag", "spherical"])
def test_non_positive_definite_covariance_raises_instead_of_nan(ctype):
    """On main, a negative-definite covariance gave NaN log-densities."""
    g = _gmm(ctype)
    bad = G.GMM(g.log_weights, g.means, -g.covariances, ctype)
    X = np.zeros((2, 3))
    for call in (lambda: G.log_prob(bad, X), lambda: G.sample(bad, 0, 3),
                 lambda: G.conditional(bad, [0], np.zeros(1))):
        with pytest.raises(ValueError, match="covariances.*(positive|definite)"):
            call()
    with pytest.raises(ValueError, match="positive"):
        G.GMM.from_weights(np.exp(g.log_weights), g.means, -g.covariances, ctype)


def test_indefinite_component_is_named():
    g = _gmm()
    cov = np.asarray(g.covariances).copy()
    cov[1] = np.diag([1.0, -0.5, 1.0])
    with pytest.raises(ValueError, match=r"covariances\[1\] has smallest eigenvalue -0.5"):
        G.log_prob(G.GMM(g.log_weights, g.means, cov), np.zeros((1, 3)))
    cov[1] = np.triu(np.ones((3, 3)))
    with pytest.raises(ValueError, match="symmetric"):
        G.log_prob(G.GMM(g.log_weights, g.means, cov), np.zeros((1, 3)))


def test_other_densities_check_definiteness():
    with pytest.raises(ValueError, match="cov"):
        G.mvn_logpdf(np.zeros(2), np.zeros(2), -np.eye(2))
    with pytest.raises(ValueError, match="shape"):
        T.mvt_logpdf(np.zeros(2), np.zeros(2), np.diag([1.0, -1.0]), 3.0)
    with pytest.raises(ValueError, match="df"):
        T.mvt_logpdf(np.zeros(2), np.zeros(2), np.eye(2), -1.0)
    with pytest.raises(ValueError, match="factors\\[1\\]"):
        Kr.kron_logdet([np.eye(2), -np.eye(3)])
    with pytest.raises(ValueError, match="positive definite"):
        Kr.kron_solve([np.eye(2), np.eye(3)], np.ones(6), noise=-2.0)
    with pytest.raises(ValueError, match="nan|NaN"):
        G.log_prob(G.GMM(jnp.zeros(1), jnp.array([[np.nan]]), jnp.ones((1, 1, 1))),
                   np.zeros((1, 1)))


# ---------------------------------------------------------------- keys and types
def test_sample_accepts_an_int_seed():
    """On main, ``gaussian.sample(g, 0, 5)`` failed with 'invalid PRNG key data'."""
    g = _gmm()
    X, labels = G.sample(g, 0, 5)
    X_key, labels_key = G.sample(g, as_key(0), 5)
    np.testing.assert_array_equal(X, X_key)
    np.testing.assert_array_equal(labels, labels_key)
    assert X.shape == (5, 3)
    # a traced integer seed inside jit gives the same draw
    X_jit = jax.jit(lambda s: G.sample(g, s, 5)[0])(0)
    np.testing.assert_allclose(X_jit, X, rtol=1e-12)


@pytest.mark.parametrize("key, err", [("seed", TypeError), (1.5, TypeError),
                                      (-1, ValueError), (jnp.ones(3), TypeError)])
def test_sample_rejects_bad_keys_naming_key(key, err):
    with pytest.raises(err, match="key"):
        G.sample(_gmm(), key, 5)


def test_sample_rejects_non_integer_n():
    with pytest.raises(TypeError, match="n must be an int"):
        G.sample(_gmm(), 0, 2.0)


@pytest.mark.parametrize("bad", ["abc", np.array([["a", "b", "c"]]),
                                 np.array([[1 + 1j, 0, 0]]), None])
def test_string_complex_and_none_input_give_a_type_error_naming_the_argument(bad):
    """On main, a string input gave a raw JAX staging error."""
    g = _gmm()
    for fn in (G.log_prob, G.component_log_prob, G.responsibilities):
        with pytest.raises(TypeError, match="X"):
            fn(g, bad)
    with pytest.raises(TypeError, match="x1"):
        S.gram(bad, np.zeros(2), _sm())
    with pytest.raises(TypeError, match="X"):
        gating.log_gate(bad, np.zeros(1), np.zeros((1, 3)))
    with pytest.raises(TypeError, match="means"):
        G.log_prob(G.GMM(g.log_weights, bad, g.covariances), np.zeros((1, 3)))


# ---------------------------------------------------------------- jit / vmap / grad
def test_checks_run_at_trace_time_only(monkeypatch):
    """Inside jit the check runs once (while tracing); later calls run compiled code only."""
    g = _gmm()
    calls = []
    original = G.check_gmm
    monkeypatch.setattr(G, "check_gmm", lambda *a, **k: calls.append(1) or original(*a, **k))
    f = jax.jit(G.log_prob)
    X = np.random.default_rng(1).normal(size=(4, 3))
    first = f(g, X)
    for shift in (0.5, 1.0, 2.0):
        f(G.GMM(g.log_weights, g.means + shift, g.covariances), X)
    assert len(calls) == 1
    ref = np.log(sum(np.exp(g.log_weights[k]) * multivariate_normal(
        g.means[k], g.covariances[k]).pdf(X) for k in range(2)))
    np.testing.assert_allclose(first, ref, rtol=1e-12)


def test_value_checks_are_skipped_for_tracers_and_shape_checks_kept():
    g = _gmm()
    bad = G.GMM(g.log_weights, g.means, -g.covariances)
    out = jax.jit(G.log_prob)(bad, np.zeros((1, 3)))  # no concrete values: no ValueError
    assert np.isnan(out).all()
    with pytest.raises(ValueError, match="X must have 3 feature"):
        jax.jit(G.log_prob)(g, np.zeros((1, 2)))
    with pytest.raises(ValueError, match="X1"):
        jax.jit(lambda X: S.product_gram(X, X[:, :2], [_sm(), _sm()]))(np.zeros((2, 3)))


def test_grad_and_vmap_pass_through_the_checks():
    """d/dmu log N(x | mu, S) = S^{-1} (x - mu) through the checked log_prob; vmap over
    points equals the batched call."""
    S_ = np.array([[2.0, 0.5], [0.5, 1.0]])
    x = np.array([[0.3, -0.7]])
    mu = np.array([[0.1, 0.2]])

    def f(m):
        return G.log_prob(G.GMM(jnp.zeros(1), m, jnp.asarray(S_)[None]), x)[0]

    np.testing.assert_allclose(jax.grad(f)(mu)[0], np.linalg.solve(S_, (x - mu)[0]),
                               rtol=1e-12)
    g = _gmm("diag")
    X = np.random.default_rng(2).normal(size=(6, 3))
    per_point = jax.vmap(lambda xi: G.log_prob(g, xi[None])[0])(X)
    np.testing.assert_allclose(per_point, G.log_prob(g, X), rtol=1e-12)
    batch = G.GMM(jnp.stack([g.log_weights] * 4), jnp.stack([g.means] * 4),
                  jnp.stack([g.covariances] * 4), "diag")
    np.testing.assert_allclose(jax.vmap(G.log_prob, in_axes=(0, None))(batch, X)[2],
                               G.log_prob(g, X), rtol=1e-12)
