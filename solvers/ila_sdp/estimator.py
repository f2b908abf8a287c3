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


def _membership(labels, n_clusters):
    """Membership matrices ``Z_k = 1_{G_k} 1_{G_k}^T / |G_k|``, shape (K, n, n)."""
    onehot = (labels[None, :] == np.arange(n_clusters)[:, None]).astype(np.float64)
    sizes = np.maximum(onehot.sum(axis=1), 1.0)
    return onehot[:, :, None] * onehot[:, None, :] / sizes[:, None, None]


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

    def _solve(self, C, trace, warm=None):
        """Solve the block SDP; return ``(Z, warm_state)``."""
        if self.solver == "cvxpy":
            Z, _ = cvxpy_solve(np.asarray(C), trace)
            return Z, None
        B, n, _ = C.shape
        if warm is None:
            warm = (np.full((B, n, n), trace / (B * n)), np.zeros((B, n, n)), 1.0)
        with x64():
            res = _core.admm_solve(
                jnp.asarray(C), trace, jnp.asarray(warm[0]), jnp.asarray(warm[1]), warm[2],
                max_iter=ADMM_MAX_ITER, tol=ADMM_TOL,
            )
            res = jax.tree_util.tree_map(np.asarray, res)
        if not bool(res.converged):
            warnings.warn(
                f"ADMM did not reach tol={ADMM_TOL:g} in {int(res.n_iter)} iterations "
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
    :math:`Z_k` (weighted within-cluster scatter), starting from the SDP K-means partition.
    Labels: the cluster with the largest row mass :math:`(Z_k \\mathbf 1)_i`.

    Parameters
    ----------
    n_clusters : int
        Number of clusters :math:`K`.
    covariance_type : {"full", "diag", "spherical"}
        Structure of the cluster covariances :math:`\\Sigma_k`.
    max_iter : int
        Maximum number of iLA iterations (SDP solves after the initial SDP K-means).
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

    Attributes
    ----------
    labels_ : ndarray of shape (n_samples,)
    weights_ : ndarray of shape (n_clusters,)
        Cluster proportions :math:`\\pi_k`.
    means_ : ndarray of shape (n_clusters, n_features)
        Cluster means (units of X).
    covariances_ : ndarray
        (K, p, p) for ``"full"``, (K, p) for ``"diag"``, (K,) for ``"spherical"`` (squared
        units of X).
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
    n_iter_ : int
    converged_ : bool
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

    def _params_from_membership(self, Xs, Z, reg):
        """Regularised weights and covariances (full (K,p,p), structured) from Z."""
        with x64():
            sizes, means, covs = (np.asarray(a) for a in
                                  _core.scatter_from_membership(jnp.asarray(Xs), jnp.asarray(Z)))
        p = Xs.shape[1]
        if self.covariance_type == "diag":
            structured = np.diagonal(covs, axis1=1, axis2=2) + reg
        elif self.covariance_type == "spherical":
            structured = np.trace(covs, axis1=1, axis2=2) / p + reg
        else:
            structured = 0.5 * (covs + np.swapaxes(covs, 1, 2)) + reg * np.eye(p)
        weights = np.maximum(sizes, 1e-12) / np.sum(np.maximum(sizes, 1e-12))
        with x64():
            gmm = gaussian.GMM(jnp.log(weights), jnp.asarray(means), jnp.asarray(structured),
                               self.covariance_type)
            full = np.asarray(gaussian.to_full(gmm).covariances)
        return weights, means, structured, full

    def _round(self, Z, K, seed):
        mass = Z.sum(axis=2)  # (K, m)
        labels = np.argmax(mass, axis=0).astype(np.int64)
        if len(np.unique(labels)) < K:
            # symmetric (equal-covariance) solutions spread each point over the Z_k equally:
            # fall back to spectral rounding of sum_k Z_k
            labels = _spectral_round(Z.sum(axis=0), K, seed)
        return labels

    def fit(self, X, y=None):
        """Cluster ``X`` of shape (n_samples, n_features); return ``self``."""
        X, K = self._check_common(X)
        check_option(self.covariance_type, "covariance_type", ("full", "diag", "spherical"))
        max_iter = check_scalar(self.max_iter, "max_iter", kind="int", low=1)
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

        # initial partition: SDP K-means on the same points
        with x64():
            C0 = np.asarray(_core.kmeans_cost(jnp.asarray(Xs)))
            Z0, _ = self._solve(C0, float(K))
        labels = _spectral_round(Z0[0], K, seed)
        Z = _membership(labels, K)
        weights, means, structured, full = self._params_from_membership(Xs, Z, reg)

        # the first LA-SDP starts from the initial partition, later ones from the last solve
        warm = (Z, np.zeros_like(Z), 1.0)
        objective, converged, n_iter = np.inf, False, 0
        bar = tqdm(total=max_iter, desc="iLA-SDP", disable=not self.verbose)
        for n_iter in range(1, max_iter + 1):  # noqa: B007 (n_iter is used after the loop)
            with x64():
                C = np.asarray(_core.la_cost(jnp.asarray(Xs), jnp.asarray(full),
                                             jnp.log(jnp.asarray(weights))))
            Z, warm = self._solve(C, 1.0, warm)
            new_obj = float(np.sum(C * Z))
            new_labels = self._round(Z, K, seed)
            if not np.isfinite(new_obj):
                raise RuntimeError("iLA-SDP diverged: the LA-SDP objective is not finite.")
            done = np.array_equal(new_labels, labels) and (
                abs(new_obj - objective) <= tol * abs(new_obj)
            )
            labels, objective = new_labels, new_obj
            weights, means, structured, full = self._params_from_membership(Xs, Z, reg)
            bar.update(1)
            bar.set_postfix(objective=f"{objective:.4g}")
            if done:
                converged = True
                break
        bar.close()
        if not converged:
            warnings.warn(
                f"iLA-SDP did not converge in max_iter={max_iter} iterations; increase "
                "max_iter or tol.",
                ConvergenceWarning,
                stacklevel=2,
            )
        rounded = float(np.sum(C * _membership(labels, K)))
        self.n_iter_ = n_iter
        self.converged_ = converged
        self.sample_indices_ = idx
        self.membership_ = Z
        # back to the units of X: Mahalanobis terms are invariant, log det grows by p log s^2
        self.objective_ = objective + m * p * np.log(scale**2)
        self.relaxation_gap_ = max(rounded - objective, 0.0) / max(abs(rounded), 1e-300)
        self.weights_ = weights
        self.means_ = means * scale + center
        var_scale = scale**2
        self.covariances_ = structured * var_scale
        self.labels_ = self._predict(X) if m < n else labels
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
