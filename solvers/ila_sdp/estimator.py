"""scikit-learn estimators: SDP K-means (Peng-Wei) and iterative likelihood-adjusted SDP."""

from __future__ import annotations

import bisect
import warnings

import jax
import jax.numpy as jnp
import numpy as np
from sklearn.base import ClusterMixin

from mixtures import GaussianMixture, as_generator, em, gaussian, hierarchical, parsimonious, x64
from mixtures.base import (
    Bool,
    ConvergenceWarning,
    DivergenceError,
    Integer,
    MixturesEstimator,
    Options,
    Real,
    pad_axis,
    padded_length,
)
from solvers.ila_sdp import _core

__all__ = ["SDPKMeans", "ILASDP"]

SOLVERS = ("auto", "admm", "cvxpy")
# "auto": the ADMM on all points up to this many samples, above it sketch-and-lift with a
# subsample of this size (the ADMM costs O(K n^3) per iteration).
AUTO_SKETCH_SIZE = 200
# ADMM settings (module level so that tests can shrink them): SDPKMeans solves to ADMM_TOL;
# the iLA solves, and the SDP K-means start, only have to be rounded to labels, for which a
# relative residual of ADMM_TOL_LABELS suffices (the iLA convergence test repeats the labels).
ADMM_MAX_ITER = 5000
ADMM_TOL = 1e-4
ADMM_TOL_LABELS = 1e-3
# An iLA run also stops after this many iterations without a partition of larger
# classification likelihood (the alternation need not be monotone); it returns its best one.
ILA_PATIENCE = 3
# Starts screened by the classification likelihood of their CEM-refined partitions; the iLA
# iterations run from this many of the best distinct ones (each costs several SDP solves).
SOLVED_STARTS = 1
# Hard-assignment (classification EM) sweeps of the screening; a partition stops changing in
# a handful.
CEM_MAX_ITER = 100
COVARIANCE_TYPES = ("auto",) + parsimonious.MODELS + tuple(parsimonious.ALIASES)
# one compiled M-step per covariance model (static first argument)
_COVARIANCES = jax.jit(parsimonious.covariances_from_scatter, static_argnums=0)

# Eigenvectors carried between ADMM iterations beyond the trace (K for SDP K-means, 1 per
# block for the LA-SDP): the PSD projections then cost O(n^2) while few eigenvalues are kept.
ADMM_EXTRA_RANK = 15

# Shape buckets of the SDP's sample axis: a quarter-octave ladder (ceil(2^(k/4)) rounded up
# to a multiple of 8). An ADMM iteration costs O(n^3) (eigen-decompositions), so the power-of-
# two buckets of `padded_length` would cost up to 8x; this ladder costs at most about 1.7x
# and still compiles only four programs per doubling of n. Above 4096, `padded_length`.
_LADDER = sorted({16} | {8 * -(-int(np.ceil(2 ** (k / 4))) // 8) for k in range(16, 49)})
# Tests set this to False to compare with the unpadded computation.
_PAD = True


def _sdp_length(n):
    """Padded length of the SDP's sample axis for ``n`` points."""
    if not _PAD:
        return int(n)
    if n > _LADDER[-1]:
        return padded_length(n)
    return _LADDER[bisect.bisect_left(_LADDER, n)]


def _standardise(X):
    """Centre and the scalar scale ``sqrt(mean_j var(X[:, j]))`` of X (n, p).

    One scale for all features: the clustering of K-means depends on the relative scale of the
    features, so only a common factor may be removed.
    """
    center = X.mean(axis=0)
    scale = float(np.sqrt(np.mean(np.var(X, axis=0))))
    return center, (scale if scale > 0 else 1.0)


def _membership(labels, n_clusters, length=None):
    """Membership matrices ``Z_k = 1_{G_k} 1_{G_k}^T / |G_k|``, shape (K, L, L).

    ``L = length`` (zero padding beyond the ``len(labels)`` points) or ``len(labels)``.
    """
    onehot = (labels[None, :] == np.arange(n_clusters)[:, None]).astype(np.float64)
    if length is not None:
        onehot = pad_axis(onehot, length, axis=1)
    sizes = np.maximum(onehot.sum(axis=1), 1.0)
    return onehot[:, :, None] * onehot[:, None, :] / sizes[:, None, None]


def _canonical(labels):
    """Partition as a hashable tuple, invariant to permutations of the label values."""
    _, first, inverse = np.unique(labels, return_index=True, return_inverse=True)
    rank = np.argsort(np.argsort(first))  # label value -> rank of its first appearance
    return tuple(rank[inverse].tolist())


def _at_most(a, b):
    """``a <= b`` up to a relative rounding tolerance (profile likelihoods of partitions)."""
    return a <= b + 1e-9 * max(1.0, abs(b))


def _local_covariances(X, n_clusters, rng):
    """Starting clusters from local neighbourhoods, for the random starts.

    Draws ``n_clusters`` spread-out seed points (k-means++ seeding,
    :func:`mixtures.em.kmeans_plusplus`) and returns the seeds (n_clusters, p) and, for each
    seed, the covariance of its ``max(p + 1, n // n_clusters)`` nearest points, shape
    (n_clusters, p, p).
    """
    n, p = X.shape
    u = rng.random((n_clusters, 2 + int(np.log(n_clusters))))
    with x64():
        _, seeds = em.kmeans_plusplus(jnp.asarray(X), jnp.ones(n), jnp.asarray(u))
    size = min(n, max(p + 1, n // n_clusters))
    d2 = ((X[np.asarray(seeds)][:, None, :] - X[None, :, :]) ** 2).sum(axis=-1)  # (K, n)
    near = np.argsort(d2, axis=1)[:, :size]
    covs = np.stack([np.cov(X[idx].T, bias=True).reshape(p, p) for idx in near])
    return X[np.asarray(seeds)], covs


def _log_joint_numpy(X, weights, means, full):
    """``log pi_k + log N(x_i | mu_k, Sigma_k)`` for X (n, p) and full covariances (K, p, p),
    shape (n, K)."""
    return gaussian.mvn_logpdf_numpy(X[:, None, :], means, full) + np.log(weights)[None, :]


def _spectral_round(Z, n_clusters, random_state):
    """Labels from the top-``n_clusters`` eigenvectors of ``Z`` (n, n) by K-means."""
    from sklearn.cluster import KMeans

    w, V = np.linalg.eigh(0.5 * (Z + Z.T))
    emb = V[:, -n_clusters:] * np.sqrt(np.maximum(w[-n_clusters:], 0.0))
    km = KMeans(n_clusters, n_init=10, random_state=random_state).fit(emb)
    return km.labels_.astype(np.int64)


@jax.jit
def _log_joint(gmm, X):
    """``log pi_k + log N(x_i | mu_k, Sigma_k)``, shape (n, K)."""
    return gaussian.component_log_prob(gmm, X) + gmm.log_weights


class _NoBar:
    def update(self, *_):
        pass

    def set_postfix(self, **_):
        pass

    def close(self):
        pass


def _progress(total, desc, verbose):
    if not verbose:
        return _NoBar()
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc)


class _SDPSolverMixin:
    """Validation and SDP dispatch shared by the two estimators."""

    def _check_sizes(self, X, n_clusters):
        if X.shape[0] == 1:
            raise ValueError(
                f"X has n_samples=1; clustering needs at least n_clusters={n_clusters} samples."
            )
        if X.shape[0] < n_clusters:
            raise ValueError(f"n_clusters={n_clusters} must be <= n_samples={X.shape[0]}.")
        if self.sketch_size is not None and self.sketch_size < n_clusters:
            raise ValueError(f"sketch_size={self.sketch_size} must be >= n_clusters={n_clusters}.")

    def _sketch_size(self, n):
        if self.sketch_size is None:
            return n if (self.solver != "auto" or n <= AUTO_SKETCH_SIZE) else AUTO_SKETCH_SIZE
        return min(n, int(self.sketch_size))

    def _solve(self, C, trace, m, warm=None, tol=None):
        """Solve the block SDP on the first ``m`` points of the padded cost ``C`` (B, L, L).

        ADMM to ``tol`` (default ADMM_TOL), warm-started from ``warm``. Returns
        ``(Z, warm, status)``: Z (B, L, L) zero on the padding, the next warm start, and a
        dict with ``converged``, ``n_iter`` and the final residuals.
        """
        tol = ADMM_TOL if tol is None else tol
        B, L, _ = C.shape
        if self.solver == "cvxpy":
            from solvers.ila_sdp._cvxpy import cvxpy_solve

            Z, status = cvxpy_solve(np.asarray(C)[:, :m, :m], trace, warn_inaccurate=False)
            Z = pad_axis(pad_axis(Z, L, axis=1), L, axis=2)
            info = dict(
                converged=status == "optimal",
                n_iter=1,
                primal_residual=np.nan,
                dual_residual=np.nan,
                status=status,
            )
            return Z, None, info
        if warm is None:
            Z0 = pad_axis(pad_axis(np.full((B, m, m), trace / (B * m)), L, 1), L, 2)
            warm = (Z0, np.zeros((B, L, L)), 1.0)
        with x64():
            res = _core.admm_solve(
                jnp.asarray(C),
                trace,
                jnp.asarray(warm[0]),
                jnp.asarray(warm[1]),
                warm[2],
                m,
                max_iter=ADMM_MAX_ITER,
                tol=tol,
                rank=int(np.ceil(trace)) + ADMM_EXTRA_RANK,
            )
            res = jax.tree_util.tree_map(np.asarray, res)
        if not np.all(np.isfinite(res.Z)):
            raise DivergenceError(
                f"{type(self).__name__}: the ADMM iterate of the SDP is not finite "
                "(a singular covariance? increase reg_covar)."
            )
        info = dict(
            converged=bool(res.converged),
            n_iter=int(res.n_iter),
            primal_residual=float(res.primal_residual),
            dual_residual=float(res.dual_residual),
            status="max_iter reached",
        )
        return res.Z, (res.Z, res.dual, float(res.rho)), info


def _admm_hint(info):
    if np.isnan(info["primal_residual"]):  # cvxpy
        return f"the SDP solution is approximate (cvxpy status: {info['status']})"
    return (
        f"the SDP solution is approximate (ADMM status: {info['status']}, primal residual "
        f"{info['primal_residual']:.2e}, dual residual {info['dual_residual']:.2e})"
    )


class SDPKMeans(_SDPSolverMixin, ClusterMixin, MixturesEstimator):
    """K-means clustering by the Peng-Wei semidefinite relaxation.

    Solves

    .. math::

        \\max_Z \\langle X X^T, Z \\rangle \\quad \\text{s.t.} \\quad Z \\succeq 0,\\
        Z \\ge 0,\\ Z \\mathbf 1 = \\mathbf 1,\\ \\operatorname{tr} Z = K

    (equivalently minimises :math:`\\frac12 \\sum_{ij} \\|x_i - x_j\\|^2 Z_{ij}`) and rounds
    :math:`Z` to labels by K-means on its top-:math:`K` eigenvectors. X is centred and divided
    by one common scale internally, so the labels do not depend on the units of X.

    Parameters
    ----------
    n_clusters : int
        Number of clusters :math:`K` (no default: the SDP has no way to choose it).
    solver : {"auto", "admm", "cvxpy"}, default="auto"
        ``"cvxpy"``: the SDP in cvxpy (Clarabel for n <= 60, SCS above; reference, small n).
        ``"admm"``: the specialised first-order solver in JAX on all points.
        ``"auto"`` (default: the exact SDP while it is affordable): ``"admm"`` on all points
        for ``n <= 200``; above, sketch-and-lift: the SDP on a random subsample of 200
        points, the rest assigned to the nearest centroid.
    random_state : None, int, numpy.random.Generator or JAX key, default=None
        Seeds the subsample (sketch-and-lift) and the K-means rounding.
    sketch_size : int or None, default=None
        Subsample size for sketch-and-lift with any solver; None: only ``"auto"`` sketches
        (above 200 samples).
    verbose : bool, default=False
        Show a tqdm progress bar over the stages of the fit.

    Attributes
    ----------
    labels_ : ndarray of shape (n_samples,)
        Cluster labels in ``0..K-1``.
    cluster_centers_ : ndarray of shape (n_clusters, n_features)
        Means of the clusters (units of X).
    membership_ : ndarray of shape (m, m)
        The SDP solution :math:`Z` (m = n_samples, or the sketch size).
    sample_indices_ : ndarray of shape (m,)
        Rows of X on which the SDP was solved.
    objective_ : float
        SDP optimum :math:`\\frac12 \\sum_{ij}\\|x_i - x_j\\|^2 Z_{ij}` (squared units of X), a
        lower bound on the K-means within-cluster sum of squares of the SDP points.
    inertia_ : float
        K-means within-cluster sum of squares of the rounded labels on the SDP points.
    relaxation_gap_ : float
        ``(inertia_ - objective_) / inertia_``: zero (to solver accuracy) certifies that the
        rounded partition is the global K-means optimum of the SDP points.
    n_iter_ : int
        ADMM iterations of the SDP solve (1 with ``solver="cvxpy"``).
    converged_ : bool
        Whether the SDP solve reached its tolerance.
    n_features_in_ : int
    feature_names_in_ : ndarray of str
        Only when X had string column names.
    """

    _parameter_constraints = {
        "n_clusters": Integer(low=1),
        "solver": Options(SOLVERS),
        "random_state": None,
        "sketch_size": Integer(low=1, allow_none=True),
        "verbose": Bool(),
    }

    def __init__(
        self, n_clusters, solver="auto", random_state=None, sketch_size=None, verbose=False
    ):
        self.n_clusters = n_clusters
        self.solver = solver
        self.random_state = random_state
        self.sketch_size = sketch_size
        self.verbose = verbose

    def fit(self, X, y=None):
        """Cluster ``X`` of shape (n_samples, n_features); return ``self``."""
        params = self._validate_params()
        X = self._check_table(X, "X", reset=True)
        K = params["n_clusters"]
        self._check_sizes(X, K)
        rng = as_generator(self.random_state)
        n = X.shape[0]
        m = self._sketch_size(n)
        idx = np.sort(rng.choice(n, m, replace=False)) if m < n else np.arange(n)
        seed = int(rng.integers(0, 2**31 - 1))
        center, scale = _standardise(X)
        L = _sdp_length(m)
        Xs = pad_axis((X[idx] - center) / scale, L)
        bar = _progress(2, "SDP K-means", params["verbose"])
        with x64():
            C = np.asarray(_core.kmeans_cost(jnp.asarray(Xs)))
        Z, _, info = self._solve(C, float(K), m)
        bar.update(1)
        Z = Z[0, :m, :m]
        labels = _spectral_round(Z, K, seed)
        bar.update(1)
        bar.close()
        centers = np.stack(
            [
                X[idx][labels == k].mean(axis=0) if np.any(labels == k) else X[idx][0]
                for k in range(K)
            ]
        )
        inertia = float(np.sum((X[idx] - centers[labels]) ** 2))
        self.membership_ = Z
        self.sample_indices_ = idx
        self.objective_ = float(np.sum(C[0, :m, :m] * Z)) * scale**2
        self.inertia_ = inertia
        self.relaxation_gap_ = (inertia - self.objective_) / inertia if inertia > 0 else 0.0
        self.cluster_centers_ = centers
        self.labels_ = self._assign(X) if m < n else labels
        self._set_convergence(
            info["converged"], info["n_iter"], ADMM_MAX_ITER, hint=_admm_hint(info)
        )
        return self

    def _assign(self, X):
        d2 = ((X[:, None, :] - self.cluster_centers_[None]) ** 2).sum(axis=-1)
        return np.argmin(d2, axis=1).astype(np.int64)

    def predict(self, X):
        """Nearest-centroid labels for X of shape (n, n_features), shape (n,)."""
        self._check_fitted()
        X = self._check_table(X, "X", reset=False)
        return self._assign(X)


class ILASDP(_SDPSolverMixin, ClusterMixin, MixturesEstimator):
    """Iterative likelihood-adjusted SDP (iLA-SDP) clustering of heterogeneous Gaussian data.

    Alternates (1) the LA-SDP

    .. math::

        \\min_{Z_1..Z_K} \\sum_k \\langle C_k, Z_k \\rangle \\quad \\text{s.t.}\\quad
        Z_k \\succeq 0,\\ Z_k \\ge 0,\\ \\operatorname{tr} Z_k = 1,\\
        \\sum_k Z_k \\mathbf 1 = \\mathbf 1,

    with :math:`C_k[i,j] = \\frac12 (x_i-x_j)^T\\Sigma_k^{-1}(x_i-x_j) + \\log\\det\\Sigma_k
    - 2\\log\\pi_k`, and (2) the re-estimation of :math:`\\Sigma_k, \\pi_k` from the
    :math:`Z_k` (weighted within-cluster scatter, under the covariance model), from the best
    of ``n_init`` starts (SDP K-means, mclust's hierarchical partition, EM from it, random
    cluster shapes; see ``n_init``), screened by the classification likelihood of their
    partitions after classification EM, so that only one start pays for SDP solves.
    Labels: the cluster with the largest row mass :math:`(Z_k \\mathbf 1)_i`.

    X is centred and divided by the common scale :math:`s = \\sqrt{\\operatorname{mean}_j
    \\operatorname{var}(X_{:, j})}` internally, so a change of units of X changes no label:
    means scale with the units, covariances with their square.

    Parameters
    ----------
    n_clusters : int
        Number of clusters :math:`K` (no default: the SDP has no way to choose it).
    covariance_type : str, default="auto"
        Model of the cluster covariances :math:`\\Sigma_k`: one of the fourteen
        Celeux-Govaert models of :mod:`mixtures.parsimonious` (``"EII"`` ... ``"VVV"``), or
        the aliases ``"full"`` (VVV), ``"diag"`` (VVI), ``"spherical"`` (VII), ``"tied"``
        (EEE). The covariance update maximises the classification likelihood under the
        model. ``"auto"`` (default): the model of lowest BIC at ``n_clusters`` components
        (:func:`mixtures.select_gaussian_mixture` on the standardised data, EM from the
        hierarchical partition: mclust's choice), so that thin, equal-shaped or
        high-dimensional clusters get a model with few parameters. The model used is
        ``covariance_type_``. With a model whose covariances are equal across clusters the
        LA-SDP blocks differ only by their weights and the labels come from the spectral
        rounding of :math:`\\sum_k Z_k`.
    max_iter : int, default=30
        Maximum number of iLA iterations (LA-SDP solves after the initial SDP K-means) per
        start; ``n_iter_ <= max_iter``. From the screened start, separated clusters take one
        or two iterations; the bound caps the cost of harder problems (each iteration is an
        SDP solve).
    tol : float, default=1e-3
        Convergence when the rounded labels repeat and the classification log-likelihood per
        SDP point (nats; ``objective_ / (-2 m)`` up to a constant) changes by at most
        ``tol`` between two successive solves: the same quantity, and the same default,
        as ``GaussianMixture``'s ``tol``, and unchanged by the units of X.
    solver : {"auto", "admm", "cvxpy"}, default="auto"
        As in :class:`SDPKMeans`; with sketch-and-lift the remaining points are assigned by
        the fitted likelihood (:meth:`predict`). The ADMM is warm-started across iterations.
    random_state : None, int, numpy.random.Generator or JAX key, default=None
        Seeds the subsample, the K-means rounding of the initial SDP, the EM start and the
        random-shape starts.
    verbose : bool, default=False
        Show a tqdm progress bar over the iterations.
    reg_covar : float, default=1e-3
        Ridge added to the diagonal of every cluster covariance, as a dimensionless fraction
        of the mean per-feature variance of X (``reg_covar * mean_j var(X[:, j])`` in squared
        units of X; the same definition as ``GaussianMixture``'s ``reg_covar``). The LA-SDP
        cost contains :math:`\\log\\det\\Sigma_k`, which rewards clusters collapsing onto a
        few points; the default bounds it for any data (clusters whose spread is below about
        3 % of the data's standard deviation are the only ones it changes noticeably), where
        a ridge as small as EM's default lets the relaxed :math:`Z_k` concentrate on
        near-degenerate groups.
    sketch_size : int or None, default=None
        As in :class:`SDPKMeans`.
    n_init : int, default=10
        Number of starts. The starts, in this order: the SDP K-means partition; mclust's
        model-based hierarchical partition (VVV agglomeration of the SVD-transformed data,
        :func:`mixtures.hierarchical.hierarchical_labels`); the partition of EM started from
        it (:class:`mixtures.GaussianMixture`, mclust's pipeline); then the partitions by
        likelihood of ``n_clusters`` spread-out random points (k-means++ seeding) with the
        covariances of their neighbourhoods. Each is refined by classification EM (hard
        assignments, no SDP) and the iLA iterations run from the one of
        largest classification likelihood (``SOLVED_STARTS`` of them). The alternation
        between the convex LA-SDP and the covariance update is not convex: on the
        ``adversarial`` and ``scales`` designs the SDP K-means start cuts a broad cluster and
        the iLA iterations from it alone keep the cut.

    Attributes
    ----------
    labels_ : ndarray of shape (n_samples,)
    weights_ : ndarray of shape (n_clusters,)
        Cluster proportions :math:`\\pi_k` of the final partition of the SDP points.
    means_ : ndarray of shape (n_clusters, n_features)
        Cluster means of that partition (units of X).
    covariances_ : ndarray
        Cluster covariances of that partition under the model, from its scatter plus
        ``reg_covar`` times the mean feature variance, in the model's storage layout
        (:func:`mixtures.parsimonious.storage_type`): (K, p, p) for full models, (p, p) for
        EEE, (K, p) for diagonal ones, (K,) for spherical ones (squared units of X).
    covariance_type_ : str
        The covariance model used (mclust name; the BIC choice with ``"auto"``).
    membership_ : ndarray of shape (n_clusters, m, m)
        The last LA-SDP solution :math:`Z_k` (m = n_samples or the sketch size).
    sample_indices_ : ndarray of shape (m,)
    objective_ : float
        Last LA-SDP optimum :math:`\\sum_k\\langle C_k, Z_k\\rangle` in the units of
        :math:`-2\\log L - m p \\log 2\\pi` (classification likelihood of the SDP points).
    relaxation_gap_ : float
        Relative gap between the objective at the rounded partition and ``objective_``;
        zero (to solver accuracy) certifies that the rounded partition is the global optimum
        for the last covariances.
    init_objectives_ : ndarray of shape (n_init,)
        For each start, ``-2 log L - m p log 2 pi`` of a partition with the weights and
        covariances refitted to it (the selection criterion; the first entry is the SDP
        K-means start): the partition its iLA iterations reached for the start(s) solved,
        its classification-EM partition (the screening) for the others; ``inf`` for a
        partition with a cluster of fewer than ``n_features + 1`` points, which is never
        selected over a finite one.
    n_iter_ : int
        iLA iterations (LA-SDP solves) of the selected start, at most ``max_iter``.
    converged_ : bool
        Whether the selected start met the ``tol`` criterion; a start that stops improving
        its classification likelihood for a few iterations returns its best partition
        unconverged.
    n_features_in_ : int
    feature_names_in_ : ndarray of str
        Only when X had string column names.
    """

    _parameter_constraints = {
        "n_clusters": Integer(low=1),
        "covariance_type": Options(COVARIANCE_TYPES),
        "max_iter": Integer(low=1),
        "tol": Real(low=0),
        "solver": Options(SOLVERS),
        "random_state": None,
        "verbose": Bool(),
        "reg_covar": Real(low=0),
        "sketch_size": Integer(low=1, allow_none=True),
        "n_init": Integer(low=1),
    }

    def __init__(
        self,
        n_clusters,
        covariance_type="auto",
        max_iter=30,
        tol=1e-3,
        solver="auto",
        random_state=None,
        verbose=False,
        reg_covar=1e-3,
        sketch_size=None,
        n_init=10,
    ):
        self.n_clusters = n_clusters
        self.covariance_type = covariance_type
        self.max_iter = max_iter
        self.tol = tol
        self.solver = solver
        self.random_state = random_state
        self.verbose = verbose
        self.reg_covar = reg_covar
        self.sketch_size = sketch_size
        self.n_init = n_init

    def _params_from_membership(self, Xs, Z, reg):
        """Regularised weights, means and covariances (structured, full (K,p,p)) from Z."""
        with x64():
            sizes, means, covs = (
                np.asarray(a)
                for a in _core.scatter_from_membership(jnp.asarray(Xs), jnp.asarray(Z))
            )
        sizes = np.maximum(sizes, 1e-12)
        return (sizes / np.sum(sizes), means) + self._structure(covs, reg, sizes)

    def _partition_params(self, Xs, labels, reg):
        """:meth:`_params_from_membership` for a hard partition of the (unpadded) ``Xs``."""
        K, p = self.n_clusters, Xs.shape[1]
        onehot = (labels[None, :] == np.arange(K)[:, None]).astype(np.float64)  # (K, m)
        sizes = np.maximum(onehot.sum(axis=1), 1e-12)
        means = onehot @ Xs / sizes[:, None]
        diff = Xs[None, :, :] - means[:, None, :]
        covs = np.einsum("ki,kip,kiq->kpq", onehot, diff, diff) / sizes[:, None, None]
        return (sizes / np.sum(sizes), means) + self._structure(covs.reshape(K, p, p), reg, sizes)

    def _structure(self, covs, reg, sizes):
        """Impose the covariance model on the (K, p, p) covariances of clusters of ``sizes``
        (K,) points, after adding the ridge ``reg``.

        The model's M-step (:func:`mixtures.parsimonious.covariances_from_scatter`) maximises
        the classification likelihood over the structured covariances given the ridged
        scatter matrices. Returns the structured covariances (the model's storage layout) and
        their full (K, p, p) form.
        """
        K, p, _ = covs.shape
        eye = np.eye(p)
        S = 0.5 * (covs + np.swapaxes(covs, 1, 2)) + reg * eye
        storage = parsimonious.storage_type(self.covariance_type_)
        if storage in ("diag", "spherical"):
            W = sizes[:, None] * np.diagonal(S, axis1=1, axis2=2)
        else:
            W = sizes[:, None, None] * S
        with x64():
            structured = np.asarray(
                _COVARIANCES(self.covariance_type_, jnp.asarray(sizes), jnp.asarray(W))
            )
        if storage == "spherical":
            full = structured[:, None, None] * eye
        elif storage == "diag":
            full = structured[:, :, None] * eye
        elif storage == "tied":
            full = np.broadcast_to(structured, (K, p, p)).copy()
        else:
            full = structured
        return structured, full

    def _cost(self, Xs, full, weights):
        with x64():
            C = np.asarray(
                _core.la_cost(jnp.asarray(Xs), jnp.asarray(full), jnp.log(jnp.asarray(weights)))
            )
        return C

    def _round(self, Z, K, seed, m):
        mass = Z[:, :m, :m].sum(axis=2)  # (K, m)
        labels = np.argmax(mass, axis=0).astype(np.int64)
        if len(np.unique(labels)) < K:
            # symmetric (equal-covariance) solutions spread each point over the Z_k equally:
            # fall back to spectral rounding of sum_k Z_k
            labels = _spectral_round(Z[:, :m, :m].sum(axis=0), K, seed)
        return labels

    def _profile_objective(self, Xs, labels, K, reg):
        """``-2 log L - m p log 2 pi`` of the partition ``labels``, parameters refitted to it.

        ``inf`` when a cluster has fewer than ``p + 1`` points: its covariance would be
        singular but for the ridge, and the likelihood of such a partition is degenerate.
        """
        if np.min(np.bincount(labels, minlength=K)) < Xs.shape[1] + 1:
            return np.inf
        Zr = _membership(labels, K, Xs.shape[0])
        weights, _, _, full = self._params_from_membership(Xs, Zr, reg)
        return float(np.sum(self._cost(Xs, full, weights) * Zr))

    def _run(self, Xs, m, state, seed, bar, seen=()):
        """iLA iterations from ``state`` (a dict with weights, full, warm, labels, objective).

        ``Xs`` (L, p) holds the ``m`` standardised SDP points followed by zero padding. Stops
        (converged) when the rounded labels repeat, the ADMM solve converged and the objective
        changed by at most ``2 m tol``; or when the partition equals one in ``seen``
        (canonical form), from where the run would retrace an earlier start; or after
        ``ILA_PATIENCE`` iterations without a more likely partition, or ``max_iter`` in all.
        Returns the last state if converged, else the state of the most likely partition.
        """
        K, reg = self.n_clusters, self.reg_covar
        weights, full, warm, labels = (state[k] for k in ("weights", "full", "warm", "labels"))
        objective = state.get("objective", np.inf)
        n_iter, best, stall = 0, None, 0
        while n_iter < self.max_iter:
            n_iter += 1
            C = self._cost(Xs, full, weights)
            Z, warm, info = self._solve(C, 1.0, m, warm, ADMM_TOL_LABELS)
            new_obj = float(np.sum(C * Z))
            if not np.isfinite(new_obj):
                raise DivergenceError(
                    "ILASDP diverged: the LA-SDP objective is not finite (increase reg_covar)."
                )
            new_labels = self._round(Z, K, seed, m)
            converged = (
                labels is not None
                and np.array_equal(new_labels, labels)
                and info["converged"]
                and abs(new_obj - objective) <= 2.0 * m * self.tol
            )
            labels, objective = new_labels, new_obj
            weights, _, _, full = self._params_from_membership(Xs, Z, reg)
            rounded = float(np.sum(C * _membership(labels, K, Xs.shape[0])))
            current = dict(
                labels=labels,
                Z=Z,
                objective=objective,
                n_iter=n_iter,
                converged=converged,
                admm=info,
                gap=max(rounded - objective, 0.0) / max(abs(rounded), 1e-300),
                profile=self._profile_objective(Xs, labels, K, reg),
            )
            bar.update(1)
            bar.set_postfix(objective=f"{objective:.4g}")
            if best is None or not _at_most(best["profile"], current["profile"]):
                best, stall = current, 0
            else:
                stall += 1
            if converged or _canonical(labels) in seen or stall >= ILA_PATIENCE:
                break
        return current if current["converged"] else dict(best, n_iter=n_iter, converged=False)

    def fit(self, X, y=None):
        """Cluster ``X`` of shape (n_samples, n_features); return ``self``."""
        params = self._validate_params()
        X = self._check_table(X, "X", reset=True)
        self._check_sizes(X, params["n_clusters"])
        const = np.flatnonzero(np.ptp(X, axis=0) == 0)
        if const.size:
            raise ValueError(
                f"X has constant feature(s) at column(s) {const.tolist()}: the cluster "
                "covariances would be singular; drop these columns before fitting ILASDP."
            )
        rng = as_generator(self.random_state)
        pts = self._sdp_points(X, rng)
        self.covariance_type_, pts["em_labels"] = self._select_model(X, pts, rng)
        starts, screen = self._initial_states(pts, rng)
        bar = _progress(params["max_iter"] * len(starts), "iLA-SDP", params["verbose"])
        runs = self._run_starts(pts, [state for _, state in starts], bar)
        best, hint = self._select(runs)
        bar.close()
        for (i, _), run in zip(starts, runs):
            screen[i] = run["profile"]
        self._store(X, pts, best, screen)
        self._set_convergence(best["converged"], best["n_iter"], params["max_iter"], hint=hint)
        return self

    def _sdp_points(self, X, rng):
        """The (sketched) SDP points, standardised and padded, and what fit needs about them.

        In the standardised units the mean per-feature variance of X is 1, so the ridge
        added to the covariances is ``reg_covar`` itself.
        """
        n = X.shape[0]
        m = self._sketch_size(n)
        idx = np.sort(rng.choice(n, m, replace=False)) if m < n else np.arange(n)
        seed = int(rng.integers(0, 2**31 - 1))
        center, scale = _standardise(X)
        Xs = (X[idx] - center) / scale
        return dict(
            idx=idx,
            seed=seed,
            center=center,
            scale=scale,
            Xs=Xs,
            m=m,
            Xp=pad_axis(Xs, _sdp_length(m)),
            K=self.n_clusters,
            reg=self.reg_covar,
        )

    def _partition_state(self, pts, labels):
        """iLA start from a partition: its weights and covariances, warm-started at it."""
        Z = _membership(labels, pts["K"], pts["Xp"].shape[0])
        weights, _, _, full = self._params_from_membership(pts["Xp"], Z, pts["reg"])
        # the cost of the partition itself: a tight SDP solve reproduces it and converges
        objective = float(np.sum(self._cost(pts["Xp"], full, weights) * Z))
        return dict(
            weights=weights,
            full=full,
            warm=(Z, np.zeros_like(Z), 1.0),
            labels=labels,
            objective=objective,
        )

    def _initial_states(self, pts, rng):
        """Screen the ``n_init`` starts and return the iLA states of the best ones.

        The starts, in this order: SDP K-means, mclust's hierarchical partition, EM from it
        (mclust's pipeline), random cluster shapes. Each partition is refined by
        classification EM (:meth:`_cem`, no SDP) and scored by its classification
        likelihood; the iLA iterations then run from the ``SOLVED_STARTS`` best distinct
        ones. Returns the states and the screening objective of every start.
        """
        K, m, Xp, Xs = pts["K"], pts["m"], pts["Xp"], pts["Xs"]
        partitions = [lambda: self._sdp_kmeans_labels(pts)]
        # model-based agglomeration (VVV) of the SVD-transformed data, as mclust starts EM
        partitions.append(lambda: hierarchical.hierarchical_labels(Xs, K, subset=None))
        partitions.append(lambda: pts["em_labels"])
        labels = [np.asarray(f(), dtype=np.int64) for f in partitions[: self.n_init]]
        for _ in range(self.n_init - len(labels)):
            seeds, covs = _local_covariances(Xs, K, rng)
            _, full = self._structure(covs, pts["reg"], np.full(K, m / K))
            lj = _log_joint_numpy(Xs, np.full(K, 1.0 / K), seeds, full)
            labels.append(np.argmax(lj, axis=1).astype(np.int64))
        labels = [self._cem(Xs, lab, pts["reg"]) for lab in labels]
        screen = np.array([self._profile_objective(Xp, lab, K, pts["reg"]) for lab in labels])
        chosen, seen = [], set()
        while len(chosen) < SOLVED_STARTS:
            left = [i for i in range(len(labels)) if _canonical(labels[i]) not in seen]
            if not left or (chosen and not np.isfinite(min(screen[left]))):
                break
            # ties (to rounding) go to the earlier start, so that the units of X, which move
            # the objectives by rounding only, cannot change the start nor its label order
            pmin = min(screen[left])
            i = next(i for i in left if not np.isfinite(pmin) or _at_most(screen[i], pmin))
            chosen.append(i)
            seen.add(_canonical(labels[i]))
        return [(i, self._partition_state(pts, labels[i])) for i in chosen], screen

    def _sdp_kmeans_labels(self, pts):
        """Spectral rounding of the Peng-Wei SDP (solved loosely: only its labels are used)."""
        K, m = pts["K"], pts["m"]
        with x64():
            C0 = np.asarray(_core.kmeans_cost(jnp.asarray(pts["Xp"])))
        Z0, _, _ = self._solve(C0, float(K), m, tol=ADMM_TOL_LABELS)
        return _spectral_round(Z0[0, :m, :m], K, pts["seed"])

    def _cem(self, Xs, labels, reg):
        """Classification EM from ``labels``: reassign every point to the cluster of largest
        ``log pi_k + log N(x | mu_k, Sigma_k)`` under the parameters of the partition, until
        the partition repeats. A step that would leave a cluster with fewer than ``p + 1``
        points (a degenerate likelihood) is not taken."""
        K, p = self.n_clusters, Xs.shape[1]
        if np.min(np.bincount(labels, minlength=K)) < p + 1:
            return labels
        for _ in range(CEM_MAX_ITER):
            weights, means, _, full = self._partition_params(Xs, labels, reg)
            new = np.argmax(_log_joint_numpy(Xs, weights, means, full), axis=1)
            if np.array_equal(new, labels) or np.min(np.bincount(new, minlength=K)) < p + 1:
                break
            labels = new.astype(np.int64)
        return labels

    def _select_model(self, X, pts, rng):
        """The covariance model (mclust name) and the labels of EM under it, started from the
        hierarchical partition.

        ``covariance_type="auto"``: the model of lowest BIC among the fourteen of
        :mod:`mixtures.parsimonious` at ``n_clusters`` components
        (:func:`mixtures.select_gaussian_mixture` on all of X, also when the SDP is solved
        on a sketch: mclust's choice); otherwise the given one. The labels are those of the
        SDP points.
        """
        seed = int(rng.integers(0, 2**31 - 1))
        Xs = pts["Xs"]
        with warnings.catch_warnings():
            # a start, not the answer: its convergence is not this fit's
            warnings.simplefilter("ignore", ConvergenceWarning)
            if self.covariance_type == "auto":
                from mixtures import select_gaussian_mixture

                # mclust's choice: the selection's own (EM-sized) ridge, not the SDP's
                Xa = (X - pts["center"]) / pts["scale"]
                sel = select_gaussian_mixture(Xa, [self.n_clusters], random_state=seed)
                return parsimonious.canonical(sel.best.covariance_type), sel.best.predict(Xs)
            if self.n_init < 3:  # the EM start is not used
                return parsimonious.canonical(self.covariance_type), None
            gm = GaussianMixture(
                self.n_clusters,
                covariance_type=self.covariance_type,
                reg_covar=self.reg_covar,
                init_params="hierarchical",
                random_state=seed,
            )
            return parsimonious.canonical(self.covariance_type), gm.fit(Xs).predict(Xs)

    def _run_starts(self, pts, states, bar):
        """iLA iterations from each start; a start stops at an earlier one's partition."""
        runs = []
        for state in states:
            seen = {_canonical(r["labels"]) for r in runs}
            runs.append(self._run(pts["Xp"], pts["m"], state, pts["seed"], bar, seen))
        return runs

    @staticmethod
    def _select(runs):
        """The run of largest classification likelihood (the first to reach it), and the hint
        of the convergence warning."""
        pmin = min(r["profile"] for r in runs)
        best = (
            runs[0]
            if not np.isfinite(pmin)
            else next(r for r in runs if _at_most(r["profile"], pmin))
        )
        if not best["converged"] and not best["admm"]["converged"]:
            return best, "increase max_iter; " + _admm_hint(best["admm"])
        return best, "increase max_iter"

    def _store(self, X, pts, best, init_objectives):
        """Fitted attributes in the units of X."""
        m, p, scale = pts["m"], X.shape[1], pts["scale"]
        self.sample_indices_ = pts["idx"]
        self.membership_ = best["Z"][:, :m, :m]
        # Mahalanobis terms are unit-free, log det Sigma grows by p log s^2 per point
        shift = m * p * np.log(scale**2)
        self.objective_ = best["objective"] + shift
        self.init_objectives_ = init_objectives + shift
        self.relaxation_gap_ = best["gap"]
        # the parameters of the rounded partition (what the selection scored), not of the
        # relaxed Z_k: predict() then agrees with labels_ on the SDP points
        weights, means, structured, _ = self._params_from_membership(
            pts["Xp"], _membership(best["labels"], pts["K"], pts["Xp"].shape[0]), pts["reg"]
        )
        self.weights_ = weights
        self.means_ = means * scale + pts["center"]
        self.covariances_ = structured * scale**2
        self.labels_ = self._predict(X) if m < X.shape[0] else best["labels"]

    def _log_joint(self, X):
        """``log pi_k + log N(x | mu_k, Sigma_k)`` for X (n, p), shape (n, K)."""
        n = X.shape[0]
        # padded to a bucket so that a new number of rows reuses the compiled program
        Xp = pad_axis(X, padded_length(n))
        with x64():
            gmm = gaussian.GMM(
                jnp.log(jnp.asarray(self.weights_)),
                jnp.asarray(self.means_),
                jnp.asarray(self.covariances_),
                parsimonious.storage_type(self.covariance_type_),
            )
            out = np.asarray(_log_joint(gmm, jnp.asarray(Xp)))
        return out[:n]

    def _predict(self, X):
        return np.argmax(self._log_joint(X), axis=1).astype(np.int64)

    def predict(self, X):
        """Assign X (n, n_features) to the cluster of largest weighted likelihood, shape (n,)."""
        self._check_fitted()
        X = self._check_table(X, "X", reset=False)
        return self._predict(X)

    def score(self, X, y=None):
        """Mean classification log-likelihood of X (n, n_features) (nats per sample).

        ``mean_i max_k [log pi_k + log N(x_i | mu_k, Sigma_k)]`` under the fitted clusters:
        the criterion iLA-SDP maximises, higher is better. Changing the units of X by a
        factor ``c`` shifts it by ``-n_features log c``.
        """
        self._check_fitted()
        X = self._check_table(X, "X", reset=False)
        return float(np.mean(np.max(self._log_joint(X), axis=1)))
