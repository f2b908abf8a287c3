"""Matplotlib helpers: a fitted chromatogram with its components and residuals."""

from __future__ import annotations

import numpy as np


def plot_components(fit, t, ax=None, names=None, colors=None):
    """Draw each fitted analyte's contribution (baseline included) as a filled curve.

    Parameters
    ----------
    fit : ChromatogramFit
        A fitted estimator.
    t : array-like, shape (n_t,)
        Times (s).
    ax : matplotlib Axes or None
    names : list of str or None
        Labels (default: the fitted analytes' names).

    Returns
    -------
    matplotlib Axes
    """
    import matplotlib.pyplot as plt

    ax = plt.gca() if ax is None else ax
    t = np.asarray(t, dtype=float)
    comps = fit.predict_components(t)
    base = fit.predict_baseline(t)
    names = [a.name for a in fit.analytes_] if names is None else names
    for i, (comp, name) in enumerate(zip(comps, names)):
        color = f"C{i % 10}" if colors is None else colors[i]
        ax.fill_between(t, base, base + comp, alpha=0.35, label=name, color=color)
    return ax


def plot_chromatogram(fit, t, signal, names=None, axes=None):
    """Data, fitted signal, components (top) and residuals (bottom).

    Parameters
    ----------
    fit : ChromatogramFit
        A fitted estimator.
    t, signal : array-like, shape (n_t,)
        The chromatogram (s, detector units).
    names : list of str or None
        Component labels.
    axes : pair of matplotlib Axes or None
        Where to draw; a new figure with two stacked panels when None.

    Returns
    -------
    fig, (ax_top, ax_bottom)
    """
    import matplotlib.pyplot as plt

    t = np.asarray(t, dtype=float)
    signal = np.asarray(signal, dtype=float)
    if axes is None:
        fig, axes = plt.subplots(
            2, 1, sharex=True, figsize=(9, 5.5), gridspec_kw={"height_ratios": [3, 1]}
        )
    else:
        fig = axes[0].figure
    top, bottom = axes
    top.plot(t, signal, ".", ms=2, color="0.5", label="data")
    plot_components(fit, t, ax=top, names=names)
    fitted = fit.predict(t)
    top.plot(t, fitted, color="k", lw=1, label="fit")
    top.set_ylabel("detector signal")
    top.legend(loc="upper right", fontsize="small")
    bottom.plot(t, signal - fitted, ".", ms=2, color="C3")
    bottom.axhline(0.0, color="k", lw=0.8)
    bottom.set_xlabel("time since injection (s)")
    bottom.set_ylabel("residual")
    return fig, (top, bottom)
