"""The estimator contract shared by every estimator of the library, and its input checks.

Every estimator (``GaussianMixture`` and the six solvers' classes) derives from
:class:`MixturesEstimator` and keeps one contract:

- hyper-parameters only in ``__init__``, stored unchanged, constrained by one declarative
  table ``_parameter_constraints`` that :meth:`MixturesEstimator._validate_params` checks at
  the start of ``fit``;
- :class:`sklearn.exceptions.NotFittedError` before ``fit`` (:meth:`_check_fitted`);
- ``converged_`` true only when the convergence criterion holds, ``n_iter_ <= max_iter``,
  and one :class:`ConvergenceWarning` helper (:func:`warn_not_converged`) that points at the
  user's call;
- one divergence error, :class:`DivergenceError`;
- ``verbose`` a validated bool; ``score`` higher is better;
- complex, sparse, string and object input rejected with a ``TypeError`` naming the argument
  (:func:`check_array`); ``n_features_in_`` and ``feature_names_in_`` where the input is a
  table (:meth:`_check_table`);
- fitted attributes are NumPy arrays or Python scalars, so fitted estimators pickle.

Solvers import these helpers from here (never from a private module of :mod:`mixtures`).

Parameter names shared by several estimators mean the same thing in each:

===================  ==========================================================================
``n_components``     number of mixture components (of the density, the Schrödinger potential or
                     the spectral density)
``n_init``           number of independent starts; the best objective is kept
``max_iter``         upper bound on the estimator's outer iterations (EM steps, Adam steps,
                     optimiser iterations); ``n_iter_ <= max_iter`` always
``tol``              convergence tolerance of the estimator's stated criterion, in the units that
                     its docstring gives (nats per sample for the EM-type fits)
``reg_covar``        dimensionless ridge: ``reg_covar * mean_j Var(X[:, j])`` is added to each
                     covariance's diagonal, so it means the same at every scale of the data
``covariance_type``  structure of the component covariances; an estimator offers the
                     structures its method defines (LightSB's potential needs ``S_k`` whose
                     product with ``x`` is cheap, so ``"diag"``/``"full"``; the SDP's
                     likelihood adjustment is per cluster, so no ``"tied"``)
``learning_rate``    Adam step size, in the estimator's standardised units
``batch_size``       samples (points, tracks) per stochastic step, capped at the sample size
``verbose``          bool: a tqdm progress bar during ``fit``
``random_state``     None, int, ``numpy.random.Generator`` or JAX key; same seed, same numbers
===================  ==========================================================================
"""

from __future__ import annotations

import numbers
import os
import sys
import warnings
from dataclasses import dataclass

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.exceptions import ConvergenceWarning, NotFittedError

__all__ = [
    "Bool",
    "ConvergenceWarning",
    "DivergenceError",
    "Integer",
    "MixturesEstimator",
    "NotFittedError",
    "Options",
    "Real",
    "check_array",
    "check_option",
    "check_random_state",
    "check_same_length",
    "check_scalar",
    "check_spd",
    "pad_axis",
    "padded_length",
    "user_stacklevel",
    "warn",
    "warn_not_converged",
]


class DivergenceError(FloatingPointError, ValueError, RuntimeError):
    """A fit produced non-finite values (diverged) and cannot continue.

    Subclasses FloatingPointError, ValueError and RuntimeError so that code written against
    any of the library's former divergence errors still catches it.
    """


# ---------------------------------------------------------------------- warnings
_LIBRARY_DIRS = tuple(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep + pkg + os.sep
    for pkg in ("mixtures", "solvers")
)
# frames of these libraries sit between an estimator and a user calling it through them
_PASS_THROUGH = ("sklearn", "joblib", "contextlib", "functools")


def _is_library_frame(filename: str) -> bool:
    if filename.startswith(_LIBRARY_DIRS):
        return True
    parts = filename.replace("\\", "/").split("/")
    return any(p in _PASS_THROUGH or p == "contextlib.py" for p in parts)


def user_stacklevel() -> int:
    """Stack level (for :func:`warnings.warn` called by the caller of this function) of the
    first frame outside the library, so that a warning points at the user's line."""
    frame = sys._getframe(1)  # the function that will call warnings.warn
    level = 1
    while frame is not None and _is_library_frame(frame.f_code.co_filename):
        frame = frame.f_back
        level += 1
    return level


def warn(message: str, category=UserWarning) -> None:
    """Emit a warning attributed to the user's code (the first frame outside the library)."""
    warnings.warn(message, category, stacklevel=user_stacklevel())


def warn_not_converged(estimator, n_iter: int, *, hint: str = "") -> None:
    """The one ConvergenceWarning of the library: ``estimator`` did not converge in ``n_iter``
    iterations. ``hint`` says which setting to change (for example "increase max_iter")."""
    name = type(estimator).__name__
    msg = f"{name} did not converge in {n_iter} iteration(s)"
    msg += f"; {hint}." if hint else "."
    warnings.warn(msg, ConvergenceWarning, stacklevel=user_stacklevel())


# ---------------------------------------------------------------------- constraints
@dataclass(frozen=True)
class Integer:
    """An int (bools excluded) in ``[low, high]`` (``None``: unbounded)."""

    low: int | None = None
    high: int | None = None
    allow_none: bool = False

    def check(self, x, name):
        if x is None and self.allow_none:
            return None
        return check_scalar(x, name, kind="int", low=self.low, high=self.high)


@dataclass(frozen=True)
class Real:
    """A finite real number in ``[low, high]``; ``low_open``/``high_open`` exclude the ends."""

    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False
    allow_none: bool = False

    def check(self, x, name):
        if x is None and self.allow_none:
            return None
        return check_scalar(x, name, kind="float", low=self.low, high=self.high,
                            low_open=self.low_open, high_open=self.high_open)


@dataclass(frozen=True)
class Options:
    """One of a fixed set of values."""

    values: tuple

    def check(self, x, name):
        return check_option(x, name, self.values)


@dataclass(frozen=True)
class Bool:
    """``True`` or ``False`` (NumPy bools accepted; ints are not)."""

    def check(self, x, name):
        if not isinstance(x, bool | np.bool_):
            raise TypeError(f"{name} must be a bool, got {type(x).__name__} ({x!r}).")
        return bool(x)


class MixturesEstimator(BaseEstimator):
    """Base of every estimator in the library (see the module docstring for the contract).

    Subclasses declare ``_parameter_constraints = {"name": constraint, ...}`` where a
    constraint is one of :class:`Integer`, :class:`Real`, :class:`Options`, :class:`Bool`, a
    callable ``f(value, name)`` that raises on a bad value, or ``None`` (checked elsewhere,
    for example array-valued initialisations). Constraints of base classes are inherited.
    """

    _parameter_constraints: dict = {}

    @classmethod
    def _all_constraints(cls) -> dict:
        out: dict = {}
        for klass in reversed(cls.__mro__):
            out.update(getattr(klass, "_parameter_constraints", {}) or {})
        return out

    def _validate_params(self) -> dict:
        """Check every declared hyper-parameter; return ``{name: normalised value}``."""
        checked = {}
        params = self.get_params(deep=False)
        for name, constraint in self._all_constraints().items():
            if name not in params or constraint is None:
                continue
            value = params[name]
            if hasattr(constraint, "check"):
                checked[name] = constraint.check(value, name)
            else:
                out = constraint(value, name)
                checked[name] = value if out is None else out
        return checked

    # -- fitted state
    def _fitted_attributes(self):
        return [k for k in vars(self) if k.endswith("_") and not k.startswith("__")]

    def __sklearn_is_fitted__(self) -> bool:
        return bool(self._fitted_attributes())

    def _check_fitted(self) -> None:
        """Raise :class:`~sklearn.exceptions.NotFittedError` unless ``fit`` has run."""
        if not self.__sklearn_is_fitted__():
            raise NotFittedError(
                f"This {type(self).__name__} instance is not fitted yet; call 'fit' with "
                "appropriate arguments before using this method."
            )

    # -- convergence
    def _set_convergence(self, converged: bool, n_iter: int, max_iter: int | None = None, *,
                         hint: str = "increase max_iter or loosen tol") -> None:
        """Store ``converged_`` and ``n_iter_`` (capped at ``max_iter``) and warn once when
        the criterion does not hold."""
        n_iter = int(n_iter)
        if max_iter is not None:
            n_iter = min(n_iter, int(max_iter))
        self.n_iter_ = n_iter
        self.converged_ = bool(converged)
        if not self.converged_:
            warn_not_converged(self, n_iter, hint=hint)

    # -- tables
    def _check_table(self, X, name: str = "X", *, reset: bool, **kw) -> np.ndarray:
        """Validate a 2-D table; on ``reset`` store ``n_features_in_`` (and
        ``feature_names_in_`` when ``X`` has string column names), else check them."""
        names = _feature_names(X)
        arr = check_array(X, name, **kw)
        n_features = arr.shape[1] if arr.ndim >= 2 else 1
        if reset:
            self.n_features_in_ = n_features
            if names is not None:
                self.feature_names_in_ = names
            elif hasattr(self, "feature_names_in_"):
                del self.feature_names_in_
        else:
            fitted = getattr(self, "n_features_in_", None)
            if fitted is not None and n_features != fitted:
                raise ValueError(
                    f"{name} has {n_features} features, but {type(self).__name__} is "
                    f"expecting {fitted} features as input."
                )
            fitted_names = getattr(self, "feature_names_in_", None)
            if fitted_names is not None and names is not None and (
                len(names) != len(fitted_names) or (names != fitted_names).any()
            ):
                raise ValueError(
                    f"The feature names of {name} should match those that were passed "
                    "during fit."
                )
        return arr


def _feature_names(X):
    cols = getattr(X, "columns", None)
    if cols is None:
        return None
    cols = np.asarray(cols, dtype=object)
    if len(cols) and all(isinstance(c, str) for c in cols):
        return cols
    return None


# ---------------------------------------------------------------------- array checks
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
    """Convert ``X`` to a NumPy array and check its kind, dimensionality and values.

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

    Raises
    ------
    TypeError
        For None, strings, sparse matrices, complex numbers, and object or string arrays
        (nothing is cast silently).
    ValueError
        For a wrong number of dimensions, too few rows or columns, infinities, or NaN where
        not allowed.
    """
    if X is None:
        raise TypeError(f"{name} must be an array-like of numbers, got None.")
    if isinstance(X, str | bytes):
        raise TypeError(f"{name} must be an array-like of numbers, got a string.")
    if _is_sparse(X):
        raise TypeError(
            f"{name} must be a dense array, got a sparse {type(X).__name__}; convert it with "
            ".toarray() if it fits in memory."
        )
    try:
        raw = np.asarray(X)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name} must be an array-like of numbers: {exc}") from None
    if np.iscomplexobj(raw):
        raise TypeError(f"{name} must be real, got complex values (dtype {raw.dtype}).")
    if raw.dtype.kind in "OUSV":
        try:
            converted = raw.astype(np.float64)
        except (TypeError, ValueError):
            raise TypeError(
                f"{name} must hold numbers, got dtype {raw.dtype} with non-numeric entries."
            ) from None
        if raw.dtype.kind != "O":
            raise TypeError(f"{name} must hold numbers, got strings (dtype {raw.dtype}).")
        if any(isinstance(v, complex | str | bytes) for v in raw.ravel()):
            raise TypeError(f"{name} must hold real numbers, got non-real entries.")
        raw = converted
    if raw.dtype.kind == "b" and dtype is not None:
        raw = raw.astype(np.float64)
    try:
        arr = raw.astype(dtype, copy=False) if dtype is not None else raw
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


def _is_sparse(X) -> bool:
    if "scipy.sparse" not in sys.modules:  # nothing sparse can exist without it
        return False
    import scipy.sparse

    return scipy.sparse.issparse(X)


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
    accepts any finite real number (complex numbers and bools are rejected).
    """
    if kind == "int":
        if isinstance(x, bool | np.bool_) or not isinstance(x, numbers.Integral):
            raise TypeError(f"{name} must be an int, got {type(x).__name__} ({x!r}).")
        x = int(x)
    elif kind == "float":
        if isinstance(x, bool | np.bool_) or not isinstance(x, numbers.Real):
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
    from mixtures._config import as_generator

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


# ---------------------------------------------------------------------- shape buckets
def padded_length(n: int, minimum: int = 32) -> int:
    """Length ``n`` rounded up to a small set of bucket sizes, so that jitted code is reused.

    Powers of two up to 4096 (at least ``minimum``), then multiples of 1/16 of the power of
    two below ``n`` (at most 6.25 % padding). Padded entries must carry weight zero (see
    :func:`pad_axis`), so that they change no result.
    """
    n = int(n)
    if n <= 4096:
        return max(int(minimum), 1 << max(n - 1, 0).bit_length())
    step = 1 << (n.bit_length() - 5)
    return -(-n // step) * step


def pad_axis(x: np.ndarray, length: int, axis: int = 0, value=0.0) -> np.ndarray:
    """``x`` padded with ``value`` along ``axis`` to ``length`` entries (NumPy)."""
    x = np.asarray(x)
    extra = length - x.shape[axis]
    if extra < 0:
        raise ValueError(f"cannot pad an axis of length {x.shape[axis]} to {length}.")
    if extra == 0:
        return x
    widths = [(0, 0)] * x.ndim
    widths[axis] = (0, extra)
    return np.pad(x, widths, constant_values=value)
