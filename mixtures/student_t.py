"""Multivariate Student-t densities and mixtures of them, in the log domain (pure JAX)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax.scipy.linalg import solve_triangular
from jax.scipy.special import gammaln, logsumexp

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
    X = jnp.asarray(X)
    d = X.shape[-1]
    chol = jnp.linalg.cholesky(shape)
    diff = (X - loc).reshape(-1, d)
    z = solve_triangular(chol, diff.T, lower=True)
    maha = jnp.sum(z * z, axis=0)
    logdet = 2.0 * jnp.sum(jnp.log(jnp.diagonal(chol)))
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
    comp = jax.vmap(mvt_logpdf, in_axes=(None, 0, 0, 0), out_axes=1)(
        X, locs, shapes, jnp.asarray(dfs)
    )
    return logsumexp(comp + jnp.asarray(log_weights)[None, :], axis=1)
