"""scikit-learn estimators: SDP K-means (Peng-Wei) and iterative likelihood-adjusted SDP."""

from __future__ import annotations

import warnings

import jax
import jax.numpy as jnp
import numpy as np
from sklearn.base import BaseEstimator, ClusterMixin
from sklearn.cluster import KMeans
from sklearn.utils.validation import check_is_fitted, validate_data
from tqdm.auto import tqdm

from mixtures import gaussian
from mixtures._config import as_generator, x64
from mixtures._validation import ConvergenceWarning, check_option, check_scalar
from solvers.ila_sdp import _core
from solvers.ila_sdp._cvxpy import cvxpy_solve

__all__ = ["SDPKMeans", "ILASDP"]

SOLVERS = ("auto", "admm", "cvxpy")
# "auto": the ADMM on all points up to this many samples, above it sketch-and-lift with a
# subsample of this size.
AUTO_SKETCH_SIZE = 200
# ADMM settings (module level so that tests can shrink them). A relative residual of 1e-4 is
# ample for rounding: on the heterogeneous design (n = 2,000, 200-point sketch) it gave the same
# labels as 1e-5 in half the time (47 s vs 104 s, 2-core machine with a second job running).
ADMM_MAX_ITER = 5000
ADMM_TOL = 1e-4
# iLA iterations solve to this looser tolerance until their rounded labels repeat, then to
# ADMM_TOL: the early solves only have to move the labels.
ADMM_TOL_EARLY = 1e-3


def _membership(labels, n_clusters):
    """Membership matrices ``Z_k = 1_{G_k} 1_{G_k}^T / |G_k|``, shape (K, n, n)."""
    onehot = (labels[None, :] == np.arange(n_clusters)[:, None]).astype(np.float64)
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
    """Starting covariances from local neighbourhoods, for the starts after the first.

    Draws ``n_clusters`` spread-out seed points (k-means++ seeding: each next seed with
    probability proportional to its squared distance to the nearest seed drawn) and returns,
    for each seed, the covariance of its ``max(p + 1, n // n_clusters)`` nearest points,
    shape (n_clusters, p, p). No centroid enters the LA-SDP, so a start is only a set of
    cluster shapes.
    """
    n, p = X.shape
    D = np.sum((X[:, None, :] - X[None, :, :]) ** 2, axis=-1)
    seeds = [int(rng.integers(n))]
    for _ in range(n_clusters - 1):
        d = D[:, seeds].min(axis=1)
        seeds.append(int(rng.choice(n, p=d / d.sum())) if d.sum() > 0 else int(rng.integers(n)))
    size = min(n, max(p + 1, n // n_clusters))
    return np.stack([np.cov(X[np.argsort(D[s])[:size]].T, bias=True).reshape(p, p)
                     for s in seeds])


def _spectral_round(Z, n_clusters, random_state):
    """Labels from the top-``n_clusters`` eigenvectors of ``Z`` (n, n) by K-means."""
    w, V = np.linalg.eigh(0.5 * (Z + Z.T))
    emb = V[:, -n_clusters:] * np.sqrt(np.maximum(w[-n_clusters:], 0.0))
    km = KMeans(n_clusters, n_init=10, random_state=random_state).fit(emb)
    return km.labels_.astype(np.int64)


class _SDPSolverMixin:
    """Validation and SDP dispatch shared by the two estimators."""

    def _check_common(self, X, reset=True):
        X = validate_data(self, X, reset=reset, dtype=np.float64, ensure_min_samples=1)
        n_clusters = check_scalar(self.n_clusters, "n_clusters", kind="int", low=1)
        check_option(self.solver, "solver", SOLVERS)
        if X.shape[0] == 1:
            raise ValueError(
                f"X has n_samples=1; clustering needs at least n_clusters={n_clusters} samples."
            )
        if X.shape[0] < n_clusters:
            raise ValueError(
                f"n_clusters={n_clusters} must be <= n_samples={X.shape[0]}."
            )
        return X, n_clusters

    def _sketch_size(self, n):
        sketch = getattr(self, "sketch_size", None)
        if sketch is None:
            return n if (self.solver != "auto" or n <= AUTO_SKETCH_SIZE) else AUTO_SKETCH_SIZE
        sketch = check_scalar(sketch, "sketch_size", kind="int", low=self.n_clusters)
        return min(n, sketch)

    def _solve(self, C, trace, warm=None, tol=None):
        """Solve the block SDP (ADMM to ``tol``, default ADMM_TOL); return ``(Z, warm)``."""
        tol = ADMM_TOL if tol is None else tol
        if self.solver == "cvxpy":
            Z, _ = cvxpy_solve(np.asarray(C), trace)
            return Z, None
        B, n, _ = C.shape
        if warm is None:
            warm = (np.full((B, n, n), trace / (B * n)), np.zeros((B, n, n)), 1.0)
        with x64():
            res = _core.admm_solve(
                jnp.asarray(C), trace, jnp.asarray(warm[0]), jnp.asarray(warm[1]), warm[2],
                max_iter=ADMM_MAX_ITER, tol=tol,
            )
            res = jax.tree_util.tree_map(np.asarray, res)
        if not bool(res.converged):
            warnings.warn(
                f"ADMM did not reach tol={tol:g} in {int(res.n_iter)} iterations "
                f"(status: max_iter reached, primal residual {float(res.primal_residual):.2e}, "
                f"dual residual {float(res.dual_residual):.2e}); the SDP solution is "
                "approximate.",
                ConvergenceWarning,
                stacklevel=3,
            )
        Z = res.Z
        if not np.all(np.isfinite(Z)):
            raise RuntimeError("ADMM diverged: the SDP iterate is not finite.")
        return Z, (Z, res.dual, float(res.rho))


class SDPKMeans(_SDPSolverMixin, ClusterMixin, BaseEstimator):
    """K-means clustering by the Peng-Wei semidefinite relaxation.

    Solves

    .. math::

        \\max_Z \\langle X X^T, Z \\rangle \\quad \\text{s.t.} \\quad Z \\succeq 0,\\
        Z \\ge 0,\\ Z \\mathbf 1 = \\mathbf 1,\\ \\operatorname{tr} Z = K

    (equivalently minimises :math:`\\frac12 \\sum_{ij} \\|x_i - x_j\\|^2 Z_{ij}`) and rounds
    :math:`Z` to labels by K-means on its top-:math:`K` eigenvectors.

    Parameters
    ----------
    n_clusters : int
        Number of clusters :math:`K`.
    solver : {"auto", "admm", "cvxpy"}
        ``"cvxpy"``: the SDP in cvxpy (Clarabel for n <= 60, SCS above; reference, small n).
        ``"admm"``: the specialised first-order solver in JAX on all points.
        ``"auto"``: ``"admm"`` on all points for ``n <= 200``; above, sketch-and-lift: the
        SDP on a random subsample of 200 points, the rest assigned to the nearest centroid.
    random_state : None, int, numpy.random.Generator or JAX key
        Seeds the subsample (sketch-and-lift) and the K-means rounding.
    sketch_size : int or None
        Subsample size for sketch-and-lift with any solver; None: only ``"auto"`` sketches
        (above 200 samples).

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
    n_features_in_ : int
    """

    def __init__(self, n_clusters, solver="auto", random_state=None, sketch_size=None):
        self.n_clusters = n_clusters
        self.solver = solver
        self.random_state = random_state
        self.sketch_size = sketch_size

    def fit(self, X, y=None):
        """Cluster ``X`` of shape (n_samples, n_features); return ``self``."""
        X, K = self._check_common(X)
        rng = as_generator(self.random_state)
        n = X.shape[0]
        m = self._sketch_size(n)
        idx = np.sort(rng.choice(n, m, replace=False)) if m < n else np.arange(n)
        seed = int(rng.integers(0, 2**31 - 1))
        scale = float(np.sqrt(np.mean(np.var(X, axis=0)))) or 1.0
        Xs = (X[idx] - X[idx].mean(axis=0)) / scale
        with x64():
            C = np.asarray(_core.kmeans_cost(jnp.asarray(Xs)))
            Z, _ = self._solve(C, float(K))
        labels = _spectral_round(Z[0], K, seed)
        centers = np.stack([
            X[idx][labels == k].mean(axis=0) if np.any(labels == k) else X[idx][0]
            for k in range(K)
        ])
        inertia = float(np.sum((X[idx] - centers[labels]) ** 2))
        self.membership_ = Z[0]
        self.sample_indices_ = idx
        self.objective_ = float(np.sum(C * Z)) * scale**2
        self.inertia_ = inertia
        self.relaxation_gap_ = (inertia - self.objective_) / inertia if inertia > 0 else 0.0
        self.cluster_centers_ = centers
        self.labels_ = self._assign(X) if m < n else labels
        return self

    def _assign(self, X):
        d2 = ((X[:, None, :] - self.cluster_centers_[None]) ** 2).sum(axis=-1)
        return np.argmin(d2, axis=1).astype(np.int64)

    def predict(self, X):
        """Nearest-centroid labels for X of shape (n, n_features), shape (n,)."""
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=np.float64)
        return self._assign(X)


class ILASDP(_SDPSolverMixin, ClusterMixin, BaseEstimator):
    """Iterative likelihood-adjusted SDP (iLA-SDP) clustering of heterogeneous Gaussian data.

    Alternates (1) the LA-SDP

    .. math::

        \\min_{Z_1..Z_K} \\sum_k \\langle C_k, Z_k \\rangle \\quad \\text{s.t.}\\quad
        Z_k \\succeq 0,\\ Z_k \\ge 0,\\ \\operatorname{tr} Z_k = 1,\\
        \\sum_k Z_k \\mathbf 1 = \\mathbf 1,

    with :math:`C_k[i,j] = \\frac12 (x_i-x_j)^T\\Sigma_k^{-1}(x_i-x_j) + \\log\\det\\Sigma_k
    - 2\\log\\pi_k`, and (2) the re-estimation of :math:`\\Sigma_k, \\pi_k` from the
    :math:`Z_k` (weighted within-cluster scatter), starting from the SDP K-means partition
    and from ``n_init - 1`` further sets of cluster shapes; the start whose rounded partition
    has the largest classification likelihood is kept.
    Labels: the cluster with the largest row mass :math:`(Z_k \\mathbf 1)_i`.

    Parameters
    ----------
    n_clusters : int
        Number of clusters :math:`K`.
    covariance_type : {"full", "diag", "spherical"}
        Structure of the cluster covariances :math:`\\Sigma_k`.
    max_iter : int
        Maximum number of iLA iterations (SDP solves after the initial SDP K-means) per
        start, and again for the final solves of the selected start.
    tol : float
        Stop when the labels repeat and the SDP objective changes by less than
        ``tol * |objective|``.
    solver : {"auto", "admm", "cvxpy"}
        As in :class:`SDPKMeans`; with sketch-and-lift the remaining points are assigned by
        the fitted likelihood (:meth:`predict`). The ADMM is warm-started across iterations.
    random_state : None, int, numpy.random.Generator or JAX key
        Seeds the subsample and the K-means rounding of the initial SDP.
    verbose : bool
        Show a tqdm progress bar over the iterations.
    reg_covar : float
        Ridge added to every covariance, relative to the mean feature variance of X.
    sketch_size : int or None
        As in :class:`SDPKMeans`.
    n_init : int
        Number of starts of the iLA iterations; the fit with the largest classification
        likelihood of its rounded partition is kept. The first start is the SDP K-means
        partition; each further start takes the covariances of the neighbourhoods of
        ``n_clusters`` spread-out random points (k-means++ seeding) as the cluster shapes.
        The alternation between the convex LA-SDP and the covariance update is not convex:
        on the ``adversarial`` design SDP K-means merges two tight clusters, and the iLA
        iterations from that start alone keep the merge (see ``docs/benchmarks.md``).

    Attributes
    ----------
    labels_ : ndarray of shape (n_samples,)
    weights_ : ndarray of shape (n_clusters,)
        Cluster proportions :math:`\\pi_k` of the final partition of the SDP points.
    means_ : ndarray of shape (n_clusters, n_features)
        Cluster means of that partition (units of X).
    covariances_ : ndarray
        Cluster covariances of that partition, plus ``reg_covar`` times the mean feature
        variance: (K, p, p) for ``"full"``, (K, p) for ``"diag"``, (K,) for
        ``"spherical"`` (squared units of X).
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
        For each start, ``-2 log L - m p log 2 pi`` of its rounded partition with the
        weights and covariances refitted to that partition (the selection criterion; the
        first entry is the SDP K-means start); ``inf`` for a partition with a cluster of
        fewer than ``n_features + 1`` points, which is never selected over a finite one.
    n_iter_ : int
        iLA iterations of the selected start (with loose ADMM solves until its labels
        repeat, then to full accuracy).
    converged_ : bool
        Whether the selected start converged.
    n_features_in_ : int
    """

    def __init__(
        self,
        n_clusters,
        covariance_type="full",
        max_iter=20,
        tol=1e-4,
        solver="auto",
        random_state=None,
        verbose=False,
        reg_covar=1e-3,
        sketch_size=None,
        n_init=4,
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
            sizes, means, covs = (np.asarray(a) for a in
                                  _core.scatter_from_membership(jnp.asarray(Xs), jnp.asarray(Z)))
        weights = np.maximum(sizes, 1e-12) / np.sum(np.maximum(sizes, 1e-12))
        return (weights, means) + self._structure(covs, reg)

    def _structure(self, covs, reg):
        """Impose ``covariance_type`` on (K, p, p) scatter matrices and add the ridge ``reg``.

        Returns the structured covariances and their full (K, p, p) form.
        """
        K, p, _ = covs.shape
        if self.covariance_type == "diag":
            structured = np.diagonal(covs, axis1=1, axis2=2) + reg
        elif self.covariance_type == "spherical":
            structured = np.trace(covs, axis1=1, axis2=2) / p + reg
        else:
            structured = 0.5 * (covs + np.swapaxes(covs, 1, 2)) + reg * np.eye(p)
        with x64():
            gmm = gaussian.GMM(jnp.zeros(K), jnp.zeros((K, p)), jnp.asarray(structured),
                               self.covariance_type)
            full = np.asarray(gaussian.to_full(gmm).covariances)
        return structured, full

    def _round(self, Z, K, seed):
        mass = Z.sum(axis=2)  # (K, m)
        labels = np.argmax(mass, axis=0).astype(np.int64)
        if len(np.unique(labels)) < K:
            # symmetric (equal-covariance) solutions spread each point over the Z_k equally:
            # fall back to spectral rounding of sum_k Z_k
            labels = _spectral_round(Z.sum(axis=0), K, seed)
        return labels

    def _profile_objective(self, Xs, labels, K, reg):
        """``-2 log L - m p log 2 pi`` of the partition ``labels``, parameters refitted to it.

        ``inf`` when a cluster has fewer than ``p + 1`` points: its covariance would be
        singular but for the ridge, and the likelihood of such a partition is degenerate.
        """
        if np.min(np.bincount(labels, minlength=K)) < Xs.shape[1] + 1:
            return np.inf
        Zr = _membership(labels, K)
        weights, _, _, full = self._params_from_membership(Xs, Zr, reg)
        with x64():
            C = np.asarray(_core.la_cost(jnp.asarray(Xs), jnp.asarray(full),
                                         jnp.log(jnp.asarray(weights))))
        return float(np.sum(C * Zr))

    def _run(self, Xs, K, state, max_iter, tol, reg, seed, bar, admm_tol=None, seen=()):
        """iLA iterations from ``state`` (a dict with weights, full, warm, labels, n_iter).

        Stops when the rounded labels repeat and, if ``tol`` is not None, the SDP objective
        changed by at most ``tol * |objective|``; or after ``max_iter`` iterations in all;
        or when the partition equals one in ``seen`` (canonical form), from where the run
        would retrace an earlier start. Returns the new state.
        """
        weights, full, warm, labels = (state[k] for k in ("weights", "full", "warm", "labels"))
        objective = state.get("objective", np.inf)
        n_iter, converged = state.get("n_iter", 0), False
        while n_iter < max_iter:
            n_iter += 1
            with x64():
                C = np.asarray(_core.la_cost(jnp.asarray(Xs), jnp.asarray(full),
                                             jnp.log(jnp.asarray(weights))))
            Z, warm = self._solve(C, 1.0, warm, admm_tol)
            new_obj = float(np.sum(C * Z))
            new_labels = self._round(Z, K, seed)
            if not np.isfinite(new_obj):
                raise RuntimeError("iLA-SDP diverged: the LA-SDP objective is not finite.")
            converged = labels is not None and np.array_equal(new_labels, labels) and (
                tol is None or abs(new_obj - objective) <= tol * abs(new_obj)
            )
            labels, objective = new_labels, new_obj
            weights, _, _, full = self._params_from_membership(Xs, Z, reg)
            bar.update(1)
            bar.set_postfix(objective=f"{objective:.4g}")
            if converged or _canonical(labels) in seen:
                break
        rounded = float(np.sum(C * _membership(labels, K)))
        return dict(labels=labels, Z=Z, objective=objective, n_iter=n_iter, warm=warm,
                    converged=converged, weights=weights, full=full,
                    gap=max(rounded - objective, 0.0) / max(abs(rounded), 1e-300),
                    profile=self._profile_objective(Xs, labels, K, reg))

    def fit(self, X, y=None):
        """Cluster ``X`` of shape (n_samples, n_features); return ``self``."""
        X, K = self._check_common(X)
        check_option(self.covariance_type, "covariance_type", ("full", "diag", "spherical"))
        max_iter = check_scalar(self.max_iter, "max_iter", kind="int", low=1)
        n_init = check_scalar(self.n_init, "n_init", kind="int", low=1)
        tol = check_scalar(self.tol, "tol", kind="float", low=0.0)
        reg_rel = check_scalar(self.reg_covar, "reg_covar", kind="float", low=0.0)
        const = np.flatnonzero(np.ptp(X, axis=0) == 0)
        if const.size:
            raise ValueError(
                f"X has constant feature(s) at column(s) {const.tolist()}: the cluster "
                "covariances would be singular; drop these columns before fitting ILASDP."
            )
        rng = as_generator(self.random_state)
        n, p = X.shape
        m = self._sketch_size(n)
        idx = np.sort(rng.choice(n, m, replace=False)) if m < n else np.arange(n)
        seed = int(rng.integers(0, 2**31 - 1))
        center = X[idx].mean(axis=0)
        scale = float(np.sqrt(np.mean(np.var(X[idx], axis=0))))
        Xs = (X[idx] - center) / scale
        reg = reg_rel  # relative to the mean feature variance, which is 1 for Xs

        bar = tqdm(total=max_iter * (n_init + 1), desc="iLA-SDP", disable=not self.verbose)
        # Each start runs with loose ADMM solves (ADMM_TOL_EARLY) until its labels repeat;
        # the best one is then polished with ADMM_TOL until the objective settles too.
        # Start 1: the SDP K-means partition on the same points (the first LA-SDP is
        # warm-started from it, later ones from the last solve).
        with x64():
            C0 = np.asarray(_core.kmeans_cost(jnp.asarray(Xs)))
            Z0, _ = self._solve(C0, float(K))
        labels = _spectral_round(Z0[0], K, seed)
        Z = _membership(labels, K)
        weights, _, _, full = self._params_from_membership(Xs, Z, reg)
        states = [dict(weights=weights, full=full, warm=(Z, np.zeros_like(Z), 1.0),
                       labels=labels)]
        # further starts: covariances of the neighbourhoods of K spread-out seed points
        for _ in range(n_init - 1):
            _, full = self._structure(_local_covariances(Xs, K, rng), reg)
            states.append(dict(weights=np.full(K, 1.0 / K), full=full, warm=None,
                               labels=None))
        runs = []
        for state in states:
            seen = {_canonical(r["labels"]) for r in runs}
            runs.append(self._run(Xs, K, state, max_iter, None, reg, seed, bar,
                                  ADMM_TOL_EARLY, seen))
        # the best partition (the first start that reached it: later ones stopped there)
        pmin = min(r["profile"] for r in runs)
        best = (runs[0] if not np.isfinite(pmin) else
                next(r for r in runs if _at_most(r["profile"], pmin)))
        polished = self._run(Xs, K, best, best["n_iter"] + max_iter, tol, reg, seed, bar)
        bar.close()
        if not _at_most(polished["profile"], best["profile"]):
            warnings.warn(
                "iLA-SDP: the full-accuracy solves moved the selected start to a partition of "
                "lower likelihood; keeping the partition of its loose solves (converged_ is "
                "False).",
                ConvergenceWarning,
                stacklevel=2,
            )
            best = dict(best, converged=False)
        elif not polished["converged"]:
            best = polished
            warnings.warn(
                f"iLA-SDP did not converge in max_iter={max_iter} iterations; increase "
                "max_iter or tol.",
                ConvergenceWarning,
                stacklevel=2,
            )
        else:
            best = polished
        self.n_iter_ = best["n_iter"]
        self.converged_ = best["converged"]
        self.sample_indices_ = idx
        self.membership_ = best["Z"]
        # back to the units of X: Mahalanobis terms are invariant, log det grows by p log s^2
        shift = m * p * np.log(scale**2)
        self.objective_ = best["objective"] + shift
        self.init_objectives_ = np.array([r["profile"] for r in runs]) + shift
        self.relaxation_gap_ = best["gap"]
        # the parameters of the rounded partition (what the selection scored), not of the
        # relaxed Z_k: predict() then agrees with labels_ on the SDP points
        weights, means, structured, _ = self._params_from_membership(
            Xs, _membership(best["labels"], K), reg)
        self.weights_ = weights
        self.means_ = means * scale + center
        self.covariances_ = structured * scale**2
        self.labels_ = self._predict(X) if m < n else best["labels"]
        return self

    def _predict(self, X):
        with x64():
            gmm = gaussian.GMM(jnp.log(jnp.asarray(self.weights_)), jnp.asarray(self.means_),
                               jnp.asarray(self.covariances_), self.covariance_type)
            logp = np.asarray(gaussian.component_log_prob(gmm, jnp.asarray(X)))
        return np.argmax(logp + np.log(self.weights_), axis=1).astype(np.int64)

    def predict(self, X):
        """Assign X (n, n_features) to the cluster of largest weighted likelihood, shape (n,)."""
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=np.float64)
        return self._predict(X)
