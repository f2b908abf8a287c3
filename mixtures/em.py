"""Expectation-maximisation: a generic loop with multi-start by ``jax.vmap``, k-means
initialisation, and the E- and M-steps of a Gaussian mixture.

The generic loop :func:`run_em` takes the model through two pure functions,

* ``e_step(params, data) -> (lower_bound, stats)``: the mean log-likelihood (or any lower
  bound that EM increases) at ``params`` and the sufficient statistics of the E-step,
* ``m_step(stats, data) -> params``: the (weighted) M-step,

and runs ``S`` starts at once: ``params0`` carries a leading axis of length ``S``, the steps
are vmapped over it, and all starts share one ``lax.while_loop`` that stops when every start
has converged (``|lower_bound - previous| < tol``, as scikit-learn's ``lower_bound_``), has
failed (a non-finite lower bound or parameters) or ``max_iter`` is reached. Finished starts are
frozen by ``jnp.where``, so each start's result is exactly what a loop of its own would give.
Any mixture model (e.g. the growth mixture models of :mod:`solvers.growth_moe`) can pass its
own steps.

The Gaussian steps work on a feature matrix ``F = [1, x, q(x)]`` with ``q(x)`` the quadratic
monomials of the covariance type (``x_i x_j`` for ``i <= j`` for full/tied, ``x_i^2`` for
diag, ``|x|^2`` for spherical). Then, for every component,
``log w_k + log N(x | mu_k, Sigma_k) = F(x) . c_k`` is linear in ``F`` (with coefficients
``c_k`` from the precision matrix ``P_k``, its log-determinant and ``P_k mu_k``), and the M-step
statistics ``sum_n r_nk F(x_n)`` are the responsibilities times ``F``: one matrix product each
way, shared by all starts and components. The data should be centred (the estimator does it)
so that the expansion of the quadratic form loses no accuracy.
"""

from __future__ import annotations

from functools import partial
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jax.scipy.linalg import cho_solve

from mixtures import linalg, parsimonious

__all__ = [
    "EMResult",
    "run_em",
    "GaussianEMData",
    "GaussianParams",
    "gaussian_features",
    "row_block",
    "gaussian_e_step",
    "gaussian_m_step",
    "gaussian_steps",
    "gaussian_params_from_resp",
    "gaussian_params_from_init",
    "kmeans_plusplus",
    "kmeans",
]



# --------------------------------------------------------------------------- generic loop
class EMResult(NamedTuple):
    """Result of :func:`run_em`, one entry per start (leading axis ``S``).

    Attributes
    ----------
    params : pytree
        Parameters after the last accepted M-step, leaves with leading axis ``S``.
    lower_bound : array, shape (S,)
        Lower bound (mean log-likelihood) computed by the last accepted E-step, i.e. at the
        parameters before the last M-step (scikit-learn's ``lower_bound_``).
    n_iter : array of int, shape (S,)
        Number of EM iterations done.
    converged : array of bool, shape (S,)
    failed : array of bool, shape (S,)
        True where the loop met a non-finite lower bound or non-finite parameters (for a
        Gaussian mixture: a covariance that is not positive definite); ``params`` then hold the
        last finite values.
    """

    params: Any
    lower_bound: jax.Array
    n_iter: jax.Array
    converged: jax.Array
    failed: jax.Array


def _all_finite(tree) -> jax.Array:
    leaves = jax.tree_util.tree_leaves(tree)
    return jnp.all(jnp.stack([jnp.all(jnp.isfinite(x)) for x in leaves]))


def _select(mask, new, old):
    """Per-start choice between two pytrees with leading axis ``S``."""

    def pick(a, b):
        m = mask.reshape(mask.shape + (1,) * (a.ndim - 1))
        return jnp.where(m, a, b)

    return jax.tree_util.tree_map(pick, new, old)


@partial(jax.jit, static_argnames=("e_step", "m_step", "callback"))
def run_em(e_step, m_step, params0, data, tol, max_iter, callback=None) -> EMResult:
    """Run EM from ``S`` starts at once (vmapped steps in one ``lax.while_loop``).

    Parameters
    ----------
    e_step : callable ``(params, data) -> (lower_bound, stats)``
        E-step of one start: scalar lower bound at ``params`` and sufficient statistics (static,
        must be hashable: a module-level function).
    m_step : callable ``(stats, data) -> params``
        M-step of one start (static).
    params0 : pytree
        Initial parameters, every leaf with a leading axis of length ``S`` (the starts).
    data : pytree
        Data shared by all starts (not batched).
    tol : float
        Convergence threshold on the change of the lower bound between two iterations.
    max_iter : int
        Maximum number of iterations (traced: changing it does not recompile).
    callback : callable ``(iteration, lower_bounds (S,), done (S,))`` or None
        Called on the host after every iteration (via ``jax.debug.callback``), e.g. to drive a
        progress bar; None (default) adds nothing to the loop.

    Returns
    -------
    EMResult
        Per-start parameters, lower bounds, iteration counts and convergence/failure flags.
    """
    leaves = jax.tree_util.tree_leaves(params0)
    n_starts = leaves[0].shape[0]
    dtype = jnp.result_type(*[x.dtype for x in leaves if jnp.issubdtype(x.dtype, jnp.floating)])
    e_all = jax.vmap(e_step, in_axes=(0, None))
    m_all = jax.vmap(m_step, in_axes=(0, None))
    tol = jnp.asarray(tol, dtype)

    def cond(state):
        it, _, _, _, converged, failed = state
        return (it < max_iter) & jnp.any(~converged & ~failed)

    def body(state):
        it, params, lower, n_iter, converged, failed = state
        active = ~converged & ~failed
        new_lower, stats = e_all(params, data)
        new_params = m_all(stats, data)
        ok = jnp.isfinite(new_lower) & jax.vmap(_all_finite)(new_params)
        accept = active & ok
        change = new_lower - lower
        params = _select(accept, new_params, params)
        lower = jnp.where(accept, new_lower, lower)
        n_iter = jnp.where(accept, it + 1, n_iter)
        converged = converged | (accept & (jnp.abs(change) < tol))
        failed = failed | (active & ~ok)
        if callback is not None:
            jax.debug.callback(callback, it + 1, lower, converged | failed)
        return it + 1, params, lower, n_iter, converged, failed

    init = (
        jnp.asarray(0, jnp.int32),
        params0,
        jnp.full((n_starts,), -jnp.inf, dtype),
        jnp.zeros((n_starts,), jnp.int32),
        jnp.zeros((n_starts,), bool),
        ~jax.vmap(_all_finite)(params0),
    )
    _, params, lower, n_iter, converged, failed = lax.while_loop(cond, body, init)
    return EMResult(params, lower, n_iter, converged, failed)


# ------------------------------------------------------------------- Gaussian mixture steps
class GaussianEMData(NamedTuple):
    """Data of the Gaussian EM steps.

    Attributes
    ----------
    F : array, shape (n, 1 + d + m) or (n, d)
        Features ``[1, x, q(x)]`` from :func:`gaussian_features` (``x`` centred), or the
        (centred) points themselves: the Gaussian steps then form the features block by
        block of :func:`row_block` rows, so that memory holds ``n x d`` numbers instead of
        ``n x (1 + d + m)`` (the full/tied features of ``d = 10`` are 6.6 times the data).
    sample_weight : array, shape (n,)
        Non-negative weights of the points (zero for padding rows).
    reg_covar : scalar array
        Added to the diagonal of every covariance in the M-step.
    component_mask : bool array, shape (K,), or None
        Which components exist. Masked ones (False) are padding, so that fits with different
        numbers of components share one compiled program: they get weight exactly zero,
        log-weight ``-inf`` in the E-step, and enter no sum of the M-step. None: all exist.
    """

    F: jax.Array
    sample_weight: jax.Array
    reg_covar: jax.Array
    component_mask: jax.Array | None = None


class GaussianParams(NamedTuple):
    """Gaussian-mixture parameters as carried through EM (shapes for K components, d features).

    Attributes
    ----------
    weights : array, shape (K,)
    means : array, shape (K, d)
    covariances : array
        ``(K, d, d)`` full, ``(d, d)`` tied, ``(K, d)`` diag, ``(K,)`` spherical.
    precisions : array
        Inverses of ``covariances``, same shapes.
    half_log_det : array, shape (K,)
        ``0.5 log det(precision_k)``.
    """

    weights: jax.Array
    means: jax.Array
    covariances: jax.Array
    precisions: jax.Array
    half_log_det: jax.Array


def _n_quadratic(d: int, covariance_type: str) -> int:
    return {"full": d * (d + 1) // 2, "tied": d * (d + 1) // 2, "diag": d, "spherical": 1}[
        parsimonious.storage_type(covariance_type)
    ]


def _n_features(d: int, covariance_type: str) -> int:
    """Columns ``1 + d + m`` of the features ``[1, x, q(x)]`` (:func:`gaussian_features`)."""
    return 1 + d + _n_quadratic(d, covariance_type)


def _vech_matrix(d: int):
    """Constant (m, d*d) 0/1 matrix E with ``vech @ E = vec(S)`` for the symmetric ``S`` whose
    row-major upper triangle is ``vech``; ``vec(P) @ E.T`` is ``P_ii`` on the diagonal and
    ``P_ij + P_ji`` off it (the coefficients of ``x_i x_j`` in ``x^T P x``)."""
    iu, ju = np.triu_indices(d)
    E = np.zeros((len(iu), d * d))
    E[np.arange(len(iu)), iu * d + ju] = 1.0
    E[np.arange(len(iu)), ju * d + iu] = 1.0
    return E


@partial(jax.jit, static_argnames="covariance_type")
def gaussian_features(X, covariance_type: str):
    """Feature matrix ``F = [1, x, q(x)]`` of the Gaussian EM steps.

    Parameters
    ----------
    X : array, shape (n, d)
        Points, preferably centred.
    covariance_type : str
        ``"full"``, ``"tied"``, ``"diag"``, ``"spherical"`` or one of the fourteen models of
        :mod:`mixtures.parsimonious` (which use the features of their storage type).

    Returns
    -------
    array, shape (n, 1 + d + m)
        ``m = d(d+1)/2`` (products ``x_i x_j``, ``i <= j``, row-major upper triangle) for
        full/tied, ``d`` (squares) for diag, ``1`` (``|x|^2``) for spherical.
    """
    n, d = X.shape
    covariance_type = parsimonious.storage_type(covariance_type)
    if covariance_type in ("full", "tied"):
        iu, ju = np.triu_indices(d)
        q = X[:, iu] * X[:, ju]
    elif covariance_type == "diag":
        q = X * X
    else:
        q = jnp.sum(X * X, axis=1, keepdims=True)
    return jnp.concatenate([jnp.ones((n, 1), X.dtype), X, q], axis=1)


def _quadratic_coefficients(precisions, d: int, covariance_type: str):
    """Coefficients of ``q(x)`` in ``x^T P_k x``, shape (K, m) (or (m,) for tied)."""
    if covariance_type in ("full", "tied"):
        E = jnp.asarray(_vech_matrix(d), precisions.dtype)
        return precisions.reshape(precisions.shape[:-2] + (d * d,)) @ E.T
    if covariance_type == "diag":
        return precisions
    return precisions[:, None]


def _coefficients(params: GaussianParams, covariance_type: str):
    """Rows ``c_k`` with ``F(x) . c_k = log w_k + log N(x | mu_k, Sigma_k)``, shape (K, p)."""
    K, d = params.means.shape
    covariance_type = parsimonious.storage_type(covariance_type)
    mu, P = params.means, params.precisions
    if covariance_type == "full":
        Pmu = jnp.einsum("kij,kj->ki", P, mu)
    elif covariance_type == "tied":
        Pmu = mu @ P
    elif covariance_type == "diag":
        Pmu = P * mu
    else:
        Pmu = P[:, None] * mu
    quad = _quadratic_coefficients(P, d, covariance_type)
    quad = jnp.broadcast_to(quad, (K, quad.shape[-1]))
    const = (
        jnp.log(params.weights)
        + params.half_log_det
        - 0.5 * d * linalg.LOG_2PI
        - 0.5 * jnp.sum(Pmu * mu, axis=1)
    )
    return jnp.concatenate([const[:, None], Pmu, -0.5 * quad], axis=1)


def _weighted_log_prob(params: GaussianParams, F, covariance_type: str):
    """``log w_k + log N(x_n | mu_k, Sigma_k)``, shape (n, K)."""
    return F @ _coefficients(params, covariance_type).T


#: Rows per block when the Gaussian steps form the features themselves (points given as
#: ``GaussianEMData.F``): a block's features stay within a few MB for tens of features.
ROW_BLOCK = 1 << 12


def row_block(n: int) -> int:
    """Rows per block of the blocked Gaussian steps for ``n`` points (static).

    The largest power of two dividing ``n``, at most :data:`ROW_BLOCK`; the estimator pads
    its sample axis to :func:`mixtures.base.padded_length`, a multiple of a power of two, so
    its blocks are full. Other ``n`` with few factors of two are padded inside the step.
    """
    n = int(n)
    return min(ROW_BLOCK, n & -n) if n > 0 else 1


def _blocked(X, w, extra=None):
    """``X`` (n, d), ``w`` (n,) and ``extra`` (n, ...) as ``(B, n_blocks, ...)`` views.

    Block ``j`` is ``[:, j]``: rows ``j, j + n_blocks, ...``. Strided rather than contiguous
    blocks, so that rows split over devices (:mod:`mixtures.sharding`) split every block
    alike and a block is read without communication.
    """
    n = X.shape[0]
    B = row_block(n)
    if B < min(ROW_BLOCK, 256) and n > B:  # few factors of two: pad with zero weights
        B = min(ROW_BLOCK, 256)
        pad = -n % B
        X = jnp.pad(X, ((0, pad), (0, 0)))
        w = jnp.pad(w, (0, pad))
        if extra is not None:
            extra = jnp.pad(extra, ((0, pad),) + ((0, 0),) * (extra.ndim - 1))
    nb = X.shape[0] // B

    def split(a):
        return None if a is None else a.reshape((B, nb) + a.shape[1:])

    return split(X), split(w), split(extra), nb


def _block(a, j):
    return lax.dynamic_index_in_dim(a, j, axis=1, keepdims=False)


def _e_step_on_features(params, F, w, mask, covariance_type):
    """Sum of ``w_n log p(x_n)`` and the statistics of rows with features ``F``."""
    logp = _weighted_log_prob(params, F, covariance_type)
    if mask is not None:
        logp = jnp.where(mask[None, :], logp, -jnp.inf)
    norm = jax.nn.logsumexp(logp, axis=1)
    resp = jnp.exp(logp - norm[:, None]) * w[:, None]
    return jnp.sum(w * norm), resp.T @ F


@partial(jax.jit, static_argnames="covariance_type")
def gaussian_e_step(params: GaussianParams, data: GaussianEMData, covariance_type: str):
    """E-step of a Gaussian mixture.

    With points instead of features in ``data.F`` (shape (n, d)), the features are formed
    and used block by block (:func:`row_block` rows) inside a loop: the same sums, in
    another order.

    Returns
    -------
    lower_bound : scalar
        Weighted mean log-likelihood ``sum_n w_n log p(x_n) / sum_n w_n``.
    stats : array, shape (K, p)
        ``sum_n w_n r_nk F(x_n)`` (responsibilities ``r``): counts, first and second moments.
    """
    w, mask = data.sample_weight, data.component_mask
    if data.F.shape[1] != params.means.shape[-1]:  # features (always more columns than d)
        total, stats = _e_step_on_features(params, data.F, w, mask, covariance_type)
        return total / jnp.sum(w), stats
    X3, w3, _, nb = _blocked(data.F, w)

    def body(j, acc):
        F = gaussian_features(_block(X3, j), covariance_type)
        total, stats = _e_step_on_features(params, F, _block(w3, j), mask, covariance_type)
        return acc[0] + total, acc[1] + stats

    K, d = params.means.shape
    p = _n_features(d, covariance_type)
    zero = (jnp.zeros((), X3.dtype), jnp.zeros((K, p), X3.dtype))
    total, stats = lax.fori_loop(0, nb, body, zero)
    return total / jnp.sum(w), stats


def _unpack_symmetric(vech, d: int):
    """Symmetric (..., d, d) matrices from their row-major upper triangles (..., m)."""
    full = vech @ jnp.asarray(_vech_matrix(d), vech.dtype)
    return full.reshape(vech.shape[:-1] + (d, d))


def _precision_from_covariance(cov, covariance_type: str, d: int):
    """Inverse of ``cov`` and ``0.5 log det`` of the inverse (NaN if not positive definite).

    Symmetric in its roles: applied to a precision it returns the covariance and
    ``-0.5 log det`` of the precision.
    """
    covariance_type = parsimonious.storage_type(covariance_type)
    if covariance_type in ("diag", "spherical"):
        prec = 1.0 / cov
        half = 0.5 * jnp.log(prec)
        return prec, (jnp.sum(half, axis=-1) if covariance_type == "diag" else d * half)

    def one(S):
        L = jnp.linalg.cholesky(S)
        prec = cho_solve((L, True), jnp.eye(S.shape[-1], dtype=S.dtype))
        return 0.5 * (prec + prec.T), -jnp.sum(jnp.log(jnp.diagonal(L)))

    return one(cov) if covariance_type == "tied" else jax.vmap(one)(cov)


@partial(jax.jit, static_argnames="covariance_type")
def gaussian_m_step(
    stats, data: GaussianEMData, covariance_type: str, orientation=None
) -> GaussianParams:
    """Weighted M-step of a Gaussian mixture from the E-step statistics (as scikit-learn's).

    Parameters
    ----------
    stats : array, shape (K, p)
        Output of :func:`gaussian_e_step` (or responsibilities times ``F``).
    data : GaussianEMData
    covariance_type : str
        ``"full"``, ``"tied"``, ``"diag"``, ``"spherical"`` or one of the fourteen models of
        :mod:`mixtures.parsimonious`; the four names are computed as scikit-learn does, the
        other models by :func:`mixtures.parsimonious.covariances_from_scatter` on the
        scatter matrices with the ridge ``N_k reg_covar I`` added (which keeps their
        structure).
    orientation : array, shape (d, d), optional
        EVE/VVE: where the search for the common orientation starts
        (:func:`mixtures.parsimonious.covariances_from_scatter`); ignored by the other types.
    """
    p = stats.shape[1]
    d = next(k for k in range(1, p) if _n_features(k, covariance_type) == p)
    eps = 10.0 * jnp.finfo(stats.dtype).eps
    nk = stats[:, 0] + eps
    means = stats[:, 1 : 1 + d] / nk[:, None]
    second = stats[:, 1 + d :]
    reg = data.reg_covar
    # padding components (all-zero statistics) get weight exactly zero; their mean 0 and
    # covariance reg*I keep them finite
    nk_real = nk if data.component_mask is None else jnp.where(data.component_mask, nk, 0.0)
    model = parsimonious.canonical(covariance_type)
    if model not in ("VII", "VVI", "EEE", "VVV"):
        cov = _parsimonious_covariances(model, nk, means, second, reg, nk_real > 0, d, orientation)
    elif model == "VVV":
        cov = _unpack_symmetric(second / nk[:, None], d) - means[:, :, None] * means[:, None, :]
        cov = cov + reg * jnp.eye(d, dtype=cov.dtype)
    elif model == "EEE":
        total = _unpack_symmetric(jnp.sum(second, axis=0), d)
        cov = (total - jnp.einsum("k,ki,kj->ij", nk_real, means, means)) / jnp.sum(nk_real)
        cov = cov + reg * jnp.eye(d, dtype=cov.dtype)
    elif model == "VVI":
        cov = second / nk[:, None] - means**2 + reg
    else:
        cov = (second[:, 0] / nk - jnp.sum(means**2, axis=1)) / d + reg
    prec, half = _precision_from_covariance(cov, covariance_type, d)
    half = jnp.broadcast_to(half, nk.shape)
    return GaussianParams(nk_real / jnp.sum(nk_real), means, cov, prec, half)


def _parsimonious_covariances(model, nk, means, second, reg, mask, d, orientation=None):
    """Covariances of a parsimonious model from the E-step's moments, in storage layout."""
    st = parsimonious.STORAGE[model]
    if st == "full":
        outer = means[:, :, None] * means[:, None, :]
        W = _unpack_symmetric(second, d) - nk[:, None, None] * outer
        W = W + (nk * reg)[:, None, None] * jnp.eye(d, dtype=W.dtype)
    elif st == "diag":
        W = second - nk[:, None] * means**2 + (nk * reg)[:, None]
    else:  # spherical: only the trace is known; spread it over the diagonal
        tr = second[:, 0] - nk * jnp.sum(means**2, axis=1)
        W = jnp.broadcast_to((tr / d + nk * reg)[:, None], means.shape)
    if model not in ("EVE", "VVE"):
        orientation = None
    return parsimonious.covariances_from_scatter(model, nk, W, mask, orientation)


# a generic combination of the covariances: its eigenvectors diagonalise every one of them
_GOLDEN = 0.6180339887498949


def _orientation(covariances, mask=None):
    """The common orientation ``D`` of covariances ``D A_k D^T`` (K, d, d): the eigenvectors
    of ``sum_k a_k Sigma_k`` for generic ``a_k`` (zero for masked components); where that sum
    has a repeated eigenvalue, every ``Sigma_k`` is isotropic in its eigenspace, so any basis
    of it is common."""
    a = 1.0 + _GOLDEN * jnp.arange(covariances.shape[0], dtype=covariances.dtype)
    if mask is not None:
        a = jnp.where(mask, a, 0.0)
    return jnp.linalg.eigh(jnp.einsum("k,kij->ij", a, covariances))[1]


def _make_steps(covariance_type: str):
    # EVE/VVE: the E-step hands the current orientation to the M-step, whose search starts
    # there (each M-step then increases Q from the current parameters, in a few sweeps)
    common = parsimonious.canonical(covariance_type) in ("EVE", "VVE")

    def e_step(params, data):
        lower, stats = gaussian_e_step(params, data, covariance_type)
        if not common:
            return lower, stats
        return lower, (stats, _orientation(params.covariances, data.component_mask))

    def m_step(stats, data):
        if common:
            stats, D = stats
            return gaussian_m_step(stats, data, covariance_type, orientation=D)
        return gaussian_m_step(stats, data, covariance_type)

    e_step.__name__ = f"gaussian_e_step_{covariance_type}"
    m_step.__name__ = f"gaussian_m_step_{covariance_type}"
    return e_step, m_step


_STEPS: dict = {}


def gaussian_steps(covariance_type: str):
    """The ``(e_step, m_step)`` pair of a covariance type, for :func:`run_em`.

    The same function objects are returned on every call, so jitted loops are reused.
    """
    parsimonious.canonical(covariance_type)  # ValueError for an unknown name
    if covariance_type not in _STEPS:
        _STEPS[covariance_type] = _make_steps(covariance_type)
    return _STEPS[covariance_type]


@partial(jax.jit, static_argnames=("covariance_type", "points", "n_components"))
def gaussian_params_from_resp(
    resp,
    data: GaussianEMData,
    covariance_type: str,
    points: bool = False,
    n_components: int | None = None,
):
    """Parameters from responsibilities (the initial M-step) -> GaussianParams.

    Parameters
    ----------
    resp : array, shape (n, K), or int array, shape (n,)
        Responsibilities, or hard labels in ``0..n_components-1`` (``-1``: the row is in no
        component), which are one-hot encoded block by block.
    data : GaussianEMData
    covariance_type : str
    points : bool, default=False
        Whether ``data.F`` holds the points, not the features (see
        :class:`GaussianEMData`); the statistics are then summed block by block.
    n_components : int, optional
        Number of components ``K`` of labels (static; required with labels).
    """
    labels = jnp.issubdtype(resp.dtype, jnp.integer)
    if labels and n_components is None:
        raise ValueError("n_components is required with labels.")
    dtype = data.sample_weight.dtype

    def weighted(r, w):
        if labels:
            r = jax.nn.one_hot(r, n_components, dtype=dtype)
        return r * w[:, None]

    if not points:
        stats = weighted(resp, data.sample_weight).T @ data.F
        return gaussian_m_step(stats, data, covariance_type)
    X3, w3, r3, nb = _blocked(data.F, data.sample_weight, resp)

    def body(j, acc):
        F = gaussian_features(_block(X3, j), covariance_type)
        return acc + weighted(_block(r3, j), _block(w3, j)).T @ F

    d = data.F.shape[1]
    p = _n_features(d, covariance_type)
    K = n_components if labels else resp.shape[1]
    stats = lax.fori_loop(0, nb, body, jnp.zeros((K, p), X3.dtype))
    return gaussian_m_step(stats, data, covariance_type)


@partial(jax.jit, static_argnames="covariance_type")
def gaussian_params_from_init(
    params: GaussianParams, weights, means, precisions, covariance_type: str
) -> GaussianParams:
    """Replace parts of ``params`` by user-given initial values (None keeps the value).

    ``precisions`` are precision matrices (shapes as the covariances); the covariances are
    recomputed as their inverses.
    """
    if weights is not None:
        params = params._replace(weights=jnp.asarray(weights, params.weights.dtype))
    if means is not None:
        params = params._replace(means=jnp.asarray(means, params.means.dtype))
    if precisions is not None:
        P = jnp.asarray(precisions, params.precisions.dtype)
        d = params.means.shape[-1]
        cov, neg_half = _precision_from_covariance(P, covariance_type, d)
        half = jnp.broadcast_to(-neg_half, params.weights.shape)
        params = params._replace(covariances=cov, precisions=P, half_log_det=half)
    return params


# ----------------------------------------------------------------------------- k-means
def _sq_dist(X, C):
    """Squared distances between rows of X (n, d) and C (k, d), shape (n, k)."""
    return jnp.maximum(
        jnp.sum(X * X, axis=1)[:, None] - 2.0 * X @ C.T + jnp.sum(C * C, axis=1)[None, :], 0.0
    )


def _draw(prob, u):
    """Indices drawn with probabilities proportional to ``prob`` (n,), one per uniform in ``u``
    (inverse CDF; no PRNG inside, so nothing to compile for random bits)."""
    cdf = jnp.cumsum(prob)
    idx = jnp.sum(cdf[None, :] <= (u * cdf[-1])[..., None], axis=-1)
    return jnp.minimum(idx, prob.shape[0] - 1).astype(jnp.int32)


@jax.jit
def kmeans_plusplus(X, sample_weight, u):
    """Greedy k-means++ seeding (Arthur & Vassilvitskii), weighted.

    Each new centre is the best (lowest potential) of ``T`` candidates drawn with probability
    proportional to ``w_n D(x_n)^2``, ``D`` the distance to the nearest centre so far.

    Parameters
    ----------
    X : array, shape (n, d)
    sample_weight : array, shape (n,)
        Non-negative weights; rows with weight zero are never chosen.
    u : array, shape (n_clusters, T)
        Uniform random numbers in [0, 1) that drive the draws (``u[0, 0]`` picks the first
        centre with probability proportional to ``w``); scikit-learn uses
        ``T = 2 + int(log(n_clusters))``.

    Returns
    -------
    centers : array, shape (n_clusters, d)
    indices : array of int, shape (n_clusters,)
    """
    n_clusters = u.shape[0]
    w = sample_weight
    first = _draw(w, u[0, :1])[0]
    d2 = _sq_dist(X, X[first][None])[:, 0]
    indices = jnp.zeros((n_clusters,), jnp.int32).at[0].set(first)

    def step(c, carry):
        d2, indices = carry
        # candidates with probability w D^2 (w alone if every point is a centre already)
        prob = jnp.where(jnp.sum(w * d2) > 0, w * d2, w)
        cand = _draw(prob, u[c])
        d2_cand = jnp.minimum(d2[:, None], _sq_dist(X, X[cand]))  # (n, T)
        best = jnp.argmin(w @ d2_cand)
        return d2_cand[:, best], indices.at[c].set(cand[best])

    _, indices = lax.fori_loop(1, n_clusters, step, (d2, indices))
    return X[indices], indices


@jax.jit
def kmeans(X, sample_weight, u, max_iter: int = 300, tol: float = 1e-4):
    """Weighted Lloyd k-means from a k-means++ seeding, as one ``lax.while_loop``.

    Stops when the labels no longer change, or the summed squared centre shift is at most
    ``tol`` times the mean per-feature variance of ``X`` (scikit-learn's rule), or after
    ``max_iter`` iterations. Empty clusters keep their centre.

    Parameters
    ----------
    X : array, shape (n, d)
    sample_weight : array, shape (n,)
    u : array, shape (n_clusters, T)
        Uniform random numbers of the seeding (see :func:`kmeans_plusplus`).
    max_iter : int
    tol : float

    Returns
    -------
    centers : array, shape (n_clusters, d)
    labels : array of int, shape (n,)
    """
    n_clusters = u.shape[0]
    w = sample_weight
    wsum = jnp.sum(w)
    mean = (w @ X) / wsum
    var = (w @ (X - mean) ** 2) / wsum
    tol_abs = tol * jnp.mean(var)
    centers, _ = kmeans_plusplus(X, w, u)

    def assign(C):
        return jnp.argmin(_sq_dist(X, C), axis=1)

    def cond(state):
        it, _, _, shift, changed = state
        return (it < max_iter) & changed & (shift > tol_abs)

    def body(state):
        it, C, labels, _, _ = state
        onehot = jax.nn.one_hot(labels, n_clusters, dtype=X.dtype) * w[:, None]
        counts = jnp.sum(onehot, axis=0)
        sums = onehot.T @ X
        newC = jnp.where(counts[:, None] > 0, sums / jnp.maximum(counts, 1e-300)[:, None], C)
        new_labels = assign(newC)
        shift = jnp.sum((newC - C) ** 2)
        return it + 1, newC, new_labels, shift, jnp.any(new_labels != labels)

    labels0 = assign(centers)
    state = (jnp.asarray(0), centers, labels0, jnp.asarray(jnp.inf, X.dtype), jnp.asarray(True))
    _, centers, labels, _, _ = lax.while_loop(cond, body, state)
    return centers, labels
