"""Softmax (multinomial-logistic) gating with class 0 as reference, in the log domain."""

from __future__ import annotations

import jax
import jax.numpy as jnp

__all__ = ["log_gate", "gating_nll"]


def log_gate(X, intercept, coef):
    """Log class probabilities ``log p(k | x)`` of a multinomial-logistic gate.

    Class 0 is the reference (its logit is 0); class ``k >= 1`` has logit
    ``intercept[k-1] + coef[k-1] @ x``.

    Parameters
    ----------
    X : array, shape (n, p)
        Covariates (``p`` may be 0).
    intercept : array, shape (K-1,)
    coef : array, shape (K-1, p)

    Returns
    -------
    array, shape (n, K)
        Rows are log-probabilities (``logsumexp`` over a row is 0).
    """
    X = jnp.asarray(X)
    logits = intercept[None, :] + X @ jnp.asarray(coef).T
    logits = jnp.concatenate([jnp.zeros((X.shape[0], 1), logits.dtype), logits], axis=1)
    return jax.nn.log_softmax(logits, axis=1)


def gating_nll(intercept, coef, X, resp, l2=0.0):
    """Weighted negative log-likelihood of the gate (the M-step objective of a mixture of
    experts): ``-sum_i sum_k resp_ik log p(k | x_i) + l2/2 ||coef||^2``.

    Parameters
    ----------
    intercept : array, shape (K-1,)
    coef : array, shape (K-1, p)
    X : array, shape (n, p)
    resp : array, shape (n, K)
        Responsibilities (soft class targets), rows summing to one.
    l2 : float
        Ridge penalty on ``coef`` (not on the intercept).

    Returns
    -------
    scalar
    """
    lg = log_gate(X, intercept, coef)
    return -jnp.sum(resp * lg) + 0.5 * l2 * jnp.sum(jnp.asarray(coef) ** 2)
