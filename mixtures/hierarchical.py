"""Model-based agglomerative hierarchical clustering (Banfield & Raftery 1993; Fraley 1998).

Starting from singletons (or a given partition), the two clusters whose merge increases a
Gaussian classification criterion least are merged, until one cluster (or ``min_clusters``)
remains. The partitions along the way start EM for every number of components at once, as
in mclust's ``hc``:

* ``"EII"`` (spherical, equal volume): the criterion is ``sum_k tr(W_k)`` (Ward's method);
  merging clusters ``i`` and ``j`` costs ``n_i n_j / (n_i + n_j) |m_i - m_j|^2``.
* ``"VVV"`` (unconstrained): the classification likelihood ``sum_k n_k log|W_k / n_k|`` is
  undefined for clusters of at most ``d`` points, so (Fraley 1998) each cluster contributes

      T(W_k, n_k) = n_k log( det(W_k / n_k) + beta (tr(W_k) + alpha) / n_k ),

  with ``det(W_k / n_k) = 0`` when ``n_k <= d``, ``alpha = tr(W) / (n d)`` for the scatter
  ``W`` of all the data, and ``beta = 1``. A merge costs ``T(W_ij) - T(W_i) - T(W_j)``.

``W_k`` is the scatter matrix ``sum_{x in k} (x - m_k)(x - m_k)^T``; merging updates it in
closed form, ``W_ij = W_i + W_j + n_i n_j / (n_i + n_j) (m_i - m_j)(m_i - m_j)^T``, so each
merge costs one batch of ``d x d`` log-determinants against the clusters left (NumPy, no
compilation). The smallest cost per row is cached, so a merge rescans only the rows whose best
partner was one of the two merged clusters.

The data are first transformed as mclust's ``hc(use=...)`` does (default ``"SVD"``, the
scaled SVD of Scrucca & Raftery 2015); the partitions are then used on the original data.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mixtures.base import check_array, check_option, check_random_state, check_scalar

__all__ = [
    "HC_MODELS",
    "HC_TRANSFORMS",
    "Hierarchy",
    "agglomerate",
    "cut_tree",
    "hierarchical_labels",
    "transform_data",
    "partition_criterion",
]

HC_MODELS = ("VVV", "EII")
HC_TRANSFORMS = ("SVD", "none", "STD", "PCS", "PCR", "SPH")


# ------------------------------------------------------------------------- transformations
def _standardise(X):
    Xc = X - X.mean(axis=0)
    sd = Xc.std(axis=0, ddof=1) if X.shape[0] > 1 else np.zeros(X.shape[1])
    keep = sd > 0  # constant columns carry no information (mclust drops them)
    return Xc[:, keep] / sd[keep]


def transform_data(X, transform: str = "SVD") -> np.ndarray:
    """The data as mclust's ``hc(use=...)`` transforms them before agglomeration.

    Parameters
    ----------
    X : array-like, shape (n, d)
    transform : {"SVD", "none", "STD", "PCS", "PCR", "SPH"}
        ``"SVD"``: standardise the columns, then ``Z = X V S^{-1/2}`` from the SVD
        ``X = U S V^T`` (a partial whitening); ``"none"``: the variables as given;
        ``"STD"``: standardised columns; ``"PCS"``: principal components of the centred data;
        ``"PCR"``: principal components of the standardised data; ``"SPH"``: sphered data
        (centred, times the inverse square root of the covariance).

    Returns
    -------
    ndarray, shape (n, d')
        ``d' <= d`` (constant columns dropped, at most ``n`` components for ``"SVD"``).
    """
    X = check_array(X, "X")
    check_option(transform, "transform", HC_TRANSFORMS)
    if transform == "none":
        return X
    if transform == "STD":
        return _standardise(X)
    if transform in ("SVD", "PCR"):
        Z = _standardise(X)
        _, s, vt = np.linalg.svd(Z, full_matrices=False)
        Z = Z @ vt.T
        if transform == "SVD":
            keep = s > s.max(initial=0.0) * np.finfo(float).eps * max(Z.shape)
            Z = Z[:, keep] / np.sqrt(s[keep])
        return Z
    Xc = X - X.mean(axis=0)
    if transform == "PCS":
        _, _, vt = np.linalg.svd(Xc, full_matrices=False)
        return Xc @ vt.T
    # SPH
    evals, evecs = np.linalg.eigh(Xc.T @ Xc / X.shape[0])
    keep = evals > evals.max() * np.finfo(float).eps * X.shape[1]
    return Xc @ evecs[:, keep] / np.sqrt(evals[keep])


# ------------------------------------------------------------------------- criteria
def _vvv_term(n, W, d, alpha, beta):
    """``T(W, n)`` of the module docstring, vectorised over leading axes of ``n`` and ``W``."""
    n = np.asarray(n, float)
    tr = np.trace(W, axis1=-2, axis2=-1)
    sign, logdet = np.linalg.slogdet(W / n[..., None, None])
    det = np.where((n > d) & (sign > 0), np.exp(logdet), 0.0)
    return n * np.log(det + beta * (tr + alpha) / n)


def partition_criterion(X, labels, model: str = "VVV", *, alpha=None, beta: float = 1.0):
    """The agglomeration criterion of a partition, computed from scratch (a dense reference).

    Parameters
    ----------
    X : array-like, shape (n, d)
        Data (already transformed).
    labels : array-like of int, shape (n,)
    model : {"VVV", "EII"}
    alpha : float, optional
        ``VVV`` only; default ``tr(W) / (n d)`` for the scatter ``W`` of all of ``X``.
    beta : float, default=1
        ``VVV`` only.

    Returns
    -------
    float
        ``sum_k tr(W_k)`` for ``EII``, ``sum_k T(W_k, n_k)`` for ``VVV``.
    """
    X = check_array(X, "X")
    labels = np.asarray(labels)
    check_option(model, "model", HC_MODELS)
    n, d = X.shape
    if alpha is None:
        alpha = _default_alpha(X)
    total = 0.0
    for k in np.unique(labels):
        Xk = X[labels == k]
        C = Xk - Xk.mean(axis=0)
        W = C.T @ C
        if model == "EII":
            total += np.trace(W)
        else:
            total += float(_vvv_term(len(Xk), W, d, alpha, beta))
    return total


def _default_alpha(X):
    n, d = X.shape
    return max(float(np.sum((X - X.mean(axis=0)) ** 2)) / (n * d), np.finfo(float).eps)


# ------------------------------------------------------------------------- agglomeration
@dataclass(frozen=True)
class Hierarchy:
    """Merge sequence of :func:`agglomerate`.

    Attributes
    ----------
    merges : ndarray of int, shape (m, 2)
        Merge ``t`` joins cluster ``merges[t, 1]`` into cluster ``merges[t, 0]`` (the smaller
        index survives); clusters are numbered by the initial partition, ``0..n0-1``.
    costs : ndarray, shape (m,)
        Increase of the criterion by each merge.
    initial : ndarray of int, shape (n,)
        Initial cluster of every point (``0..n0-1``).
    model, transform : str
    """

    merges: np.ndarray
    costs: np.ndarray
    initial: np.ndarray
    model: str
    transform: str

    @property
    def n_initial(self) -> int:
        return int(self.initial.max()) + 1 if self.initial.size else 0

    def labels(self, n_clusters: int) -> np.ndarray:
        """Labels of the points with ``n_clusters`` clusters left (see :func:`cut_tree`)."""
        return cut_tree(self, n_clusters)


def _initial_partition(Z, partition):
    if partition is None:  # duplicates start together, as mclust's dupPartition
        _, inverse = np.unique(Z, axis=0, return_inverse=True)
        inverse = inverse.ravel()
    else:
        partition = np.asarray(partition)
        if partition.shape != (Z.shape[0],):
            raise ValueError(f"partition must have shape ({Z.shape[0]},), got {partition.shape}.")
        _, inverse = np.unique(partition, return_inverse=True)
    # number clusters by first appearance, so the result does not depend on label values
    _, first = np.unique(inverse, return_index=True)
    order = np.argsort(np.argsort(first))
    return order[inverse]


def _merge_costs(model, ni, mi, Wi, nk, mk, Wk, d, alpha, beta, term_i, term_k):
    """Costs of merging cluster ``i`` with each of the clusters ``k`` (vectorised over k)."""
    nij = ni + nk
    diff = mk - mi
    f = ni * nk / nij
    ward = f * np.einsum("kj,kj->k", diff, diff)
    if model == "EII":
        return ward
    # a merged cluster of at most d points has det(W_ij) = 0: only its trace is needed
    tr = np.trace(Wi) + np.trace(Wk, axis1=1, axis2=2) + ward
    det = np.zeros_like(tr)
    big = np.flatnonzero(nij > d)
    if big.size:
        dk = diff[big]
        W = Wi + Wk[big] + f[big, None, None] * dk[:, :, None] * dk[:, None, :]
        sign, logdet = np.linalg.slogdet(W / nij[big, None, None])
        det[big] = np.where(sign > 0, np.exp(logdet), 0.0)
    return nij * np.log(det + beta * (tr + alpha) / nij) - term_i - term_k


def agglomerate(
    X,
    model: str = "VVV",
    transform: str = "SVD",
    *,
    partition=None,
    min_clusters: int = 1,
    beta: float = 1.0,
) -> Hierarchy:
    """Model-based agglomerative hierarchical clustering (mclust's ``hc``).

    Parameters
    ----------
    X : array-like, shape (n, d)
        Data, any units (see ``transform``).
    model : {"VVV", "EII"}, default="VVV"
        Gaussian model of the criterion (module docstring).
    transform : {"SVD", "none", "STD", "PCS", "PCR", "SPH"}, default="SVD"
        Transformation applied first (:func:`transform_data`).
    partition : array-like of int, shape (n,), optional
        Initial partition; default: singletons, with duplicate points together.
    min_clusters : int, default=1
        Stop when this many clusters are left.
    beta : float, default=1
        Weight of the trace term of the ``VVV`` criterion.

    Returns
    -------
    Hierarchy
        The merge sequence; :meth:`Hierarchy.labels` cuts it at any number of clusters.

    Notes
    -----
    Time ``O(n0^2 d^3)`` and memory ``O(n0^2)`` for ``n0`` initial clusters: use a subset of
    a few thousand points on large data (as :func:`hierarchical_labels` does).
    """
    check_option(model, "model", HC_MODELS)
    check_option(transform, "transform", HC_TRANSFORMS)
    min_clusters = check_scalar(min_clusters, "min_clusters", kind="int", low=1)
    beta = check_scalar(beta, "beta", low=0.0, low_open=True)
    Z = transform_data(X, transform)
    initial = _initial_partition(Z, partition)
    n, d = Z.shape
    g = int(initial.max()) + 1
    counts = np.bincount(initial, minlength=g).astype(float)
    means = np.zeros((g, d))
    np.add.at(means, initial, Z)
    means /= counts[:, None]
    C = Z - means[initial]
    W = np.zeros((g, d, d))
    np.add.at(W, initial, C[:, :, None] * C[:, None, :])
    alpha = _default_alpha(Z)
    term = np.zeros(g) if model == "EII" else _vvv_term(counts, W, d, alpha, beta)

    # dense matrix of merge costs (inf on the diagonal and for merged-away clusters)
    D = np.full((g, g), np.inf)
    for i in range(g - 1):
        k = np.arange(i + 1, g)
        D[i, k] = _merge_costs(
            model,
            counts[i],
            means[i],
            W[i],
            counts[k],
            means[k],
            W[k],
            d,
            alpha,
            beta,
            term[i],
            term[k],
        )
    D = np.minimum(D, D.T)
    best = D.argmin(axis=1)
    best_cost = D[np.arange(g), best]
    alive = np.ones(g, bool)

    n_merges = max(g - min_clusters, 0)
    merges = np.zeros((n_merges, 2), int)
    costs = np.zeros(n_merges)
    for t in range(n_merges):
        i = int(np.argmin(best_cost))
        j = int(best[i])
        i, j = min(i, j), max(i, j)
        merges[t] = i, j
        costs[t] = D[i, j]
        # merge j into i
        nij = counts[i] + counts[j]
        diff = means[j] - means[i]
        W[i] = W[i] + W[j] + counts[i] * counts[j] / nij * np.outer(diff, diff)
        means[i] = (counts[i] * means[i] + counts[j] * means[j]) / nij
        counts[i] = nij
        if model == "VVV":
            term[i] = _vvv_term(nij, W[i], d, alpha, beta)
        alive[j] = False
        D[j, :] = np.inf
        D[:, j] = np.inf
        best_cost[j] = np.inf
        others = np.flatnonzero(alive)
        others = others[others != i]
        if others.size == 0:
            continue
        c = _merge_costs(
            model,
            counts[i],
            means[i],
            W[i],
            counts[others],
            means[others],
            W[others],
            d,
            alpha,
            beta,
            term[i],
            term[others],
        )
        D[i, others] = c
        D[others, i] = c
        at = int(np.argmin(c))
        best[i], best_cost[i] = others[at], c[at]
        # rows whose best partner was i or j: rescan; others: the new cluster may be better
        stale = others[(best[others] == i) | (best[others] == j)]
        if stale.size:
            best[stale] = D[stale].argmin(axis=1)
            best_cost[stale] = D[stale, best[stale]]
        fresh = others[(best[others] != i) & (best[others] != j)]
        better = fresh[D[fresh, i] < best_cost[fresh]]
        best[better] = i
        best_cost[better] = D[better, i]
    return Hierarchy(merges, costs, initial, model, transform)


def cut_tree(hierarchy: Hierarchy, n_clusters: int) -> np.ndarray:
    """Labels ``0..n_clusters-1`` of the points after the merges that leave ``n_clusters``.

    Parameters
    ----------
    hierarchy : Hierarchy
    n_clusters : int
        Between the number of clusters left at the end of the agglomeration and the number
        of initial clusters.

    Returns
    -------
    ndarray of int, shape (n,)
        Clusters numbered by the first point of each.
    """
    g = hierarchy.n_initial
    n_done = len(hierarchy.merges)
    n_clusters = check_scalar(n_clusters, "n_clusters", kind="int", low=g - n_done, high=g)
    parent = np.arange(g)
    steps = hierarchy.merges[: g - n_clusters]
    parent[steps[:, 1]] = steps[:, 0]
    # each cluster's parent is the one it merged into (a forest): jump to the roots
    while True:
        nxt = parent[parent]
        if np.array_equal(nxt, parent):
            break
        parent = nxt
    roots = parent[hierarchy.initial]
    _, first, inverse = np.unique(roots, return_index=True, return_inverse=True)
    return np.argsort(np.argsort(first))[inverse.ravel()]


def hierarchical_labels(
    X,
    n_clusters: int,
    model: str = "VVV",
    transform: str = "SVD",
    *,
    subset: int | None = 2000,
    random_state=None,
) -> np.ndarray:
    """Partition of ``X`` into ``n_clusters`` by model-based hierarchical agglomeration.

    Parameters
    ----------
    X : array-like, shape (n, d)
    n_clusters : int
        At least 1, at most the number of distinct points.
    model : {"VVV", "EII"}, default="VVV"
    transform : {"SVD", "none", "STD", "PCS", "PCR", "SPH"}, default="SVD"
    subset : int or None, default=2000
        When ``n`` is larger, agglomerate a random subset of this size (as mclust does) and
        give every other point the cluster whose Gaussian (fitted to the subset's clusters,
        in the transformed units) is most probable. None: always all points.
    random_state : None, int, numpy.random.Generator or JAX key
        Draws the subset.

    Returns
    -------
    ndarray of int, shape (n,)
        Labels ``0..n_clusters-1``.
    """
    X = check_array(X, "X")
    n = X.shape[0]
    n_clusters = check_scalar(n_clusters, "n_clusters", kind="int", low=1, high=n)
    if subset is not None:
        subset = check_scalar(subset, "subset", kind="int", low=2)
    if subset is None or n <= subset:
        return agglomerate(X, model, transform, min_clusters=n_clusters).labels(n_clusters)
    rng = check_random_state(random_state)
    idx = np.sort(rng.choice(n, subset, replace=False))
    Z = transform_data(X, transform)
    sub = agglomerate(Z[idx], model, "none", min_clusters=n_clusters).labels(n_clusters)
    return _classify(Z, Z[idx], sub, n_clusters, model)


def _classify(Z, Zs, labels, K, model):
    """Most probable cluster of every row of ``Z`` under Gaussians fitted to ``(Zs, labels)``
    (spherical with a common variance for ``EII``; full, ridged by ``alpha``, for ``VVV``)."""
    n, d = Z.shape
    alpha = _default_alpha(Zs)
    logp = np.empty((n, K))
    pooled = 0.0
    for k in range(K):
        Xk = Zs[labels == k]
        pooled += np.sum((Xk - Xk.mean(axis=0)) ** 2)
    for k in range(K):
        Xk = Zs[labels == k]
        m = Xk.mean(axis=0)
        diff = Z - m
        if model == "EII":
            var = max(pooled / (len(Zs) * d), alpha * np.finfo(float).eps)
            logp[:, k] = -0.5 * np.sum(diff**2, axis=1) / var
        else:
            C = Xk - m
            S = (C.T @ C + alpha * np.eye(d)) / (len(Xk) + 1)
            L = np.linalg.cholesky(S)
            y = np.linalg.solve(L, diff.T)
            logp[:, k] = -0.5 * np.sum(y**2, axis=0) - np.sum(np.log(np.diag(L)))
        logp[:, k] += np.log(len(Xk) / len(Zs))
    return logp.argmax(axis=1)
