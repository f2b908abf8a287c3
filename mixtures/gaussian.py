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

Argument checks. Every public function checks its arguments before it computes: types (a
string, complex or object array raises a TypeError naming the argument), shapes (a mixture's
arrays against each other, points against the mixture's dimension), coordinate indices, and
keys (an int seed is accepted wherever a PRNG key is). When the arguments are concrete
numbers it also checks values: covariances symmetric positive definite, variances positive,
parameters finite (a ValueError naming the offending component). Inside ``jax.jit``,
``jax.vmap`` or ``jax.grad`` the arguments are tracers: the shape checks run once, when the
function is traced, and the value checks are skipped, so compiled code carries no check.

Mixtures convert to and from NumPyro distributions (:meth:`GMM.to_numpyro`,
:meth:`GMM.from_numpyro`), so a mixture fitted here can serve as a prior or likelihood term in
a NumPyro model.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.linalg import cho_solve, solve_triangular
from jax.scipy.special import logsumexp

from mixtures import _checks, linalg

__all__ = [
    "COVARIANCE_TYPES",
    "GMM",
    "check_gmm",
    "mvn_logpdf",
    "mvn_logpdf_numpy",
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
    "to_numpyro",
    "from_numpyro",
]

COVARIANCE_TYPES = ("full", "diag", "spherical", "tied")
_LOG_2PI = linalg.LOG_2PI


@dataclasses.dataclass(frozen=True)
class GMM:
    """Parameters of a Gaussian mixture ``sum_k w_k N(x | mu_k, Sigma_k)``.

    Constructing a GMM checks only ``covariance_type``: JAX rebuilds the dataclass from its
    leaves after every transformation, so the constructor must stay cheap and accept
    placeholder leaves. The functions of this module check the arrays when they are called
    (see :func:`check_gmm`); :meth:`from_weights` checks them at construction.

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
        _check_type(self.covariance_type)

    @classmethod
    def from_weights(cls, weights, means, covariances, covariance_type: str = "full") -> GMM:
        """Build a mixture from (non-negative) weights instead of log-weights.

        The arrays are checked as by :func:`check_gmm` (values too, when concrete).
        """
        weights = _checks.array(weights, "weights", ndim=1)
        if _checks.concrete(weights):
            w = np.asarray(weights)
            _checks.finite(w, "weights")
            if (w < 0).any() or not (w > 0).any():
                raise ValueError(
                    f"weights must be non-negative with a positive entry, got {w.tolist()}."
                )
        gmm = cls(jnp.log(weights), means, covariances, covariance_type)
        return check_gmm(gmm, "the mixture")

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

    def to_numpyro(self, *, validate_args=None):
        """This mixture as a NumPyro distribution; see :func:`to_numpyro`."""
        return to_numpyro(self, validate_args=validate_args)

    @classmethod
    def from_numpyro(cls, dist, covariance_type: str | None = None) -> GMM:
        """A mixture from a NumPyro distribution; see :func:`from_numpyro`."""
        return from_numpyro(dist, covariance_type)


jax.tree_util.register_dataclass(
    GMM, data_fields=["log_weights", "means", "covariances"], meta_fields=["covariance_type"]
)


def _check_type(covariance_type: str) -> None:
    if not isinstance(covariance_type, str) or covariance_type not in COVARIANCE_TYPES:
        raise ValueError(
            f"covariance_type must be one of {COVARIANCE_TYPES}, got {covariance_type!r}."
        )


# ------------------------------------------------------------------------ checks
def _cov_shape(covariance_type: str, K: int, d: int) -> tuple[int, ...]:
    return {"full": (K, d, d), "diag": (K, d), "spherical": (K,), "tied": (d, d)}[covariance_type]


def _check_covariances(cov, name: str, covariance_type: str) -> None:
    """Value check (skipped for tracers) of covariances of the given type."""
    if covariance_type in ("diag", "spherical"):
        _checks.positive(cov, name)
    else:
        _checks.spd(cov, name)


def check_gmm(gmm, name: str = "gmm", *, batched: bool = False, values: bool = True) -> GMM:
    """Check a mixture's arrays; return it with JAX arrays as leaves.

    Parameters
    ----------
    gmm : GMM
    name : str
        The argument's name, used in error messages.
    batched : bool
        Allow leading batch axes (a batch of mixtures with the same K and d).
    values : bool
        Check values when the arrays are concrete: log-weights without NaN or ``+inf`` and
        at least one finite, finite means, covariances symmetric positive definite (full,
        tied) or positive (diag, spherical). Skipped for tracers (inside ``jax.jit``).

    Returns
    -------
    GMM

    Raises
    ------
    TypeError
        For an argument that is not a GMM, or arrays that are not real numbers.
    ValueError
        For inconsistent shapes or (with ``values``) invalid values.
    """
    if not isinstance(gmm, GMM):
        raise TypeError(f"{name} must be a mixtures.gaussian.GMM, got {type(gmm).__name__}.")
    ctype = gmm.covariance_type
    lw = _checks.array(gmm.log_weights, f"{name}.log_weights")
    means = _checks.array(gmm.means, f"{name}.means")
    cov = _checks.array(gmm.covariances, f"{name}.covariances")
    if lw.ndim < 1 or means.ndim < 2 or not batched and (lw.ndim, means.ndim) != (1, 2):
        want = "(..., K) and (..., K, d)" if batched else "(K,) and (K, d)"
        raise ValueError(
            f"{name}.log_weights and {name}.means must have shapes {want}, got "
            f"{tuple(lw.shape)} and {tuple(means.shape)}."
        )
    K, d = means.shape[-2], means.shape[-1]
    if lw.shape[-1] != K:
        raise ValueError(
            f"{name}.log_weights has {lw.shape[-1]} component(s) but {name}.means has {K} "
            f"(shapes {tuple(lw.shape)} and {tuple(means.shape)})."
        )
    if K < 1 or d < 1:
        raise ValueError(
            f"{name} must have at least one component and one feature, got "
            f"means of shape {tuple(means.shape)}."
        )
    want = _cov_shape(ctype, K, d)
    cov_core = tuple(cov.shape[cov.ndim - len(want) :]) if cov.ndim >= len(want) else None
    if cov_core != want or not batched and cov.ndim != len(want):
        raise ValueError(
            f"{name}.covariances must have shape {'(..., ) + ' if batched else ''}{want} for "
            f"covariance_type={ctype!r} with K={K}, d={d}; got {tuple(cov.shape)}."
        )
    if values and _checks.concrete(lw, means, cov):
        _checks.finite(lw, f"{name}.log_weights", allow_neg_inf=True)
        if not np.isfinite(np.asarray(lw)).any(axis=-1).all():
            raise ValueError(f"{name}.log_weights are all -inf (every weight is zero).")
        _checks.finite(means, f"{name}.means")
        _check_covariances(cov, f"{name}.covariances", ctype)
    if lw is gmm.log_weights and means is gmm.means and cov is gmm.covariances:
        return gmm
    return GMM(lw, means, cov, ctype)


def _check_points(X, name: str, d: int, *, ndim=2):
    X = _checks.array(X, name, ndim=ndim)
    if X.ndim == 0 or X.shape[-1] != d:
        raise ValueError(
            f"{name} must have {d} feature(s) (last axis) to match the mixture, got shape "
            f"{tuple(X.shape)}."
        )
    return X


# ------------------------------------------------------------------------ densities
def mvn_logpdf(X, mean, cov, *, unroll=None):
    """Log-density of ``N(mean, cov)`` at the points ``X``.

    The leading axes of ``X``, ``mean`` and ``cov`` broadcast against each other, so one call
    evaluates many normals (for example ``X[:, None]`` against ``K`` means and covariances
    gives an ``(n, K)`` table). Matrices up to :data:`mixtures.linalg.UNROLL_MAX` features are
    factorised without LAPACK (see :mod:`mixtures.linalg`), so the function is safe to batch
    inside ``jax.vmap``, ``jax.grad`` and ``jax.jacfwd`` on any number of CPU threads.

    Parameters
    ----------
    X : array, shape (..., d)
    mean : array, shape (..., d)
    cov : array, shape (..., d, d)
        Symmetric positive definite.
    unroll : bool, optional
        Factorise ``cov`` with the unrolled code of :mod:`mixtures.linalg` (True) or with
        LAPACK (False); by default unrolled up to :data:`mixtures.linalg.UNROLL_MAX` features.
        Code that must never call LAPACK (batched programs on few CPU threads) passes True.

    Returns
    -------
    array, shape (...)
        The broadcast of the leading axes of ``X``, ``mean`` and ``cov``.
    """
    mean = _checks.array(mean, "mean")
    if mean.ndim < 1:
        raise ValueError(f"mean must have at least 1 dimension (..., d), got shape {mean.shape}.")
    d = mean.shape[-1]
    cov = _checks.array(cov, "cov")
    if cov.ndim < 2 or cov.shape[-2:] != (d, d):
        raise ValueError(
            f"cov must have shape (..., {d}, {d}) to match mean, got {tuple(cov.shape)}."
        )
    X = _check_points(X, "X", d, ndim=None)
    try:
        np.broadcast_shapes(X.shape[:-1], mean.shape[:-1], cov.shape[:-2])
    except ValueError:
        raise ValueError(
            f"The leading axes of X {tuple(X.shape)}, mean {tuple(mean.shape)} and cov "
            f"{tuple(cov.shape)} do not broadcast."
        ) from None
    if unroll is not None and not isinstance(unroll, bool):
        raise TypeError(f"unroll must be None, True or False, got {unroll!r}.")
    _checks.finite(mean, "mean")
    _checks.spd(cov, "cov")
    return _mvn_logpdf(X, mean, cov, unroll)


def _unrolled(d, unroll):
    """Whether a ``d x d`` factorisation uses :mod:`mixtures.linalg` (see ``mvn_logpdf``)."""
    return d <= linalg.UNROLL_MAX if unroll is None else unroll


def _mahalanobis(X, mean, cov, unroll=None):
    """Squared Mahalanobis distances of the points ``X`` (..., d) from ``mean`` under the
    symmetric positive-definite ``cov``, flattened to shape (m,), and ``log det cov``."""
    d = X.shape[-1]
    diff = (X - mean).reshape(-1, d)
    if _unrolled(d, unroll):
        L = linalg.cholesky(cov)
        z = linalg.solve_lower(L, diff)
        return jnp.sum(z * z, axis=-1), linalg.logdet_from_cholesky(L)
    chol = jnp.linalg.cholesky(cov)
    z = solve_triangular(chol, diff.T, lower=True)
    return jnp.sum(z * z, axis=0), 2.0 * jnp.sum(jnp.log(jnp.diagonal(chol)))


def _mvn_logpdf(X, mean, cov, unroll=None):
    d = X.shape[-1]
    if mean.ndim == 1 and cov.ndim == 2:
        maha, logdet = _mahalanobis(X, mean, cov, unroll)
        return (-0.5 * (maha + logdet + d * _LOG_2PI)).reshape(X.shape[:-1])
    diff = X - mean
    if _unrolled(d, unroll):
        L = linalg.cholesky(cov)
        z = linalg.solve_lower(L, diff)
    else:
        batch = jnp.broadcast_shapes(diff.shape[:-1], cov.shape[:-2])
        L = jnp.linalg.cholesky(cov)
        Lb = jnp.broadcast_to(L, (*batch, d, d))
        z = solve_triangular(Lb, jnp.broadcast_to(diff, (*batch, d))[..., None], lower=True)
        z = z[..., 0]
    return -0.5 * (jnp.sum(z * z, axis=-1) + linalg.logdet_from_cholesky(L) + d * _LOG_2PI)


def mvn_logpdf_numpy(X, mean, cov):
    """:func:`mvn_logpdf` evaluated on the host in NumPy float64, without compiling anything.

    For callers that score small problems of ever-changing sizes outside compiled code (a
    new shape would otherwise compile new programs). Same broadcasting as :func:`mvn_logpdf`;
    the arguments are not checked (``cov`` must be symmetric positive definite).

    Parameters
    ----------
    X : array, shape (..., d)
    mean : array, shape (..., d)
    cov : array, shape (..., d, d)

    Returns
    -------
    numpy.ndarray, shape (...)
    """
    X, mean, cov = (np.asarray(a, dtype=np.float64) for a in (X, mean, cov))
    d = X.shape[-1]
    diff = X - mean
    batch = np.broadcast_shapes(diff.shape[:-1], cov.shape[:-2])
    L = np.linalg.cholesky(cov)
    z = np.linalg.solve(
        np.broadcast_to(L, (*batch, d, d)), np.broadcast_to(diff, batch + (d,))[..., None]
    )
    logdet = 2.0 * np.sum(np.log(np.diagonal(L, axis1=-2, axis2=-1)), axis=-1)
    return -0.5 * (np.sum(z[..., 0] ** 2, axis=-1) + logdet + d * _LOG_2PI)


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
    gmm = check_gmm(gmm)
    return _component_log_prob(gmm, _check_points(X, "X", gmm.n_features))


def _component_log_prob(gmm: GMM, X):
    means, cov = gmm.means, gmm.covariances
    d = X.shape[-1]
    ctype = gmm.covariance_type
    if ctype == "full":
        return jax.vmap(lambda m, c: _mvn_logpdf(X, m, c), out_axes=1)(means, cov)
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
    """Mixture log-density ``log sum_k w_k N(x | mu_k, Sigma_k)``.

    Parameters
    ----------
    gmm : GMM
    X : array, shape (n, d)

    Returns
    -------
    array, shape (n,)
    """
    gmm = check_gmm(gmm)
    return _log_prob(gmm, _check_points(X, "X", gmm.n_features))


def _log_prob(gmm: GMM, X):
    return logsumexp(_component_log_prob(gmm, X) + gmm.log_weights[None, :], axis=1)


def log_responsibilities(gmm: GMM, X):
    """Log posterior component probabilities ``log p(k | x_i)``, shape (n, K).

    ``X`` has shape (n, d).
    """
    gmm = check_gmm(gmm)
    return _log_responsibilities(gmm, _check_points(X, "X", gmm.n_features))


def _log_responsibilities(gmm: GMM, X):
    joint = _component_log_prob(gmm, X) + gmm.log_weights[None, :]
    return joint - logsumexp(joint, axis=1, keepdims=True)


def responsibilities(gmm: GMM, X):
    """Posterior component probabilities ``p(k | x_i)``, shape (n, K); rows sum to one.

    ``X`` has shape (n, d).
    """
    gmm = check_gmm(gmm)
    return jnp.exp(_log_responsibilities(gmm, _check_points(X, "X", gmm.n_features)))


# ------------------------------------------------------------------------ sampling, moments
def sample(gmm: GMM, key, n: int):
    """Draw ``n`` points from the (normalised) mixture.

    Parameters
    ----------
    gmm : GMM
    key : JAX PRNG key, int, None or numpy.random.Generator
        Randomness, normalised by :func:`mixtures.as_key` (an int seeds deterministically;
        inside ``jax.jit`` a traced key or integer seed also works).
    n : int
        Number of samples (static).

    Returns
    -------
    X : array, shape (n, d)
    labels : array of int, shape (n,)
        The component each sample came from.
    """
    gmm = check_gmm(gmm)
    n = _checks.static_int(n, "n", low=0)
    return _sample(gmm, _checks.key(key, "key"), n)


def _sample(gmm: GMM, key, n: int):
    k_lab, k_z = jax.random.split(key)
    labels = jax.random.categorical(k_lab, gmm.log_weights, shape=(n,))
    z = jax.random.normal(k_z, (n, gmm.n_features), dtype=gmm.means.dtype)
    chol = jnp.linalg.cholesky(_to_full(gmm).covariances)
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
    gmm = check_gmm(gmm, values=False)
    w = gmm.weights
    mean = w @ gmm.means
    full = _to_full(gmm).covariances
    centred = gmm.means - mean
    cov = jnp.einsum("k,kij->ij", w, full) + jnp.einsum("k,ki,kj->ij", w, centred, centred)
    return mean, cov


def to_full(gmm: GMM) -> GMM:
    """The same mixture with ``covariance_type="full"`` (covariances of shape (..., K, d, d)).

    Accepts a batch of mixtures (leading axes); only shapes are checked.
    """
    return _to_full(check_gmm(gmm, batched=True, values=False))


def _to_full(gmm: GMM) -> GMM:
    K, d = gmm.means.shape[-2], gmm.means.shape[-1]
    c = gmm.covariances
    if gmm.covariance_type == "full":
        return gmm
    if gmm.covariance_type == "diag":
        full = c[..., :, None] * jnp.eye(d, dtype=c.dtype)
    elif gmm.covariance_type == "spherical":
        full = c[..., :, None, None] * jnp.eye(d, dtype=c.dtype)
    else:  # tied
        full = jnp.broadcast_to(c[..., None, :, :], c.shape[:-2] + (K, d, d))
    return GMM(gmm.log_weights, gmm.means, full, "full")


# ------------------------------------------------------------------------ marginals, conditionals
def marginal(gmm: GMM, idx: Sequence[int]) -> GMM:
    """Marginal mixture of the coordinates ``idx`` (same weights, same covariance type).

    Parameters
    ----------
    gmm : GMM
        Mixture over d coordinates.
    idx : int or sequence of int
        Coordinates to keep, each in ``[-d, d)``, without repeats (a repeated coordinate
        would make the covariance singular). A traced index array (inside ``jax.jit``) is
        accepted unchecked.

    Returns
    -------
    GMM
        Mixture over ``len(idx)`` coordinates, in the order given.
    """
    gmm = check_gmm(gmm, values=False)
    idx = jnp.asarray(_checks.indices(idx, "idx", gmm.n_features))
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
    idx_obs : int or sequence of int
        The observed coordinates ``b`` (static: Python or NumPy ints in ``[-d, d)``, without
        repeats, leaving at least one coordinate unobserved).
    x_obs : array, shape (len(idx_obs),)

    Returns
    -------
    GMM
        Full-covariance mixture over the remaining ``d - len(idx_obs)`` coordinates, in
        increasing index order, with normalised log-weights.
    """
    gmm = check_gmm(gmm)
    d = gmm.n_features
    if _checks.is_tracer(idx_obs):
        raise TypeError("idx_obs must be static (Python or NumPy ints), got a traced value.")
    obs = list(_checks.indices(idx_obs, "idx_obs", d))
    rest = [i for i in range(d) if i not in set(obs)]
    if not rest:
        raise ValueError("idx_obs must leave at least one coordinate unobserved.")
    x_obs = _checks.array(x_obs, "x_obs", ndim=1)
    if x_obs.shape[0] != len(obs):
        raise ValueError(
            f"x_obs must have one value per observed coordinate ({len(obs)}), got shape "
            f"{tuple(x_obs.shape)}."
        )
    _checks.finite(x_obs, "x_obs")
    full = _to_full(gmm)
    S = full.covariances
    ob, re = jnp.asarray(obs), jnp.asarray(rest)
    S_bb = S[:, ob][:, :, ob]
    S_ab = S[:, re][:, :, ob]
    S_aa = S[:, re][:, :, re]
    mu_a, mu_b = full.means[:, re], full.means[:, ob]
    chol_bb = jnp.linalg.cholesky(S_bb)

    def one(L, Sab, Saa, ma, mb):
        gain_T = cho_solve((L, True), Sab.T)  # Sigma_bb^{-1} Sigma_ba, shape (b, a)
        mean = ma + gain_T.T @ (x_obs - mb)
        cov = Saa - Sab @ gain_T
        return mean, 0.5 * (cov + cov.T)

    means, covs = jax.vmap(one)(chol_bb, S_ab, S_aa, mu_a, mu_b)
    loglik = jax.vmap(_mvn_logpdf, in_axes=(None, 0, 0))(x_obs, mu_b, S_bb)
    logw = full.log_weights + loglik
    logw = logw - logsumexp(logw)
    return GMM(logw, means, covs, "full")


# ------------------------------------------------------------------------ precisions
def precisions_cholesky(covariances, covariance_type: str = "full"):
    """Cholesky factors of the precision matrices, as scikit-learn's ``precisions_cholesky_``.

    For ``full``/``tied`` the upper-triangular ``P`` with ``P P^T = Sigma^{-1}``, computed
    by a triangular solve against the covariance's Cholesky factor; for ``diag``/
    ``spherical`` ``1 / sqrt(variance)``.

    Parameters
    ----------
    covariances : array
        Shape (K, d, d) for ``full``, (d, d) for ``tied``, (K, d) for ``diag``, (K,) for
        ``spherical``; positive definite (positive variances).
    covariance_type : {"full", "diag", "spherical", "tied"}

    Returns
    -------
    array, shape of ``covariances``
    """
    _check_type(covariance_type)
    c = _checks.array(covariances, "covariances")
    want = {"full": 3, "tied": 2, "diag": 2, "spherical": 1}[covariance_type]
    square = c.ndim < 2 or c.shape[-1] == c.shape[-2]
    if c.ndim != want or covariance_type in ("full", "tied") and not square:
        shape = {"full": "(K, d, d)", "tied": "(d, d)", "diag": "(K, d)", "spherical": "(K,)"}
        raise ValueError(
            f"covariances must have shape {shape[covariance_type]} for covariance_type="
            f"{covariance_type!r}, got {tuple(c.shape)}."
        )
    _check_covariances(c, "covariances", covariance_type)
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
    slow when batched on CPU. Only types and shapes are checked (the caller's
    parametrisation guarantees definiteness).

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
    means = _checks.array(means, "means", ndim=2)
    K, d = means.shape
    precisions = _checks.array(precisions, "precisions", ndim=3)
    log_det_cov = _checks.array(log_det_cov, "log_det_cov", ndim=1)
    if precisions.shape != (K, d, d) or log_det_cov.shape != (K,):
        raise ValueError(
            f"precisions and log_det_cov must have shapes ({K}, {d}, {d}) and ({K},) to match "
            f"means {tuple(means.shape)}, got {tuple(precisions.shape)} and "
            f"{tuple(log_det_cov.shape)}."
        )
    X = _check_points(X, "X", d)
    diff = X[:, None, :] - means[None, :, :]  # (n, K, d)
    maha = jnp.einsum("nki,kij,nkj->nk", diff, precisions, diff)
    return -0.5 * (maha + log_det_cov[None, :] + X.shape[-1] * _LOG_2PI)


# ------------------------------------------------------------------------ NumPyro interop
def to_numpyro(gmm: GMM, *, validate_args=None):
    """The mixture as a ``numpyro.distributions.MixtureSameFamily``.

    The mixing distribution is a ``Categorical`` with logits ``gmm.log_weights`` (so the
    weights are normalised: unnormalised log-weights give the normalised mixture); the
    components are ``MultivariateNormal`` distributions given by their Cholesky factors
    (``scale_tril``), which every covariance type maps to exactly: square roots of the
    variances for ``diag`` and ``spherical``, the shared factor repeated for ``tied``.

    Parameters
    ----------
    gmm : GMM
        One mixture (no batch axes); values are checked when concrete.
    validate_args : bool, optional
        Passed to the NumPyro distributions.

    Returns
    -------
    numpyro.distributions.MixtureSameFamily
        Event shape ``(d,)``, batch shape ``()``; arrays in the ambient JAX precision.
    """
    import numpyro.distributions as dist

    gmm = check_gmm(gmm)
    K, d = gmm.n_components, gmm.n_features
    c = gmm.covariances
    if gmm.covariance_type == "diag":
        scale_tril = jnp.sqrt(c)[:, :, None] * jnp.eye(d, dtype=c.dtype)
    elif gmm.covariance_type == "spherical":
        scale_tril = jnp.sqrt(c)[:, None, None] * jnp.eye(d, dtype=c.dtype)
    elif gmm.covariance_type == "tied":
        scale_tril = jnp.broadcast_to(jnp.linalg.cholesky(c), (K, d, d))
    else:
        scale_tril = jnp.linalg.cholesky(c)
    mixing = dist.Categorical(logits=gmm.log_weights, validate_args=validate_args)
    components = dist.MultivariateNormal(
        gmm.means, scale_tril=scale_tril, validate_args=validate_args
    )
    return dist.MixtureSameFamily(mixing, components, validate_args=validate_args)


def _is_diagonal(S, tol) -> np.ndarray:
    off = S - np.einsum("...ii->...i", S)[..., None] * np.eye(S.shape[-1])
    return np.abs(off).max(axis=(-2, -1)) <= tol * np.abs(S).max(axis=(-2, -1))


def from_numpyro(dist, covariance_type: str | None = None) -> GMM:
    """A :class:`GMM` from a NumPyro Gaussian mixture (or a single Gaussian).

    Parameters
    ----------
    dist : numpyro.distributions.Distribution
        A ``MixtureSameFamily`` with ``Categorical`` mixing and ``MultivariateNormal``
        components, or ``Independent(Normal, 1)`` components (a diagonal mixture); or a
        single ``MultivariateNormal`` (one component). Batch shape must be ``()``.
    covariance_type : {"full", "diag", "spherical", "tied"}, optional
        Covariance type of the result. Default: ``"diag"`` for ``Independent(Normal)``
        components, else ``"full"``. A narrower type than the components have must fit them
        (zero off-diagonals for ``diag``, equal variances for ``spherical``, equal matrices
        for ``tied``, to the square root of the precision's epsilon), else ValueError.

    Returns
    -------
    GMM
        With normalised log-weights; concrete NumPy-backed values as JAX arrays.
    """
    import numpyro.distributions as nd

    if covariance_type is not None:
        _check_type(covariance_type)
    if not isinstance(dist, nd.Distribution):
        raise TypeError(f"dist must be a numpyro distribution, got {type(dist).__name__}.")
    if dist.batch_shape != ():
        raise ValueError(f"dist must have batch shape (), got {dist.batch_shape}.")
    if isinstance(dist, nd.MixtureSameFamily):
        mixing, comp = dist.mixing_distribution, dist.component_distribution
        if isinstance(mixing, nd.CategoricalLogits):
            log_w = jax.nn.log_softmax(mixing.logits, axis=-1)
        elif isinstance(mixing, nd.CategoricalProbs):
            log_w = jnp.log(mixing.probs / jnp.sum(mixing.probs, axis=-1, keepdims=True))
        else:
            raise TypeError(
                "dist.mixing_distribution must be a numpyro Categorical, got "
                f"{type(mixing).__name__}."
            )
    elif isinstance(dist, nd.MultivariateNormal):
        comp, log_w = dist, jnp.zeros(1)
    else:
        raise TypeError(
            "dist must be a numpyro MixtureSameFamily of Gaussians or a MultivariateNormal, "
            f"got {type(dist).__name__}."
        )
    K = log_w.shape[-1]
    if isinstance(comp, nd.ExpandedDistribution):
        comp = comp.base_dist  # its parameters are broadcast to K components below
    if isinstance(comp, nd.MultivariateNormal):
        d = comp.event_shape[-1]
        means = jnp.broadcast_to(comp.loc, (K, d))
        cov = jnp.broadcast_to(comp.covariance_matrix, (K, d, d))
        native = "full"
    elif (
        isinstance(comp, nd.Independent)
        and isinstance(comp.base_dist, nd.Normal)
        and comp.reinterpreted_batch_ndims == 1
    ):
        d = comp.event_shape[-1]
        means = jnp.broadcast_to(comp.base_dist.loc, (K, d))
        cov = jnp.broadcast_to(comp.base_dist.scale, (K, d)) ** 2
        native = "diag"
    else:
        raise TypeError(
            "dist's components must be MultivariateNormal or Independent(Normal, 1), got "
            f"{type(comp).__name__}."
        )
    ctype = native if covariance_type is None else covariance_type
    if ctype != native and ctype != "full":
        C = np.asarray(cov)
        full = C if native == "full" else C[..., :, None] * np.eye(d)
        tol = math.sqrt(np.finfo(full.dtype).eps)
        diag = np.einsum("...ii->...i", full)
        scale = np.abs(full).max()
        if ctype in ("diag", "spherical") and not _is_diagonal(full, tol).all():
            raise ValueError(
                f"covariance_type={ctype!r} needs diagonal component "
                "covariances; dist's have non-zero off-diagonal entries."
            )
        if ctype == "spherical" and (np.ptp(diag, axis=-1) > tol * scale).any():
            raise ValueError(
                "covariance_type='spherical' needs equal variances within each "
                "component; dist's differ."
            )
        if ctype == "tied" and (np.abs(full - full[:1]).max() > tol * scale):
            raise ValueError(
                "covariance_type='tied' needs one covariance shared by all "
                "components; dist's differ."
            )
        cov = {
            "diag": jnp.asarray(diag),
            "spherical": jnp.asarray(diag.mean(axis=-1)),
            "tied": jnp.asarray(full.mean(axis=0)),
        }[ctype]
    elif ctype == "full" and native == "diag":
        cov = cov[..., :, None] * jnp.eye(d, dtype=cov.dtype)
    return check_gmm(GMM(log_w, means, cov, ctype), "the converted mixture")
