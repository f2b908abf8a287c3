"""Small dense linear algebra without LAPACK, batched over leading axes.

The mixtures of this library hold many tiny matrices (growth factors, 2-D agent states,
covariates of a gate) batched over points, components, starts and tangent directions. For
them an unrolled Cholesky factorisation and unrolled triangular solves are both faster than
one LAPACK call per matrix (they fuse) and safe: XLA:CPU runs independent LAPACK custom calls
concurrently on its intra-op thread pool, and each batched call splits its batch over that
same pool and blocks until the parts finish, so on a machine with few cores two such calls
can hold every thread and wait for each other for ever. Code built from these functions
lowers to elementwise operations only.

The matrix dimension ``d`` is static and meant to be small (the unrolled code has
``O(d^3)`` operations in the program); :data:`UNROLL_MAX` is the size up to which
:mod:`mixtures.gaussian` uses them by itself.

All functions are pure JAX and follow the ambient precision.
"""

from __future__ import annotations

import math

import jax.numpy as jnp

__all__ = [
    "LOG_2PI",
    "UNROLL_MAX",
    "cholesky",
    "solve_lower",
    "solve_lower_transpose",
    "logdet_from_cholesky",
]

LOG_2PI = math.log(2.0 * math.pi)
"""``log(2 pi)``, the constant of every normal log-density."""

UNROLL_MAX = 8
"""Largest matrix dimension for which :mod:`mixtures.gaussian` factorises without LAPACK."""


def cholesky(A):
    """Lower Cholesky factors ``L`` with ``L L^T = A`` of symmetric positive (semi-)definite
    matrices, by an unrolled column loop.

    A zero (or negative, from rounding) pivot gives a zero column instead of NaN, so a
    positive semi-definite ``A`` of lower rank still satisfies ``L L^T = A``; a matrix that is
    not positive semi-definite gives a wrong factor, not an error (check it beforehand).

    Parameters
    ----------
    A : array, shape (..., d, d)
        Only the lower triangle is read.

    Returns
    -------
    array, shape (..., d, d)
        Lower triangular, non-negative diagonal.
    """
    d = A.shape[-1]
    if d == 0:
        return A
    below = jnp.arange(d)
    cols = []
    for j in range(d):
        s = A[..., :, j]
        for k in range(j):
            s = s - cols[k] * cols[k][..., j : j + 1]
        piv = s[..., j : j + 1]
        ok = piv > 0
        root = jnp.sqrt(jnp.where(ok, piv, 1.0))
        cols.append(jnp.where(ok & (below >= j), s / root, 0.0))
    return jnp.stack(cols, axis=-1)


def solve_lower(L, b):
    """``L^{-1} b`` by forward substitution.

    Parameters
    ----------
    L : array, shape (..., d, d)
        Lower triangular with a non-zero diagonal.
    b : array, shape (..., d)
        Vectors; the leading axes broadcast against those of ``L``.

    Returns
    -------
    array, shape (..., d)
    """
    d = L.shape[-1]
    if d == 0:
        return b
    z = []
    for j in range(d):
        acc = b[..., j]
        for k in range(j):
            acc = acc - L[..., j, k] * z[k]
        z.append(acc / L[..., j, j])
    return jnp.stack(z, axis=-1)


def solve_lower_transpose(L, z):
    """``L^{-T} z`` by back substitution (with :func:`solve_lower`, ``A^{-1} b`` for
    ``A = L L^T``).

    Parameters
    ----------
    L : array, shape (..., d, d)
        Lower triangular with a non-zero diagonal.
    z : array, shape (..., d)
        Vectors; the leading axes broadcast against those of ``L``.

    Returns
    -------
    array, shape (..., d)
    """
    d = L.shape[-1]
    if d == 0:
        return z
    u = [None] * d
    for j in reversed(range(d)):
        acc = z[..., j]
        for k in range(j + 1, d):
            acc = acc - L[..., k, j] * u[k]
        u[j] = acc / L[..., j, j]
    return jnp.stack(u, axis=-1)


def logdet_from_cholesky(L):
    """``log det A = 2 sum_i log L_ii`` for a Cholesky factor ``L`` (..., d, d) of ``A``;
    shape (...)."""
    return 2.0 * jnp.sum(jnp.log(jnp.diagonal(L, axis1=-2, axis2=-1)), axis=-1)
