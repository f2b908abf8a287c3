"""Argument checks for the functional API (:mod:`mixtures.gaussian`, ``spectral``, ...).

The public functions call these at the Python boundary, then the pure core. Shape and
type checks read only static information (``shape``, ``dtype``), so they also run, once, when
the function is traced inside ``jax.jit``, ``jax.vmap`` or ``jax.grad``. Value checks
(positive-definiteness, finiteness, index ranges of arrays) need concrete numbers: they are
skipped for tracers, so compiled code carries no check at all.
"""

from __future__ import annotations

import math
import numbers

import jax
import jax.numpy as jnp
import numpy as np

from mixtures._config import as_key


def is_tracer(x) -> bool:
    return isinstance(x, jax.core.Tracer)


def concrete(*xs) -> bool:
    """True when no argument (or leaf of a pytree argument) is a tracer."""
    return not any(is_tracer(leaf) for leaf in jax.tree_util.tree_leaves(xs))


def array(x, name: str, *, ndim=None, integer: bool = False):
    """``x`` as a JAX array (tracers and JAX arrays pass unchanged) after a type check.

    Raises TypeError naming ``name`` for None, strings, object arrays, complex numbers (and
    non-integers where ``integer``); ValueError for a wrong number of dimensions.
    """
    if isinstance(x, jax.Array):  # tracers included
        dtype = x.dtype
    else:
        if x is None:
            raise TypeError(f"{name} must be an array of numbers, got None.")
        if isinstance(x, str | bytes):
            raise TypeError(f"{name} must be an array of numbers, got a string ({x!r}).")
        try:
            raw = np.asarray(x)
        except (TypeError, ValueError) as exc:
            raise TypeError(f"{name} must be an array of numbers: {exc}") from None
        dtype = raw.dtype
        if dtype.kind == "O":
            try:
                raw = raw.astype(np.float64)
            except (TypeError, ValueError):
                raise TypeError(
                    f"{name} must hold numbers, got non-numeric entries (dtype object)."
                ) from None
            dtype = raw.dtype
        x = raw
    is_float = jax.dtypes.issubdtype(dtype, jnp.floating)  # bfloat16 included
    if dtype.kind in "US":
        raise TypeError(f"{name} must hold numbers, got strings (dtype {dtype}).")
    if dtype.kind == "c":
        raise TypeError(f"{name} must be real, got complex values (dtype {dtype}).")
    if integer and dtype.kind not in "iu":
        raise TypeError(f"{name} must hold integers, got dtype {dtype}.")
    if not is_float and dtype.kind not in "biu":
        raise TypeError(f"{name} must hold numbers, got dtype {dtype}.")
    if ndim is not None:
        allowed = (ndim,) if isinstance(ndim, int) else tuple(ndim)
        if x.ndim not in allowed:
            words = " or ".join(f"{d}-D" for d in allowed)
            raise ValueError(f"{name} must be a {words} array, got shape {tuple(x.shape)}.")
    return x if isinstance(x, jax.Array) else jnp.asarray(x)


def static_int(x, name: str, *, low=None, high=None) -> int:
    """A Python int (a shape or static setting): bools, floats and tracers are rejected."""
    if is_tracer(x):
        raise TypeError(f"{name} must be a static Python int, got a traced value.")
    if isinstance(x, bool | np.bool_) or not isinstance(x, numbers.Integral):
        raise TypeError(f"{name} must be an int, got {type(x).__name__} ({x!r}).")
    x = int(x)
    if low is not None and x < low:
        raise ValueError(f"{name} must be >= {low}, got {x}.")
    if high is not None and x > high:
        raise ValueError(f"{name} must be <= {high}, got {x}.")
    return x


def indices(idx, name: str, size: int, *, allow_empty: bool = False):
    """Check coordinate indices into an axis of length ``size``.

    Concrete indices (ints, sequences, arrays) must be integers in ``[-size, size)``, without
    repeats; they are returned as a tuple of non-negative ints. A traced index array passes
    with only its dtype and dimensions checked (its values are unknown).
    """
    if is_tracer(idx):
        return array(idx, name, ndim=1, integer=True)
    if isinstance(idx, numbers.Integral) and not isinstance(idx, bool | np.bool_):
        idx = [idx]
    if isinstance(idx, str | bytes) or idx is None:
        raise TypeError(f"{name} must be a sequence of ints, got {idx!r}.")
    try:
        raw = np.asarray(idx)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name} must be a sequence of ints: {exc}") from None
    if raw.size == 0:
        if allow_empty:
            return ()
        raise ValueError(f"{name} must name at least one coordinate, got an empty sequence.")
    if raw.ndim != 1:
        raise ValueError(f"{name} must be a 1-D sequence of ints, got shape {raw.shape}.")
    if raw.dtype.kind not in "iu":
        raise TypeError(f"{name} must hold ints, got {list(idx)!r} (dtype {raw.dtype}).")
    bad = [int(i) for i in raw if not -size <= int(i) < size]
    if bad:
        raise ValueError(
            f"{name} must index {size} coordinate(s) (values in [{-size}, {size - 1}]), got {bad}."
        )
    out = tuple(int(i) % size for i in raw)
    if len(set(out)) != len(out):
        raise ValueError(f"{name} must not repeat a coordinate, got {list(map(int, raw))}.")
    return out


def key(k, name: str = "key"):
    """A JAX PRNG key from a key, an int seed (traced ints included) or a NumPy generator."""
    if isinstance(k, jax.Array):
        if jax.dtypes.issubdtype(k.dtype, jax.dtypes.prng_key) or k.dtype == jnp.uint32:
            return k
        if k.shape == () and k.dtype.kind in "iu":
            return jax.random.PRNGKey(k)  # a (possibly traced) integer seed
        raise TypeError(
            f"{name} must be a JAX PRNG key or an int seed, got an array of shape "
            f"{tuple(k.shape)} and dtype {k.dtype}."
        )
    try:
        return as_key(k)
    except TypeError:
        raise TypeError(
            f"{name} must be a JAX PRNG key, an int seed, None or a numpy.random.Generator; "
            f"got {type(k).__name__}."
        ) from None
    except ValueError as exc:
        raise ValueError(f"{name}: {exc}") from None


def finite(x, name: str, *, allow_neg_inf: bool = False) -> None:
    """Value check (skipped for tracers): no NaN, no infinity (``-inf`` where allowed)."""
    if is_tracer(x):
        return
    a = np.asarray(x)
    if a.dtype.kind != "f":
        return
    if np.isnan(a).any():
        raise ValueError(f"{name} contains NaN values.")
    bad = np.isposinf(a) if allow_neg_inf else np.isinf(a)
    if bad.any():
        raise ValueError(f"{name} contains infinite values.")


def _where(shape, flat_index) -> str:
    """The index ``[i, j, ...]`` of a flat position in an array of ``shape``."""
    return "[" + ", ".join(str(int(i)) for i in np.unravel_index(flat_index, shape)) + "]"


def positive(x, name: str) -> None:
    """Value check (skipped for tracers): every entry > 0 (variances)."""
    if is_tracer(x):
        return
    a = np.asarray(x)
    finite(a, name)
    if (a <= 0).any():
        flat = int(np.argmax((a <= 0).ravel()))
        where = _where(a.shape, flat) if a.ndim else ""
        raise ValueError(
            f"{name} must be positive (variances); {name}{where} = {a.ravel()[flat]:g}."
        )


def spd(x, name: str) -> None:
    """Value check (skipped for tracers): symmetric positive definite matrices (..., d, d).

    Symmetry is checked to the square root of the dtype's epsilon relative to each matrix's
    largest entry (loose enough for covariances assembled in float32); definiteness by a
    Cholesky factorisation in the array's own precision, as the computation will use it.
    """
    if is_tracer(x):
        return
    a = np.asarray(x)
    if a.dtype.kind != "f":
        a = a.astype(np.float64)
    finite(a, name)
    if a.size == 0:
        return
    tol = math.sqrt(np.finfo(a.dtype).eps)
    scale = np.abs(a).max(axis=(-2, -1), keepdims=True)
    asym = np.abs(a - np.swapaxes(a, -1, -2)) > tol * scale
    if asym.any():
        where = _where(a.shape[:-2], int(np.argmax(asym.any(axis=(-2, -1)).ravel())))
        raise ValueError(f"{name} must be symmetric; {name}{where if a.ndim > 2 else ''} is not.")
    try:
        np.linalg.cholesky(a)
    except np.linalg.LinAlgError:
        low = np.linalg.eigvalsh(a.astype(np.float64)).min(axis=-1)
        flat = int(np.argmin(np.ravel(low)))
        where = _where(a.shape[:-2], flat) if a.ndim > 2 else ""
        raise ValueError(
            f"{name} must be positive definite; {name}{where} has smallest eigenvalue "
            f"{np.ravel(low)[flat]:.3g}."
        ) from None
