"""Kronecker-product algebra without forming the product.

Vectorisation is row-major (C order, last axis fastest), matching ``numpy.kron`` and
``reshape``: for a tensor ``U`` of shape ``(N_1, ..., N_D)``,
``(A_1 kron ... kron A_D) vec(U) = vec(U x_1 A_1 ... x_D A_D)``, where ``x_j`` is the mode-j
product; in 2-D, ``(A_1 kron A_2) vec(U) = vec(A_1 U A_2^T)``.

Costs for D factors of size M_j (M = prod M_j): matvec ``O(M sum_j M_j)``, eigen-based solve
``O(sum_j M_j^3 + M sum_j M_j)``, log-determinant ``O(sum_j M_j^3 + M)``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import jax.numpy as jnp

__all__ = [
    "mode_product",
    "kron_matvec",
    "kron_eigh",
    "kron_diag",
    "kron_solve",
    "kron_logdet",
    "kron_mvn_logpdf",
    "grid",
]


def mode_product(A, U, mode: int):
    """Multiply tensor ``U`` along axis ``mode`` by the matrix ``A``.

    Parameters
    ----------
    A : array, shape (M, N)
    U : array, shape (..., N, ...) with ``U.shape[mode] == N``
    mode : int

    Returns
    -------
    array, same shape as ``U`` with axis ``mode`` of length M
    """
    out = jnp.tensordot(A, U, axes=([1], [mode]))  # new axis first
    return jnp.moveaxis(out, 0, mode)


def kron_matvec(factors: Sequence, x):
    """Kronecker matrix-vector product ``(kron_j A_j) x`` without forming the Kronecker product.

    Parameters
    ----------
    factors : sequence of D arrays, shapes (M_j, N_j)
    x : array, shape (prod N_j,) or (prod N_j, r)

    Returns
    -------
    array, shape (prod M_j,) or (prod M_j, r)
    """
    x = jnp.asarray(x)
    ns = tuple(A.shape[1] for A in factors)
    extra = x.shape[1:]
    U = x.reshape(ns + extra)
    for j, A in enumerate(factors):
        U = mode_product(A, U, j)
    ms = tuple(A.shape[0] for A in factors)
    return U.reshape((math.prod(ms),) + extra)


def kron_eigh(factors: Sequence):
    """Eigendecompositions of the symmetric factors: ``(eigvals list, eigvecs list)``."""
    vals, vecs = [], []
    for A in factors:
        w, V = jnp.linalg.eigh(A)
        vals.append(w)
        vecs.append(V)
    return vals, vecs


def kron_diag(vals):
    """Diagonal of ``kron_j diag(v_j)`` (row-major), shape ``(prod M_j,)``.

    With the factors' eigenvalues as ``vals`` these are the Kronecker product's eigenvalues.
    """
    lam = vals[0]
    for w in vals[1:]:
        lam = (lam[:, None] * w[None, :]).reshape(-1)
    return lam


def kron_solve(factors: Sequence, b, noise=0.0, eig=None):
    """Solve ``(kron_j K_j + noise I) x = b`` through the factors' eigenpairs.

    Parameters
    ----------
    factors : sequence of D symmetric positive (semi-)definite arrays (M_j, M_j)
    b : array, shape (M,) or (M, r), M = prod M_j
    noise : float
        Added to the diagonal (must make the system positive definite).
    eig : tuple, optional
        Precomputed ``kron_eigh(factors)``.

    Returns
    -------
    array, shape of ``b``
    """
    vals, vecs = kron_eigh(factors) if eig is None else eig
    lam = kron_diag(vals) + noise
    b = jnp.asarray(b)
    y = kron_matvec([V.T for V in vecs], b)
    y = y / (lam if b.ndim == 1 else lam[:, None])
    return kron_matvec(vecs, y)


def kron_logdet(factors: Sequence, noise=0.0, eig=None):
    """Log-determinant ``log det(kron_j K_j + noise I)``.

    With ``noise = 0`` this is ``sum_j (M / M_j) log det K_j`` computed from Cholesky factors;
    otherwise from the eigenvalues.
    """
    sizes = [A.shape[0] for A in factors]
    M = math.prod(sizes)
    if eig is None and isinstance(noise, int | float) and noise == 0.0:
        total = 0.0
        for A, m in zip(factors, sizes):
            L = jnp.linalg.cholesky(A)
            total = total + (M // m) * 2.0 * jnp.sum(jnp.log(jnp.diagonal(L)))
        return total
    vals, _ = kron_eigh(factors) if eig is None else eig
    return jnp.sum(jnp.log(kron_diag(vals) + noise))


def kron_mvn_logpdf(y, factors: Sequence, noise=0.0):
    """Gaussian log-density ``log N(y | 0, kron_j K_j + noise I)`` for ``y`` of shape (M,)."""
    eig = kron_eigh(factors)
    alpha = kron_solve(factors, y, noise, eig=eig)
    M = y.shape[0]
    return -0.5 * (y @ alpha + kron_logdet(factors, noise, eig=eig) + M * jnp.log(2.0 * jnp.pi))


def grid(axes: Sequence):
    """Tensor grid of the 1-D ``axes`` as points, shape (prod M_j, D), row-major order."""
    mesh = jnp.meshgrid(*[jnp.asarray(a) for a in axes], indexing="ij")
    return jnp.stack([m.reshape(-1) for m in mesh], axis=-1)
