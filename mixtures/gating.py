"""Softmax (multinomial-logistic) gating with class 0 as reference, in the log domain.

The public functions check argument types and shapes (also when traced inside ``jax.jit``,
once) and raise a TypeError or ValueError naming the argument.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from mixtures import _checks

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
    X, intercept, coef = _check_gate(X, intercept, coef)
    return _log_gate(X, intercept, coef)


def _check_gate(X, intercept, coef):
    X = _checks.array(X, "X", ndim=2)
    intercept = _checks.array(intercept, "intercept", ndim=1)
    coef = _checks.array(coef, "coef", ndim=2)
    if coef.shape[0] != intercept.shape[0]:
        raise ValueError(
            f"coef and intercept must have one row/entry per non-reference class (K - 1), got "
            f"coef of shape {tuple(coef.shape)} and intercept of shape "
            f"{tuple(intercept.shape)}."
        )
    if coef.shape[1] != X.shape[1]:
        raise ValueError(
            f"coef must have one column per covariate of X ({X.shape[1]}), got shape "
            f"{tuple(coef.shape)}."
        )
    return X, intercept, coef


def _log_gate(X, intercept, coef):
    logits = intercept[None, :] + X @ coef.T
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
    X, intercept, coef = _check_gate(X, intercept, coef)
    resp = _checks.array(resp, "resp", ndim=2)
    K = intercept.shape[0] + 1
    if resp.shape != (X.shape[0], K):
        raise ValueError(
            f"resp must have shape (n, K) = ({X.shape[0]}, {K}) to match X and intercept, got "
            f"{tuple(resp.shape)}."
        )
    if not isinstance(l2, int | float) or isinstance(l2, bool):
        l2 = _checks.array(l2, "l2", ndim=0)  # a Python number stays weakly typed
    lg = _log_gate(X, intercept, coef)
    return -jnp.sum(resp * lg) + 0.5 * l2 * jnp.sum(coef**2)
