"""
Multimodal forecasts at an intersection, with and without the kinematic prior
=============================================================================

Vehicles approach a four-way intersection and turn left, go straight or turn right
(:func:`solvers.kinematic.datasets.synthetic_traffic`); the observed past does not tell
which. A :class:`solvers.kinematic.KinematicForecaster` predicts a 3-mode Gaussian mixture
over the position at each of the next 12 steps (3 s).

With ``prior="kinematic"`` the network outputs corrections to the accelerations and steering
angles of a fitted stochastic bicycle model (:class:`solvers.kinematic.KinematicPropagation`), and
the position uncertainty follows from the bicycle model step by step; with ``prior="none"`` it
outputs position means and covariances directly. Both are trained on the same 150 tracks (a small
data set, where the prior matters most), with early stopping on 15 held-out tracks
(``early_stopping=True``, which keeps the parameters of the best validation NLL; with the kinematic
prior the best fitted physics baseline on those tracks also stays in the forecast as a defensive
mixture component, weighted by how well it predicts them against the network). The L2 weight
penalty ``alpha`` is left at its default 0 to keep the example short; to tune it, fit a small
grid with ``early_stopping=True`` and keep the fit with the highest ``best_validation_score_``,
never the best test NLL. Real tracks: see
:ref:`sphx_glr_auto_examples_kinematic_plot_kinematic_pedestrians.py`.
"""

# %%
import warnings

import matplotlib.pyplot as plt
import numpy as np

from mixtures import ConvergenceWarning
from mixtures.plotting import plot_covariance_ellipses
from solvers.kinematic import KinematicForecaster, datasets

train = datasets.synthetic_traffic(150, horizon=12, noise=1.0, random_state=0)
test = datasets.synthetic_traffic(300, horizon=12, noise=1.0, random_state=1)

models = {}
for prior in ("kinematic", "none"):
    est = KinematicForecaster(
        n_modes=3,
        horizon=12,
        prior=prior,
        hidden=32,
        max_iter=1000,
        batch_size=None,
        learning_rate=3e-3,
        early_stopping=True,
        n_iter_no_change=5,
        random_state=0,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        models[prior] = est.fit(train.past, train.future)
    ade, fde = est.min_ade_fde(test.past, test.future)
    print(
        f"prior={prior:9s} test NLL {est.nll(test.past, test.future):7.2f} nats, "
        f"minADE {ade:.2f} m, minFDE {fde:.2f} m"
    )

# %%
# Forecasts for two test vehicles (columns) by each model (rows): the 2-sd ellipses at 1, 2
# and 3 s of each mode (opacity by the mode's weight), the observed past (black dots) and
# the true future (dashed).
pick = [int(np.flatnonzero(test.manoeuvre == 0)[0]), int(np.flatnonzero(test.manoeuvre == 2)[0])]
fig, axes = plt.subplots(2, 2, figsize=(11, 10))
for row, (prior, est) in enumerate(models.items()):
    gmm = est.predict(test.past[pick])
    for col, agent in enumerate(pick):
        ax = axes[row, col]
        ax.plot(*test.past[agent].T, "k.-", lw=1)
        ax.plot(*test.future[agent].T, "k--", lw=1.5)
        w = np.exp(gmm.log_weights[col, 0])
        steps = [3, 7, 11]
        for k in range(len(w)):  # the kinematic prior adds its baseline as a last mode
            name = "baseline" if k == est.n_modes else f"mode {k}"
            ax.plot(
                *gmm.means[col, :, k].T,
                color=f"C{k}",
                lw=1,
                alpha=0.3 + 0.7 * w[k],
                label=f"{name}, weight {w[k]:.2f}",
            )
            plot_covariance_ellipses(
                ax,
                gmm.means[col, steps, k],
                gmm.covariances[col, steps, k],
                n_std=2.0,
                colors=[f"C{k}"] * 3,
                weights=np.full(3, w[k]) + 1e-9,
            )
        centre = test.past[agent, -1]
        ax.set_xlim(centre[0] - 30, centre[0] + 30)
        ax.set_ylim(centre[1] - 30, centre[1] + 30)
        ax.set_aspect("equal")
        ax.legend(fontsize=9, loc="lower left")
        ax.set_title(
            f'prior="{prior}", a {("left", "straight", "right")[test.manoeuvre[agent]]} turn'
        )
        ax.set_xlabel("x (m)")
        ax.set_ylabel("y (m)")
fig.tight_layout()

# %%
# Training curves (mean trajectory NLL per step of Adam, solid) and the NLL on the held-out
# tracks every 50 steps (dots); the cross marks the kept parameters.
fig, ax = plt.subplots(figsize=(6, 4))
for i, (prior, est) in enumerate(models.items()):
    ax.plot(est.loss_curve_, color=f"C{i}", label=f'prior="{prior}", training')
    checks = 50 * np.arange(1, len(est.validation_scores_) + 1)
    # validation_scores_ are log-likelihoods (higher is better): plot their negatives, NLLs
    ax.plot(
        checks,
        -est.validation_scores_,
        "o:",
        color=f"C{i}",
        ms=3,
        label=f'prior="{prior}", validation',
    )
    ax.plot(est.best_iter_, -est.best_validation_score_, "kx", ms=8)
ax.set_xlabel("Adam step")
ax.set_ylabel("training NLL (nats)")
curves = np.concatenate([est.loss_curve_ for est in models.values()])
ax.set_ylim(curves.min() - 2, np.percentile(curves, 95))
ax.legend()
fig.tight_layout()
plt.show()
