"""Stationary kernels defined by a mixture spectral density (Wiener-Khinchin), per input
dimension, and their products over dimensions.

A one-dimensional spectral mixture has weights ``w_q``, frequencies ``mu_q`` (cycles per unit
length) and scales ``sigma_q`` (cycles per unit length). Its spectral density is symmetric,

    S(s) = sum_q w_q [p_q(s - mu_q) + p_q(s + mu_q)] / 2,

with ``p_q`` a centred Gaussian (``kind="gaussian"``) or Student-t with 5 degrees of freedom
(``kind="student_t"``) of scale ``sigma_q``. Its inverse Fourier transform is the kernel

* gaussian:  ``k(tau) = sum_q w_q exp(-2 pi^2 sigma_q^2 tau^2) cos(2 pi mu_q tau)``
* student_t: ``k(tau) = sum_q w_q Matern52(tau; a_q) cos(2 pi mu_q tau)``,
  ``Matern52(tau; a) = (1 + a|tau| + a^2 tau^2 / 3) exp(-a|tau|)``, ``a_q = 2 pi sqrt(5) sigma_q``.

(The GP-HM paper's inverse length-scale ``r`` satisfies ``a = sqrt(5) r``.) With ``mu_q = 0`` the
two kinds reduce to the squared-exponential and the Matern-5/2 kernels.

Derivatives in the inputs: with ``tau = x - x'``,
``d^{a}/dx^{a} d^{b}/dx'^{b} k(x - x') = (-1)^b k^{(a+b)}(tau)``; :func:`kernel` returns
``k^{(n)}`` for ``n <= 4`` in closed form.
"""

from __future__ import annotations

import dataclasses
import math

import jax
import jax.numpy as jnp
from jax.scipy.special import gammaln

__all__ = [
    "KINDS",
    "SpectralMixture",
    "kernel",
    "gram",
    "product_gram",
    "spectral_density",
]

KINDS = ("gaussian", "student_t")
_T_DF = 5.0  # Student-t degrees of freedom of the Matern-5/2 spectrum (2 nu, nu = 5/2)


@dataclasses.dataclass(frozen=True)
class SpectralMixture:
    """A one-dimensional spectral mixture (frozen pytree; ``kind`` is static).

    Attributes
    ----------
    log_weights : array, shape (Q,)
        Log of the component weights (the log domain is the Jeffreys-prior parametrisation).
    freqs : array, shape (Q,)
        Component frequencies ``mu_q`` in cycles per unit length (>= 0).
    log_scales : array, shape (Q,)
        Log of the spectral scales ``sigma_q`` (cycles per unit length).
    kind : {"gaussian", "student_t"}
    """

    log_weights: jax.Array
    freqs: jax.Array
    log_scales: jax.Array
    kind: str = "gaussian"

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, got {self.kind!r}.")

    @property
    def weights(self) -> jax.Array:
        return jnp.exp(self.log_weights)

    @property
    def scales(self) -> jax.Array:
        return jnp.exp(self.log_scales)


jax.tree_util.register_dataclass(
    SpectralMixture, data_fields=["log_weights", "freqs", "log_scales"], meta_fields=["kind"]
)


def _envelope_derivs(tau, sm: SpectralMixture):
    """Envelope e_q(tau) and its derivatives 0..4, each of shape tau.shape + (Q,)."""
    t = jnp.asarray(tau)[..., None]
    sig = sm.scales
    if sm.kind == "gaussian":
        c = 2.0 * jnp.pi**2 * sig**2
        E = jnp.exp(-c * t**2)
        return (
            E,
            -2.0 * c * t * E,
            (4.0 * c**2 * t**2 - 2.0 * c) * E,
            (-8.0 * c**3 * t**3 + 12.0 * c**2 * t) * E,
            (16.0 * c**4 * t**4 - 48.0 * c**3 * t**2 + 12.0 * c**2) * E,
        )
    a = 2.0 * jnp.pi * math.sqrt(5.0) * sig
    r = jnp.abs(t)
    E = jnp.exp(-a * r)
    return (
        (1.0 + a * r + (a * r) ** 2 / 3.0) * E,
        -(a**2 / 3.0) * t * (1.0 + a * r) * E,
        -(a**2 / 3.0) * (1.0 + a * r - (a * r) ** 2) * E,
        (a**4 / 3.0) * t * (3.0 - a * r) * E,
        (a**4 / 3.0) * (3.0 - 5.0 * a * r + (a * r) ** 2) * E,
    )


def kernel(tau, sm: SpectralMixture, order: int = 0):
    """The ``order``-th derivative ``k^{(order)}(tau)`` of the kernel, elementwise.

    Parameters
    ----------
    tau : array, any shape
        Lags ``x - x'`` (units of the input).
    sm : SpectralMixture
    order : int in 0..4 (static)

    Returns
    -------
    array, shape of ``tau``
    """
    if order not in range(5):
        raise ValueError(f"order must be an int in 0..4, got {order!r}.")
    t = jnp.asarray(tau)[..., None]
    b = 2.0 * jnp.pi * sm.freqs
    cos, sin = jnp.cos(b * t), jnp.sin(b * t)
    # derivatives of cos(b t): cos, -b sin, -b^2 cos, b^3 sin, b^4 cos
    C = (cos, -b * sin, -(b**2) * cos, b**3 * sin, b**4 * cos)
    E = _envelope_derivs(tau, sm)
    total = sum(math.comb(order, j) * E[j] * C[order - j] for j in range(order + 1))
    return total @ sm.weights


def gram(x1, x2, sm: SpectralMixture, d1: int = 0, d2: int = 0):
    """Gram matrix of kernel derivatives ``d^{d1}_x d^{d2}_{x'} k(x - x')``.

    Parameters
    ----------
    x1 : array, shape (n,)
    x2 : array, shape (m,)
    sm : SpectralMixture
    d1, d2 : int
        Derivative orders in the first and second argument, ``d1 + d2 <= 4``.

    Returns
    -------
    array, shape (n, m)
    """
    tau = jnp.asarray(x1)[:, None] - jnp.asarray(x2)[None, :]
    return (-1.0) ** d2 * kernel(tau, sm, d1 + d2)


def product_gram(X1, X2, sms, d1=None, d2=None):
    """Gram matrix of the product kernel ``prod_j k_j(x_j - x'_j)`` and its derivatives.

    Parameters
    ----------
    X1 : array, shape (n, D)
    X2 : array, shape (m, D)
    sms : sequence of D SpectralMixture
        One spectral mixture per input dimension.
    d1, d2 : sequence of D ints, optional
        Derivative orders per dimension in the first and second argument (default zeros).

    Returns
    -------
    array, shape (n, m)
    """
    D = len(sms)
    d1 = (0,) * D if d1 is None else tuple(d1)
    d2 = (0,) * D if d2 is None else tuple(d2)
    out = 1.0
    for j in range(D):
        out = out * gram(X1[:, j], X2[:, j], sms[j], d1[j], d2[j])
    return out


def spectral_density(s, sm: SpectralMixture):
    """Spectral density ``S(s)`` (``s`` in cycles per unit length); integrates to ``sum w``.

    With this normalisation ``k(tau) = integral S(s) exp(2 pi i s tau) ds``.
    """
    s = jnp.asarray(s)[..., None]
    sig = sm.scales
    if sm.kind == "gaussian":

        def p(z):
            return jnp.exp(-0.5 * (z / sig) ** 2) / (sig * jnp.sqrt(2.0 * jnp.pi))

    else:
        nu = _T_DF
        lognorm = gammaln(0.5 * (nu + 1)) - gammaln(0.5 * nu) - 0.5 * jnp.log(nu * jnp.pi)

        def p(z):
            return jnp.exp(lognorm - 0.5 * (nu + 1) * jnp.log1p((z / sig) ** 2 / nu)) / sig

    dens = 0.5 * (p(s - sm.freqs) + p(s + sm.freqs))
    return dens @ sm.weights
