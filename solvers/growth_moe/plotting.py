"""Figures for fitted growth mixture models (matplotlib, imported on use)."""

from __future__ import annotations

import numpy as np

from mixtures.base import check_random_state

__all__ = ["plot_trajectories"]


def plot_trajectories(model, ax=None, n_spaghetti=200, random_state=0):
    """Class mean trajectories drawn over the observed curves of the persons (spaghetti).

    Each person's observed occasions are joined by a thin line in the colour of its most
    likely class; the class mean trajectory (expert covariates at their sample means, in
    the outcome's units) is drawn on top, labelled with the class proportion.

    Parameters
    ----------
    model : GrowthMixtureMoE
        A fitted model (``fit`` or ``fit_frame``).
    ax : matplotlib.axes.Axes, optional
        Axes to draw on (a new figure when None).
    n_spaghetti : int
        Number of persons drawn in the background (a random subset; all when larger).
    random_state : None, int or numpy.random.Generator
        Chooses the subset.

    Returns
    -------
    matplotlib.axes.Axes
    """
    import matplotlib.pyplot as plt

    model._check_fitted()
    Y, times, X = model._fit_state["data"]
    post = model.posterior_
    label = np.argmax(post, axis=1)
    K = post.shape[1]
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 4.5))
    colors = plt.get_cmap("tab10")(np.arange(K) % 10)
    rng = check_random_state(random_state)
    n = Y.shape[0]
    idx = rng.choice(n, size=min(int(n_spaghetti), n), replace=False)
    for i in idx:
        obs = ~np.isnan(Y[i])
        ax.plot(times[i, obs], Y[i, obs], color=colors[label[i]], alpha=0.25, lw=0.6)
    lo, hi = model.time_range_
    grid = np.linspace(lo, hi, 200)
    Xbar = X.mean(axis=0, keepdims=True) if X.shape[1] else None
    Z = model._fit_state["Z"]
    # time-varying covariates at their observed means (the curves at z = 0 may lie off the data)
    Zbar = (
        None if Z is None else np.broadcast_to(np.nanmean(Z, axis=(0, 1)), grid.shape + Z.shape[2:])
    )
    traj = model.predict_trajectories(grid, Xbar, Zbar)
    traj = traj[0] if traj.ndim == 3 else traj
    for k in range(K):
        ax.plot(
            grid,
            traj[k],
            color=colors[k],
            lw=3,
            label=f"class {k} ({model.weights_[k]:.0%})",
        )
        if model.curve == "bilinear_spline":
            ax.axvline(model.curve_params_[k, 0], color=colors[k], ls=":", lw=1)
    ax.set_xlabel("time")
    ax.set_ylabel("outcome")
    ax.legend(frameon=False)
    return ax
