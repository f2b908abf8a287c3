"""
Forecasting real pedestrians: physics baselines and a forecaster on top of them
===============================================================================

148 pedestrians walk through a corridor in a laboratory experiment of Forschungszentrum
Juelich (PedPy demo data, MIT; :func:`solvers.kinematic.datasets.load_pedestrians`). We cut
their tracks into windows of 8 observed and 12 future positions, 0.2 s apart
(:func:`~solvers.kinematic.datasets.make_windows`), and split them by pedestrian: a third of
the pedestrians is only used for testing.

Three physics baselines come first, each fitted by maximum likelihood on the training windows:
constant velocity with a per-step residual covariance, a constant-velocity Kalman filter,
and the stochastic bicycle model propagated from the filtered state
(:class:`~solvers.kinematic.KinematicPropagation`). The
:class:`~solvers.kinematic.KinematicForecaster` learns corrections to that bicycle model's
actions. It holds out 20 % of its training pedestrians, and the physics baseline that
predicts them best stays in the forecast as a defensive mixture component: its weight is
the posterior mean given the held-out pedestrians, at least 1 / (g + 2) for g of them, so
an overconfident network can never lose more than log(g + 2) nats on a window against
that baseline, and the network takes over only as far as the held-out pedestrians support.
"""

# %%
import warnings

import matplotlib.pyplot as plt
import numpy as np

from mixtures import ConvergenceWarning
from mixtures.plotting import plot_covariance_ellipses
from solvers.kinematic import (
    ConstantVelocity,
    ConstantVelocityKalman,
    KinematicForecaster,
    KinematicPropagation,
    datasets,
)

walk = datasets.load_pedestrians("corridor")
win = datasets.make_windows(walk.track, walk.t, walk.xy, dt=0.2, n_past=8, horizon=12, stride=2)
people = np.random.default_rng(0).permutation(np.unique(win.groups))
test = np.isin(win.groups, people[: len(people) // 3])
train = ~test
print(f"{len(win.past)} windows of {len(people)} pedestrians; {train.sum()} for training")


def forecaster(**kw):
    return KinematicForecaster(
        n_modes=3,
        horizon=12,
        dt=0.2,
        hidden=32,
        max_iter=600,
        batch_size=64,
        early_stopping=True,
        validation_fraction=0.2,
        n_iter_no_change=3,
        random_state=0,
        **kw,
    )


models = {
    "constant velocity": ConstantVelocity(dt=0.2),
    "CV Kalman filter": ConstantVelocityKalman(dt=0.2),
    "kinematic propagation": KinematicPropagation(dt=0.2),
    "forecaster": forecaster(),
}
with warnings.catch_warnings():
    warnings.simplefilter("ignore", ConvergenceWarning)
    for est in models.values():
        est.fit(win.past[train], win.future[train], win.groups[train])
for name, est in models.items():
    ade, fde = est.min_ade_fde(
        win.past[test], win.future[test], k=min(3, est.predict(win.past[:1]).means.shape[2])
    )
    print(
        f"{name:22s} minADE_3 {ade:.3f} m  minFDE_3 {fde:.3f} m  "
        f"NLL {est.nll(win.past[test], win.future[test]):7.2f} nats"
    )

# %%
# Three test pedestrians: the observed past (black dots), the true future (dashed), and the
# 2-sd ellipses after 0.8, 1.6 and 2.4 s of the Kalman filter (grey) and of the
# forecaster's modes (colours, opacity by weight; the last mode is its defensive
# baseline component).
pick = np.flatnonzero(test)[[5, 60, 200]]
kf, fc = (
    models["CV Kalman filter"].predict(win.past[pick]),
    models["forecaster"].predict(win.past[pick]),
)
steps = [3, 7, 11]
fig, axes = plt.subplots(1, 3, figsize=(15, 4.8))
for col, ax in enumerate(axes):
    i = pick[col]
    ax.plot(*win.past[i].T, "k.-", lw=1)
    ax.plot(*win.future[i].T, "k--", lw=1.5, label="true future")
    plot_covariance_ellipses(
        ax,
        kf.means[col, steps, 0],
        kf.covariances[col, steps, 0],
        n_std=2.0,
        colors=["0.5"] * 3,
        weights=np.ones(3),
    )
    ax.plot(*kf.means[col, :, 0].T, color="0.5", label="Kalman filter")
    w = np.exp(fc.log_weights[col, 0])
    for k in range(len(w)):
        name = "baseline component" if k == len(w) - 1 else f"forecaster mode {k}"
        ax.plot(
            *fc.means[col, :, k].T,
            color=f"C{k}",
            alpha=0.3 + 0.7 * w[k],
            label=f"{name} ({w[k]:.2f})",
        )
        plot_covariance_ellipses(
            ax,
            fc.means[col, steps, k],
            fc.covariances[col, steps, k],
            n_std=2.0,
            colors=[f"C{k}"] * 3,
            weights=np.full(3, w[k]) + 1e-9,
        )
    # equal scales, but the panel keeps its size (the data limits grow instead)
    ax.set_aspect("equal", adjustable="datalim")
    ax.set_xlabel("x (m)")
    ax.set_ylabel("y (m)")
    ax.legend(fontsize=9)
fig.tight_layout()

# %%
# The held-out NLL during training: step 0 is the best of the three physics baselines on
# the held-out pedestrians (the network starts from the fitted bicycle model, its
# corrections zero), the cross the kept network. The weight the held-out pedestrians leave
# to the baseline component is printed below.
est = models["forecaster"]
print(f"defensive component {type(est.defensive_).__name__}, weight {est.defensive_weight_:.3f}")
checks = 50 * np.arange(len(est.validation_scores_) + 1)
fig, ax = plt.subplots(figsize=(6, 4))
ax.plot(checks, -np.r_[est.baseline_validation_score_, est.validation_scores_], "o-", ms=3)
ax.plot(est.best_iter_, -est.best_validation_score_, "kx", ms=9)
ax.set_xlabel("Adam step (0: the best physics baseline)")
ax.set_ylabel("held-out NLL (nats)")
fig.tight_layout()
plt.show()
