"""Pure JAX numerical core of the SDP clustering solvers.

Every SDP solved here has the same shape: ``B`` symmetric ``(n, n)`` blocks ``Z_b`` and

.. math::

    \\min_{Z_1..Z_B} \\sum_b \\langle C_b, Z_b \\rangle
    \\quad \\text{s.t.} \\quad Z_b \\succeq 0,\\ \\operatorname{tr} Z_b = t,\\
    Z_b \\ge 0,\\ \\sum_b Z_b \\mathbf 1 = \\mathbf 1 .

Peng-Wei's K-means SDP is ``B = 1``, ``t = K``, ``C = D / 2`` (half the squared distances);
the likelihood-adjusted SDP (LA-SDP) is ``B = K``, ``t = 1`` and ``C_k`` the Mahalanobis cost.
The constraint set is the intersection of two sets with closed-form projections,

* ``S``: every block positive semi-definite with trace ``t`` (eigen-decomposition and a
  projection of the eigenvalues onto the simplex), and
* ``N``: every row of the horizontal concatenation ``[Z_1, ..., Z_B]`` (length ``B n``) on
  the unit simplex (entries non-negative, summing to one),

so the ADMM below alternates the two projections (with residual-balancing of the penalty).
"""

from __future__ import annotations

from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp

__all__ = [
    "AdmmResult",
    "admm_solve",
    "kmeans_cost",
    "la_cost",
    "project_simplex",
    "project_spectraplex",
    "project_row_simplex",
    "scatter_from_membership",
    "sdp_objective",
]


class AdmmResult(NamedTuple):
    """Output of :func:`admm_solve` (all JAX arrays).

    Attributes
    ----------
    Z : (B, n, n) array
        The solution, taken from the ``N`` side (non-negative, rows summing to one).
    Z_psd : (B, n, n) array
        The ``S`` side (positive semi-definite, trace ``t``); equal to ``Z`` at convergence.
    dual : (B, n, n) array
        Scaled dual variable (for warm starts), in units of the normalised cost.
    rho : scalar
        Final ADMM penalty (for warm starts).
    n_iter : int scalar
        Iterations used.
    primal_residual, dual_residual : scalars
        Final relative residuals ``||Z_psd - Z|| / max(||Z_psd||, ||Z||)`` and
        ``||Z - Z_prev|| / ||Z||`` (the dual residual divided by ``rho ||Z||``).
    converged : bool scalar
        Both residuals below ``tol``.
    """

    Z: jax.Array
    Z_psd: jax.Array
    dual: jax.Array
    rho: jax.Array
    n_iter: jax.Array
    primal_residual: jax.Array
    dual_residual: jax.Array
    converged: jax.Array


def project_simplex(v, total):
    """Euclidean projection of each row of ``v`` onto ``{x >= 0, sum(x) = total}``.

    Parameters
    ----------
    v : (..., m) array
    total : scalar, positive

    Returns
    -------
    (..., m) array
    """
    # Michelot's algorithm: theta = (sum of the active entries - total) / (their number), with
    # the active set {v > theta} shrinking until it is stable. theta never decreases and the
    # set only loses entries, so it ends (exactly) in at most m rounds, in practice a few. No
    # sort: XLA's CPU sort made the sort-based projection the most expensive step of the ADMM.
    m = v.shape[-1]
    theta0 = (jnp.sum(v, axis=-1, keepdims=True) - total) / m

    def cond(state):
        _, changed, it = state
        return changed & (it < m)

    def body(state):
        theta, _, it = state
        active = v > theta
        count = jnp.maximum(jnp.sum(active, axis=-1, keepdims=True), 1).astype(v.dtype)
        new = (jnp.sum(jnp.where(active, v, 0.0), axis=-1, keepdims=True) - total) / count
        return new, jnp.any(new > theta), it + 1

    theta, _, _ = jax.lax.while_loop(cond, body, (theta0, jnp.asarray(True), 0))
    return jnp.maximum(v - theta, 0.0)


def project_spectraplex(M, trace):
    """Project each symmetric block onto ``{Z PSD, tr Z = trace}`` (Frobenius norm).

    Parameters
    ----------
    M : (B, n, n) array
        Blocks; symmetrised before the eigen-decomposition.
    trace : scalar

    Returns
    -------
    (B, n, n) array
    """
    sym = 0.5 * (M + jnp.swapaxes(M, -1, -2))
    w, V = jnp.linalg.eigh(sym)
    w = project_simplex(w, trace)
    return jnp.einsum("bij,bj,bkj->bik", V, w, V)


def project_row_simplex(M):
    """Project so that every row of ``[M_1, ..., M_B]`` lies on the unit simplex.

    Parameters
    ----------
    M : (B, n, n) array

    Returns
    -------
    (B, n, n) array, non-negative, with ``sum_b M_b 1 = 1``.
    """
    B, n, _ = M.shape
    rows = jnp.transpose(M, (1, 0, 2)).reshape(n, B * n)
    rows = project_simplex(rows, 1.0)
    return jnp.transpose(rows.reshape(n, B, n), (1, 0, 2))


def sdp_objective(C, Z):
    """``sum_b <C_b, Z_b>`` for ``C, Z`` of shape ``(B, n, n)``."""
    return jnp.sum(C * Z)


def _normalise_cost(C):
    # Shifting every block by the same constant changes the objective by a constant (the
    # entries of sum_b Z_b sum to n), and scaling does not move the minimiser: work with a
    # centred, unit-scale cost so that one penalty rho fits every problem.
    Cn = C - jnp.mean(C)
    scale = jnp.sqrt(jnp.mean(Cn**2)) * C.shape[-1]
    return Cn / jnp.where(scale > 0, scale, 1.0)


@partial(jax.jit, static_argnames=("max_iter",))
def admm_solve(C, trace, Z0, U0, rho0, *, max_iter=5000, tol=1e-6):
    """Solve the block SDP of the module docstring by ADMM (two projections).

    Parameters
    ----------
    C : (B, n, n) array
        Cost blocks (symmetric).
    trace : scalar
        Trace ``t`` of each block (``K`` for Peng-Wei, 1 for LA-SDP).
    Z0 : (B, n, n) array
        Starting point (e.g. the membership matrices of an initial partition, or a previous
        solution for a warm start).
    U0 : (B, n, n) array
        Starting scaled dual (zeros, or a previous :attr:`AdmmResult.dual`).
    rho0 : scalar
        Starting penalty (1.0, or a previous :attr:`AdmmResult.rho`).
    max_iter : int
        Maximum number of iterations (static).
    tol : float
        Relative tolerance on the primal and dual residuals.

    Returns
    -------
    AdmmResult
    """
    Cn = _normalise_cost(C)
    dtype = Cn.dtype
    eps = jnp.asarray(1e-30, dtype)

    def cond(state):
        _, _, _, _, it, r, s = state
        return (it < max_iter) & ((r > tol) | (s > tol))

    def body(state):
        X, Y, U, rho, it, _, _ = state
        X = project_spectraplex(Y - U - Cn / rho, trace)
        Y_new = project_row_simplex(X + U)
        U = U + X - Y_new
        r = jnp.linalg.norm(X - Y_new) / jnp.maximum(
            jnp.maximum(jnp.linalg.norm(X), jnp.linalg.norm(Y_new)), eps
        )
        s = jnp.linalg.norm(Y_new - Y) / jnp.maximum(jnp.linalg.norm(Y_new), eps)
        # residual balancing: change rho (and rescale the scaled dual) every 20 iterations
        adapt = (it % 20) == 19
        up = adapt & (r > 10.0 * s)
        down = adapt & (s > 10.0 * r)
        factor = jnp.where(up, 2.0, jnp.where(down, 0.5, 1.0)).astype(dtype)
        return X, Y_new, U / factor, rho * factor, it + 1, r, s

    inf = jnp.asarray(jnp.inf, dtype)
    X0 = project_spectraplex(Z0, trace)
    state = (X0, project_row_simplex(Z0), U0.astype(dtype), jnp.asarray(rho0, dtype),
             jnp.asarray(0), inf, inf)
    X, Y, U, rho, it, r, s = jax.lax.while_loop(cond, body, state)
    return AdmmResult(Y, X, U, rho, it, r, s, (r <= tol) & (s <= tol))


@jax.jit
def kmeans_cost(X):
    """Peng-Wei cost ``C[i, j] = ||x_i - x_j||^2 / 2`` as one block.

    Parameters
    ----------
    X : (n, p) array

    Returns
    -------
    (1, n, n) array
    """
    sq = jnp.sum(X**2, axis=1)
    D = sq[:, None] + sq[None, :] - 2.0 * X @ X.T
    return (0.5 * jnp.maximum(D, 0.0))[None]


@jax.jit
def la_cost(X, covariances, log_weights):
    """Likelihood-adjusted cost blocks.

    ``C_k[i, j] = 1/2 (x_i - x_j)^T Sigma_k^{-1} (x_i - x_j) + log det Sigma_k - 2 log pi_k``,
    so that ``sum_k <C_k, Z_k>`` at the membership matrices of a partition equals
    ``-2 log L - n p log(2 pi)`` of the classification likelihood with the centroids
    profiled out.

    Parameters
    ----------
    X : (n, p) array
    covariances : (K, p, p) array
        Full cluster covariances (symmetric positive definite).
    log_weights : (K,) array
        Log mixing weights ``log pi_k``.

    Returns
    -------
    (K, n, n) array
    """
    L = jnp.linalg.cholesky(covariances)  # (K, p, p)
    # whitened data per cluster: W_k = L_k^{-1} X^T, (K, p, n)
    W = jax.scipy.linalg.solve_triangular(
        L, jnp.broadcast_to(X.T, (L.shape[0],) + X.T.shape), lower=True
    )
    sq = jnp.sum(W**2, axis=1)  # (K, n)
    G = jnp.einsum("kpi,kpj->kij", W, W)
    D = jnp.maximum(sq[:, :, None] + sq[:, None, :] - 2.0 * G, 0.0)
    logdet = 2.0 * jnp.sum(jnp.log(jnp.diagonal(L, axis1=-2, axis2=-1)), axis=-1)
    return 0.5 * D + (logdet - 2.0 * log_weights)[:, None, None]


@jax.jit
def scatter_from_membership(X, Z):
    """Cluster sizes, means and scatter matrices from (relaxed) membership matrices.

    For ``Z_k = 1_G 1_G^T / |G|`` this returns ``|G|``, the cluster mean and the maximum-
    likelihood covariance ``sum_{i in G} (x_i - m)(x_i - m)^T / |G|``; for a relaxed ``Z_k``
    it is the same formula with weights:
    ``Sigma_k = sum_ij Z_k[i,j] (x_i - x_j)(x_i - x_j)^T / (2 sum_ij Z_k[i,j])``.

    Parameters
    ----------
    X : (n, p) array
    Z : (K, n, n) array

    Returns
    -------
    sizes : (K,) array
        ``1^T Z_k 1`` (number of points, possibly fractional).
    means : (K, p) array
        ``X^T Z_k 1 / sizes`` (centroid of the row masses).
    covariances : (K, p, p) array
    """
    Zs = 0.5 * (Z + jnp.swapaxes(Z, -1, -2))
    r = jnp.sum(Zs, axis=2)  # (K, n) row masses
    sizes = jnp.sum(r, axis=1)
    safe = jnp.maximum(sizes, jnp.finfo(X.dtype).tiny)
    means = (r @ X) / safe[:, None]
    first = jnp.einsum("ki,ip,iq->kpq", r, X, X)
    second = jnp.einsum("ip,kij,jq->kpq", X, Zs, X)
    return sizes, means, (first - second) / safe[:, None, None]
