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

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp

from mixtures import gaussian

__all__ = [
    "AdmmResult",
    "admm_solve",
    "kmeans_cost",
    "la_cost",
    "project_simplex",
    "project_spectraplex",
    "project_spectraplex_warm",
    "project_row_simplex",
    "scatter_from_membership",
    "sdp_objective",
]


# Largest residual ``||M v - w v||`` of a kept Ritz pair, relative to ``||M||_F``, for which
# :func:`project_spectraplex_warm` uses the Ritz pairs instead of a full eigen-decomposition.
RITZ_TOL = 1e-6


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


def project_simplex(v, total, mask=None, theta=None):
    """Euclidean projection of each row of ``v`` onto ``{x >= 0, sum(x) = total}``.

    Parameters
    ----------
    v : (..., m) array
    total : scalar, positive
    mask : (..., m) bool array or None
        Entries that take part (broadcast against ``v``); the others are returned as zero and
        do not count, so a padded row gives the projection of its unpadded part.
    theta : (..., 1) array or None
        A guess of each row's threshold (e.g. from the previous ADMM iteration); used where it
        is at most the true threshold, which the iteration then reaches in a round or two.

    Returns
    -------
    (..., m) array
    """
    return _simplex_threshold(v, total, mask, theta)[0]


def _simplex_threshold(v, total, mask=None, theta=None):
    """:func:`project_simplex` and the thresholds ``theta`` (..., 1) of its rows."""
    # Michelot's algorithm: theta = (sum of the active entries - total) / (their number), with
    # the active set {v > theta} shrinking until it is stable. theta never decreases and the
    # set only loses entries, so it ends (exactly) in at most m rounds, in practice a few. No
    # sort: XLA's CPU sort made the sort-based projection the most expensive step of the ADMM.
    m = v.shape[-1]
    mask = jnp.ones(v.shape, bool) if mask is None else jnp.broadcast_to(mask, v.shape)
    count0 = jnp.maximum(jnp.sum(mask, axis=-1, keepdims=True), 1).astype(v.dtype)
    theta0 = (jnp.sum(jnp.where(mask, v, 0.0), axis=-1, keepdims=True) - total) / count0
    if theta is not None:
        # Newton from below: a guess is usable where the excess mass at it is non-negative
        excess = jnp.sum(jnp.where(mask, jnp.maximum(v - theta, 0.0), 0.0), -1, keepdims=True)
        theta0 = jnp.where(excess >= total, jnp.maximum(theta, theta0), theta0)

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
    return jnp.where(mask, jnp.maximum(v - theta, 0.0), 0.0), theta


def _valid(n, n_valid):
    """Boolean mask of the first ``n_valid`` of ``n`` points (all when ``n_valid`` is None)."""
    return jnp.arange(n) < (n if n_valid is None else n_valid)


def _shifted(M, n_valid):
    """Symmetrised blocks with the padding on a diagonal below the valid block's spectrum.

    The Frobenius norm bounds the spectrum, so the padding's eigenvalues come first in
    ascending order, far from the others, no eigenvector mixes the two parts, and no
    projection onto the spectraplex keeps them. Returns ``(shifted, inside, n_pad)``.
    """
    n = M.shape[-1]
    valid = _valid(n, n_valid)
    inside = valid[:, None] & valid[None, :]
    sym = jnp.where(inside, 0.5 * (M + jnp.swapaxes(M, -1, -2)), 0.0)
    bound = 2.0 * jnp.sqrt(jnp.sum(sym**2, axis=(-2, -1))) + 1.0  # (B,)
    diag = jnp.where(valid, 0.0, -bound[:, None])  # (B, n)
    return sym + diag[:, :, None] * jnp.eye(n, dtype=M.dtype), inside, n - jnp.sum(valid)


def _spectraplex_full(M, trace, n_valid, rank):
    """Projection by a full eigen-decomposition; also the top ``rank`` eigenvectors."""
    n = M.shape[-1]
    shifted, inside, n_pad = _shifted(M, n_valid)
    w, V = jnp.linalg.eigh(shifted)
    w = project_simplex(w, trace, jnp.arange(n) >= n_pad)
    out = jnp.einsum("bij,bj,bkj->bik", V, w, V)
    return jnp.where(inside, out, 0.0), V[..., n - rank :]


@jax.jit
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
    return _spectraplex_full(M, trace, n_valid, 1)[0]


@jax.jit
def project_spectraplex_warm(M, trace, Q, n_valid=None):
    """:func:`project_spectraplex` from a subspace that holds the kept eigenvectors.

    The projection only keeps the eigenvalues above a threshold ``theta`` (where the shifted
    spectrum sums to ``trace``), a few near a low-rank solution. A Rayleigh-Ritz step on the
    block Krylov space ``[Q, M Q, M^2 Q]`` gives them in ``O(n^2 r)``; it is accepted when a
    Cholesky factorisation certifies that ``theta I - M`` is positive definite away from the
    kept Ritz vectors (no eigenvalue of ``M`` above ``theta`` was missed) and their residuals
    are at rounding level, else the full eigen-decomposition is used.

    Parameters
    ----------
    M : (B, n, n) array
    trace : scalar
    Q : (B, n, r) array
        Orthonormal columns spanning (approximately) the top eigenvectors, e.g. from the
        previous iteration of an iterative method; ``3 r <= n``.
    n_valid : int scalar or None
        As in :func:`project_spectraplex`.

    Returns
    -------
    Z : (B, n, n) array
        The projection.
    Q : (B, n, r) array
        The top ``r`` Ritz (or eigen) vectors, a warm start for the next call.
    full : bool scalar
        Whether the full eigen-decomposition was needed.
    """
    n, r = M.shape[-1], Q.shape[-1]
    shifted, inside, _ = _shifted(M, n_valid)
    MQ = shifted @ Q
    basis, _ = jnp.linalg.qr(jnp.concatenate([Q, MQ, shifted @ MQ], axis=-1))  # (B, n, 3r)
    MB = shifted @ basis
    w, Y = jnp.linalg.eigh(jnp.swapaxes(basis, -1, -2) @ MB)  # ascending, (B, 3r)
    R = basis @ Y
    wk, theta = _simplex_threshold(w, trace)
    kept = wk > 0
    # residuals of the kept Ritz pairs, relative to the spectrum's scale
    scale = jnp.sqrt(jnp.sum(shifted**2, axis=(-2, -1)))[:, None] + 1.0
    resid = jnp.linalg.norm(MB @ Y - R * w[:, None, :], axis=1) / scale  # (B, 3r)
    tight = jnp.all(jnp.where(kept, resid, 0.0) < RITZ_TOL, axis=-1)
    # theta I - M with the kept directions lifted to 1: positive definite iff every other
    # direction has a Rayleigh quotient below theta (to the margin)
    lift = jnp.where(kept, w - theta + 1.0, 0.0)
    eye = jnp.eye(n, dtype=M.dtype)
    margin = 1e-10 * scale[:, :, None]
    A = (theta[:, :, None] + margin) * eye - shifted + jnp.einsum("bir,br,bjr->bij", R, lift, R)
    certified = jnp.all(jnp.isfinite(jnp.linalg.cholesky(A)), axis=(-2, -1))
    ok = jnp.all(tight & certified & ~kept[:, 0])

    def warm(_):
        out = jnp.einsum("bir,br,bjr->bij", R, wk, R)
        return jnp.where(inside, out, 0.0), R[..., 2 * r :]

    def full(_):
        return _spectraplex_full(M, trace, n_valid, r)

    Z, Qn = jax.lax.cond(ok, warm, full, None)
    return Z, Qn, ~ok


def project_row_simplex(M, n_valid=None, theta=None):
    """Project so that every row of ``[M_1, ..., M_B]`` lies on the unit simplex.

    Parameters
    ----------
    M : (B, n, n) array
    n_valid : int scalar or None
        Only the first ``n_valid`` rows and columns of each block take part (the rest is
        padding and is returned as zero); None: all.
    theta : (n, 1) array or None
        Guessed thresholds of the rows (see :func:`project_simplex`).

    Returns
    -------
    (B, n, n) array, non-negative, with ``sum_b M_b 1 = 1`` on the valid rows.
    """
    return _row_simplex(M, n_valid, theta)[0]


def _row_simplex(M, n_valid=None, theta=None):
    """:func:`project_row_simplex` and the rows' thresholds (n, 1)."""
    B, n, _ = M.shape
    valid = _valid(n, n_valid)
    rows = jnp.transpose(M, (1, 0, 2)).reshape(n, B * n)
    mask = valid[:, None] & jnp.tile(valid, B)[None, :]
    rows, theta = _simplex_threshold(rows, 1.0, mask, theta)
    return jnp.transpose(rows.reshape(n, B, n), (1, 0, 2)), theta


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


@functools.partial(jax.jit, static_argnames=("rank",))
def admm_solve(C, trace, Z0, U0, rho0, n_valid=None, *, max_iter=5000, tol=1e-6, rank=None):
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
    rank : int or None
        Static. When given, each PSD projection is computed from the ``rank`` leading
        eigenvectors of the previous iteration (:func:`project_spectraplex_warm`, certified,
        with the full eigen-decomposition as fall-back): the same iterates at ``O(n^2 rank)``
        instead of ``O(n^3)`` while the solution has few eigenvalues above the threshold.
        None: full eigen-decompositions throughout.

    Returns
    -------
    AdmmResult
    """
    Cn = _normalise_cost(C, n_valid)
    dtype = Cn.dtype
    eps = jnp.asarray(1e-30, dtype)
    B, n, _ = C.shape
    # the Krylov space of the warm projection has 3 r columns: below that size, full eighs
    warm = rank is not None and 3 * int(rank) <= n
    r = int(rank) if warm else 1

    def project_psd(M, Q):
        if not warm:
            return project_spectraplex(M, trace, n_valid), Q
        return project_spectraplex_warm(M, trace, Q, n_valid)[:2]

    def cond(state):
        it, r_, s_ = state[5:8]
        return (it < max_iter) & ((r_ > tol) | (s_ > tol))

    def body(state):
        X, Y, U, rho, Q, it, _, _, theta = state
        X, Q = project_psd(Y - U - Cn / rho, Q)
        Y_new, theta = _row_simplex(X + U, n_valid, theta)
        U = U + X - Y_new
        r_ = jnp.linalg.norm(X - Y_new) / jnp.maximum(
            jnp.maximum(jnp.linalg.norm(X), jnp.linalg.norm(Y_new)), eps
        )
        s_ = jnp.linalg.norm(Y_new - Y) / jnp.maximum(jnp.linalg.norm(Y_new), eps)
        # residual balancing: change rho (and rescale the scaled dual) every 20 iterations
        adapt = (it % 20) == 19
        up = adapt & (r_ > 10.0 * s_)
        down = adapt & (s_ > 10.0 * r_)
        factor = jnp.where(up, 2.0, jnp.where(down, 0.5, 1.0)).astype(dtype)
        return X, Y_new, U / factor, rho * factor, Q, it + 1, r_, s_, theta

    inf = jnp.asarray(jnp.inf, dtype)
    valid = _valid(n, n_valid)
    inside = valid[:, None] & valid[None, :]
    X0, Q0 = _spectraplex_full(Z0, trace, n_valid, r)
    Y0, theta0 = _row_simplex(Z0, n_valid)
    state = (
        X0,
        Y0,
        jnp.where(inside, U0, 0.0).astype(dtype),
        jnp.asarray(rho0, dtype),
        Q0,
        jnp.asarray(0),
        inf,
        inf,
        theta0,
    )
    X, Y, U, rho, _, it, r_, s_, _ = jax.lax.while_loop(cond, body, state)
    return AdmmResult(Y, X, U, rho, it, r_, s_, (r_ <= tol) & (s_ <= tol))


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
    # P_k P_k^T = Sigma_k^{-1}: the whitened data X P_k turn Mahalanobis into Euclidean terms
    P = gaussian.precisions_cholesky(covariances, "full")  # (K, p, p)
    W = jnp.einsum("ip,kpq->kiq", X, P)  # (K, n, p)
    sq = jnp.sum(W**2, axis=2)  # (K, n)
    G = jnp.einsum("kiq,kjq->kij", W, W)
    D = jnp.maximum(sq[:, :, None] + sq[:, None, :] - 2.0 * G, 0.0)
    logdet = -2.0 * jnp.sum(jnp.log(jnp.diagonal(P, axis1=-2, axis2=-1)), axis=-1)
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
