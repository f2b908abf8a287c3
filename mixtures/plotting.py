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


def _full_covariances(means, covariances, covariance_type):
    """``(K, d, d)`` covariances of any covariance type (see :func:`mixtures.gaussian.to_full`;
    the fourteen mclust names are read in their storage layout)."""
    from mixtures import gaussian, parsimonious
    from mixtures._config import x64

    st = parsimonious.storage_type(covariance_type)
    with x64():
        gmm = gaussian.GMM(np.zeros(len(means)), means, np.asarray(covariances, float), st)
        return np.asarray(gaussian.to_full(gmm).covariances)


def plot_covariance_ellipses(
    ax,
    means,
    covariances,
    covariance_type="full",
    weights=None,
    n_std=(1.0, 2.0),
    dims=(0, 1),
    colors=None,
    **kwargs,
):
    """Draw the ``n_std``-standard-deviation ellipses of each component on ``ax``.

    Parameters
    ----------
    ax : matplotlib Axes
    means : array, shape (K, d)
    covariances : array
        Shape by ``covariance_type`` (as in :mod:`mixtures.gaussian`).
    covariance_type : str
        ``"full"``, ``"diag"``, ``"spherical"``, ``"tied"`` or an mclust model name (its
        covariances in the storage layout of :class:`mixtures.GaussianMixture`).
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
    full = _full_covariances(means, covariances, covariance_type)
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
                (means[k, i], means[k, j]),
                width,
                height,
                angle=angle,
                fill=False,
                edgecolor=colors[k % len(colors)],
                alpha=float(alphas[k]),
                lw=2,
                **kwargs,
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


def plot_criterion_curves(table, ax=None, label="BIC", **kwargs):
    """Information-criterion curves against the number of components, one per structure.

    Parameters
    ----------
    table : pandas.DataFrame
        Rows: numbers of components; columns: covariance structures (as
        :meth:`mixtures.selection.ModelSelection.pivot` returns); NaN where a fit failed.
    ax : matplotlib Axes, optional
        Default: a new figure's.
    label : str
        Name of the criterion, for the y axis (lower is better).
    **kwargs
        Passed to ``ax.plot``.

    Returns
    -------
    matplotlib Axes
    """
    import matplotlib.pyplot as plt

    if ax is None:
        ax = plt.figure().add_subplot()
    markers = "os^vD<>phX*P8d"
    for i, name in enumerate(table.columns):
        ax.plot(
            table.index, table[name], marker=markers[i % len(markers)], label=str(name), **kwargs
        )
    ax.set_xlabel("number of components")
    ax.set_ylabel(f"{label} (lower is better)")
    ax.legend(ncol=2, fontsize="small")
    return ax
