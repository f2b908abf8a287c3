"""Kronecker-product algebra without forming the product.

Vectorisation is row-major (C order, last axis fastest), matching ``numpy.kron`` and
``reshape``: for a tensor ``U`` of shape ``(N_1, ..., N_D)``,
``(A_1 kron ... kron A_D) vec(U) = vec(U x_1 A_1 ... x_D A_D)``, where ``x_j`` is the mode-j
product; in 2-D, ``(A_1 kron A_2) vec(U) = vec(A_1 U A_2^T)``.

Costs for D factors of size M_j (M = prod M_j): matvec ``O(M sum_j M_j)``, eigen-based solve
``O(sum_j M_j^3 + M sum_j M_j)``, log-determinant ``O(sum_j M_j^3 + M)``.

The public functions check argument types and shapes (also when traced inside ``jax.jit``,
once); with concrete arguments, the solve, log-determinant and log-density also check that
the system is positive definite, so a ValueError replaces a NaN.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import jax.numpy as jnp
import numpy as np

from mixtures import _checks, linalg

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


def _factors(factors, name: str = "factors", *, square: bool = False) -> list:
    """Check a non-empty sequence of 2-D arrays (square ones where ``square``)."""
    if isinstance(factors, jnp.ndarray | np.ndarray) or not isinstance(factors, Sequence):
        raise TypeError(
            f"{name} must be a sequence (list or tuple) of 2-D arrays, got "
            f"{type(factors).__name__}."
        )
    if len(factors) == 0:
        raise ValueError(f"{name} must hold at least one factor.")
    out = [_checks.array(A, f"{name}[{j}]", ndim=2) for j, A in enumerate(factors)]
    if square:
        for j, A in enumerate(out):
            if A.shape[0] != A.shape[1]:
                raise ValueError(f"{name}[{j}] must be square, got shape {tuple(A.shape)}.")
    return out


def _rhs(b, name: str, M: int):
    b = _checks.array(b, name, ndim=(1, 2))
    if b.shape[0] != M:
        raise ValueError(
            f"{name} must have {M} rows (the product of the factors' sizes), got shape "
            f"{tuple(b.shape)}."
        )
    return b


def _noise(noise):
    if isinstance(noise, int | float) and not isinstance(noise, bool):
        return noise  # a Python number stays weakly typed (and static)
    return _checks.array(noise, "noise", ndim=0)


def _eig(factors, eig):
    if eig is None:
        return kron_eigh(factors)
    try:
        vals, vecs = eig
    except (TypeError, ValueError):
        raise TypeError("eig must be the pair (eigvals list, eigvecs list) of kron_eigh.") from None
    sizes = [A.shape[0] for A in factors]
    if [np.shape(v) for v in vals] != [(m,) for m in sizes] or [np.shape(V) for V in vecs] != [
        (m, m) for m in sizes
    ]:
        raise ValueError("eig does not match factors' sizes; pass kron_eigh(factors).")
    return vals, vecs


def _check_definite(lam, what: str) -> None:
    """Value check (skipped for tracers): all eigenvalues of the system positive."""
    if not _checks.concrete(lam):
        return
    low = float(np.min(np.asarray(lam)))
    if not low > 0:
        raise ValueError(
            f"{what} must be positive definite; its smallest eigenvalue is {low:.3g} "
            "(increase noise or check the factors)."
        )


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
    A = _checks.array(A, "A", ndim=2)
    U = _checks.array(U, "U")
    mode = _checks.static_int(mode, "mode", low=-U.ndim, high=U.ndim - 1)
    if U.shape[mode] != A.shape[1]:
        raise ValueError(
            f"U.shape[{mode}] must equal A's column count {A.shape[1]}, got U of shape "
            f"{tuple(U.shape)}."
        )
    return _mode_product(A, U, mode)


def _mode_product(A, U, mode: int):
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
    factors = _factors(factors)
    x = _rhs(x, "x", math.prod(A.shape[1] for A in factors))
    return _kron_matvec(factors, x)


def _kron_matvec(factors, x):
    ns = tuple(A.shape[1] for A in factors)
    extra = x.shape[1:]
    U = x.reshape(ns + extra)
    for j, A in enumerate(factors):
        U = _mode_product(A, U, j)
    ms = tuple(A.shape[0] for A in factors)
    return U.reshape((math.prod(ms),) + extra)


def kron_eigh(factors: Sequence):
    """Eigendecompositions of the symmetric factors: ``(eigvals list, eigvecs list)``."""
    vals, vecs = [], []
    for A in _factors(factors, square=True):
        w, V = jnp.linalg.eigh(A)
        vals.append(w)
        vecs.append(V)
    return vals, vecs


def kron_diag(vals):
    """Diagonal of ``kron_j diag(v_j)`` (row-major), shape ``(prod M_j,)``.

    With the factors' eigenvalues as ``vals`` these are the Kronecker product's eigenvalues.
    """
    if isinstance(vals, jnp.ndarray | np.ndarray) or not isinstance(vals, Sequence) or not vals:
        raise TypeError("vals must be a non-empty sequence (list or tuple) of 1-D arrays.")
    vals = [_checks.array(v, f"vals[{j}]", ndim=1) for j, v in enumerate(vals)]
    return _kron_diag(vals)


def _kron_diag(vals):
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
    factors = _factors(factors, square=True)
    b = _rhs(b, "b", math.prod(A.shape[0] for A in factors))
    noise = _noise(noise)
    vals, vecs = _eig(factors, eig)
    lam = _kron_diag(vals) + noise
    _check_definite(lam, "kron_j factors[j] + noise I")
    return _kron_solve(vecs, lam, b)


def _kron_solve(vecs, lam, b):
    y = _kron_matvec([V.T for V in vecs], b)
    y = y / (lam if b.ndim == 1 else lam[:, None])
    return _kron_matvec(vecs, y)


def kron_logdet(factors: Sequence, noise=0.0, eig=None):
    """Log-determinant ``log det(kron_j K_j + noise I)``.

    With ``noise = 0`` this is ``sum_j (M / M_j) log det K_j`` computed from Cholesky factors;
    otherwise from the eigenvalues.
    """
    factors = _factors(factors, square=True)
    noise = _noise(noise)
    sizes = [A.shape[0] for A in factors]
    M = math.prod(sizes)
    if eig is None and isinstance(noise, int | float) and noise == 0.0:
        for j, A in enumerate(factors):
            _checks.spd(A, f"factors[{j}]")
        total = 0.0
        for A, m in zip(factors, sizes):
            L = jnp.linalg.cholesky(A)
            total = total + (M // m) * 2.0 * jnp.sum(jnp.log(jnp.diagonal(L)))
        return total
    vals, _ = _eig(factors, eig)
    lam = _kron_diag(vals) + noise
    _check_definite(lam, "kron_j factors[j] + noise I")
    return jnp.sum(jnp.log(lam))


def kron_mvn_logpdf(y, factors: Sequence, noise=0.0):
    """Gaussian log-density ``log N(y | 0, kron_j K_j + noise I)`` for ``y`` of shape (M,)."""
    factors = _factors(factors, square=True)
    M = math.prod(A.shape[0] for A in factors)
    y = _checks.array(y, "y", ndim=1)
    if y.shape[0] != M:
        raise ValueError(
            f"y must have shape ({M},) (the product of the factors' sizes), got {tuple(y.shape)}."
        )
    noise = _noise(noise)
    vals, vecs = kron_eigh(factors)
    lam = _kron_diag(vals) + noise
    _check_definite(lam, "kron_j factors[j] + noise I")
    alpha = _kron_solve(vecs, lam, y)
    return -0.5 * (y @ alpha + jnp.sum(jnp.log(lam)) + M * linalg.LOG_2PI)


def grid(axes: Sequence):
    """Tensor grid of the 1-D ``axes`` as points, shape (prod M_j, D), row-major order."""
    if isinstance(axes, jnp.ndarray | np.ndarray) or not isinstance(axes, Sequence) or not axes:
        raise TypeError("axes must be a non-empty sequence (list or tuple) of 1-D arrays.")
    axes = [_checks.array(a, f"axes[{j}]", ndim=1) for j, a in enumerate(axes)]
    mesh = jnp.meshgrid(*axes, indexing="ij")
    return jnp.stack([m.reshape(-1) for m in mesh], axis=-1)
