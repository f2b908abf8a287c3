"""Multivariate normal distributions and finite mixtures of them, in the log domain.

All functions are pure JAX, follow the ambient precision (see :func:`mixtures.enable_x64`)
and are Cholesky-based (no explicit matrix inverse). A mixture's parameters live in the
frozen pytree dataclass :class:`GMM`, so a mixture can be passed through ``jax.jit``,
``jax.vmap`` (a batch of mixtures is a GMM whose arrays have extra leading axes) and
``jax.grad``.

Covariance types and the shape of ``covariances`` (K components, d features):

=============  =============  ==========================================
type           shape          meaning
=============  =============  ==========================================
``full``       ``(K, d, d)``  one full covariance matrix per component
``diag``       ``(K, d)``     one diagonal (variances) per component
``spherical``  ``(K,)``       one variance per component (times identity)
``tied``       ``(d, d)``     one full covariance shared by all components
=============  =============  ==========================================
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence

import jax
import jax.numpy as jnp
from jax.scipy.linalg import cho_solve, solve_triangular
from jax.scipy.special import logsumexp

__all__ = [
    "COVARIANCE_TYPES",
    "GMM",
    "mvn_logpdf",
    "component_log_prob",
    "log_prob",
    "log_responsibilities",
    "responsibilities",
    "sample",
    "moments",
    "to_full",
    "marginal",
    "conditional",
    "precisions_cholesky",
    "component_log_prob_precision",
]

COVARIANCE_TYPES = ("full", "diag", "spherical", "tied")
_LOG_2PI = math.log(2.0 * math.pi)


@dataclasses.dataclass(frozen=True)
class GMM:
    """Parameters of a Gaussian mixture ``sum_k w_k N(x | mu_k, Sigma_k)``.

    Attributes
    ----------
    log_weights : array, shape (K,)
        Log mixture weights. They need not be normalised: :func:`log_prob` then returns the
        log of the unnormalised mixture ``sum_k w_k N(x | ...)`` (useful for potentials);
        responsibilities, sampling and moments normalise them.
    means : array, shape (K, d)
    covariances : array
        Shape by ``covariance_type`` (see the module docstring).
    covariance_type : {"full", "diag", "spherical", "tied"}
        Static (not traced) field.
    """

    log_weights: jax.Array
    means: jax.Array
    covariances: jax.Array
    covariance_type: str = "full"

    def __post_init__(self):
        if self.covariance_type not in COVARIANCE_TYPES:
            raise ValueError(
                f"covariance_type must be one of {COVARIANCE_TYPES}, got {self.covariance_type!r}."
            )

    @classmethod
    def from_weights(cls, weights, means, covariances, covariance_type: str = "full") -> GMM:
        """Build a mixture from (non-negative) weights instead of log-weights."""
        return cls(jnp.log(jnp.asarray(weights)), jnp.asarray(means), jnp.asarray(covariances),
                   covariance_type)

    @property
    def weights(self) -> jax.Array:
        """Normalised mixture weights, shape (..., K)."""
        return jax.nn.softmax(self.log_weights, axis=-1)

    @property
    def n_components(self) -> int:
        return self.means.shape[-2]

    @property
    def n_features(self) -> int:
        return self.means.shape[-1]


jax.tree_util.register_dataclass(
    GMM, data_fields=["log_weights", "means", "covariances"], meta_fields=["covariance_type"]
)


def _check_type(covariance_type: str) -> None:
    if covariance_type not in COVARIANCE_TYPES:
        raise ValueError(
            f"covariance_type must be one of {COVARIANCE_TYPES}, got {covariance_type!r}."
        )


def mvn_logpdf(X, mean, cov):
    """Log-density of ``N(mean, cov)`` at the points ``X``.

    Parameters
    ----------
    X : array, shape (..., d)
    mean : array, shape (d,)
    cov : array, shape (d, d)
        Symmetric positive definite.

    Returns
    -------
    array, shape (...)
    """
    X = jnp.asarray(X)
    chol = jnp.linalg.cholesky(cov)
    d = X.shape[-1]
    diff = (X - mean).reshape(-1, d)
    z = solve_triangular(chol, diff.T, lower=True)
    maha = jnp.sum(z * z, axis=0)
    logdet = 2.0 * jnp.sum(jnp.log(jnp.diagonal(chol)))
    return (-0.5 * (maha + logdet + d * _LOG_2PI)).reshape(X.shape[:-1])


def component_log_prob(gmm: GMM, X):
    """``log N(x_i | mu_k, Sigma_k)`` for every point and component (weights not included).

    Parameters
    ----------
    gmm : GMM
    X : array, shape (n, d)

    Returns
    -------
    array, shape (n, K)
    """
    X = jnp.asarray(X)
    means, cov = gmm.means, gmm.covariances
    d = X.shape[-1]
    ctype = gmm.covariance_type
    if ctype == "full":
        return jax.vmap(lambda m, c: mvn_logpdf(X, m, c), out_axes=1)(means, cov)
    if ctype == "tied":
        chol = jnp.linalg.cholesky(cov)
        diff = X[None, :, :] - means[:, None, :]  # (K, n, d)
        z = jax.vmap(lambda D: solve_triangular(chol, D.T, lower=True))(diff)  # (K, d, n)
        maha = jnp.sum(z * z, axis=1).T
        logdet = 2.0 * jnp.sum(jnp.log(jnp.diagonal(chol)))
        return -0.5 * (maha + logdet + d * _LOG_2PI)
    if ctype == "diag":
        var = cov  # (K, d)
    else:  # spherical
        var = jnp.broadcast_to(cov[:, None], means.shape)
    diff = X[:, None, :] - means[None, :, :]
    maha = jnp.sum(diff * diff / var[None], axis=-1)
    logdet = jnp.sum(jnp.log(var), axis=-1)
    return -0.5 * (maha + logdet[None, :] + d * _LOG_2PI)


def log_prob(gmm: GMM, X):
    """Mixture log-density ``log sum_k w_k N(x | mu_k, Sigma_k)``, shape (n,)."""
    return logsumexp(component_log_prob(gmm, X) + gmm.log_weights[None, :], axis=1)


def log_responsibilities(gmm: GMM, X):
    """Log posterior component probabilities ``log p(k | x_i)``, shape (n, K)."""
    joint = component_log_prob(gmm, X) + gmm.log_weights[None, :]
    return joint - logsumexp(joint, axis=1, keepdims=True)


def responsibilities(gmm: GMM, X):
    """Posterior component probabilities ``p(k | x_i)``, shape (n, K); rows sum to one."""
    return jnp.exp(log_responsibilities(gmm, X))


def _cov_cholesky_full(gmm: GMM):
    """Cholesky factors of every component covariance, shape (K, d, d)."""
    full = to_full(gmm).covariances
    return jnp.linalg.cholesky(full)


def sample(gmm: GMM, key, n: int):
    """Draw ``n`` points from the (normalised) mixture.

    Parameters
    ----------
    gmm : GMM
    key : JAX PRNG key
    n : int
        Number of samples (static).

    Returns
    -------
    X : array, shape (n, d)
    labels : array of int, shape (n,)
        The component each sample came from.
    """
    k_lab, k_z = jax.random.split(key)
    labels = jax.random.categorical(k_lab, gmm.log_weights, shape=(n,))
    z = jax.random.normal(k_z, (n, gmm.n_features), dtype=gmm.means.dtype)
    chol = _cov_cholesky_full(gmm)
    # transform z by every component, then pick: memory (n, K, d), where gathering the
    # factors chol[labels] would hold (n, d, d) (42 GB for 1.3 million points in d = 64)
    scaled = jnp.einsum("kij,nj->nki", chol, z)
    picked = jnp.take_along_axis(scaled, labels[:, None, None], axis=1)[:, 0]
    X = gmm.means[labels] + picked
    return X, labels


def moments(gmm: GMM):
    """Mean and covariance of the (normalised) mixture (moment matching).

    Returns
    -------
    mean : array, shape (d,)
    cov : array, shape (d, d)
        ``sum_k w_k (Sigma_k + mu_k mu_k^T) - mean mean^T``.
    """
    w = gmm.weights
    mean = w @ gmm.means
    full = to_full(gmm).covariances
    centred = gmm.means - mean
    cov = jnp.einsum("k,kij->ij", w, full) + jnp.einsum("k,ki,kj->ij", w, centred, centred)
    return mean, cov


def to_full(gmm: GMM) -> GMM:
    """The same mixture with ``covariance_type="full"`` (covariances of shape (K, d, d))."""
    K, d = gmm.means.shape[-2], gmm.means.shape[-1]
    c = gmm.covariances
    if gmm.covariance_type == "full":
        return gmm
    if gmm.covariance_type == "diag":
        full = c[..., :, None] * jnp.eye(d, dtype=c.dtype)
    elif gmm.covariance_type == "spherical":
        full = c[..., :, None, None] * jnp.eye(d, dtype=c.dtype)
    else:  # tied
        full = jnp.broadcast_to(c, (K, d, d))
    return GMM(gmm.log_weights, gmm.means, full, "full")


def marginal(gmm: GMM, idx: Sequence[int]) -> GMM:
    """Marginal mixture of the coordinates ``idx`` (same weights, same covariance type)."""
    idx = jnp.asarray(idx)
    c = gmm.covariances
    if gmm.covariance_type == "full":
        cov = c[:, idx][:, :, idx]
    elif gmm.covariance_type == "tied":
        cov = c[idx][:, idx]
    elif gmm.covariance_type == "diag":
        cov = c[:, idx]
    else:
        cov = c
    return GMM(gmm.log_weights, gmm.means[:, idx], cov, gmm.covariance_type)


def conditional(gmm: GMM, idx_obs: Sequence[int], x_obs) -> GMM:
    """Conditional mixture ``p(x_a | x_b = x_obs)`` of the coordinates not in ``idx_obs``.

    Each component is conditioned by the Gaussian formulas, and the weights are updated by
    Bayes' rule: ``w_k' proportional to w_k N(x_obs | mu_{k,b}, Sigma_{k,bb})``.

    Parameters
    ----------
    gmm : GMM
        Mixture over d coordinates (any covariance type).
    idx_obs : sequence of int
        The observed coordinates ``b`` (static: a Python sequence).
    x_obs : array, shape (len(idx_obs),)

    Returns
    -------
    GMM
        Full-covariance mixture over the remaining ``d - len(idx_obs)`` coordinates, in
        increasing index order, with normalised log-weights.
    """
    d = gmm.n_features
    obs = [int(i) for i in idx_obs]
    rest = [i for i in range(d) if i not in set(obs)]
    if not rest:
        raise ValueError("idx_obs must leave at least one coordinate unobserved.")
    full = to_full(gmm)
    S = full.covariances
    ob, re = jnp.asarray(obs), jnp.asarray(rest)
    S_bb = S[:, ob][:, :, ob]
    S_ab = S[:, re][:, :, ob]
    S_aa = S[:, re][:, :, re]
    mu_a, mu_b = full.means[:, re], full.means[:, ob]
    chol_bb = jnp.linalg.cholesky(S_bb)
    x_obs = jnp.asarray(x_obs)

    def one(L, Sab, Saa, ma, mb):
        gain_T = cho_solve((L, True), Sab.T)  # Sigma_bb^{-1} Sigma_ba, shape (b, a)
        mean = ma + gain_T.T @ (x_obs - mb)
        cov = Saa - Sab @ gain_T
        return mean, 0.5 * (cov + cov.T)

    means, covs = jax.vmap(one)(chol_bb, S_ab, S_aa, mu_a, mu_b)
    loglik = jax.vmap(mvn_logpdf, in_axes=(None, 0, 0))(x_obs, mu_b, S_bb)
    logw = full.log_weights + loglik
    logw = logw - logsumexp(logw)
    return GMM(logw, means, covs, "full")


def precisions_cholesky(covariances, covariance_type: str = "full"):
    """Cholesky factors of the precision matrices, as scikit-learn's ``precisions_cholesky_``.

    For ``full``/``tied`` the upper-triangular ``P`` with ``P P^T = Sigma^{-1}``, computed
    by a triangular solve against the covariance's Cholesky factor; for ``diag``/
    ``spherical`` ``1 / sqrt(variance)``.
    """
    _check_type(covariance_type)
    c = jnp.asarray(covariances)
    if covariance_type in ("diag", "spherical"):
        return 1.0 / jnp.sqrt(c)

    def one(S):
        L = jnp.linalg.cholesky(S)
        eye = jnp.eye(S.shape[-1], dtype=S.dtype)
        return solve_triangular(L, eye, lower=True).T

    return one(c) if covariance_type == "tied" else jax.vmap(one)(c)


def component_log_prob_precision(means, precisions, log_det_cov, X):
    """``log N(x_i | mu_k, P_k^{-1})`` from precision matrices, with matrix products only.

    A fast path for callers that already hold the precisions ``P_k`` and log-determinants of
    the covariances (e.g. from their own parametrisation): no triangular solves, which are
    slow when batched on CPU. Added for the LightSB solver.

    Parameters
    ----------
    means : array, shape (K, d)
    precisions : array, shape (K, d, d)
        Symmetric positive-definite inverse covariances.
    log_det_cov : array, shape (K,)
        ``log |Sigma_k|``.
    X : array, shape (n, d)

    Returns
    -------
    array, shape (n, K)
    """
    X = jnp.asarray(X)
    diff = X[:, None, :] - means[None, :, :]  # (n, K, d)
    maha = jnp.einsum("nki,kij,nkj->nk", diff, precisions, diff)
    return -0.5 * (maha + log_det_cov[None, :] + X.shape[-1] * _LOG_2PI)
