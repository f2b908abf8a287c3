"""Precision policy, random-state normalisation and small JAX helpers.

Importing :mod:`mixtures` changes no global JAX setting. Estimators run their numerical
cores inside :func:`x64`, so their results are float64; the pure functions follow the
ambient precision. Users of the functional API who want float64 everywhere call
:func:`enable_x64` once.
"""

from __future__ import annotations

import contextlib
import numbers

import jax
import numpy as np

__all__ = ["enable_x64", "x64", "as_key", "as_generator", "set_cache_dir"]

CACHE_ENV = "MIXTURES_CACHE_DIR"


def enable_x64(enable: bool = True) -> None:
    """Switch JAX's default precision to float64 (``enable=False`` switches it back).

    This is a global setting, meant for users of the functional API; the estimators do not
    need it (they use :func:`x64` internally).
    """
    jax.config.update("jax_enable_x64", bool(enable))


def set_cache_dir(path=None) -> str | None:
    """Keep compiled programs on disk, so that a new Python session does not compile again.

    Turns on JAX's persistent compilation cache in ``path`` for every program compiled from
    then on (the library's and the user's), with no minimum compile time, so the many short
    compilations of the library's estimators are cached too. This changes JAX's global
    configuration, which is why it is opt-in: nothing calls it unless the user does, or sets
    the environment variable ``MIXTURES_CACHE_DIR`` before the first fit.

    Parameters
    ----------
    path : str or os.PathLike, optional
        Cache directory (created if missing). ``None`` reads ``MIXTURES_CACHE_DIR``; if that
        is unset too, nothing changes.

    Returns
    -------
    str or None
        The cache directory in use, or ``None`` when none was set.
    """
    import os

    if path is None:
        path = os.environ.get(CACHE_ENV) or None
        if path is None:
            return None
    path = os.path.abspath(os.path.expanduser(os.fspath(path)))
    os.makedirs(path, exist_ok=True)
    jax.config.update("jax_compilation_cache_dir", path)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", -1)
    return path


_ENV_CHECKED = False


def _cache_from_env() -> None:
    """Honour ``MIXTURES_CACHE_DIR`` once, at the first estimator call."""
    global _ENV_CHECKED
    if not _ENV_CHECKED:
        _ENV_CHECKED = True
        set_cache_dir(None)


def _x64_context():
    if hasattr(jax, "enable_x64"):  # jax >= 0.6
        return jax.enable_x64(True)
    from jax.experimental import enable_x64 as _enable  # pragma: no cover - old jax

    return _enable()


@contextlib.contextmanager
def x64():
    """Context manager in which JAX computes in float64 (restores the previous mode on exit)."""
    _cache_from_env()
    with _x64_context():
        yield


def _is_jax_key(x) -> bool:
    if isinstance(x, jax.Array):
        if jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key):
            return True
        return x.dtype == np.uint32 and x.shape == (2,)
    return False


def as_key(random_state=None) -> jax.Array:
    """Normalise ``random_state`` to a JAX PRNG key.

    Parameters
    ----------
    random_state : None, int, numpy.random.Generator, numpy.random.RandomState or JAX key
        ``None`` draws fresh entropy; an int seeds deterministically; a Generator is advanced
        by one draw; a JAX key (typed, or the raw ``uint32[2]`` form) is returned unchanged.

    Returns
    -------
    key : jax.Array
        A raw ``uint32[2]`` JAX PRNG key.
    """
    if _is_jax_key(random_state):
        return random_state
    if random_state is None:
        seed = int(np.random.SeedSequence().generate_state(1)[0])
    elif isinstance(random_state, numbers.Integral) and not isinstance(random_state, bool):
        if random_state < 0:
            raise ValueError(f"random_state must be a non-negative int, got {random_state}.")
        seed = int(random_state) % (2**63)
    elif isinstance(random_state, np.random.Generator):
        seed = int(random_state.integers(0, 2**63 - 1))
    elif isinstance(random_state, np.random.RandomState):
        seed = int(random_state.randint(0, 2**31 - 1))
    else:
        raise TypeError(
            "random_state must be None, an int, a numpy.random.Generator or a JAX PRNG key; "
            f"got {type(random_state).__name__}."
        )
    return jax.random.PRNGKey(seed)


def as_generator(random_state=None) -> np.random.Generator:
    """Normalise ``random_state`` to a :class:`numpy.random.Generator`.

    Accepts the same types as :func:`as_key`; a JAX key is turned into a seed
    deterministically, so the same key gives the same generator.
    """
    if isinstance(random_state, np.random.Generator):
        return random_state
    if random_state is None:
        return np.random.default_rng()
    if isinstance(random_state, np.random.RandomState):
        return np.random.default_rng(random_state.randint(0, 2**31 - 1))
    if _is_jax_key(random_state):
        data = np.asarray(jax.random.key_data(random_state)).ravel()
        return np.random.default_rng([int(v) for v in data])
    if isinstance(random_state, numbers.Integral) and not isinstance(random_state, bool):
        if random_state < 0:
            raise ValueError(f"random_state must be a non-negative int, got {random_state}.")
        return np.random.default_rng(int(random_state))
    raise TypeError(
        "random_state must be None, an int, a numpy.random.Generator or a JAX PRNG key; "
        f"got {type(random_state).__name__}."
    )
