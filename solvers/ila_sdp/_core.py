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


def project_simplex(v, total, mask=None):
    """Euclidean projection of each row of ``v`` onto ``{x >= 0, sum(x) = total}``.

    Parameters
    ----------
    v : (..., m) array
    total : scalar, positive
    mask : (..., m) bool array or None
        Entries that take part (broadcast against ``v``); the others are returned as zero and
        do not count, so a padded row gives the projection of its unpadded part.

    Returns
    -------
    (..., m) array
    """
    # Michelot's algorithm: theta = (sum of the active entries - total) / (their number), with
    # the active set {v > theta} shrinking until it is stable. theta never decreases and the
    # set only loses entries, so it ends (exactly) in at most m rounds, in practice a few. No
    # sort: XLA's CPU sort made the sort-based projection the most expensive step of the ADMM.
    m = v.shape[-1]
    mask = jnp.ones(v.shape, bool) if mask is None else jnp.broadcast_to(mask, v.shape)
    count0 = jnp.maximum(jnp.sum(mask, axis=-1, keepdims=True), 1).astype(v.dtype)
    theta0 = (jnp.sum(jnp.where(mask, v, 0.0), axis=-1, keepdims=True) - total) / count0

    def cond(state):
        _, changed, it = state
        return changed & (it < m)

    def body(state):
        theta, _, it = state
        active = (v > theta) & mask
        count = jnp.maximum(jnp.sum(active, axis=-1, keepdims=True), 1).astype(v.dtype)
        new = (jnp.sum(jnp.where(active, v, 0.0), axis=-1, keepdims=True) - total) / count
        return new, jnp.any(new > theta), it + 1

    theta, _, _ = jax.lax.while_loop(cond, body, (theta0, jnp.asarray(True), 0))
    return jnp.where(mask, jnp.maximum(v - theta, 0.0), 0.0)


def _valid(n, n_valid):
    """Boolean mask of the first ``n_valid`` of ``n`` points (all when ``n_valid`` is None)."""
    return jnp.arange(n) < (n if n_valid is None else n_valid)


def project_spectraplex(M, trace, n_valid=None):
    """Project each symmetric block onto ``{Z PSD, tr Z = trace}`` (Frobenius norm).

    Parameters
    ----------
    M : (B, n, n) array
        Blocks; symmetrised before the eigen-decomposition.
    trace : scalar
    n_valid : int scalar or None
        Only the leading ``n_valid x n_valid`` sub-block of each block is projected (the rest
        is padding and is returned as zero); None: all of it.

    Returns
    -------
    (B, n, n) array
    """
    n = M.shape[-1]
    valid = _valid(n, n_valid)
    inside = valid[:, None] & valid[None, :]
    sym = jnp.where(inside, 0.5 * (M + jnp.swapaxes(M, -1, -2)), 0.0)
    # The padding gets a diagonal below the valid block's spectrum (the Frobenius norm bounds
    # it), so its eigenvalues come first in eigh's ascending order, far from the others, and
    # no eigenvector mixes the two blocks; they are then left out of the simplex projection.
    bound = 2.0 * jnp.sqrt(jnp.sum(sym**2, axis=(-2, -1))) + 1.0  # (B,)
    diag = jnp.where(valid, 0.0, -bound[:, None])  # (B, n)
    w, V = jnp.linalg.eigh(sym + diag[:, :, None] * jnp.eye(n, dtype=M.dtype))
    n_pad = n - jnp.sum(valid)
    w = project_simplex(w, trace, jnp.arange(n) >= n_pad)
    out = jnp.einsum("bij,bj,bkj->bik", V, w, V)
    return jnp.where(inside, out, 0.0)


def project_row_simplex(M, n_valid=None):
    """Project so that every row of ``[M_1, ..., M_B]`` lies on the unit simplex.

    Parameters
    ----------
    M : (B, n, n) array
    n_valid : int scalar or None
        Only the first ``n_valid`` rows and columns of each block take part (the rest is
        padding and is returned as zero); None: all.

    Returns
    -------
    (B, n, n) array, non-negative, with ``sum_b M_b 1 = 1`` on the valid rows.
    """
    B, n, _ = M.shape
    valid = _valid(n, n_valid)
    rows = jnp.transpose(M, (1, 0, 2)).reshape(n, B * n)
    mask = valid[:, None] & jnp.tile(valid, B)[None, :]
    rows = project_simplex(rows, 1.0, mask)
    return jnp.transpose(rows.reshape(n, B, n), (1, 0, 2))


def sdp_objective(C, Z):
    """``sum_b <C_b, Z_b>`` for ``C, Z`` of shape ``(B, n, n)``."""
    return jnp.sum(C * Z)


def _normalise_cost(C, n_valid=None):
    # Shifting every block by the same constant changes the objective by a constant (the
    # entries of sum_b Z_b sum to n), and scaling does not move the minimiser: work with a
    # centred, unit-scale cost so that one penalty rho fits every problem. Padding is ignored.
    B, n, _ = C.shape
    valid = _valid(n, n_valid)
    inside = valid[:, None] & valid[None, :]
    m = jnp.sum(valid).astype(C.dtype)
    count = B * m * m
    Cn = jnp.where(inside, C - jnp.sum(jnp.where(inside, C, 0.0)) / count, 0.0)
    scale = jnp.sqrt(jnp.sum(Cn**2) / count) * m
    return Cn / jnp.where(scale > 0, scale, 1.0)


@jax.jit
def admm_solve(C, trace, Z0, U0, rho0, n_valid=None, *, max_iter=5000, tol=1e-6):
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
    n_valid : int scalar or None
        Number of real points: the SDP is over the leading ``n_valid x n_valid`` sub-blocks
        and the rest of every block is padding (returned as zero), so that problems of
        several sizes share one compiled program. None: no padding.
    max_iter : int
        Maximum number of iterations (traced: changing it compiles nothing).
    tol : float
        Relative tolerance on the primal and dual residuals.

    Returns
    -------
    AdmmResult
    """
    Cn = _normalise_cost(C, n_valid)
    dtype = Cn.dtype
    eps = jnp.asarray(1e-30, dtype)

    def cond(state):
        _, _, _, _, it, r, s = state
        return (it < max_iter) & ((r > tol) | (s > tol))

    def body(state):
        X, Y, U, rho, it, _, _ = state
        X = project_spectraplex(Y - U - Cn / rho, trace, n_valid)
        Y_new = project_row_simplex(X + U, n_valid)
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
    valid = _valid(C.shape[-1], n_valid)
    inside = valid[:, None] & valid[None, :]
    X0 = project_spectraplex(Z0, trace, n_valid)
    state = (X0, project_row_simplex(Z0, n_valid), jnp.where(inside, U0, 0.0).astype(dtype),
             jnp.asarray(rho0, dtype), jnp.asarray(0), inf, inf)
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
