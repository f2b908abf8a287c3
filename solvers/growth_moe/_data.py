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


def check_time_varying(Z, mask):
    """Validate time-varying covariates ``Z`` (n, T, pz) (a 2-D array is one covariate)
    against the observed-occasion ``mask`` (n, T): finite wherever the outcome is observed.

    Returns
    -------
    numpy.ndarray, shape (n, T, pz), or None when ``Z`` is None.
    """
    if Z is None:
        return None
    Z = check_array(Z, "Z", ndim=(2, 3), allow_nan=True)
    if Z.ndim == 2:
        Z = Z[:, :, None]
    if Z.shape[:2] != mask.shape:
        raise ValueError(f"Z must have shape (n, T, pz) with (n, T) = {mask.shape}, got {Z.shape}.")
    if not np.isfinite(Z[mask]).all():
        raise ValueError("Z must be finite wherever Y is observed.")
    return np.where(mask[:, :, None], Z, np.nan)


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


def varying_columns(df, id, y, columns):
    """Columns among ``columns`` whose value changes within a person (over the rows with an
    observed outcome ``y``)."""
    columns = list(columns)
    if not columns:
        return []
    d = df[df[y].notna()]
    g = d.groupby(id, sort=True)
    return [c for c in columns if (g[c].nunique(dropna=False) > 1).any()]


def long_to_wide(df, id, time, y, covariates=(), time_varying=()):
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
    time_varying : sequence of str
        Columns of time-varying covariates (one value per occasion; must be present wherever
        the outcome is).

    Returns
    -------
    ids : ndarray, shape (n,)
        Person identifiers in the order of the rows of the wide arrays (sorted).
    Y, times : ndarray, shape (n, T)
        NaN where a person has fewer than T occasions (T: the most occasions of any person).
    X : pandas.DataFrame, shape (n, len(covariates))
        Baseline covariates, indexed by ``ids``.
    Z : ndarray, shape (n, T, len(time_varying))
        Time-varying covariates in the slots of ``Y`` (NaN where ``Y`` is).
    """
    import pandas as pd

    if not isinstance(df, pd.DataFrame):
        raise TypeError(f"df must be a pandas DataFrame, got {type(df).__name__}.")
    covariates, time_varying = list(covariates), list(time_varying)
    for name, col in (
        [("id", id), ("time", time), ("y", y)]
        + [("covariates", c) for c in covariates]
        + [("time_varying", c) for c in time_varying]
    ):
        if col not in df.columns:
            raise ValueError(f"{name}={col!r} is not a column of df.")
    extra = [c for c in dict.fromkeys(covariates + time_varying) if c not in (id, time, y)]
    d = df[[id, time, y] + extra]
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
    Z = np.full((n, T, len(time_varying)), np.nan)
    for j, c in enumerate(time_varying):
        if not pd.api.types.is_numeric_dtype(d[c]):
            raise TypeError(f"column {c!r} must be numeric, got dtype {d[c].dtype}.")
        if d[c].isna().any():
            raise ValueError(
                f"time-varying column {c!r} has missing values where {y!r} is observed."
            )
        Z[row, slot, j] = d[c].to_numpy(float)
    X = pd.DataFrame(index=pd.Index(ids, name=id))
    if covariates:
        g = d.groupby(id, sort=True)
        varying = [c for c in covariates if (g[c].nunique(dropna=False) > 1).any()]
        if varying:
            raise ValueError(
                f"covariates {varying} change within a person; gating covariates must be "
                "baseline (time-invariant); an expert covariate that changes within a person "
                "is modelled as time-varying."
            )
        X = g[covariates].first()
    return ids, Y, times, X, Z
