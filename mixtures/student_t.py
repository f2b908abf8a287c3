"""Multivariate Student-t densities and mixtures of them, in the log domain (pure JAX).

The public functions check argument types and shapes (also when traced inside ``jax.jit``,
once) and, with concrete arguments, that shape matrices are symmetric positive definite and
degrees of freedom positive, so a ValueError replaces a NaN.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax.scipy.special import gammaln, logsumexp

from mixtures import _checks, gaussian

__all__ = ["mvt_logpdf", "t_mixture_log_prob"]


def mvt_logpdf(X, loc, shape, df):
    """Log-density of the multivariate Student-t ``t_df(loc, shape)``.

    Parameters
    ----------
    X : array, shape (..., d)
    loc : array, shape (d,)
    shape : array, shape (d, d)
        Scale (shape) matrix, symmetric positive definite; the covariance is
        ``shape * df / (df - 2)`` for ``df > 2``.
    df : float
        Degrees of freedom, > 0.

    Returns
    -------
    array, shape (...)
    """
    loc = _checks.array(loc, "loc", ndim=1)
    d = loc.shape[0]
    shape = _checks.array(shape, "shape", ndim=2)
    if shape.shape != (d, d):
        raise ValueError(
            f"shape must have shape ({d}, {d}) to match loc, got {tuple(shape.shape)}."
        )
    X = _points(X, d, ndim=None)
    df = _df(df, "df", ndim=0)
    _checks.finite(loc, "loc")
    _checks.spd(shape, "shape")
    return _mvt_logpdf(X, loc, shape, df)


def _points(X, d: int, ndim):
    X = _checks.array(X, "X", ndim=ndim)
    if X.ndim == 0 or X.shape[-1] != d:
        raise ValueError(f"X must have {d} feature(s) (last axis), got shape {tuple(X.shape)}.")
    return X


def _df(df, name: str, ndim: int):
    if not (ndim == 0 and isinstance(df, int | float) and not isinstance(df, bool)):
        df = _checks.array(df, name, ndim=ndim)
    if _checks.concrete(df):
        _checks.positive(df, name)
    return df


def _mvt_logpdf(X, loc, shape, df):
    d = X.shape[-1]
    maha, logdet = gaussian._mahalanobis(X, loc, shape)
    out = (
        gammaln(0.5 * (df + d))
        - gammaln(0.5 * df)
        - 0.5 * d * jnp.log(df * jnp.pi)
        - 0.5 * logdet
        - 0.5 * (df + d) * jnp.log1p(maha / df)
    )
    return out.reshape(X.shape[:-1])


def t_mixture_log_prob(log_weights, locs, shapes, dfs, X):
    """Log-density of a Student-t mixture ``sum_k w_k t_{df_k}(x | loc_k, shape_k)``.

    Parameters
    ----------
    log_weights : array, shape (K,)
    locs : array, shape (K, d)
    shapes : array, shape (K, d, d)
    dfs : array, shape (K,)
    X : array, shape (n, d)

    Returns
    -------
    array, shape (n,)
    """
    log_weights = _checks.array(log_weights, "log_weights", ndim=1)
    locs = _checks.array(locs, "locs", ndim=2)
    K, d = locs.shape
    shapes = _checks.array(shapes, "shapes", ndim=3)
    dfs = _df(dfs, "dfs", ndim=1)
    if log_weights.shape != (K,) or shapes.shape != (K, d, d) or dfs.shape != (K,):
        raise ValueError(
            f"log_weights, shapes and dfs must have shapes ({K},), ({K}, {d}, {d}) and ({K},) "
            f"to match locs {tuple(locs.shape)}; got {tuple(log_weights.shape)}, "
            f"{tuple(shapes.shape)} and {tuple(dfs.shape)}."
        )
    X = _points(X, d, ndim=2)
    _checks.finite(log_weights, "log_weights", allow_neg_inf=True)
    _checks.finite(locs, "locs")
    _checks.spd(shapes, "shapes")
    return _t_mixture_log_prob(log_weights, locs, shapes, dfs, X)


def _t_mixture_log_prob(log_weights, locs, shapes, dfs, X):
    comp = jax.vmap(_mvt_logpdf, in_axes=(None, 0, 0, 0), out_axes=1)(X, locs, shapes, dfs)
    return logsumexp(comp + log_weights[None, :], axis=1)
