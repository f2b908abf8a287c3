"""Input checks and conversion shared by the estimator, ``compare_models`` and
``screen_covariates`` (NumPy side; no model mathematics here)."""

from __future__ import annotations

import numbers

import numpy as np

from mixtures.base import check_array, check_same_length


def check_longitudinal(Y, times, X=None):
    """Validate ``Y`` (n, T) with NaN for missing occasions, ``times`` (n, T) or (T,) and
    ``X`` (n, p) or None.

    Returns
    -------
    Y, times, mask, X : numpy.ndarray
        ``times`` broadcast to (n, T); ``mask`` (n, T) bool, True where observed; ``X`` (n, p)
        with p = 0 when ``X`` is None.
    """
    Y = check_array(Y, "Y", ndim=2, allow_nan=True)
    n, T = Y.shape
    times = check_array(times, "times", ndim=(1, 2), allow_nan=True)
    if times.ndim == 1:
        if times.shape[0] != T:
            raise ValueError(
                f"times must have shape (n, T) = {(n, T)} or (T,) = ({T},), got {times.shape}."
            )
        times = np.broadcast_to(times, (n, T)).copy()
    elif times.shape != (n, T):
        raise ValueError(f"times must have shape (n, T) = {(n, T)}, got {times.shape}.")
    mask = ~np.isnan(Y)
    empty = np.flatnonzero(~mask.any(axis=1))
    if empty.size:
        raise ValueError(
            f"Y has all-missing rows (persons {empty[:10].tolist()}): every person needs at "
            "least one observed occasion."
        )
    if np.isnan(times[mask]).any():
        raise ValueError("times must be finite wherever Y is observed (found NaN).")
    for i in range(n):
        t = times[i, mask[i]]
        if t.size > 1 and np.any(np.diff(t) <= 0):
            raise ValueError(
                f"times must be strictly increasing within each person over the observed "
                f"occasions; person {i} has times {t.tolist()}."
            )
    if X is None:
        X = np.zeros((n, 0))
    else:
        X = check_array(X, "X", ndim=2, min_cols=0)
        check_same_length(Y, X, ("Y", "X"))
    return Y, times, mask, X


def covariate_columns(spec, p, name):
    """Resolve ``True`` (all columns), ``False``/``None`` (none) or a sequence of column
    indices into a sorted integer array."""
    if isinstance(spec, bool | np.bool_):
        return np.arange(p) if spec else np.zeros(0, dtype=int)
    if spec is None:
        return np.zeros(0, dtype=int)
    try:
        cols = np.asarray(list(spec))
    except TypeError:
        raise TypeError(
            f"{name} must be a bool or a sequence of column indices of X, got {spec!r}."
        ) from None
    if cols.size == 0:
        return np.zeros(0, dtype=int)
    if not all(isinstance(c, numbers.Integral) and not isinstance(c, bool) for c in cols.tolist()):
        raise TypeError(f"{name} must hold integer column indices of X, got {spec!r}.")
    cols = np.unique(cols.astype(int))
    if cols.min() < 0 or cols.max() >= p:
        raise ValueError(f"{name} indexes columns of X, which has {p}; got {spec!r}.")
    return cols
