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


def long_to_wide(df, id, time, y, covariates=()):
    """Long-format table (one row per person and occasion) -> wide arrays.

    Rows with a missing outcome are dropped; each person's remaining occasions are sorted by
    time and packed to the left (the likelihood does not depend on the slot of an occasion);
    persons without any observed outcome are dropped. Covariates are baseline (one value per
    person): a covariate that changes within a person raises ValueError.

    Parameters
    ----------
    df : pandas.DataFrame
    id, time, y : str
        Column names of the person identifier, the measurement time and the outcome.
    covariates : sequence of str
        Columns of baseline covariates.

    Returns
    -------
    ids : ndarray, shape (n,)
        Person identifiers in the order of the rows of the wide arrays (sorted).
    Y, times : ndarray, shape (n, T)
        NaN where a person has fewer than T occasions (T: the most occasions of any person).
    X : pandas.DataFrame, shape (n, len(covariates))
        Baseline covariates, indexed by ``ids``.
    """
    import pandas as pd

    if not isinstance(df, pd.DataFrame):
        raise TypeError(f"df must be a pandas DataFrame, got {type(df).__name__}.")
    covariates = list(covariates)
    for name, col in [("id", id), ("time", time), ("y", y)] + [
        ("covariates", c) for c in covariates
    ]:
        if col not in df.columns:
            raise ValueError(f"{name}={col!r} is not a column of df.")
    d = df[[id, time, y] + [c for c in covariates if c not in (id, time, y)]]
    for col in (time, y):
        if not pd.api.types.is_numeric_dtype(d[col]):
            raise TypeError(f"column {col!r} must be numeric, got dtype {d[col].dtype}.")
    d = d[d[y].notna()]
    if d[time].isna().any():
        raise ValueError(f"time column {time!r} has missing values where {y!r} is observed.")
    d = d.sort_values([id, time], kind="stable")
    if d.duplicated([id, time]).any():
        dup = d.loc[d.duplicated([id, time], keep=False), id].iloc[0]
        raise ValueError(f"person {dup!r} has two observations at the same {time!r}.")
    ids, row = np.unique(d[id].to_numpy(), return_inverse=True)
    slot = d.groupby(id, sort=True).cumcount().to_numpy()
    n, T = ids.size, int(slot.max()) + 1 if len(d) else 0
    if n == 0:
        raise ValueError(f"df has no observed value of {y!r}.")
    Y = np.full((n, T), np.nan)
    times = np.full((n, T), np.nan)
    Y[row, slot] = d[y].to_numpy(float)
    times[row, slot] = d[time].to_numpy(float)
    X = pd.DataFrame(index=pd.Index(ids, name=id))
    if covariates:
        g = d.groupby(id, sort=True)
        varying = [c for c in covariates if (g[c].nunique(dropna=False) > 1).any()]
        if varying:
            raise ValueError(
                f"covariates {varying} change within a person; only baseline (time-invariant) "
                "covariates are supported."
            )
        X = g[covariates].first()
    return ids, Y, times, X
