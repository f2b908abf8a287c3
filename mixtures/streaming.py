"""Gaussian-mixture EM on data larger than memory: exact chunked EM and online EM.

The E-step of a Gaussian mixture only needs sums over the points: the weighted
log-likelihood and the statistics ``sum_n w_n r_nk F(x_n)`` of :mod:`mixtures.em`
(``F = [1, x, q(x)]``). So a pass over the data in chunks that adds up each chunk's sums gives
exactly the in-memory E-step (to the rounding of a different summation order), and the M-step
is :func:`mixtures.em.gaussian_m_step` on the accumulated statistics: the iterates of
:func:`fit_em_chunked` are those of :func:`mixtures.em.run_em` on the whole data, while the
memory held is a few chunks, whatever the number of points.

Every chunk has the same shape (the last one is padded with zero-weight rows), so one compiled
program serves the whole fit and every data size. Each chunk is placed on a mesh of devices
along its rows (:mod:`mixtures.sharding`, ``devices=``): the sums are then reduced across
devices, and across processes under :mod:`jax.distributed`, by the compiler.

Data sources (``source``) are

* a 2-D array, including a :class:`numpy.memmap` (read chunk by chunk, never whole);
* a sequence (list or tuple) of 2-D arrays with the same number of columns (any lengths:
  they are re-cut into chunks of ``chunk_size`` rows);
* a callable with no argument returning a fresh iterable of 2-D arrays (a generator over
  files, say); it is called once per pass over the data.

A one-shot iterator is refused (EM passes over the data many times). Under
:mod:`jax.distributed` every process passes its own part of the data (e.g. its block of a
shared memmap, :func:`mixtures.sharding.process_rows`) and ``devices="all"``; every process
gets the same result.

The online EM (:func:`online_em_update`, Cappé & Moulines 2009) keeps a running average of
the per-point statistics, ``s <- s + gamma_t (s(batch) - s)`` with a decreasing step size
``gamma_t = (t + offset) ** -exponent``, and takes the M-step from it after every batch: a
``partial_fit`` for streams seen once.

All computations run in float64 (inside :func:`mixtures.x64`) and return NumPy arrays.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from mixtures import em, sharding
from mixtures._config import x64

__all__ = [
    "DEFAULT_CHUNK_SIZE",
    "iter_chunks",
    "count_rows",
    "standardization",
    "subsample",
    "params_from_centers",
    "fit_em_chunked",
    "ChunkedGaussianFit",
    "fit_gaussian_mixture_chunked",
    "OnlineEMState",
    "stats_from_params",
    "online_em_init",
    "online_em_update",
    "step_size",
]

#: Rows per chunk by default: large enough that per-chunk overheads are small, small enough
#: that a chunk's features (``chunk_size x (1 + d + d(d+1)/2)`` floats) stay in the caches'
#: reach (a few MB for tens of features).
DEFAULT_CHUNK_SIZE = 1 << 14

# XLA's CPU fusion emitters make these small feature-matrix kernels slower, as for the
# in-memory fit (see mixtures.estimators); the classic emitters are used instead.
_COMPILE = {"xla_cpu_use_fusion_emitters": False, "xla_cpu_parallel_codegen_split_count": 1}


# ------------------------------------------------------------------------- data sources
def _as_table(x, name: str) -> np.ndarray:
    x = np.asarray(x)
    if x.ndim != 2:
        raise ValueError(f"{name}: every chunk must be 2-D, got shape {x.shape}.")
    if not (np.issubdtype(x.dtype, np.floating) or np.issubdtype(x.dtype, np.integer)):
        raise TypeError(f"{name}: expected real numbers, got dtype {x.dtype}.")
    return x


def _page_release(X):
    """For a memory map: a function that drops its pages from this process's resident set.

    Pages of a file mapping that have been read count in the process's memory (RSS) until
    unmapped; releasing them after each chunk keeps a pass over a large memmap at a few
    chunks of memory (the operating system keeps them in its file cache). Copy-on-write
    maps (mode ``"c"``) are left alone: releasing would discard their changes.
    """
    import mmap

    m = getattr(X, "_mmap", None)
    if not isinstance(X, np.memmap) or m is None or getattr(X, "mode", "c") == "c":
        return None
    if not hasattr(m, "madvise") or not hasattr(mmap, "MADV_DONTNEED"):
        return None

    def release():
        try:
            m.madvise(mmap.MADV_DONTNEED)
        except (OSError, ValueError):  # closed map or a platform without it: keep pages
            pass

    return release


def _pieces(source, sample_weight, name: str, step: int = DEFAULT_CHUNK_SIZE):
    """Iterator over ``(X_piece, w_piece or None)`` of one pass over ``source``."""
    if isinstance(source, np.ndarray) or hasattr(source, "__array__") and hasattr(source, "shape"):
        X = source if isinstance(source, np.ndarray) else np.asarray(source)
        _as_table(X[:0], name)
        release = _page_release(X)
        for i in range(0, X.shape[0], step):
            w = None if sample_weight is None else sample_weight[i : i + step]
            if release is None:
                yield X[i : i + step], w
            else:
                piece = np.array(X[i : i + step], dtype=np.float64)
                release()
                yield piece, w
        return
    if sample_weight is not None:
        raise ValueError("sample_weight is only supported with an array source.")
    if callable(source):
        it = source()
        if it is None:
            raise TypeError(f"{name}: the callable must return an iterable of arrays.")
        for piece in it:
            yield piece, None
        return
    if isinstance(source, Sequence) and not isinstance(source, (str, bytes)):
        for piece in source:
            yield piece, None
        return
    if hasattr(source, "__next__"):
        raise TypeError(
            f"{name}: a one-shot iterator cannot be read several times; pass a callable "
            "returning a fresh iterator (e.g. lambda: read_chunks(path)) instead."
        )
    raise TypeError(
        f"{name} must be a 2-D array or memmap, a sequence of 2-D arrays or a callable "
        f"returning an iterable of them; got {type(source).__name__}."
    )


def iter_chunks(source, chunk_size: int = DEFAULT_CHUNK_SIZE, sample_weight=None, name: str = "X"):
    """One pass over ``source`` in chunks of exactly ``chunk_size`` rows (float64).

    Parameters
    ----------
    source : array, memmap, sequence of arrays or callable
        See the module docstring.
    chunk_size : int
    sample_weight : array of shape (n,), optional
        Non-negative weights of the rows of an array source (default: ones).
    name : str
        Name of the data in error messages.

    Yields
    ------
    X : ndarray, shape (chunk_size, d)
        Rows of the data (float64), the last chunk padded with zero rows.
    w : ndarray, shape (chunk_size,)
        Their weights, zero on padding rows.

    Raises
    ------
    ValueError
        For chunks of another number of columns, non-finite values, negative weights or
        an empty source.
    TypeError
        For a source of an unsupported type or a non-numeric chunk.
    """
    chunk_size = int(chunk_size)
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be >= 1, got {chunk_size}.")
    if sample_weight is not None:
        sample_weight = np.asarray(sample_weight, dtype=np.float64)
        if sample_weight.ndim != 1 or sample_weight.shape[0] != len(source):
            raise ValueError("sample_weight must have shape (n_samples,).")
        if not np.all(np.isfinite(sample_weight)) or (sample_weight < 0).any():
            raise ValueError("sample_weight must be finite and non-negative.")
    d = None
    bufX: list = []
    bufw: list = []
    held = 0
    seen = 0

    def emit(rows):
        nonlocal bufX, bufw, held
        X = np.concatenate(bufX) if len(bufX) > 1 else bufX[0]
        w = np.concatenate(bufw) if len(bufw) > 1 else bufw[0]
        outX, outw = X[:rows], w[:rows]
        bufX, bufw = ([X[rows:]], [w[rows:]]) if rows < len(X) else ([], [])
        held = len(X) - rows
        if rows < chunk_size:
            outX = np.concatenate([outX, np.zeros((chunk_size - rows, d))])
            outw = np.concatenate([outw, np.zeros(chunk_size - rows)])
        return outX, outw

    for piece, w in _pieces(source, sample_weight, name, chunk_size):
        piece = _as_table(piece, name)
        if d is None:
            d = piece.shape[1]
        elif piece.shape[1] != d:
            raise ValueError(f"{name}: a chunk has {piece.shape[1]} columns, expected {d}.")
        if piece.shape[0] == 0:
            continue
        piece = np.asarray(piece, dtype=np.float64)
        if not np.all(np.isfinite(piece)):
            raise ValueError(
                f"{name} contains NaN or infinity (rows {seen} to {seen + len(piece) - 1})."
            )
        seen += len(piece)
        bufX.append(piece)
        bufw.append(np.ones(len(piece)) if w is None else w)
        held += len(piece)
        while held >= chunk_size:
            yield emit(chunk_size)
    if d is None or seen == 0:
        raise ValueError(f"{name} is empty: expected at least one row.")
    if held:
        yield emit(held)


def count_rows(source) -> tuple[int, int]:
    """Number of rows and columns of ``source`` (one pass unless it is an array)."""
    if isinstance(source, np.ndarray):
        _as_table(source[:0], "X")
        return int(source.shape[0]), int(source.shape[1])
    n, d = 0, None
    for piece, _ in _pieces(source, None, "X"):
        piece = _as_table(piece, "X")
        n += piece.shape[0]
        d = piece.shape[1]
    return n, d


class _Runner:
    """Feeds fixed-shape chunks of ``source`` to a jitted accumulation over a mesh.

    ``chunk_size`` is per process and rounded up to a multiple of this process's devices in
    the mesh. Under several processes each pass runs the same number of chunks everywhere
    (the longest process's count; the others add zero-weight chunks), as the collectives
    inside the compiled program require.
    """

    def __init__(self, source, chunk_size, sample_weight, devices):
        self.source = source
        self.sample_weight = sample_weight
        self.mesh = sharding.sample_mesh(devices)
        local = [dv for dv in self.mesh.devices.ravel() if dv.process_index == jax.process_index()]
        if not local:
            raise ValueError("devices: the mesh holds none of this process's devices.")
        m = len(local)
        self.chunk_size = -(-int(chunk_size) // m) * m
        self.multi = jax.process_count() > 1
        self.n_chunks = None

    def chunks(self):
        count = 0
        d = None
        for X, w in iter_chunks(self.source, self.chunk_size, self.sample_weight):
            d = X.shape[1]
            count += 1
            yield sharding.shard_rows(X, self.mesh), sharding.shard_rows(w, self.mesh)
        if self.multi:
            if self.n_chunks is None:
                from jax.experimental import multihost_utils

                counts = multihost_utils.process_allgather(np.int64(count))
                self.n_chunks = int(np.max(counts))
            for _ in range(self.n_chunks - count):
                yield (
                    sharding.shard_rows(np.zeros((self.chunk_size, d)), self.mesh),
                    sharding.shard_rows(np.zeros(self.chunk_size), self.mesh),
                )

    def accumulate(self, fn, acc, *args):
        """``acc = fn(acc, X_chunk, w_chunk, *args)`` over one pass; host copy of ``acc``."""
        acc = sharding.replicate(acc, self.mesh)
        args = sharding.replicate(args, self.mesh)
        for X, w in self.chunks():
            previous = acc
            acc = fn(acc, X, w, *args)
            # dispatch is asynchronous: without waiting, the loop would read the whole data
            # ahead of the computation; waiting for the previous chunk keeps one in flight
            # (read while the device works) and the memory at a few chunks
            jax.block_until_ready(previous)
        return sharding.to_host(acc)


# ------------------------------------------------------------------- jitted accumulations
@jax.jit
def _sum_chunk(acc, X, w):
    sw, swx = acc
    return sw + jnp.sum(w), swx + w @ X


@jax.jit
def _square_chunk(acc, X, w, center):
    return acc + w @ (X - center) ** 2


def _standardise(X, center, scale):
    return (X - center) / scale


@partial(jax.jit, static_argnames="covariance_type", compiler_options=_COMPILE)
def _stats_chunk(acc, X, w, params, center, scale, reg, mask, covariance_type):
    """Add one chunk's weighted log-likelihood sums, statistics and weight, every start."""
    F = em.gaussian_features(_standardise(X, center, scale), covariance_type)
    data = em.GaussianEMData(F, w, reg, mask)
    lower, stats = jax.vmap(lambda p: em.gaussian_e_step(p, data, covariance_type))(params)
    sw = jnp.sum(w)
    # gaussian_e_step returns a weighted mean; an all-padding chunk adds nothing
    lower_sum = jnp.where(sw > 0, lower * sw, 0.0)
    acc_lower, acc_stats, acc_w = acc
    return acc_lower + lower_sum, acc_stats + stats, acc_w + sw


@partial(jax.jit, static_argnames="covariance_type", compiler_options=_COMPILE)
def _labels_chunk(acc, X, w, centers, center, scale, covariance_type):
    """Statistics of the hard assignment of each row to its nearest centre."""
    Xs = _standardise(X, center, scale)
    d2 = jnp.sum((Xs[:, None, :] - centers[None]) ** 2, axis=-1)
    resp = jax.nn.one_hot(jnp.argmin(d2, axis=1), centers.shape[0], dtype=X.dtype)
    F = em.gaussian_features(Xs, covariance_type)
    return acc + (resp * w[:, None]).T @ F


def _m_data(p: int, reg, mask, dtype=np.float64) -> em.GaussianEMData:
    """The arguments of the M-step that are not statistics (its ``F`` and weights unused)."""
    return em.GaussianEMData(np.zeros((1, p), dtype), np.zeros(1, dtype), reg, mask)


@partial(jax.jit, static_argnames="covariance_type")
def _m_step_all(stats, reg, mask, covariance_type):
    data = _m_data(stats.shape[-1], reg, mask)
    new = jax.vmap(lambda s: em.gaussian_m_step(s, data, covariance_type))(stats)
    leaves = jax.tree_util.tree_leaves(new)
    ok = jnp.stack([jnp.all(jnp.isfinite(x.reshape(x.shape[0], -1)), axis=1) for x in leaves])
    return new, jnp.all(ok, axis=0)


def _storage(covariance_type: str) -> str:
    """Array layout (one of the four scikit-learn types) of a covariance type.

    Any type that :func:`mixtures.em.gaussian_m_step` accepts works here: the chunked
    statistics do not depend on the covariance model, only on its storage layout.
    """
    from mixtures import parsimonious

    if not isinstance(covariance_type, str):
        raise TypeError(f"covariance_type must be a str, got {type(covariance_type).__name__}.")
    return parsimonious.storage_type(covariance_type)  # ValueError for unknown names


def _n_features(d: int, covariance_type: str) -> int:
    return em._n_features(d, _storage(covariance_type))


def _check_type(covariance_type):
    _storage(covariance_type)


# -------------------------------------------------------------------------- public API
def standardization(
    source, *, chunk_size: int = DEFAULT_CHUNK_SIZE, sample_weight=None, devices=None
):
    """Weighted mean and the one scale of :class:`mixtures.GaussianMixture`, in two passes.

    Parameters
    ----------
    source : array, memmap, sequence of arrays or callable
    chunk_size : int
    sample_weight : array of shape (n,), optional
    devices : see :func:`mixtures.sharding.resolve_devices`

    Returns
    -------
    total_weight : float
        Sum of the weights (the number of rows when unweighted).
    center : ndarray, shape (d,)
        Weighted mean (units of X).
    scale : float
        ``sqrt`` of the weighted mean per-feature variance about ``center`` (1 when every
        feature is constant), units of X.
    """
    run = _Runner(source, chunk_size, sample_weight, devices)
    with x64():
        d = _first_chunk(source).shape[1]
        sw, swx = run.accumulate(_sum_chunk, (np.float64(0.0), np.zeros(d)))
        if not sw > 0:
            raise ValueError("sample_weight sums to zero.")
        center = swx / sw
        sq = run.accumulate(_square_chunk, np.zeros(d), center)
    var = float(np.sum(sq)) / (sw * d)
    scale = math.sqrt(var) if var > 0 else 1.0
    return float(sw), center, scale


def _first_chunk(source) -> np.ndarray:
    """The first non-empty piece of ``source`` (for its number of columns)."""
    if isinstance(source, np.ndarray):
        return _as_table(source[:1], "X")
    for piece, _ in _pieces(source, None, "X"):
        piece = _as_table(piece, "X")
        if piece.shape[0]:
            return piece
    raise ValueError("X is empty: expected at least one row.")


def subsample(source, size: int, random_state=None, *, chunk_size: int = DEFAULT_CHUNK_SIZE):
    """Uniform sample of ``size`` rows without replacement, in one pass (of this process).

    Every row gets a uniform random key and the ``size`` smallest keys are kept chunk by
    chunk, so the memory held is ``size + chunk_size`` rows. For initialisation: e.g.
    k-means on the subsample, then :func:`params_from_centers` on all the data.

    Parameters
    ----------
    source : array, memmap, sequence of arrays or callable
    size : int
    random_state : None, int or numpy.random.Generator
    chunk_size : int

    Returns
    -------
    ndarray, shape (min(size, n), d)
        Rows in the order of the data.
    """
    from mixtures._config import as_generator

    rng = as_generator(random_state)
    size = int(size)
    if size < 1:
        raise ValueError(f"size must be >= 1, got {size}.")
    keys = np.empty(0)
    rows = None
    pos = np.empty(0, dtype=np.int64)
    offset = 0
    for X, w in iter_chunks(source, chunk_size):
        real = w > 0
        X, n = X[real], int(real.sum())
        u = rng.random(n)
        keys = np.concatenate([keys, u])
        rows = X if rows is None else np.concatenate([rows, X])
        pos = np.concatenate([pos, offset + np.arange(n)])
        offset += n
        if len(keys) > size:
            keep = np.argpartition(keys, size - 1)[:size]
            keys, rows, pos = keys[keep], rows[keep], pos[keep]
    order = np.argsort(pos)
    return rows[order]


def params_from_centers(
    source,
    centers,
    *,
    covariance_type: str,
    center,
    scale,
    reg_covar: float,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    sample_weight=None,
    component_mask=None,
    devices=None,
):
    """Initial parameters from hard assignments of all rows to the nearest of ``centers``.

    The k-means initialisation of :class:`mixtures.GaussianMixture` (its initial M-step on
    one-hot responsibilities) with the centres given: from :func:`subsample` and k-means,
    say. Everything is in the standardised units ``(x - center) / scale``.

    Parameters
    ----------
    source : array, memmap, sequence of arrays or callable
    centers : array, shape (K, d)
        Centres in standardised units.
    covariance_type : str
        ``"full"``, ``"tied"``, ``"diag"``, ``"spherical"`` (or any other type of
        :func:`mixtures.em.gaussian_m_step`).
    center : array, shape (d,)
    scale : float
    reg_covar : float
        Added to the covariance diagonals (standardised units).
    component_mask : bool array of shape (K,), optional
        Real components (see :class:`mixtures.em.GaussianEMData`).

    Returns
    -------
    mixtures.em.GaussianParams
        One start (no leading axis), NumPy arrays.
    """
    _check_type(covariance_type)
    centers = np.asarray(centers, dtype=np.float64)
    K, d = centers.shape
    run = _Runner(source, chunk_size, sample_weight, devices)
    with x64():
        stats = run.accumulate(
            partial(_labels_chunk, covariance_type=covariance_type),
            np.zeros((K, _n_features(d, covariance_type))),
            centers,
            np.asarray(center, np.float64),
            np.float64(scale),
        )
        params, _ = _m_step_all(stats[None], np.float64(reg_covar), component_mask, covariance_type)
        return jax.tree_util.tree_map(lambda a: np.asarray(a)[0], params)


def fit_em_chunked(
    source,
    params0,
    *,
    covariance_type: str,
    center,
    scale,
    reg_covar: float,
    tol: float,
    max_iter: int,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    sample_weight=None,
    component_mask=None,
    devices=None,
    callback: Callable | None = None,
) -> em.EMResult:
    """Gaussian-mixture EM over chunks of ``source``: the iterates of :func:`mixtures.em.run_em`.

    Each iteration is one pass over the data that accumulates the E-step sums of every
    start (:func:`mixtures.em.gaussian_e_step` on the chunk's features), then
    :func:`mixtures.em.gaussian_m_step`. Stopping, freezing of finished starts and failure
    handling are those of :func:`mixtures.em.run_em`: with the same standardised data,
    ``params0``, ``tol`` and ``max_iter`` the results agree to rounding.

    Parameters
    ----------
    source : array, memmap, sequence of arrays or callable
        Data in units of X (see the module docstring).
    params0 : mixtures.em.GaussianParams
        Initial parameters in standardised units, every leaf with a leading axis ``S``
        (the starts).
    covariance_type : str
        ``"full"``, ``"tied"``, ``"diag"``, ``"spherical"`` (or any other type of
        :func:`mixtures.em.gaussian_m_step`).
    center : array, shape (d,)
        The fit runs on ``(x - center) / scale`` (see :func:`standardization`).
    scale : float
    reg_covar : float
        Added to the covariance diagonals, standardised units.
    tol : float
        Convergence threshold on the change of the lower bound (mean log-likelihood of the
        standardised data).
    max_iter : int
    chunk_size : int, default=DEFAULT_CHUNK_SIZE
        Rows per chunk and process (rounded up to a multiple of the process's devices):
        the memory held is a few chunks' features.
    sample_weight : array of shape (n,), optional
        Weights of the rows of an array source.
    component_mask : bool array of shape (K,), optional
        Real components; masked ones are padding (see :class:`mixtures.em.GaussianEMData`).
    devices : None, int, "all", "local", devices or Mesh
        Devices that share each chunk's rows (:func:`mixtures.sharding.resolve_devices`);
        ``None``: one device.
    callback : callable ``(iteration, lower_bounds (S,), done (S,))``, optional
        Called on the host after every iteration.

    Returns
    -------
    mixtures.em.EMResult
        NumPy arrays with the leading axis ``S``, as :func:`mixtures.em.run_em`'s.
    """
    _check_type(covariance_type)
    tol, max_iter = float(tol), int(max_iter)
    if max_iter < 1:
        raise ValueError(f"max_iter must be >= 1, got {max_iter}.")
    run = _Runner(source, chunk_size, sample_weight, devices)
    params = jax.tree_util.tree_map(lambda a: np.asarray(a, np.float64), params0)
    S, K, d = params.means.shape
    p = _n_features(d, covariance_type)
    center = np.asarray(center, np.float64)
    reg = np.float64(reg_covar)
    mask = None if component_mask is None else np.asarray(component_mask, bool)
    step = partial(_stats_chunk, covariance_type=covariance_type)

    lower = np.full(S, -np.inf)
    n_iter = np.zeros(S, np.int32)
    converged = np.zeros(S, bool)
    failed = ~np.array([all(np.all(np.isfinite(leaf[s])) for leaf in params) for s in range(S)])
    with x64():
        for it in range(max_iter):
            active = ~converged & ~failed
            if not active.any():
                break
            acc0 = (np.zeros(S), np.zeros((S, K, p)), np.float64(0.0))
            lsum, stats, sw = run.accumulate(
                step, acc0, params, center, np.float64(scale), reg, mask
            )
            new_lower = lsum / sw
            new_params, finite = _m_step_all(stats, reg, mask, covariance_type)
            new_params = jax.tree_util.tree_map(np.asarray, new_params)
            ok = np.isfinite(new_lower) & np.asarray(finite)
            accept = active & ok
            change = new_lower - lower
            params = jax.tree_util.tree_map(
                lambda a, b, m=accept: np.where(m.reshape((-1,) + (1,) * (a.ndim - 1)), a, b),
                new_params,
                params,
            )
            lower = np.where(accept, new_lower, lower)
            n_iter = np.where(accept, it + 1, n_iter).astype(np.int32)
            converged = converged | (accept & (np.abs(change) < tol))
            failed = failed | (active & ~ok)
            if callback is not None:
                callback(it + 1, lower, converged | failed)
    return em.EMResult(params, lower, n_iter, converged, failed)


class ChunkedGaussianFit(NamedTuple):
    """Result of :func:`fit_gaussian_mixture_chunked`, in units of X.

    Attributes
    ----------
    weights : ndarray, shape (K,)
    means : ndarray, shape (K, d)
    covariances : ndarray
        Shapes as :class:`mixtures.GaussianMixture`'s ``covariances_``.
    lower_bound : float
        Mean log-likelihood per point (nats, density in units of X) at the last E-step.
    n_iter : int
    converged : bool
    center : ndarray, shape (d,)
    scale : float
        The standardisation the fit ran in.
    """

    weights: np.ndarray
    means: np.ndarray
    covariances: np.ndarray
    lower_bound: float
    n_iter: int
    converged: bool
    center: np.ndarray
    scale: float


def fit_gaussian_mixture_chunked(
    source,
    n_components: int,
    *,
    covariance_type: str = "full",
    tol: float = 1e-3,
    reg_covar: float = 1e-6,
    max_iter: int = 100,
    init_size: int = 100_000,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    random_state=None,
    devices=None,
    means_init=None,
) -> ChunkedGaussianFit:
    """A :class:`mixtures.GaussianMixture` fit (one start) on data streamed in chunks.

    The recipe of the estimator, with every pass over the data chunked: standardise
    (:func:`standardization`), initialise from k-means (scikit-learn's) on a uniform
    :func:`subsample` of ``init_size`` rows, whose centres assign every row
    (:func:`params_from_centers`), then exact EM (:func:`fit_em_chunked`). ``reg_covar`` is
    relative to the data's scale, as the estimator's. With ``means_init`` the k-means step is
    skipped: the first M-step uses the assignment to those means.

    Parameters
    ----------
    source : array, memmap, sequence of arrays or callable
    n_components : int
    covariance_type : str
        ``"full"``, ``"tied"``, ``"diag"``, ``"spherical"`` (or any other type of
        :func:`mixtures.em.gaussian_m_step`).
    tol, reg_covar, max_iter : as :class:`mixtures.GaussianMixture`
    init_size : int
        Rows of the subsample that k-means runs on.
    chunk_size : int
    random_state : None, int or numpy.random.Generator
    devices : see :func:`mixtures.sharding.resolve_devices`
    means_init : array of shape (K, d), optional
        Initial centres in units of X.

    Returns
    -------
    ChunkedGaussianFit
    """
    from mixtures._config import as_generator

    _check_type(covariance_type)
    rng = as_generator(random_state)
    K = int(n_components)
    _, center, scale = standardization(source, chunk_size=chunk_size, devices=devices)
    if means_init is not None:
        centers = (np.asarray(means_init, np.float64) - center) / scale
    else:
        from sklearn.cluster import KMeans

        sub = (subsample(source, init_size, rng, chunk_size=chunk_size) - center) / scale
        if sub.shape[0] < K:
            raise ValueError(f"X has fewer than n_components={K} rows.")
        seed = int(rng.integers(0, 2**31 - 1))
        centers = KMeans(K, n_init=1, random_state=seed).fit(sub).cluster_centers_
    kw = dict(
        covariance_type=covariance_type,
        center=center,
        scale=scale,
        reg_covar=reg_covar,
        chunk_size=chunk_size,
        devices=devices,
    )
    params0 = params_from_centers(source, centers, **kw)
    params0 = jax.tree_util.tree_map(lambda a: a[None], params0)
    res = fit_em_chunked(source, params0, tol=tol, max_iter=max_iter, **kw)
    if res.failed[0]:
        from mixtures.base import DivergenceError

        raise DivergenceError(
            "the covariance of a component became singular; try fewer "
            "components or a larger reg_covar."
        )
    p = jax.tree_util.tree_map(lambda a: a[0], res.params)
    d = center.shape[0]
    return ChunkedGaussianFit(
        np.asarray(p.weights),
        p.means * scale + center,
        p.covariances * scale**2,
        float(res.lower_bound[0]) - d * math.log(scale),
        int(res.n_iter[0]),
        bool(res.converged[0]),
        center,
        float(scale),
    )


# ----------------------------------------------------------------------------- online EM
class OnlineEMState(NamedTuple):
    """State of the online EM (standardised units).

    Attributes
    ----------
    stats : ndarray, shape (K, p)
        Running average of the per-unit-weight statistics ``sum_n w_n r_nk F(x_n) /
        sum_n w_n`` (layout of :func:`mixtures.em.gaussian_e_step`).
    params : mixtures.em.GaussianParams
        M-step of ``stats``.
    n_updates : int
        Batches seen.
    """

    stats: Any
    params: Any
    n_updates: int


def step_size(t, exponent: float = 0.6, offset: float = 2.0) -> float:
    """Robbins-Monro step ``gamma_t = (t + offset) ** -exponent`` of update ``t = 1, 2, ...``.

    ``exponent`` in (0.5, 1] makes ``sum gamma_t`` diverge and ``sum gamma_t**2`` converge
    (the conditions of Cappé & Moulines' convergence result); smaller exponents forget the
    initial state faster. ``offset >= 0`` damps the first steps.
    """
    if not 0.5 < exponent <= 1.0:
        raise ValueError(f"exponent must lie in (0.5, 1], got {exponent}.")
    if offset < 0:
        raise ValueError(f"offset must be >= 0, got {offset}.")
    return float((t + offset) ** -exponent)


def stats_from_params(params, covariance_type: str, reg_covar: float):
    """Per-unit-weight statistics whose M-step (with ``reg_covar``) gives back ``params``.

    Parameters
    ----------
    params : mixtures.em.GaussianParams
        One start (no leading axis).
    covariance_type : str
        ``"full"``, ``"tied"``, ``"diag"``, ``"spherical"`` (or any other type of
        :func:`mixtures.em.gaussian_m_step`).
    reg_covar : float

    Returns
    -------
    ndarray, shape (K, p)
    """
    storage = _storage(covariance_type)
    w = np.asarray(params.weights, np.float64)
    mu = np.asarray(params.means, np.float64)
    cov = np.asarray(params.covariances, np.float64)
    K, d = mu.shape
    outer = mu[:, :, None] * mu[:, None, :]
    if storage in ("full", "tied"):
        C = cov - reg_covar * np.eye(d)
        C = np.broadcast_to(C, (K, d, d))
        iu, ju = np.triu_indices(d)
        second = (w[:, None, None] * (C + outer))[:, iu, ju]
    elif storage == "diag":
        second = w[:, None] * (cov - reg_covar + mu**2)
    else:
        second = (w * (d * (cov - reg_covar) + np.sum(mu**2, axis=1)))[:, None]
    return np.concatenate([w[:, None], w[:, None] * mu, second], axis=1)


def online_em_init(params, *, covariance_type: str, reg_covar: float) -> OnlineEMState:
    """Online-EM state starting at ``params`` (one start, standardised units).

    Parameters
    ----------
    params : mixtures.em.GaussianParams
        E.g. the initial M-step of the first batch, or a fitted model in the fit's units.
    covariance_type : str
        ``"full"``, ``"tied"``, ``"diag"``, ``"spherical"`` (or any other type of
        :func:`mixtures.em.gaussian_m_step`).
    reg_covar : float

    Returns
    -------
    OnlineEMState
        With ``n_updates = 0``.
    """
    params = jax.tree_util.tree_map(lambda a: np.asarray(a, np.float64), params)
    return OnlineEMState(stats_from_params(params, covariance_type, reg_covar), params, 0)


@partial(jax.jit, static_argnames="covariance_type", compiler_options=_COMPILE)
def _online_core(stats, params, X, w, center, scale, reg, mask, gamma, covariance_type):
    F = em.gaussian_features(_standardise(X, center, scale), covariance_type)
    data = em.GaussianEMData(F, w, reg, mask)
    lower, batch = em.gaussian_e_step(params, data, covariance_type)
    new = stats + gamma * (batch / jnp.sum(w) - stats)
    params_new = em.gaussian_m_step(new, _m_data(new.shape[-1], reg, mask), covariance_type)
    return new, params_new, lower


def online_em_update(
    state: OnlineEMState,
    X,
    *,
    covariance_type: str,
    center,
    scale,
    reg_covar: float,
    sample_weight=None,
    component_mask=None,
    exponent: float = 0.6,
    offset: float = 2.0,
    gamma: float | None = None,
    devices=None,
):
    """One online-EM update with a batch ``X`` (a ``partial_fit`` step).

    ``stats <- stats + gamma (stats(X) - stats)`` with ``stats(X)`` the batch's statistics
    per unit weight at the current parameters and ``gamma = step_size(n_updates + 1,
    exponent, offset)``, then the M-step. With ``gamma = 1`` and the whole data as the
    batch this is one exact EM iteration. The batch is padded to its length bucket
    (:func:`mixtures.base.padded_length`), so batches of varying sizes share compiled code.

    Parameters
    ----------
    state : OnlineEMState
    X : array, shape (n, d)
        Batch in units of X.
    covariance_type : str
        ``"full"``, ``"tied"``, ``"diag"``, ``"spherical"`` (or any other type of
        :func:`mixtures.em.gaussian_m_step`).
    center : array, shape (d,)
    scale : float
        Standardisation of the fit (fixed over the stream, e.g. from the first batch).
    reg_covar : float
        Standardised units.
    sample_weight : array of shape (n,), optional
    component_mask : bool array of shape (K,), optional
    exponent, offset : float
        Of :func:`step_size`.
    gamma : float, optional
        Overrides the step size (in (0, 1]).
    devices : see :func:`mixtures.sharding.resolve_devices`

    Returns
    -------
    state : OnlineEMState
    lower_bound : float
        Weighted mean log-likelihood of the batch (standardised units) at the parameters
        before the update.
    """
    from mixtures.base import padded_length

    _check_type(covariance_type)
    X = _as_table(X, "X").astype(np.float64)
    if not np.all(np.isfinite(X)):
        raise ValueError("X contains NaN or infinity.")
    n = X.shape[0]
    if n == 0:
        raise ValueError("X is empty: expected at least one row.")
    w = np.ones(n) if sample_weight is None else np.asarray(sample_weight, np.float64)
    if w.shape != (n,) or (w < 0).any() or not np.all(np.isfinite(w)) or not w.sum() > 0:
        raise ValueError(
            "sample_weight must have shape (n_samples,), be finite, non-negative and not all zero."
        )
    if gamma is None:
        gamma = step_size(state.n_updates + 1, exponent, offset)
    elif not 0.0 < gamma <= 1.0:
        raise ValueError(f"gamma must lie in (0, 1], got {gamma}.")
    mesh = sharding.sample_mesh(devices)
    length = sharding.padded_rows(padded_length(n), mesh)
    Xp = np.concatenate([X, np.zeros((length - n, X.shape[1]))])
    wp = np.concatenate([w, np.zeros(length - n)])
    mask = None if component_mask is None else np.asarray(component_mask, bool)
    with x64():
        args = sharding.replicate(
            (
                state.stats,
                state.params,
                np.asarray(center, np.float64),
                np.float64(scale),
                np.float64(reg_covar),
                mask,
                np.float64(gamma),
            ),
            mesh,
        )
        stats, params, lower = _online_core(
            args[0],
            args[1],
            sharding.shard_rows(Xp, mesh),
            sharding.shard_rows(wp, mesh),
            *args[2:],
            covariance_type=covariance_type,
        )
        stats, params, lower = sharding.to_host((stats, params, lower))
    return OnlineEMState(stats, params, state.n_updates + 1), float(lower)
