"""Closed forms of LightSB checked against independent references (no fitting here)."""

import jax.numpy as jnp
import numpy as np
import ot
import pytest
from scipy.special import logsumexp

from mixtures import gaussian
from mixtures._config import x64
from mixtures.gaussian import GMM
from solvers.lightsb import _core, benchmark, gaussian_bridge


def _random_spd(rng, d, lo=0.3):
    A = rng.standard_normal((d, d))
    return A @ A.T / d + lo * np.eye(d)


@pytest.mark.parametrize("eps", [1e-3, 0.1, 1.0, 100.0])
def test_gaussian_bridge_is_the_eot_plan(eps):
    """A Gaussian coupling of N(m0,S0), N(m1,S1) is the EOT plan iff the (x, y) block of its
    joint precision is -I/eps (the plan's density is p0 p1 exp(f(x) + g(y) + <x,y>/eps))."""
    rng = np.random.default_rng(0)
    d = 3
    S0, S1 = _random_spd(rng, d), _random_spd(rng, d)
    m0, m1 = rng.standard_normal(d), rng.standard_normal(d)
    br = gaussian_bridge(m0, S0, m1, S1, eps)
    joint = np.block([[S0, br.cross_cov], [br.cross_cov.T, S1]])
    prec = np.linalg.inv(joint)
    np.testing.assert_allclose(prec[:d, d:] * eps, -np.eye(d), atol=1e-6)
    # conditional of the joint Gaussian = the returned regression and covariance
    np.testing.assert_allclose(br.coef, br.cross_cov.T @ np.linalg.inv(S0), rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(br.intercept, m1 - br.coef @ m0, atol=1e-10)
    np.testing.assert_allclose(br.cov, eps * br.coef, rtol=1e-6, atol=1e-9)
    assert np.all(np.linalg.eigvalsh(br.cov) > 0)
    assert br.coef.dtype == np.float64


def test_gaussian_bridge_matches_grid_sinkhorn():
    """Discrete log-domain Sinkhorn (POT) on a fine 2-D grid: conditional mean and covariance."""
    eps = 1.0
    S0 = np.array([[1.0, 0.3], [0.3, 0.6]])
    S1 = np.array([[0.8, -0.4], [-0.4, 1.2]])
    m0, m1 = np.zeros(2), np.array([0.5, -0.3])
    g = np.linspace(-5, 5, 45)
    P = np.stack(np.meshgrid(g, g, indexing="ij"), -1).reshape(-1, 2)
    Q = P + m1

    def weights(X, m, S):
        diff = X - m
        w = np.exp(-0.5 * np.einsum("ni,ij,nj->n", diff, np.linalg.inv(S), diff))
        return w / w.sum()

    a, b = weights(P, m0, S0), weights(Q, m1, S1)
    M = 0.5 * ((P[:, None, :] - Q[None, :, :]) ** 2).sum(-1)
    plan = ot.sinkhorn(a, b, M, reg=eps, numItermax=5000, stopThr=1e-10)
    # exact marginals of the discretised problem: compare in the well-resolved centre
    br = gaussian_bridge(
        P.T @ a,
        np.cov(P.T, aweights=a, bias=True),
        Q.T @ b,
        np.cov(Q.T, aweights=b, bias=True),
        eps,
    )
    rows = np.flatnonzero((np.abs(P) < 1.0).all(axis=1))
    cond = plan[rows] / plan[rows].sum(axis=1, keepdims=True)
    mean = cond @ Q
    np.testing.assert_allclose(mean, P[rows] @ br.coef.T + br.intercept, atol=2e-3)
    centred = Q[None, :, :] - mean[:, None, :]
    cov = np.einsum("nm,nmi,nmj->nij", cond, centred, centred)
    np.testing.assert_allclose(cov, np.broadcast_to(br.cov, cov.shape), atol=2e-3)


def test_gaussian_bridge_bad_input():
    with pytest.raises(ValueError, match="epsilon"):
        gaussian_bridge(np.zeros(2), np.eye(2), np.zeros(2), np.eye(2), 0.0)
    with pytest.raises(ValueError, match="S1"):
        gaussian_bridge(np.zeros(2), np.eye(2), np.zeros(2), np.eye(3), 1.0)


def _params(rng, K, d, ctype):
    log_alpha = rng.standard_normal(K)
    r = rng.standard_normal((K, d))
    if ctype == "diag":
        S = rng.uniform(0.3, 1.5, (K, d))
    else:
        S = np.stack([_random_spd(rng, d) for _ in range(K)])
    return log_alpha, r, S


@pytest.mark.parametrize("ctype", ["diag", "full"])
@pytest.mark.parametrize("t", [0.0, 0.4, 0.9])
def test_drift_matches_quadrature(ctype, t):
    """g(x, t) = eps grad log int N(y | x, (1-t) eps I) exp(|y|^2 / 2eps) v(y) dy, with the
    integral by quadrature on a 2-D grid and the gradient by central differences."""
    rng = np.random.default_rng(2)
    eps, d, K = 0.7, 2, 3
    log_alpha, r, S = _params(rng, K, d, ctype)
    g = np.linspace(-9, 9, 241)
    Y = np.stack(np.meshgrid(g, g, indexing="ij"), -1).reshape(-1, 2)
    with x64():
        v = _core.potential(jnp.asarray(log_alpha), jnp.asarray(r), jnp.asarray(S), eps, ctype)
        log_v = np.asarray(gaussian.log_prob(v, Y))
    X = np.array([[0.3, -0.5], [1.0, 0.8]])

    def log_h(x):
        if t == 0.0:  # h(x, 0) = c(x) exp(-|x|^2 / 2 eps) up to a constant
            logk = Y @ x / eps
        else:
            logk = -((Y - x) ** 2).sum(-1) / (2 * eps * (1 - t)) + (Y**2).sum(-1) / (2 * eps)
        return logsumexp(logk + log_v) - (t == 0.0) * (x @ x) / (2 * eps)

    h = 1e-4
    fd = np.array(
        [[eps * (log_h(x + h * e) - log_h(x - h * e)) / (2 * h) for e in np.eye(d)] for x in X]
    )
    with x64():
        got = np.asarray(
            _core.drift(
                jnp.asarray(log_alpha),
                jnp.asarray(r),
                jnp.asarray(S),
                jnp.asarray(X),
                t,
                eps,
                ctype,
            )
        )
    np.testing.assert_allclose(got, fd, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("ctype", ["diag", "full"])
def test_conditional_plan_matches_quadrature(ctype):
    """pi(y | x) proportional to exp(<x, y> / eps) v(y): mean by quadrature; log c(x) too."""
    rng = np.random.default_rng(3)
    eps, d, K = 0.5, 2, 3
    log_alpha, r, S = _params(rng, K, d, ctype)
    g = np.linspace(-16, 16, 641)
    Y = np.stack(np.meshgrid(g, g, indexing="ij"), -1).reshape(-1, 2)
    dA = (g[1] - g[0]) ** 2
    X = np.array([[0.2, -0.4], [-0.6, 0.5]])
    with x64():
        args = (jnp.asarray(log_alpha), jnp.asarray(r), jnp.asarray(S))
        log_v = np.asarray(gaussian.log_prob(_core.potential(*args, eps, ctype), Y))
        np.testing.assert_allclose(
            np.asarray(_core.log_potential(*args, jnp.asarray(Y[::997]), eps, ctype)),
            log_v[::997],
            rtol=1e-10,
        )
        log_c = np.asarray(_core.log_normaliser(*args, jnp.asarray(X), eps, ctype))
        mean = np.asarray(_core.conditional_mean(*args, jnp.asarray(X), eps, ctype))
    for i, x in enumerate(X):
        logp = Y @ x / eps + log_v
        np.testing.assert_allclose(log_c[i], logsumexp(logp) + np.log(dA), rtol=1e-6)
        w = np.exp(logp - logsumexp(logp))
        np.testing.assert_allclose(mean[i], w @ Y, atol=1e-5)


@pytest.mark.parametrize("eps", [1e-3, 1e2])
@pytest.mark.parametrize("scale", [1e-3, 1.0, 1e3])
@pytest.mark.parametrize("ctype", ["diag", "full"])
def test_log_domain_finite(eps, scale, ctype):
    """Loss, log-normaliser, conditional weights and drift stay finite at extreme scales."""
    rng = np.random.default_rng(4)
    d, K = 3, 4
    log_alpha, r, S = _params(rng, K, d, ctype)
    X = scale * rng.standard_normal((20, d))
    with x64():
        args = (jnp.asarray(log_alpha), jnp.asarray(scale * r), jnp.asarray(S))
        X = jnp.asarray(X)
        vals = [
            _core.objective(*args, X, X + scale, eps, ctype),
            _core.log_normaliser(*args, X, eps, ctype),
            _core.conditional_plan(*args, X, eps, ctype)[0],
            _core.drift(*args, X, 0.5, eps, ctype),
            _core.drift(*args, X, 1.0, eps, ctype),
        ]
    for v in vals:
        assert np.all(np.isfinite(np.asarray(v)))


def test_benchmark_pair_is_a_posterior():
    """pi*(y | x) of a benchmark pair equals g(y) N(x | y, eps I) / Z by 1-D quadrature."""
    pair = benchmark.make_pair(1, 0.3, n_potential_components=3, random_state=5)
    rng = np.random.default_rng(5)
    mu = rng.standard_normal((3, 1))  # regenerate g exactly as make_pair draws it
    rng.standard_normal((3, 1, 1))
    lam = rng.uniform(0.1, 1.0, (3, 1))
    y = np.linspace(-8, 8, 8001)
    log_g = logsumexp(
        -0.5 * (y[:, None] - mu[:, 0]) ** 2 / lam[:, 0] - 0.5 * np.log(lam[:, 0]), axis=1
    )
    X = np.array([[-1.0], [0.2], [1.5]])
    for x, m in zip(X, pair.conditional_mean(X)):
        logp = log_g - (x[0] - y) ** 2 / (2 * 0.3)
        w = np.exp(logp - logsumexp(logp))
        np.testing.assert_allclose(m[0], w @ y, atol=1e-8)
    X0, X1 = pair.sample_plan(20000, random_state=0)
    np.testing.assert_allclose(X1.mean(), pair.target_mean[0], atol=0.03)
    np.testing.assert_allclose(X1.var(), pair.target_var, rtol=0.05)


def test_metrics_closed_form():
    # 1-D: BW2^2 = (m1 - m2)^2 + (s1 - s2)^2
    assert benchmark.bw2([0.0], [[4.0]], [1.0], [[1.0]]) == pytest.approx(2.0)
    assert benchmark.bw2_uvp([0.0], [[4.0]], [1.0], [[1.0]]) == pytest.approx(200.0)
    # commuting 2-D covariances
    A, B = np.diag([1.0, 9.0]), np.diag([4.0, 1.0])
    assert benchmark.bw2(np.zeros(2), A, np.ones(2), B) == pytest.approx(2.0 + 1.0 + 4.0)
    pair = benchmark.make_pair(2, 1.0, random_state=0)
    X = pair.sample_source(50, random_state=0)
    true = pair.conditional(X)
    assert benchmark.cbw2_uvp(true, true, pair.target_var) == pytest.approx(0.0, abs=1e-8)
    shifted = GMM(true.log_weights, true.means + 0.1, true.covariances, "full")
    assert benchmark.cbw2_uvp(shifted, true, pair.target_var) == pytest.approx(
        100 * 0.02 / pair.target_var, rel=1e-6
    )


@pytest.mark.parametrize("d", [1, 2, 5, 16, 33])
def test_tril_inverse_matches_dense_inverse(d):
    """The matrix-product triangular inverse used in training equals numpy's dense inverse."""
    rng = np.random.default_rng(d)
    L = np.tril(0.3 * rng.standard_normal((4, d, d)), -1) + np.stack(
        [np.diag(np.exp(0.3 * rng.standard_normal(d))) for _ in range(4)]
    )
    with x64():
        L_inv = np.asarray(_core.tril_inverse(jnp.asarray(L)))
    np.testing.assert_allclose(L_inv, np.linalg.inv(L), rtol=1e-10, atol=1e-12)


def test_full_log_potential_from_factor_matches_scipy():
    """log v(y) from the training parametrisation (factor L_k) equals a scipy mixture density."""
    from scipy.stats import multivariate_normal

    rng = np.random.default_rng(11)
    K, d, eps = 3, 4, 0.7
    s_raw = 0.4 * rng.standard_normal((K, d, d))
    log_alpha, r = rng.standard_normal(K), rng.standard_normal((K, d))
    Y = rng.standard_normal((25, d))
    with x64():
        L = _core.scale_factors(jnp.asarray(s_raw))
        S = np.asarray(L @ jnp.swapaxes(L, -1, -2))
        got = np.asarray(
            _core.log_potential(
                jnp.asarray(log_alpha),
                jnp.asarray(r),
                jnp.asarray(S),
                jnp.asarray(Y),
                eps,
                "full",
                L,
            )
        )
        via_chol = np.asarray(
            _core.log_potential(
                jnp.asarray(log_alpha), jnp.asarray(r), jnp.asarray(S), jnp.asarray(Y), eps, "full"
            )
        )
    ref = logsumexp(
        np.stack(
            [log_alpha[k] + multivariate_normal(r[k], eps * S[k]).logpdf(Y) for k in range(K)],
            axis=1,
        ),
        axis=1,
    )
    np.testing.assert_allclose(got, ref, rtol=1e-10)
    np.testing.assert_allclose(via_chol, ref, rtol=1e-10)


def test_sample_moments_match_numpy():
    rng = np.random.default_rng(1)
    S = rng.standard_normal((3, 40, 2))
    mean, cov = benchmark.sample_moments(S)
    np.testing.assert_allclose(mean, S.mean(axis=1), rtol=1e-12)
    for i in range(3):
        np.testing.assert_allclose(cov[i], np.cov(S[i].T), rtol=1e-12)


def test_sampled_cbw2_converges_to_exact_and_floor_is_positive():
    """The sampled metric tends to the exact one as the draws grow; on the true plan it is a
    positive floor whose mean part is tr(Cov[y | x]) / m (Monte Carlo variance of a mean)."""
    pair = benchmark.make_pair(2, 1.0, random_state=0)
    X = pair.sample_source(20, random_state=0)
    true = pair.conditional(X)
    shifted = GMM(true.log_weights, true.means + 0.3, true.covariances, "full")
    exact = benchmark.cbw2_uvp(shifted, true, pair.target_var)
    draws = pair.sample_conditional(X, 20_000, random_state=1)  # one compiled shape
    sampled = benchmark.cbw2_uvp_sampled(draws + 0.3, true, pair.target_var)
    assert sampled == pytest.approx(exact, rel=0.02)
    small = benchmark.cbw2_uvp_sampled(draws[:, :50], true, pair.target_var)
    large = pair.sampled_floor(X, n_samples=20_000, random_state=3)
    assert small > 100 * large > 0.0
    # the floor is at least its mean part, E|m_hat - m|^2 = tr(C*) / m per point, with the
    # conditional covariance of each mixture written out in NumPy
    w = np.exp(np.asarray(true.log_weights))
    mu, C = np.asarray(true.means), np.asarray(true.covariances)
    m = np.einsum("nk,nkd->nd", w, mu)
    second = np.einsum("nk,nkij->nij", w, C + mu[..., :, None] * mu[..., None, :])
    tr_cov = np.trace(second - m[:, :, None] * m[:, None, :], axis1=1, axis2=2)
    assert small > 0.8 * 100 * tr_cov.mean() / 50 / pair.target_var
