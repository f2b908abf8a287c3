import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import integrate, stats

from mixtures import spectral as S

pytestmark = pytest.mark.usefixtures("x64_context")

KINDS = S.KINDS


def _sm(kind, Q=3, seed=0):
    rng = np.random.default_rng(seed)
    return S.SpectralMixture(
        jnp.log(jnp.asarray(rng.uniform(0.2, 1.0, Q))),
        jnp.asarray(rng.uniform(0.0, 3.0, Q)),
        jnp.log(jnp.asarray(rng.uniform(0.2, 0.8, Q))),
        kind,
    )


def _reference_density(sm):
    """The spectral density written with scipy.stats (independent of mixtures.spectral)."""
    w, mu, sig = (np.asarray(v) for v in (sm.weights, sm.freqs, sm.scales))
    comp = stats.norm if sm.kind == "gaussian" else stats.t(df=5)

    def dens(s):
        return sum(w[q] * 0.5 * (comp.pdf((s - mu[q]) / sig[q]) + comp.pdf((s + mu[q]) / sig[q]))
                   / sig[q] for q in range(len(w)))

    return dens


@pytest.mark.parametrize("kind", KINDS)
def test_kernel_is_inverse_fourier_transform_of_spectral_density(kind):
    """k(tau) = 2 int_0^inf S(s) cos(2 pi s tau) ds, by quadrature (QAWF) of the density."""
    sm = _sm(kind)
    dens = _reference_density(sm)
    s = np.linspace(-20, 20, 101)
    np.testing.assert_allclose(S.spectral_density(s, sm), dens(s), rtol=1e-12)
    taus = np.array([0.0, 0.13, 0.7, 2.1])
    ours = np.asarray(S.kernel(taus, sm))
    for tau, k in zip(taus, ours):
        if tau == 0.0:
            val = 2 * integrate.quad(dens, 0.0, np.inf, epsabs=1e-13)[0]
        else:
            val = 2 * integrate.quad(dens, 0.0, np.inf, weight="cos", wvar=2 * np.pi * tau)[0]
        np.testing.assert_allclose(k, val, rtol=1e-7, atol=1e-10)


@pytest.mark.parametrize("kind", KINDS)
def test_spectral_density_integrates_to_total_weight(kind):
    sm = _sm(kind, seed=1)
    val, _ = integrate.quad(lambda s: float(S.spectral_density(jnp.asarray(s), sm)),
                            -np.inf, np.inf, limit=400)
    np.testing.assert_allclose(val, float(jnp.sum(sm.weights)), rtol=1e-7)


@pytest.mark.parametrize("kind", KINDS)
def test_closed_form_derivatives_match_autodiff(kind):
    sm = _sm(kind, seed=2)
    ds = [lambda t: S.kernel(t, sm, 0)]
    for _ in range(4):
        ds.append(jax.grad(ds[-1]))
    # away from tau = 0 (|tau| is not differentiable there for the Matern envelope)
    taus = jnp.array([-1.3, -0.21, 0.37, 1.9])
    for order in range(1, 5):
        auto = jax.jit(jax.vmap(ds[order]))(taus)
        np.testing.assert_allclose(S.kernel(taus, sm, order), auto, rtol=1e-9, atol=1e-9)
    # at 0: odd derivatives vanish, even ones are the continuous limits
    for order in (1, 3):
        assert abs(float(S.kernel(0.0, sm, order))) < 1e-12
    for order in (2, 4):
        np.testing.assert_allclose(float(S.kernel(0.0, sm, order)),
                                   float(S.kernel(1e-6, sm, order)), rtol=1e-4)


@pytest.mark.parametrize("kind", KINDS)
def test_gram_is_positive_semidefinite_and_symmetric(kind):
    sm = _sm(kind, seed=3)
    x = jnp.linspace(0.0, 3.0, 60)
    K = np.asarray(S.gram(x, x, sm))
    np.testing.assert_allclose(K, K.T, atol=1e-14)
    assert np.linalg.eigvalsh(K).min() > -1e-10 * np.abs(K).max()
    # derivative Gram of the process u' is also a covariance: d/dx d/dx' k
    K11 = np.asarray(S.gram(x, x, sm, 1, 1))
    assert np.linalg.eigvalsh(K11).min() > -1e-9 * np.abs(K11).max()


def test_gram_mixed_derivative_sign_convention():
    sm = _sm("gaussian", seed=4)
    x1, x2 = jnp.array([0.3]), jnp.array([1.1])
    f = lambda a, b: S.kernel(a - b, sm)
    np.testing.assert_allclose(S.gram(x1, x2, sm, 1, 0)[0, 0], jax.grad(f, 0)(0.3, 1.1))
    np.testing.assert_allclose(S.gram(x1, x2, sm, 0, 1)[0, 0], jax.grad(f, 1)(0.3, 1.1))
    np.testing.assert_allclose(S.gram(x1, x2, sm, 2, 1)[0, 0],
                               jax.grad(jax.grad(jax.grad(f, 0), 0), 1)(0.3, 1.1))


def test_zero_frequency_reduces_to_se_and_matern():
    tau = jnp.linspace(-2, 2, 11)
    sig = 0.4
    se = S.SpectralMixture(jnp.zeros(1), jnp.zeros(1), jnp.log(jnp.array([sig])), "gaussian")
    ell = 1.0 / (2 * np.pi * sig)  # SE length-scale
    np.testing.assert_allclose(S.kernel(tau, se), np.exp(-0.5 * tau**2 / ell**2), rtol=1e-12)
    mat = S.SpectralMixture(jnp.zeros(1), jnp.zeros(1), jnp.log(jnp.array([sig])), "student_t")
    r = np.sqrt(5) * np.abs(tau) / ell  # Matern-5/2 with the same length-scale
    np.testing.assert_allclose(S.kernel(tau, mat), (1 + r + r**2 / 3) * np.exp(-r), rtol=1e-12)


def test_product_gram_is_elementwise_product():
    sms = (_sm("gaussian", seed=5), _sm("student_t", seed=6))
    rng = np.random.default_rng(0)
    X1, X2 = rng.uniform(size=(5, 2)), rng.uniform(size=(4, 2))
    ref = np.asarray(S.gram(X1[:, 0], X2[:, 0], sms[0], 2, 0)) * np.asarray(
        S.gram(X1[:, 1], X2[:, 1], sms[1], 0, 1))
    np.testing.assert_allclose(S.product_gram(X1, X2, sms, (2, 0), (0, 1)), ref, rtol=1e-12)


def test_bad_kind_and_order_rejected():
    with pytest.raises(ValueError, match="kind must be one of"):
        S.SpectralMixture(jnp.zeros(1), jnp.zeros(1), jnp.zeros(1), "cauchy")
    with pytest.raises(ValueError, match="order must be"):
        S.kernel(0.1, _sm("gaussian"), 5)
