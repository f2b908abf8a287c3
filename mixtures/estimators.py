"""Scikit-learn-style estimators on the mixture primitives: :class:`GaussianMixture`."""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import math

import jax
import jax.numpy as jnp
import numpy as np
import scipy.linalg
from sklearn.base import DensityMixin

from mixtures import em, gaussian, linalg, parsimonious
from mixtures._config import as_generator, as_key, x64
from mixtures.base import (
    Bool,
    DivergenceError,
    Integer,
    MixturesEstimator,
    Options,
    Real,
    check_array,
    check_scalar,
    pad_axis,
    padded_length,
)

__all__ = ["GaussianMixture"]

# scikit-learn's four names (aliases of VVV, EEE, VVI, VII) and the fourteen mclust models
_COVARIANCE_TYPES = tuple(parsimonious.ALIASES) + parsimonious.MODELS
_INIT_PARAMS = ("auto", "hierarchical", "kmeans", "k-means++", "random", "random_from_data")
# the starts after the first of a deterministic initialisation
_FOLLOW_UP = {"hierarchical": "kmeans"}


def _component_bucket(n_components: int) -> int:
    """Number of component slots compiled for ``n_components`` (at least 4, then powers of
    two), so that a search over ``n_components`` in one bucket compiles once."""
    return padded_length(n_components, minimum=4)


# Starts are padded to a bucket only in the small regime, where compilation dominates; for
# large data a padded start would cost as much run time as a real one.
def _start_bucket(n_starts: int) -> int:
    """Number of start slots compiled for ``n_starts`` starts (1, 2, 4, then multiples of 4)."""
    return padded_length(n_starts, minimum=1) if n_starts <= 4 else -(-n_starts // 4) * 4


def _program_type(covariance_type: str) -> str:
    """The name the compiled fit is keyed by: an mclust alias of a scikit-learn type runs
    (and shares) the scikit-learn type's program."""
    model = parsimonious.canonical(covariance_type)
    return {v: k for k, v in parsimonious.ALIASES.items()}.get(model, model)


@dataclasses.dataclass(frozen=True)
class _Standardised:
    """The data centred and divided by one scale (the units the fit runs in)."""

    X: np.ndarray
    center: np.ndarray
    scale: float
    # X followed by zero rows up to the padded length (large fits, see `padded`)
    X_padded: np.ndarray | None = None

    @classmethod
    def of(cls, X):
        # one centre, one scale for all features, so every covariance type keeps its meaning;
        # reg_covar is relative to that scale
        center = X.mean(axis=0)
        Xc = X - center
        var = float(np.mean(Xc**2))
        scale = math.sqrt(var) if var > 0 else 1.0
        return cls(Xc / scale, center, scale)

    @classmethod
    def padded(cls, X, length: int):
        """As :meth:`of`, written once into a zero-padded buffer of ``length`` rows that
        the compiled fit can use without a copy (64-byte aligned), with no temporary of
        the data's size."""
        n, d = X.shape
        buf = _aligned_zeros((length, d))
        Xc = buf[:n]
        center = X.mean(axis=0)
        np.subtract(X, center, out=Xc)
        step = 1 << 16
        total = sum(float(np.einsum("ij,ij->", b, b)) for b in _row_blocks(Xc, step))
        var = total / Xc.size
        scale = math.sqrt(var) if var > 0 else 1.0
        Xc /= scale
        return cls(Xc, center, scale, buf)


def _row_blocks(X, step):
    return (X[i : i + step] for i in range(0, X.shape[0], step))


def _aligned_zeros(shape, dtype=np.float64) -> np.ndarray:
    """Zeros in a 64-byte aligned buffer: JAX's CPU device can then use it without a copy
    (``jax.device_put(..., may_alias=True)``)."""
    dtype = np.dtype(dtype)
    size = int(np.prod(shape)) * dtype.itemsize
    raw = np.zeros(size + 64, np.uint8)
    offset = -raw.ctypes.data % 64
    return raw[offset : offset + size].view(dtype).reshape(shape)


# Agglomerations of recent data sets, so that fits of several numbers of components or
# covariance types on the same data (a model search, or a 5-fold cross-validation's training
# sets and its refit) agglomerate once.
_HIERARCHIES: dict = {}
_HIERARCHY_CACHE_SIZE = 8
# Above this many points the agglomeration runs on a random subset (as mclust's default).
_HC_SUBSET = 2000
# init_params="auto" agglomerates up to this many points (the cost grows as n^2)
_HC_AUTO = 1000


def _one_hot(labels, K: int, hard: bool) -> np.ndarray:
    """Responsibilities (n, K) of hard labels, or the labels themselves (int32) if ``hard``."""
    return np.asarray(labels, np.int32) if hard else np.eye(K)[labels]


def _hierarchical_resp(Xs, K: int, rng, hard: bool = False) -> np.ndarray:
    """One-hot responsibilities of mclust's default start: the VVV model-based hierarchical
    partition of the SVD-transformed data (:mod:`mixtures.hierarchical`); with ``hard``,
    its labels."""
    from mixtures import hierarchical

    n = Xs.shape[0]
    if K == 1:
        return _one_hot(np.zeros(n, int), 1, hard)
    if n > _HC_SUBSET:
        seed = int(rng.integers(0, 2**31 - 1))
        labels = hierarchical.hierarchical_labels(Xs, K, subset=_HC_SUBSET, random_state=seed)
        return _one_hot(labels, K, hard)
    key = (Xs.shape, hashlib.sha1(np.ascontiguousarray(Xs).tobytes()).hexdigest())
    tree = _HIERARCHIES.get(key)
    if tree is None:
        tree = hierarchical.agglomerate(Xs, "VVV", "SVD")
        while len(_HIERARCHIES) >= _HIERARCHY_CACHE_SIZE:
            _HIERARCHIES.pop(next(iter(_HIERARCHIES)))
        _HIERARCHIES[key] = tree
    if K > tree.n_initial:  # fewer distinct points than components: k-means decides
        return _initial_resp(rng, Xs, K, "kmeans", hard)
    return _one_hot(tree.labels(K), K, hard)


def _initial_resp(rng, Xs, n_components: int, init_params: str, hard=False) -> np.ndarray:
    """Initial responsibilities of one start, shape (n, n_components), as scikit-learn's.

    NumPy and scikit-learn's k-means on the standardised data: nothing here is compiled, so
    every ``init_params`` shares the compiled EM. With ``hard``, a hard start is returned as
    its labels, shape (n,) int32 (``-1``: in no component), which take less memory.
    """
    n = Xs.shape[0]
    K = n_components
    if K == 1:
        return _one_hot(np.zeros(n, int), 1, hard)
    if init_params == "random":
        resp = rng.random((n, K))
        return resp / resp.sum(axis=1, keepdims=True)
    seed = int(rng.integers(0, 2**31 - 1))
    if init_params == "kmeans":
        from sklearn.cluster import KMeans

        labels = KMeans(K, n_init=1, random_state=seed).fit(Xs).labels_
        return _one_hot(labels, K, hard)
    if init_params == "k-means++":
        from sklearn.cluster import kmeans_plusplus

        idx = kmeans_plusplus(Xs, K, random_state=seed)[1]
    else:  # random_from_data
        idx = rng.choice(n, K, replace=False)
    if hard:
        labels = np.full(n, -1, np.int32)
        labels[idx] = np.arange(K)
        return labels
    resp = np.zeros((n, K))
    resp[idx, np.arange(K)] = 1.0
    return resp


def _fit_core(
    resp0,
    X,
    w,
    reg,
    n_components,
    n_starts,
    weights_init,
    means_init,
    precisions_init,
    tol,
    max_iter,
    *,
    covariance_type,
    callback,
    points=False,
    n_labels=None,
):
    """Features, the initial M-step of every start (vmapped) and EM, in one program.

    ``resp0`` has shape ``(S, n, K_pad)``: only the first ``n_starts`` starts and
    ``n_components`` components are real (both traced), so every count inside a bucket
    shares the compiled program. Padding starts begin with NaN parameters, which
    :func:`mixtures.em.run_em` marks as failed and never updates.

    With ``points=True`` (large data) the steps get the points, not their features, and form
    the features block by block (:class:`mixtures.em.GaussianEMData`), so the memory held is
    the data's, not the ``(n, 1 + d + m)`` feature matrix's; the iterates are the same to
    rounding. Hard starts may then come as labels: ``resp0`` of shape ``(S, n)`` in
    ``-1..n_labels-1`` with ``n_labels`` the padded number of components.
    """
    K_pad = n_labels or resp0.shape[-1]
    mask = jnp.arange(K_pad) < n_components
    F = X if points else em.gaussian_features(X, covariance_type)
    data = em.GaussianEMData(F, w, reg, mask)

    given = (weights_init, means_init, precisions_init)

    def init_one(resp):
        params = em.gaussian_params_from_resp(
            resp, data, covariance_type, points=points, n_components=n_labels
        )
        if all(v is None for v in given):  # (static) nothing to replace: a smaller program
            return params
        return em.gaussian_params_from_init(params, *given, covariance_type)

    params0 = jax.vmap(init_one)(resp0)
    if resp0.shape[0] > 1:  # (static) one slot is one real start: no padding start to mask
        real = jnp.arange(resp0.shape[0]) < n_starts
        params0 = jax.tree_util.tree_map(
            lambda a: jnp.where(real.reshape((-1,) + (1,) * (a.ndim - 1)), a, jnp.nan), params0
        )
    e_step, m_step = em.gaussian_steps(covariance_type)
    return em.run_em(e_step, m_step, params0, data, tol, max_iter, callback)


# Small problems are dominated by compilation, large ones by run time: the former are compiled
# with XLA's backend optimisation off. XLA's CPU fusion emitters compile several times slower
# than the classic elemental emitters and bring nothing to these small kernels, and splitting
# the code generation into parallel parts costs more than it saves on a few cores, so both
# variants turn them off.
_SMALL = 1 << 18  # padded rows x starts (measured: below it, optimised code saves less run
# time than its compilation costs)
_FULL_COMPILE = {"xla_cpu_use_fusion_emitters": False, "xla_cpu_parallel_codegen_split_count": 1}
_FAST_COMPILE = {"xla_backend_optimization_level": 0, **_FULL_COMPILE}
_FIT_STATIC = ("covariance_type", "callback")
_FIT_JIT = (
    jax.jit(_fit_core, static_argnames=_FIT_STATIC, compiler_options=_FULL_COMPILE),
    jax.jit(_fit_core, static_argnames=_FIT_STATIC, compiler_options=_FAST_COMPILE),
)
_SAMPLE_JIT = jax.jit(gaussian.sample, static_argnames="n")


def _search_core(resp0, X, w, reg, n_components, n_starts, tol, max_iter, *, covariance_type):
    """:func:`_fit_core` for several numbers of components (the leading axis of ``resp0`` and
    ``n_components``) in one program per covariance type, which serves a whole model search.
    They run one after the other (``lax.map``), each to its own convergence: vmapped, every
    number of components would iterate until the slowest had converged."""

    def one(resp, k):
        return _fit_core(
            resp,
            X,
            w,
            reg,
            k,
            n_starts,
            None,
            None,
            None,
            tol,
            max_iter,
            covariance_type=covariance_type,
            callback=None,
        )

    return jax.lax.map(lambda a: one(*a), (resp0, n_components))


_SEARCH_JIT = (
    jax.jit(_search_core, static_argnames="covariance_type", compiler_options=_FULL_COMPILE),
    jax.jit(_search_core, static_argnames="covariance_type", compiler_options=_FAST_COMPILE),
)
# Up to this many padded rows x starts x numbers of components, a search is compile-bound
# and compiled with XLA's fast pipeline; above, with the optimising one
_SEARCH_SMALL = 1 << 15


_POINTS_JIT = jax.jit(
    functools.partial(_fit_core, points=True),
    static_argnames=("covariance_type", "callback", "n_labels"),
    compiler_options=_FULL_COMPILE,
)
# From this many padded rows on, the fit works on the points (``_fit_core(points=True)``):
# there the feature matrix (6.6 times the data for full covariances in 10 dimensions) would
# dominate the memory, and forming features block by block costs no more time than reading
# them.
_POINTS_ROWS = 1 << 16
# Up to this many padded rows x starts, samples are padded to a power of two: compilation
# dominates there, and one program then serves, say, a cross-validation's training folds and
# its refit on all rows.
_POW2_ROWS = 1 << 15


def _soft(resp, K: int) -> np.ndarray:
    """Responsibilities (n, K) of a start given as labels (n,) (``-1``: no component)."""
    if resp.ndim == 2:
        return resp
    out = np.zeros((resp.shape[0], K))
    real = resp >= 0
    out[np.flatnonzero(real), resp[real]] = 1.0
    return out


def _place_rows(args, mesh):
    """The compiled fit's arguments on ``mesh``: the sample axis of the initial
    responsibilities, the data and the weights split over its devices (padded with
    zero-weight rows to a multiple of their number), everything else replicated."""
    from jax.sharding import NamedSharding
    from jax.sharding import PartitionSpec as P

    from mixtures import sharding

    resp0, X, w, *rest = args
    n = sharding.padded_rows(X.shape[0], mesh)
    resp0, X, w = pad_axis(resp0, n, 1), pad_axis(X, n), pad_axis(w, n)
    axis = mesh.axis_names[0]
    put = jax.device_put
    return (
        put(resp0, NamedSharding(mesh, P(None, axis))),
        put(X, NamedSharding(mesh, P(axis))),
        put(w, NamedSharding(mesh, P(axis))),
        *(None if a is None else put(a, NamedSharding(mesh, P())) for a in rest),
    )


def _program(args, small):
    """The compiled fit for the padded arguments ``args`` of :meth:`GaussianMixture._em_call`."""
    return _POINTS_JIT if args[1].shape[0] >= _POINTS_ROWS else _FIT_JIT[small]


# The progress bar of the running verbose fit. The loop calls one module-level function (a
# static argument), so verbose fits share their compiled program too.
_PROGRESS: list = []


def _progress(it, lower, done):
    if _PROGRESS:
        bar = _PROGRESS[-1]
        bar.update(1)
        # host copies first: NumPy reductions on JAX arrays would compile programs
        lower, done = np.asarray(lower), np.asarray(done)
        bar.set_postfix(best_lower_bound=float(lower.max()), done=int(done.sum()))


# ---------------------------------------------------------------- NumPy evaluation
# Prediction is a few matrix products: NumPy does it without compiling for each new size.
def _precisions_cholesky(cov, covariance_type):
    """Upper-triangular ``U`` with ``U U^T = inverse(cov)`` (full/tied), or
    ``1/sqrt(variance)`` (diag/spherical), as scikit-learn's ``precisions_cholesky_``.

    Raises
    ------
    DivergenceError
        If a covariance is not positive definite.
    """
    if covariance_type in ("diag", "spherical"):
        if not (cov > 0).all():
            raise DivergenceError("a fitted variance is not positive.")
        return 1.0 / np.sqrt(cov)
    covs = cov[None] if covariance_type == "tied" else cov
    out = np.empty_like(covs)
    eye = np.eye(covs.shape[-1])
    for k, S in enumerate(covs):
        try:
            L = np.linalg.cholesky(S)
        except np.linalg.LinAlgError:
            raise DivergenceError("a fitted covariance is not positive definite.") from None
        out[k] = scipy.linalg.solve_triangular(L, eye, lower=True).T
    return out[0] if covariance_type == "tied" else out


def _log_gaussian_prob(X, means, prec_chol, covariance_type):
    """``log N(x_n | mu_k, Sigma_k)``, shape (n, K), from the precision Cholesky factors."""
    n, d = X.shape
    K = means.shape[0]
    if covariance_type in ("full", "tied"):
        pcs = np.broadcast_to(prec_chol, (K, d, d))
        log_det = np.log(np.diagonal(pcs, axis1=1, axis2=2)).sum(axis=1)
        maha = np.empty((n, K))
        for k in range(K):
            y = X @ pcs[k] - means[k] @ pcs[k]
            maha[:, k] = np.einsum("ij,ij->i", y, y)
    elif covariance_type == "diag":
        log_det = np.log(prec_chol).sum(axis=1)
        maha = np.empty((n, K))
        for k in range(K):
            y = (X - means[k]) * prec_chol[k]
            maha[:, k] = np.einsum("ij,ij->i", y, y)
    else:
        log_det = d * np.log(prec_chol)
        maha = np.empty((n, K))
        for k in range(K):
            diff = X - means[k]
            maha[:, k] = np.einsum("ij,ij->i", diff, diff) * prec_chol[k] ** 2
    return -0.5 * (d * linalg.LOG_2PI + maha) + log_det


def _logsumexp_rows(a):
    """``log sum_k exp(a_nk)`` of every row (scipy's ``logsumexp(a, axis=1)``, without its
    array-API dispatch, which costs more than the sum on the small arrays of a model search)."""
    top = a.max(axis=1)
    top = np.where(np.isfinite(top), top, 0.0)
    with np.errstate(divide="ignore"):
        return np.log(np.exp(a - top[:, None]).sum(axis=1)) + top


def _check_chunk_size(value, name):
    """``"auto"`` or a positive int: the rows per chunk of a streamed fit."""
    if isinstance(value, str) and value == "auto":
        from mixtures import streaming

        return streaming.DEFAULT_CHUNK_SIZE
    return check_scalar(value, name, kind="int", low=1)


def _check_devices(value, name):
    """The mesh of a ``devices=`` argument; None for one device (the plain fit)."""
    if value is None:
        return None
    from mixtures import sharding

    try:
        mesh = sharding.sample_mesh(value)
    except (TypeError, ValueError) as exc:
        raise type(exc)(f"{name}: {exc}") from None
    return None if mesh.devices.size == 1 else mesh


def _is_stream(X) -> bool:
    """Whether ``X`` is to be streamed: a memmap, a callable, an iterator, or a list or tuple
    of 2-D arrays (chunks); other input is an in-memory table."""
    if isinstance(X, np.memmap) or callable(X) or hasattr(X, "__next__"):
        return True
    return (
        isinstance(X, list | tuple)
        and len(X) > 0
        and all(isinstance(c, np.ndarray) and c.ndim == 2 for c in X)
    )


# Streamed fits start from the estimator's initialisation on a uniform subsample of at most
# this many rows (all rows when there are fewer, so small streams start as in memory).
_STREAM_INIT_ROWS = 100_000


class GaussianMixture(DensityMixin, MixturesEstimator):
    """Gaussian mixture fitted by expectation-maximisation in JAX (float64).

    A drop-in for :class:`sklearn.mixture.GaussianMixture`: same parameters, methods and
    fitted attributes, same EM iteration (started from the same parameters it gives the same
    lower bound to rounding, when scikit-learn's ``reg_covar`` is set to the absolute value
    that ours stands for, see below). The ``n_init`` starts are initialised and iterated
    together (``jax.vmap`` inside one ``lax.while_loop``, see :func:`mixtures.em.run_em`),
    and each iteration is two matrix products with a feature matrix of the data, so the fit
    runs without returning to Python between iterations.

    **Units do not matter.** The fit runs on the data centred and divided by one scale
    ``s = sqrt(mean per-feature variance of X)``, and the parameters are mapped back: with
    ``X`` multiplied by ``c`` the means and the square roots of the covariances scale by
    ``c``, the labels are the same, and the log-likelihoods shift by ``-d log c``.

    Parameters
    ----------
    n_components : int, default=1
        Number of mixture components K.
    covariance_type : str, default="full"
        Structure of the covariances: scikit-learn's ``"full"`` (one full ``(d, d)`` matrix
        per component), ``"tied"`` (one shared by all), ``"diag"`` (a diagonal per
        component), ``"spherical"`` (one variance per component), or any of the fourteen
        models of Celeux & Govaert, ``"EII"``, ``"VII"``, ``"EEI"``, ``"VEI"``, ``"EVI"``,
        ``"VVI"``, ``"EEE"``, ``"VEE"``, ``"EVE"``, ``"VVE"``, ``"EEV"``, ``"VEV"``,
        ``"EVV"``, ``"VVV"`` (volume, shape, orientation Equal, Variable or Identity; see
        :mod:`mixtures.parsimonious`). ``VVV``, ``EEE``, ``VVI`` and ``VII`` are the same
        models as full, tied, diag and spherical. ``covariances_`` is stored in the layout
        of the scikit-learn type with the same shape: ``(K,)`` for ``*II``, ``(K, d)`` for
        the other diagonal models, ``(d, d)`` for ``EEE``, ``(K, d, d)`` otherwise.
    tol : float, default=1e-3
        EM stops when the lower bound (mean log-likelihood per sample, nats) changes by less.
        A change of units shifts the lower bound by a constant, so it changes no decision.
    reg_covar : float, default=1e-6
        Positive regularisation added to the diagonal of every covariance, **relative to the
        data's scale** (dimensionless): the ridge is ``reg_covar * mean(X.var(axis=0))`` in
        units of ``X**2`` (population variances of the training data, averaged over the
        features; the same definition as ``solvers.ila_sdp.ILASDP``). On data with unit mean
        variance it is scikit-learn's absolute ``reg_covar``. If every feature is constant
        the ridge is ``reg_covar`` itself.
    max_iter : int, default=100
        Maximum number of EM iterations per start.
    n_init : int, default=1
        Number of starts; the one with the highest lower bound is kept.
    init_params : {"auto", "hierarchical", "kmeans", "k-means++", "random", \
"random_from_data"}, default="auto"
        Initial responsibilities: k-means labels (scikit-learn's KMeans on the standardised
        data), k-means++ seeds, uniform random, K random data points, or mclust's start: the
        partition of model-based hierarchical agglomeration (VVV criterion on the
        SVD-transformed data, :mod:`mixtures.hierarchical`; on a random subset of 2000 points
        for larger data). The hierarchical start is deterministic: with ``n_init > 1`` the
        further starts come from k-means. ``"auto"`` (the default; scikit-learn's is
        ``"kmeans"``) is ``"hierarchical"`` up to 1000 samples and ``"kmeans"`` above, where
        the agglomeration's ``O(n^2)`` cost would dominate the fit: on the designs and real
        data of ``benchmarks/bench_gaussian_mixture.py`` the hierarchical start reaches the
        higher likelihood where k-means starts are trapped (small clusters beside large
        ones; wine) and ties elsewhere.
    weights_init : array of shape (n_components,), default=None
        Initial weights (non-negative, summing to one).
    means_init : array of shape (n_components, n_features), default=None
        Initial means (units of X).
    precisions_init : array, default=None
        Initial precision matrices (inverse covariances, units of ``1/X**2``): ``(K, d, d)``
        full, ``(d, d)`` tied, ``(K, d)`` diag, ``(K,)`` spherical (the storage layout of
        ``covariance_type``).
    random_state : None, int, numpy.random.Generator or JAX key, default=None
        Seeds the initialisation and :meth:`sample`.
    verbose : bool, default=False
        Show a tqdm progress bar over EM iterations with the best lower bound (of the
        standardised data, in which the fit runs). Verbose fits share one compiled program.
    chunk_size : int or "auto", default="auto"
        Rows per chunk when ``X`` is streamed (a memmap, a sequence of arrays or a callable,
        see :meth:`fit`). ``"auto"``: :data:`mixtures.streaming.DEFAULT_CHUNK_SIZE` (16384
        rows: a few MB of features for tens of dimensions). Memory, not results, depends on
        it (the sums run in another order).
    devices : None, int, "all", "local", sequence of jax.Device or Mesh, default=None
        Devices that share the rows (data parallel, :mod:`mixtures.sharding`): each
        computes its rows' E-step sums and the compiler adds them up. ``None``: one device.
        The result is the one-device result (to rounding). In memory the rows are split over
        this process's devices; across processes (:mod:`jax.distributed`) stream each
        process's share with ``devices="all"``.

    Attributes
    ----------
    weights_ : ndarray of shape (n_components,)
    means_ : ndarray of shape (n_components, n_features)
        Units of X.
    covariances_ : ndarray
        Shape by ``covariance_type`` as ``precisions_init``; units of ``X**2``.
    precisions_ : ndarray
        Inverses of ``covariances_``.
    precisions_cholesky_ : ndarray
        Cholesky factors of the precisions (upper triangular ``U`` with ``U U^T = P``), or
        ``1/sqrt(variance)`` for diag/spherical, as scikit-learn's.
    converged_ : bool
        Whether the best start met the ``tol`` criterion (a ConvergenceWarning otherwise).
    n_iter_ : int
        EM iterations of the best start (at most ``max_iter``).
    lower_bound_ : float
        Mean log-likelihood per sample (nats, density in units of X) of the best start at its
        last E-step.
    n_features_in_ : int
    feature_names_in_ : ndarray of str
        Only when ``X`` had string column names.
    n_updates_ : int
        Online-EM updates (:meth:`partial_fit`) since the last batch fit.

    Notes
    -----
    Starts whose covariance becomes singular (not positive definite even with
    ``reg_covar``) are dropped; if all do, :meth:`fit` raises
    :class:`mixtures.base.DivergenceError` (a ``ValueError``).

    Memory: small data are fitted on a feature matrix ``[1, x, x x^T]`` (``O(n d^2)``);
    from 65536 rows on the features are formed block by block inside the compiled loop,
    so the fit holds about the data, a standardised copy and the initial responsibilities
    (``n x n_components`` per start). Data larger than memory are streamed (:meth:`fit`
    with a memmap), streams seen once are fitted by online EM (:meth:`partial_fit`).

    Compilation: the first fit of a shape pays for JIT compilation. Fits share a compiled
    program when they have the same ``covariance_type``, ``init_params``, number of features,
    sample bucket (:func:`mixtures.base.padded_length`), component bucket (1-4, 5-8, 9-16, ...:
    padding components have weight zero and enter no sum) and, on small data, start bucket
    (1, 2, 3-4, then multiples of 4); ``tol``, ``max_iter`` and ``reg_covar`` are traced.
    So a grid search over ``n_components`` in 1-4 compiles once per data size bucket.
    Prediction runs in NumPy and compiles nothing.
    """

    _parameter_constraints = {
        "n_components": Integer(low=1),
        "covariance_type": Options(_COVARIANCE_TYPES),
        "tol": Real(low=0.0),
        "reg_covar": Real(low=0.0, low_open=True),
        "max_iter": Integer(low=1),
        "n_init": Integer(low=1),
        "init_params": Options(_INIT_PARAMS),
        "weights_init": None,  # arrays: checked in _check_inits
        "means_init": None,
        "precisions_init": None,
        "random_state": None,  # checked by as_generator
        "verbose": Bool(),
        "chunk_size": _check_chunk_size,
        "devices": _check_devices,
    }

    def __init__(
        self,
        n_components=1,
        *,
        covariance_type="full",
        tol=1e-3,
        reg_covar=1e-6,
        max_iter=100,
        n_init=1,
        init_params="auto",
        weights_init=None,
        means_init=None,
        precisions_init=None,
        random_state=None,
        verbose=False,
        chunk_size="auto",
        devices=None,
    ):
        self.n_components = n_components
        self.covariance_type = covariance_type
        self.tol = tol
        self.reg_covar = reg_covar
        self.max_iter = max_iter
        self.n_init = n_init
        self.init_params = init_params
        self.weights_init = weights_init
        self.means_init = means_init
        self.precisions_init = precisions_init
        self.random_state = random_state
        self.verbose = verbose
        self.chunk_size = chunk_size
        self.devices = devices

    # ------------------------------------------------------------------ validation
    def _check_inits(self, K, n_features):
        weights = means = precisions = None
        if self.weights_init is not None:
            weights = check_array(self.weights_init, "weights_init", ndim=1)
            if weights.shape != (K,):
                raise ValueError(f"weights_init must have shape ({K},), got {weights.shape}.")
            if (weights < 0).any() or (weights > 1).any():
                raise ValueError("weights_init must lie in [0, 1].")
            if not np.isclose(weights.sum(), 1.0, rtol=0.0, atol=1e-8):
                raise ValueError(f"weights_init must sum to 1, got {weights.sum():.10g}.")
        if self.means_init is not None:
            means = check_array(self.means_init, "means_init")
            if means.shape != (K, n_features):
                raise ValueError(
                    f"means_init must have shape ({K}, {n_features}), got {means.shape}."
                )
        if self.precisions_init is not None:
            precisions = self._check_precisions(K, n_features)
        return weights, means, precisions

    def _check_precisions(self, K, d):
        st = parsimonious.storage_type(self.covariance_type)
        shape = {"full": (K, d, d), "tied": (d, d), "diag": (K, d), "spherical": (K,)}[st]
        P = check_array(self.precisions_init, "precisions_init", ndim=len(shape))
        if P.shape != shape:
            raise ValueError(
                f"precisions_init must have shape {shape} for covariance_type="
                f"{self.covariance_type!r}, got {P.shape}."
            )
        if st in ("full", "tied"):
            if not np.allclose(P, np.swapaxes(P, -1, -2)):
                raise ValueError("precisions_init must be symmetric.")
            if (np.linalg.eigvalsh(P) <= 0).any():
                raise ValueError("precisions_init must be positive definite.")
        elif (P <= 0).any():
            raise ValueError("precisions_init must be positive.")
        return P

    def _check_X(self, X, reset: bool) -> np.ndarray:
        """``X`` as a float64 table: TypeError for complex, sparse, string or object input;
        ValueError (with scikit-learn's wording) for NaN, infinities, wrong shapes or too few
        samples; sets or checks ``n_features_in_`` / ``feature_names_in_``."""
        from sklearn.utils import check_array as sk_check_array

        check_array(X, "X", ndim=None, min_rows=0, min_cols=0)
        sk_check_array(X, dtype=np.float64, ensure_min_samples=2 if reset else 1)
        return self._check_table(X, "X", reset=reset)

    def _inits_in_fit_units(self, inits, center, scale, K_pad):
        """User initial parameters in the standardised units of the fit, padded to K_pad."""
        weights, means, precisions = inits
        ct = parsimonious.storage_type(self.covariance_type)
        if weights is not None:
            weights = pad_axis(weights, K_pad)
        if means is not None:
            means = pad_axis((means - center) / scale, K_pad)
        if precisions is not None:
            precisions = precisions * scale**2
            if ct == "full":
                eye = np.broadcast_to(np.eye(precisions.shape[-1]), (K_pad,) + precisions.shape[1:])
                precisions = np.concatenate([precisions, eye[len(precisions) :]])
            elif ct != "tied":
                precisions = pad_axis(precisions, K_pad, value=1.0)
        return weights, means, precisions

    # ------------------------------------------------------------------ fitting
    def fit(self, X, y=None):
        """Fit the mixture by EM from ``n_init`` starts (run together); keep the best.

        ``X`` may be larger than memory: a :class:`numpy.memmap`, a list or tuple of 2-D
        arrays (chunks of any lengths) or a callable returning a fresh iterable of 2-D
        arrays (called once per pass) is streamed in chunks of ``chunk_size`` rows
        (:mod:`mixtures.streaming`). Every EM iteration then sums the E-step statistics
        chunk by chunk: the iterates are those of the in-memory fit (to rounding), with the
        memory of a few chunks. The initialisation (``init_params``) runs on a uniform
        subsample of at most 100000 rows (on all rows when there are fewer, so a small
        stream starts where the in-memory fit does), and two extra passes give the mean and
        scale.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features), memmap, sequence of arrays or callable
            Finite real data (units of your choice), at least two samples and at least
            ``n_components`` samples.
        y : ignored

        Returns
        -------
        self

        Raises
        ------
        TypeError
            For complex, sparse, string or object input, or a hyper-parameter of a wrong
            type (``verbose`` not a bool, for example).
        ValueError
            For bad values or shapes.
        mixtures.base.DivergenceError
            If every start's covariance became singular.
        """
        params = self._validate_params()
        self._online = None
        if _is_stream(X):
            return self._fit_stream(X, params)
        X = self._check_X(X, reset=True)
        K = params["n_components"]
        if X.shape[0] < K:
            raise ValueError(
                f"X has n_samples={X.shape[0]}, fewer than n_components={K}; "
                "expected n_samples >= n_components."
            )
        inits = self._check_inits(K, X.shape[1])
        n_pad = padded_length(X.shape[0])
        large = n_pad >= _POINTS_ROWS
        # large data: the standardised copy is written once, padded, where the compiled fit
        # reads it, and hard starts travel as labels
        std = _Standardised.padded(X, n_pad) if large else _Standardised.of(X)
        del X  # a converted copy of the input is not needed any more
        resp0, n_starts = self._initial_responsibilities(std, K, inits, params, hard=large)
        call = self._em_call(std, resp0, n_starts, inits, params)
        del resp0
        res = self._run_em(call, params)
        return self._store_result(res, n_starts, std, params)

    def _fit_stream(self, source, params):
        """:meth:`fit` on a streamed source (see there)."""
        from mixtures import streaming

        K, chunk, mesh = params["n_components"], params["chunk_size"], params["devices"]
        d = streaming._first_chunk(source).shape[1]  # also rejects bad sources, naming X
        self.n_features_in_ = d
        if hasattr(self, "feature_names_in_"):
            del self.feature_names_in_
        n, center, scale = streaming.standardization(source, chunk_size=chunk, devices=mesh)
        n = int(round(n))
        if n < max(K, 2):
            raise ValueError(
                f"X has n_samples={n}; expected n_samples >= 2 and >= n_components={K}."
            )
        inits = self._check_inits(K, d)
        if n <= _STREAM_INIT_ROWS:
            rows = np.concatenate([x[w > 0] for x, w in streaming.iter_chunks(source, chunk)])
        else:
            rows = streaming.subsample(
                source, _STREAM_INIT_ROWS, self.random_state, chunk_size=chunk
            )
        std = _Standardised((rows - center) / scale, center, scale)
        del rows
        # the in-memory program run for zero iterations gives the initial parameters of
        # every start, exactly as the in-memory fit computes them (on the subsample)
        resp0, n_starts = self._initial_responsibilities(std, K, inits, params)
        args, small, ct = self._em_call(std, resp0, n_starts, inits, params)
        args = args[:-1] + (np.int32(0),)
        with x64():
            start = _program(args, small)(*args, covariance_type=ct, callback=None)
            params0 = jax.tree_util.tree_map(lambda a: np.asarray(a)[:n_starts], start.params)
        K_pad = params0.weights.shape[-1]
        bar = self._progress_bar(params)
        try:
            res = streaming.fit_em_chunked(
                source,
                params0,
                covariance_type=ct,
                center=center,
                scale=scale,
                reg_covar=params["reg_covar"],
                tol=params["tol"],
                max_iter=params["max_iter"],
                chunk_size=chunk,
                component_mask=np.arange(K_pad) < K,
                devices=mesh,
                callback=_progress if bar is not None else None,
            )
        finally:
            self._close_bar(bar)
        empty = _Standardised(np.empty((0, d)), center, scale)
        return self._store_result(res, n_starts, empty, params)

    def partial_fit(self, X, y=None):
        """Online EM: update the mixture with a batch of a stream (Cappé & Moulines 2009).

        The first call on an unfitted estimator fits the batch as :meth:`fit` does, which
        fixes the standardisation (mean and scale of the batch) and the starting point.
        Every later call takes one online-EM step: the running average of the per-point
        statistics moves towards the batch's,
        ``s <- s + gamma_t (s(batch) - s)`` with ``gamma_t = (t + 2) ** -0.6`` at update
        ``t = 1, 2, ...`` (:func:`mixtures.streaming.step_size`), and the parameters are its
        M-step. After a :meth:`fit`, calls continue from the fitted model. Batches of any
        size share compiled code within a size bucket.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            A batch (units of X): at least two samples and ``n_components`` on the first
            call, at least one later.
        y : ignored

        Returns
        -------
        self

        Notes
        -----
        ``lower_bound_`` is the batch's mean log-likelihood at the parameters before the
        step. Online EM has no stopping criterion: after a step ``converged_`` is False
        (without a warning) and ``n_iter_`` stays that of the batch fit.
        """
        from mixtures import streaming

        if getattr(self, "_em_state", None) is None:
            return self.fit(X)
        params = self._validate_params()
        X = self._check_X(X, reset=False)
        center, scale, p = self._em_state
        ct = _program_type(params["covariance_type"])
        state = self._online or streaming.online_em_init(
            p, covariance_type=ct, reg_covar=params["reg_covar"]
        )
        state, lower = streaming.online_em_update(
            state,
            X,
            covariance_type=ct,
            center=center,
            scale=scale,
            reg_covar=params["reg_covar"],
            devices=params["devices"],
        )
        self._online = state
        self._set_parameters(state.params, center, scale, params)
        self.lower_bound_ = lower - X.shape[1] * math.log(scale)
        self.converged_ = False
        self.n_updates_ = state.n_updates
        return self

    def _initial_responsibilities(self, std, K, inits, params, hard=False):
        """Initial responsibilities of every start, shape (n_starts, n, K), and n_starts.

        With ``hard``, hard starts come as labels, shape (n_starts, n) int32 (``-1``: in no
        component), unless one start is soft.
        """
        n = std.X.shape[0]
        if all(v is not None for v in inits):  # nothing random: one start from the given
            if hard:  # every parameter is replaced by the given ones: no statistics needed
                return np.full((1, n), -1, np.int32), 1
            return np.full((1, n, K), 1.0 / K), 1
        rng = as_generator(self.random_state)
        init = params["init_params"]
        if init == "auto":
            init = "hierarchical" if n <= _HC_AUTO else "kmeans"
        starts = []
        for s in range(params["n_init"]):
            if init == "hierarchical" and s == 0:
                starts.append(_hierarchical_resp(std.X, K, rng, hard))
            else:  # further starts of "hierarchical" come from k-means
                starts.append(_initial_resp(rng, std.X, K, _FOLLOW_UP.get(init, init), hard))
        if any(r.ndim == 2 for r in starts):
            starts = [_soft(r, K) for r in starts]
        return np.stack(starts), len(starts)

    def _em_call(self, std, resp0, n_starts, inits, params, K_pad=None):
        """Positional arguments and static options of the compiled fit, padded to buckets."""
        n = std.X.shape[0]
        K = params["n_components"]
        n_pad, K_pad = padded_length(n), K_pad or _component_bucket(K)
        if n_pad * n_starts <= _POW2_ROWS:  # compile-bound: coarser buckets share more programs
            n_pad = 1 << (n_pad - 1).bit_length()
        n_slots = _start_bucket(n_starts) if n_pad * n_starts <= _SMALL else n_starts
        if resp0.ndim == 2:  # labels
            labels = np.full((n_slots, n_pad), -1, np.int32)
            labels[: len(resp0), :n] = resp0
            resp0 = labels
        elif n_pad >= _POINTS_ROWS:  # one copy, aligned for the device
            buf = _aligned_zeros((n_slots, n_pad, K_pad))
            buf[: len(resp0), :n, : resp0.shape[2]] = resp0
            resp0 = buf
        else:
            resp0 = pad_axis(pad_axis(pad_axis(resp0, n_slots, 0), n_pad, 1), K_pad, 2)
        weights0, means0, precisions0 = self._inits_in_fit_units(
            inits, std.center, std.scale, K_pad
        )
        Xp = std.X_padded
        args = (
            resp0,
            Xp if Xp is not None and Xp.shape[0] == n_pad else pad_axis(std.X, n_pad),
            pad_axis(np.ones(n), n_pad),
            np.float64(params["reg_covar"]),
            np.int32(K),
            np.int32(n_starts),
            weights0,
            means0,
            precisions0,
            np.float64(params["tol"]),
            np.int32(params["max_iter"]),
        )
        small = int(n_pad * n_slots <= _SMALL)
        return args, small, _program_type(params["covariance_type"])

    @staticmethod
    def _progress_bar(params):
        if not params["verbose"]:
            return None
        from tqdm.auto import tqdm

        bar = tqdm(total=params["max_iter"], desc="GaussianMixture EM", unit="it")
        _PROGRESS.append(bar)
        return bar

    @staticmethod
    def _close_bar(bar):
        if bar is not None:
            _PROGRESS.remove(bar)
            bar.close()

    def _run_em(self, call, params):
        """Run the compiled EM (with a progress bar when verbose); NumPy results.

        Large data run on the points (``_fit_core(points=True)``); with ``devices`` the rows
        (of the data, the weights and the initial responsibilities) are split over the
        devices and the rest replicated.
        """
        args, small, ct = call
        fit = _program(args, small)
        kw = {}
        if fit is _POINTS_JIT and args[0].ndim == 2:  # hard starts as labels
            kw["n_labels"] = _component_bucket(params["n_components"])
        mesh = params.get("devices")
        bar = self._progress_bar(params)
        try:
            with x64():  # NumPy arguments go in as they are (no transfer programs to compile)
                if mesh is not None:
                    args = _place_rows(args, mesh)
                elif fit is _POINTS_JIT:  # large arrays: the CPU device uses them in place
                    args = tuple(
                        jax.device_put(a, may_alias=True) if isinstance(a, np.ndarray) else a
                        for a in args
                    )
                res = fit(*args, covariance_type=ct, callback=_progress if bar else None, **kw)
                return jax.tree_util.tree_map(np.asarray, res)
        finally:
            self._close_bar(bar)

    def _store_result(self, res, n_starts, std, params):
        """Keep the best start: fitted attributes in the units of X, convergence flags."""
        K, d = params["n_components"], std.X.shape[1]
        st = parsimonious.storage_type(params["covariance_type"])
        failed = res.failed[:n_starts]
        if np.all(failed):
            raise DivergenceError(
                "Fitting the mixture model failed: every start's covariance became singular "
                "(for instance a component collapsed onto one point or duplicates). Try fewer "
                "components or a larger reg_covar."
            )
        lower = np.where(failed, -np.inf, res.lower_bound[:n_starts])
        # starts that reach the same optimum differ by rounding: take the first of them, so
        # that rounding (a change of units, say) cannot switch to a permuted twin
        top = lower.max()
        best = int(np.flatnonzero(lower >= top - 1e-10 * max(1.0, abs(top)))[0])
        p = jax.tree_util.tree_map(lambda a: a[best], res.params)
        # the real components of the best start, in the fit's units (for partial_fit)
        shared = ("covariances", "precisions") if st == "tied" else ()
        p = em.GaussianParams(**{f: a if f in shared else a[:K] for f, a in p._asdict().items()})
        self._set_parameters(p, std.center, std.scale, params)
        self.n_updates_ = 0
        self.lower_bound_ = float(res.lower_bound[best]) - d * math.log(std.scale)
        self._set_convergence(
            bool(res.converged[best]),
            int(res.n_iter[best]),
            params["max_iter"],
            hint="increase max_iter or tol, try other init parameters, or check for "
            "degenerate data",
        )
        return self

    def _set_parameters(self, p, center, scale, params):
        """Fitted attributes (units of X) from parameters ``p`` in the fit's units."""
        st = parsimonious.storage_type(params["covariance_type"])
        p = jax.tree_util.tree_map(lambda a: np.array(a, dtype=np.float64), p)
        self._em_state = (np.array(center, dtype=np.float64), float(scale), p)
        self.weights_ = p.weights.copy()
        self.means_ = p.means * scale + center
        self.covariances_ = p.covariances * scale**2
        self.precisions_cholesky_ = _precisions_cholesky(self.covariances_, st)
        if st in ("full", "tied"):
            pc = self.precisions_cholesky_
            self.precisions_ = pc @ np.swapaxes(pc, -1, -2)
        else:
            self.precisions_ = self.precisions_cholesky_**2

    def fit_predict(self, X, y=None):
        """Fit as :meth:`fit` and return the component of every sample.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : ignored

        Returns
        -------
        labels : ndarray of int, shape (n_samples,)
        """
        return self.fit(X).predict(X)

    # ------------------------------------------------------------------ prediction
    def _gmm(self):
        return gaussian.GMM(
            jnp.asarray(np.log(self.weights_)),
            jnp.asarray(self.means_),
            jnp.asarray(self.covariances_),
            parsimonious.storage_type(self.covariance_type),
        )

    def _log_resp_and_norm(self, X):
        """Log responsibilities (n, K) and log-density (n,) of validated ``X`` (float64)."""
        st = parsimonious.storage_type(self.covariance_type)
        joint = _log_gaussian_prob(X, self.means_, self.precisions_cholesky_, st)
        joint = joint + np.log(self.weights_)
        norm = _logsumexp_rows(joint)
        return joint - norm[:, None], norm

    def _predict_input(self, X):
        self._check_fitted()
        return self._check_X(X, reset=False)

    def score_samples(self, X):
        """Log-density ``log p(x)`` of every sample (nats, density in units of X).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples,)
        """
        return self._log_resp_and_norm(self._predict_input(X))[1]

    def score(self, X, y=None):
        """Mean log-likelihood per sample of ``X`` (nats; higher is better).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : ignored

        Returns
        -------
        float
        """
        return float(self.score_samples(X).mean())

    def predict_proba(self, X):
        """Posterior probability of each component for each sample.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples, n_components)
            Rows sum to one.
        """
        return np.exp(self._log_resp_and_norm(self._predict_input(X))[0])

    def uncertainty(self, X):
        """Classification uncertainty of every sample, ``1 - max_k P(k | x)`` (as mclust's).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples,)
            In ``[0, 1 - 1/K]``; 0 for a sample certainly in one component.
        """
        return 1.0 - np.exp(self._log_resp_and_norm(self._predict_input(X))[0].max(axis=1))

    def predict(self, X):
        """Most probable component of each sample.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        ndarray of int, shape (n_samples,)
        """
        return self._log_resp_and_norm(self._predict_input(X))[0].argmax(axis=1)

    def sample(self, n_samples=1):
        """Draw samples from the fitted mixture (seeded by ``random_state``).

        Parameters
        ----------
        n_samples : int, default=1

        Returns
        -------
        X : ndarray of shape (n_samples, n_features)
        labels : ndarray of int, shape (n_samples,)
            Component of each sample.
        """
        self._check_fitted()
        n_samples = check_scalar(n_samples, "n_samples", kind="int", low=1)
        with x64():
            X, labels = _SAMPLE_JIT(self._gmm(), as_key(self.random_state), n=n_samples)
            return np.asarray(X), np.asarray(labels)

    # ------------------------------------------------------------------ model selection
    def _n_parameters(self):
        K, d = self.means_.shape
        return parsimonious.n_parameters(self.covariance_type, K, d)

    def bic(self, X):
        """Bayesian information criterion ``-2 log L + p log n`` on ``X`` (lower is better).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        float
        """
        X = self._predict_input(X)
        log_lik = self._log_resp_and_norm(X)[1].sum()
        return -2.0 * log_lik + self._n_parameters() * math.log(X.shape[0])

    def aic(self, X):
        """Akaike information criterion ``-2 log L + 2 p`` on ``X`` (lower is better).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        float
        """
        X = self._predict_input(X)
        return -2.0 * self._log_resp_and_norm(X)[1].sum() + 2 * self._n_parameters()
