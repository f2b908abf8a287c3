"""Input checks shared by every estimator, with uniform messages.

Each check raises ``TypeError`` (wrong kind of object) or ``ValueError`` (right kind, wrong
value) whose message names the argument and says what was expected.
"""

from __future__ import annotations

import numbers

import numpy as np
from sklearn.exceptions import ConvergenceWarning

from mixtures._config import as_generator

__all__ = [
    "ConvergenceWarning",
    "check_array",
    "check_scalar",
    "check_option",
    "check_random_state",
    "check_spd",
    "check_same_length",
]


def check_array(
    X,
    name: str = "X",
    *,
    ndim: int | tuple[int, ...] | None = 2,
    allow_nan: bool = False,
    min_rows: int = 1,
    min_cols: int = 1,
    dtype=np.float64,
) -> np.ndarray:
    """Convert ``X`` to a NumPy array and check its dimensionality and values.

    Parameters
    ----------
    X : array-like
    name : str
        The argument's name, used in error messages.
    ndim : int, tuple of int or None
        Allowed number of dimensions (None: any).
    allow_nan : bool
        Whether NaN entries are allowed (infinities never are).
    min_rows, min_cols : int
        Minimum size of the first and (for ``ndim >= 2``) second axis.
    dtype : numpy dtype or None
        Target dtype (None keeps the input's).

    Returns
    -------
    numpy.ndarray
    """
    if X is None:
        raise TypeError(f"{name} must be an array-like of numbers, got None.")
    if isinstance(X, str):
        raise TypeError(f"{name} must be an array-like of numbers, got a string.")
    try:
        arr = np.asarray(X, dtype=dtype) if dtype is not None else np.asarray(X)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name} must be an array-like of numbers: {exc}") from None
    if dtype is not None and not np.issubdtype(arr.dtype, np.number):
        raise TypeError(f"{name} must hold numbers, got dtype {arr.dtype}.")
    if ndim is not None:
        allowed = (ndim,) if isinstance(ndim, int) else tuple(ndim)
        if arr.ndim not in allowed:
            shape_word = " or ".join(f"{d}-D" for d in allowed)
            raise ValueError(f"{name} must be a {shape_word} array, got shape {arr.shape}.")
    if arr.ndim >= 1 and arr.shape[0] < min_rows:
        raise ValueError(
            f"{name} must have at least {min_rows} row(s)/sample(s), got shape {arr.shape}."
        )
    if arr.ndim >= 2 and arr.shape[1] < min_cols:
        raise ValueError(
            f"{name} must have at least {min_cols} column(s)/feature(s), got shape {arr.shape}."
        )
    if np.issubdtype(arr.dtype, np.inexact):
        if np.isinf(arr).any():
            raise ValueError(f"{name} contains infinite values.")
        if not allow_nan and np.isnan(arr).any():
            raise ValueError(f"{name} contains NaN values.")
    return arr


def check_scalar(
    x,
    name: str,
    *,
    kind: str = "float",
    low=None,
    high=None,
    low_open: bool = False,
    high_open: bool = False,
):
    """Check a scalar hyper-parameter's type and range; return it as float or int.

    ``kind="int"`` requires an integral number (bools are rejected); ``kind="float"``
    accepts any finite real number.
    """
    if kind == "int":
        if isinstance(x, bool) or not isinstance(x, numbers.Integral):
            raise TypeError(f"{name} must be an int, got {type(x).__name__} ({x!r}).")
        x = int(x)
    elif kind == "float":
        if isinstance(x, bool) or not isinstance(x, numbers.Real):
            raise TypeError(f"{name} must be a real number, got {type(x).__name__} ({x!r}).")
        x = float(x)
        if not np.isfinite(x):
            raise ValueError(f"{name} must be finite, got {x}.")
    else:  # pragma: no cover - programming error
        raise ValueError(f"unknown kind {kind!r}")
    if low is not None and (x <= low if low_open else x < low):
        op = ">" if low_open else ">="
        raise ValueError(f"{name} must be {op} {low}, got {x}.")
    if high is not None and (x >= high if high_open else x > high):
        op = "<" if high_open else "<="
        raise ValueError(f"{name} must be {op} {high}, got {x}.")
    return x


def check_option(x, name: str, options):
    """Check that ``x`` is one of ``options``."""
    options = tuple(options)
    if not isinstance(x, str | int | float | type(None)) or x not in options:
        raise ValueError(f"{name} must be one of {options}, got {x!r}.")
    return x


def check_random_state(random_state) -> np.random.Generator:
    """Normalise ``random_state`` to a :class:`numpy.random.Generator` (see ``as_generator``)."""
    return as_generator(random_state)


def check_spd(cov, name: str = "cov", *, atol: float = 1e-10) -> np.ndarray:
    """Check that ``cov`` (shape ``(..., d, d)``) is symmetric positive semi-definite.

    Symmetry is checked to ``atol`` relative to the largest entry, and the smallest
    eigenvalue must be >= ``-atol`` times the largest.
    """
    cov = check_array(cov, name, ndim=None)
    if cov.ndim < 2 or cov.shape[-1] != cov.shape[-2]:
        raise ValueError(f"{name} must have shape (..., d, d), got {cov.shape}.")
    scale = max(float(np.abs(cov).max(initial=0.0)), 1e-300)
    if np.abs(cov - np.swapaxes(cov, -1, -2)).max(initial=0.0) > atol * scale * 10:
        raise ValueError(f"{name} must be symmetric.")
    eig = np.linalg.eigvalsh(cov)
    if (eig.min(axis=-1) < -atol * np.maximum(eig.max(axis=-1), 1e-300) - 1e-300).any():
        raise ValueError(f"{name} must be positive semi-definite (a negative eigenvalue found).")
    return cov


def check_same_length(a, b, names=("a", "b")):
    """Check that two arrays have the same length along axis 0."""
    if len(a) != len(b):
        raise ValueError(
            f"{names[0]} and {names[1]} must have the same length, got {len(a)} and {len(b)}."
        )
