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

The public functions check argument types and shapes (also when traced inside ``jax.jit``,
once) and raise a TypeError or ValueError naming the argument.

Derivatives in the inputs: with ``tau = x - x'``,
``d^{a}/dx^{a} d^{b}/dx'^{b} k(x - x') = (-1)^b k^{(a+b)}(tau)``; :func:`kernel` returns
``k^{(n)}`` for ``n <= 4`` in closed form.
"""

from __future__ import annotations

import dataclasses
import math

import jax
import jax.numpy as jnp

from mixtures import _checks, gaussian, student_t

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


def _check_sm(sm, name: str = "sm") -> SpectralMixture:
    """Check a spectral mixture's type and shapes (three 1-D arrays of one length Q >= 1)."""
    if not isinstance(sm, SpectralMixture):
        raise TypeError(
            f"{name} must be a mixtures.spectral.SpectralMixture, got {type(sm).__name__}."
        )
    arrs = [_checks.array(getattr(sm, f), f"{name}.{f}", ndim=1)
            for f in ("log_weights", "freqs", "log_scales")]
    shapes = [a.shape for a in arrs]
    if len(set(shapes)) != 1 or shapes[0][0] < 1:
        raise ValueError(
            f"{name}.log_weights, .freqs and .log_scales must be 1-D of one length Q >= 1, got "
            f"shapes {shapes}."
        )
    if all(a is getattr(sm, f) for a, f in zip(arrs, ("log_weights", "freqs", "log_scales"))):
        return sm
    return SpectralMixture(*arrs, sm.kind)


def _check_order(order, name: str) -> int:
    return _checks.static_int(order, name, low=0, high=4)


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
    order = _check_order(order, "order")
    return _kernel(_checks.array(tau, "tau"), _check_sm(sm), order)


def _kernel(tau, sm: SpectralMixture, order: int):
    t = tau[..., None]
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
    x1 = _checks.array(x1, "x1", ndim=1)
    x2 = _checks.array(x2, "x2", ndim=1)
    d1, d2 = _check_order(d1, "d1"), _check_order(d2, "d2")
    if d1 + d2 > 4:
        raise ValueError(f"d1 + d2 must be <= 4, got d1={d1}, d2={d2}.")
    return _gram(x1, x2, _check_sm(sm), d1, d2)


def _gram(x1, x2, sm: SpectralMixture, d1: int, d2: int):
    tau = x1[:, None] - x2[None, :]
    return (-1.0) ** d2 * _kernel(tau, sm, d1 + d2)


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
    if isinstance(sms, SpectralMixture):
        raise TypeError("sms must be a sequence of SpectralMixture, one per input dimension; "
                        "got a single SpectralMixture (wrap it in a tuple).")
    try:
        sms = tuple(sms)
    except TypeError:
        raise TypeError(
            f"sms must be a sequence of SpectralMixture, got {type(sms).__name__}."
        ) from None
    D = len(sms)
    if D == 0:
        raise ValueError("sms must hold at least one SpectralMixture.")
    sms = tuple(_check_sm(sm, f"sms[{j}]") for j, sm in enumerate(sms))
    X1 = _checks.array(X1, "X1", ndim=2)
    X2 = _checks.array(X2, "X2", ndim=2)
    for name, X in (("X1", X1), ("X2", X2)):
        if X.shape[1] != D:
            raise ValueError(
                f"{name} must have one column per spectral mixture ({D}), got shape "
                f"{tuple(X.shape)}."
            )
    orders = []
    for name, d in (("d1", d1), ("d2", d2)):
        d = (0,) * D if d is None else tuple(d)
        if len(d) != D:
            raise ValueError(f"{name} must have one order per input dimension ({D}), got {d}.")
        orders.append(tuple(_check_order(o, f"{name}[{j}]") for j, o in enumerate(d)))
    d1, d2 = orders
    for j in range(D):
        if d1[j] + d2[j] > 4:
            raise ValueError(f"d1[{j}] + d2[{j}] must be <= 4, got {d1[j]} + {d2[j]}.")
    out = 1.0
    for j in range(D):
        out = out * _gram(X1[:, j], X2[:, j], sms[j], d1[j], d2[j])
    return out


def spectral_density(s, sm: SpectralMixture):
    """Spectral density ``S(s)`` (``s`` in cycles per unit length); integrates to ``sum w``.

    With this normalisation ``k(tau) = integral S(s) exp(2 pi i s tau) ds``. ``S`` is itself a
    1-D mixture: ``2Q`` Gaussian (or Student-t) components at ``+-mu_q`` with scale
    ``sigma_q`` and unnormalised weights ``w_q / 2``, evaluated by the mixture primitives.

    Parameters
    ----------
    s : array, shape (...)
        Frequencies (cycles per unit length).
    sm : SpectralMixture

    Returns
    -------
    array, shape (...)
    """
    s = _checks.array(s, "s")
    sm = _check_sm(sm)
    log_w = jnp.tile(sm.log_weights - math.log(2.0), 2)
    locs = jnp.concatenate([sm.freqs, -sm.freqs])[:, None]
    var = jnp.tile(jnp.exp(2.0 * sm.log_scales), 2)
    X = s.reshape(-1, 1)
    if sm.kind == "gaussian":
        log_dens = gaussian._log_prob(gaussian.GMM(log_w, locs, var, "spherical"), X)
    else:
        dfs = jnp.full(log_w.shape, _T_DF, dtype=var.dtype)
        log_dens = student_t._t_mixture_log_prob(log_w, locs, var[:, None, None], dfs, X)
    return jnp.exp(log_dens).reshape(s.shape)
