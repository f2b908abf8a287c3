"""Matplotlib helpers: covariance ellipses and 1-D / 2-D mixture densities."""

from __future__ import annotations

import numpy as np

__all__ = ["plot_covariance_ellipses", "plot_density_1d", "plot_density_2d"]


def _ellipse_params(cov, n_std):
    vals, vecs = np.linalg.eigh(np.asarray(cov, dtype=float))
    vals = np.clip(vals, 0.0, None)
    angle = np.degrees(np.arctan2(vecs[1, -1], vecs[0, -1]))
    width, height = 2.0 * n_std * np.sqrt(vals[::-1])
    return width, height, angle


def _full_covariances(covariances, covariance_type, n_components, n_features):
    c = np.asarray(covariances, dtype=float)
    if covariance_type == "full":
        return c
    if covariance_type == "tied":
        return np.broadcast_to(c, (n_components, n_features, n_features))
    if covariance_type == "diag":
        return np.stack([np.diag(v) for v in c])
    if covariance_type == "spherical":
        return c[:, None, None] * np.eye(n_features)[None]
    raise ValueError(f"unknown covariance_type {covariance_type!r}")


def plot_covariance_ellipses(
    ax, means, covariances, covariance_type="full", weights=None, n_std=(1.0, 2.0),
    dims=(0, 1), colors=None, **kwargs,
):
    """Draw the ``n_std``-standard-deviation ellipses of each component on ``ax``.

    Parameters
    ----------
    ax : matplotlib Axes
    means : array, shape (K, d)
    covariances : array
        Shape by ``covariance_type`` (as in :mod:`mixtures.gaussian`).
    covariance_type : {"full", "diag", "spherical", "tied"}
    weights : array, shape (K,), optional
        Component weights; set each ellipse's opacity.
    n_std : float or sequence of float
        Radii in standard deviations.
    dims : pair of int
        Which two coordinates to draw.
    colors : sequence of colours, optional
    **kwargs
        Passed to :class:`matplotlib.patches.Ellipse`.

    Returns
    -------
    list of matplotlib.patches.Ellipse
    """
    from matplotlib.patches import Ellipse

    means = np.asarray(means, dtype=float)
    K, d = means.shape
    full = _full_covariances(covariances, covariance_type, K, d)
    i, j = dims
    stds = np.atleast_1d(n_std)
    if colors is None:
        colors = [f"C{k % 10}" for k in range(K)]
    w = np.ones(K) if weights is None else np.asarray(weights, dtype=float)
    alphas = 0.15 + 0.5 * w / w.max()
    patches = []
    for k in range(K):
        cov2 = full[k][np.ix_([i, j], [i, j])]
        for s in stds:
            width, height, angle = _ellipse_params(cov2, s)
            e = Ellipse(
                (means[k, i], means[k, j]), width, height, angle=angle, fill=False,
                edgecolor=colors[k % len(colors)], alpha=float(alphas[k]), lw=2, **kwargs,
            )
            ax.add_patch(e)
            patches.append(e)
        ax.plot(means[k, i], means[k, j], "x", color=colors[k % len(colors)])
    return patches


def plot_density_1d(ax, log_density, x, **kwargs):
    """Plot ``exp(log_density(x))`` on a 1-D grid ``x`` (``log_density`` maps (n,) -> (n,)).

    Returns the Line2D.
    """
    x = np.asarray(x, dtype=float)
    y = np.exp(np.asarray(log_density(x), dtype=float))
    (line,) = ax.plot(x, y, **kwargs)
    return line


def plot_density_2d(ax, log_density, xlim, ylim, n=200, levels=12, filled=True, **kwargs):
    """Contour plot of a 2-D density given its log (``log_density`` maps (m, 2) -> (m,)).

    Returns the contour set.
    """
    xs = np.linspace(*xlim, n)
    ys = np.linspace(*ylim, n)
    XX, YY = np.meshgrid(xs, ys)
    pts = np.column_stack([XX.ravel(), YY.ravel()])
    Z = np.exp(np.asarray(log_density(pts), dtype=float)).reshape(XX.shape)
    fn = ax.contourf if filled else ax.contour
    return fn(XX, YY, Z, levels=levels, **kwargs)
