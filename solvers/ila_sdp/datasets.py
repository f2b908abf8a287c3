"""Simulation designs with heterogeneous cluster covariances (data and true labels).

The designs follow the settings studied by Zhuang, Chen and Yang (ICML 2023): Gaussian
clusters whose covariances differ in scale and orientation, a centroid configuration on which
K-means and EM are trapped, a higher-dimensional case, and three designs where k-means
and EM starts fail in other ways: a small cluster beside large ones, covariance scales a
hundred-fold apart, and thin parallel needles. Every generator returns ``(X, y)`` with ``X``
of shape (n_samples, n_features) and ``y`` of shape (n_samples,) (integer labels
``0..K-1``), rows in random order; clusters have (near-)equal sizes unless stated.
"""

from __future__ import annotations

import numpy as np

from mixtures import as_generator
from mixtures.base import check_option, check_scalar

__all__ = [
    "DESIGNS",
    "make_adversarial",
    "make_design",
    "make_heterogeneous",
    "make_high_dim",
    "make_needles",
    "make_scales",
    "make_unbalanced",
]


def _rotation(p, angle):
    """Rotation by ``angle`` in the plane of the first two coordinates, (p, p)."""
    R = np.eye(p)
    c, s = np.cos(angle), np.sin(angle)
    R[:2, :2] = [[c, -s], [s, c]]
    return R


def _draw(means, covs, n_samples, rng, proportions=None):
    K = len(means)
    proportions = np.full(K, 1.0 / K) if proportions is None else np.asarray(proportions)
    sizes = np.floor(proportions * n_samples).astype(int)
    sizes[np.argsort(-(proportions * n_samples - sizes))[: n_samples - sizes.sum()]] += 1
    X = np.concatenate(
        [rng.multivariate_normal(m, S, size=s) for m, S, s in zip(means, covs, sizes)]
    )
    y = np.repeat(np.arange(K), sizes)
    perm = rng.permutation(n_samples)
    return X[perm], y[perm]


def make_heterogeneous(n_samples=150, n_features=2, separation=4.0, random_state=None):
    """Three clusters of different shapes: small round, long thin rotated, large round.

    Centres at ``separation * (0, 0)``, ``(1, 0)`` and ``(0.5, 0.87)`` in the first two
    coordinates (an equilateral triangle of side ``separation``); covariances
    ``0.3^2 I``, ``R diag(1.5^2, 0.2^2, 0.5^2, ...) R^T`` (R: rotation by 60 degrees) and
    ``1^2 I``.

    Parameters
    ----------
    n_samples : int
        Total number of points (split equally).
    n_features : int
        Dimension p >= 2 (extra coordinates carry no mean signal).
    separation : float
        Side of the triangle of centres (units of X).
    random_state : None, int, numpy.random.Generator or JAX key

    Returns
    -------
    X : (n_samples, n_features) ndarray
    y : (n_samples,) ndarray of int
    """
    p = check_scalar(n_features, "n_features", kind="int", low=2)
    n = check_scalar(n_samples, "n_samples", kind="int", low=3)
    d = check_scalar(separation, "separation", kind="float", low=0.0)
    rng = as_generator(random_state)
    means = np.zeros((3, p))
    means[1, 0] = d
    means[2, :2] = [0.5 * d, np.sqrt(3) / 2 * d]
    thin = np.full(p, 0.5**2)
    thin[:2] = [1.5**2, 0.2**2]
    R = _rotation(p, np.pi / 3)
    covs = [0.3**2 * np.eye(p), R @ np.diag(thin) @ R.T, np.eye(p)]
    return _draw(means, covs, n, rng)


def make_adversarial(n_samples=150, n_features=2, separation=2.0, random_state=None):
    """Two tight neighbouring clusters and one broad distant cluster.

    Tight clusters (covariance ``0.3^2 I``) centred at ``(0, 0)`` and ``(separation, 0)``;
    the broad one (covariance ``2.5^2 I``) at ``(separation / 2, 6 separation)``. The K-means
    optimum splits the broad cluster and merges the tight pair, and EM started from it (or
    from unlucky starts) stays there; the likelihood separates the three.

    Parameters and returns as :func:`make_heterogeneous`.
    """
    p = check_scalar(n_features, "n_features", kind="int", low=2)
    n = check_scalar(n_samples, "n_samples", kind="int", low=3)
    d = check_scalar(separation, "separation", kind="float", low=0.0)
    rng = as_generator(random_state)
    means = np.zeros((3, p))
    means[1, 0] = d
    means[2, :2] = [0.5 * d, 6.0 * d]
    covs = [0.3**2 * np.eye(p), 0.3**2 * np.eye(p), 2.5**2 * np.eye(p)]
    return _draw(means, covs, n, rng)


def make_high_dim(n_samples=200, n_features=20, separation=3.0, random_state=None):
    """Two clusters in higher dimension, one isotropic and one with unequal variances.

    Centres ``0`` and ``separation * e_1``; covariances ``I`` and
    ``diag(0.25, ..., 0.25, 4, ..., 4)`` (first half of the coordinates 0.25, the rest 4).

    Parameters and returns as :func:`make_heterogeneous` (``n_features >= 2``).
    """
    p = check_scalar(n_features, "n_features", kind="int", low=2)
    n = check_scalar(n_samples, "n_samples", kind="int", low=2)
    d = check_scalar(separation, "separation", kind="float", low=0.0)
    rng = as_generator(random_state)
    means = np.zeros((2, p))
    means[1, 0] = d
    var = np.full(p, 4.0)
    var[: p // 2] = 0.25
    return _draw(means, [np.eye(p), np.diag(var)], n, rng)


def _checked(n_features, n_samples, separation, n_min=3):
    return (
        check_scalar(n_features, "n_features", kind="int", low=2),
        check_scalar(n_samples, "n_samples", kind="int", low=n_min),
        check_scalar(separation, "separation", kind="float", low=0.0),
    )


def make_unbalanced(n_samples=150, n_features=2, separation=2.5, random_state=None):
    """A small tight cluster beside two large broad ones.

    Proportions 0.1, 0.45, 0.45. The small cluster (covariance ``0.25^2 I``) sits at
    ``(0, 0)``, ``separation`` away from the first broad cluster (covariance ``I``, at
    ``(separation, 0)``); the second broad one (covariance ``I``) is at
    ``(separation, 2 separation)``. K-means and EM from k-means starts split a broad cluster
    instead of isolating the small one.

    Parameters and returns as :func:`make_heterogeneous`.
    """
    p, n, d = _checked(n_features, n_samples, separation)
    rng = as_generator(random_state)
    means = np.zeros((3, p))
    means[1, 0] = d
    means[2, :2] = [d, 2.0 * d]
    covs = [0.25**2 * np.eye(p), np.eye(p), np.eye(p)]
    return _draw(means, covs, n, rng, proportions=[0.1, 0.45, 0.45])


def make_scales(n_samples=150, n_features=2, separation=1.5, random_state=None):
    """Covariance scales a hundred-fold apart: two tight clusters on the edge of a broad one.

    A broad cluster (covariance ``3^2 I``, half the points) at the origin and two tight ones
    (covariance ``0.15^2 I``, a quarter each) at ``(2 separation, 0)`` and
    ``(2 separation, separation)``, inside the broad cluster's spread: only the likelihood,
    not the distances, tells them apart.

    Parameters and returns as :func:`make_heterogeneous`.
    """
    p, n, d = _checked(n_features, n_samples, separation)
    rng = as_generator(random_state)
    means = np.zeros((3, p))
    means[1, 0] = 2.0 * d
    means[2, :2] = [2.0 * d, d]
    covs = [9.0 * np.eye(p), 0.15**2 * np.eye(p), 0.15**2 * np.eye(p)]
    return _draw(means, covs, n, rng, proportions=[0.5, 0.25, 0.25])


def make_needles(n_samples=150, n_features=2, separation=1.0, random_state=None):
    """Three thin parallel needles.

    Covariance ``diag(3^2, 0.15^2, 0.15^2, ...)`` for each, centres ``separation`` apart
    along the thin axis (``(0, 0)``, ``(0, separation)``, ``(0, 2 separation)``). The needles
    are far longer than they are apart, so K-means cuts across them.

    Parameters and returns as :func:`make_heterogeneous`.
    """
    p, n, d = _checked(n_features, n_samples, separation)
    rng = as_generator(random_state)
    means = np.zeros((3, p))
    means[:, 1] = [0.0, d, 2.0 * d]
    var = np.full(p, 0.15**2)
    var[0] = 3.0**2
    return _draw(means, [np.diag(var)] * 3, n, rng)


DESIGNS = {
    "heterogeneous": make_heterogeneous,
    "adversarial": make_adversarial,
    "high_dim": make_high_dim,
    "unbalanced": make_unbalanced,
    "scales": make_scales,
    "needles": make_needles,
}


def make_design(name, **kwargs):
    """Dispatch to a design by name (a key of :data:`DESIGNS`).

    Returns
    -------
    X, y : see :func:`make_heterogeneous`
    """
    check_option(name, "name", tuple(DESIGNS))
    return DESIGNS[name](**kwargs)
