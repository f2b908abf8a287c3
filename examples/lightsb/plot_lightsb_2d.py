"""
Light Schrödinger Bridge in 2-D: from a Gaussian to a Swiss roll
================================================================

:class:`solvers.lightsb.LightSB` learns the entropic optimal-transport plan (equivalently the
Schrödinger bridge with a Brownian prior of variance ``epsilon`` per unit time) between two
*unpaired* samples. Its adjusted Schrödinger potential is a Gaussian mixture, so once it is
fitted the conditional plan ``pi(y | x)``, its samples and whole stochastic trajectories are
available in closed form, without simulating an SDE.
"""

# %%
# Two unpaired samples
# --------------------
# The source is a standard Gaussian; the target is a 2-D Swiss roll.

import jax.numpy as jnp
import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import make_swiss_roll

from mixtures import gaussian, x64
from mixtures.gaussian import GMM
from mixtures.plotting import plot_density_2d
from solvers.lightsb import LightSB

rng = np.random.default_rng(0)
X0 = rng.standard_normal((3000, 2))
roll = make_swiss_roll(3000, noise=0.6, random_state=0)[0][:, [0, 2]] / 7.5
X1 = roll[rng.permutation(len(roll))]  # unpaired: the order carries no information

# %%
# Fit
# ---
# Fifty components (full covariances: the default for d <= 64) and 3,000 Adam steps on
# minibatches of 128 from each sample.

model = LightSB(n_components=50, epsilon=0.1, max_iter=3000, random_state=0).fit(X0, X1)

# %%
# Samples of the plan and trajectories
# ------------------------------------
# ``sample`` draws ``y ~ pi(. | x)``; ``sample_trajectory`` draws ``x_1`` and then the exact
# Brownian bridge from ``x`` to ``x_1``.

Y = model.sample(X0[:2000], random_state=1)[:, 0]
starts = X0[:12]
paths = model.sample_trajectory(np.repeat(starts, 5, axis=0), n_steps=100, random_state=2)

fig, axes = plt.subplots(1, 3, figsize=(13, 4.2), sharex=True, sharey=True)
axes[0].scatter(*X0[:2000].T, s=2, c="tab:blue", alpha=0.4, label="source x ~ p0")
axes[0].scatter(*X1[:2000].T, s=2, c="tab:orange", alpha=0.4, label="target y ~ p1")
axes[0].set_title("training samples (unpaired)")
axes[0].legend(loc="upper left", markerscale=4)
axes[1].scatter(*X1[:2000].T, s=2, c="tab:orange", alpha=0.25, label="target")
axes[1].scatter(*Y.T, s=2, c="tab:green", alpha=0.4, label="y ~ pi(. | x)")
axes[1].set_title("LightSB samples of the plan")
axes[1].legend(loc="upper left", markerscale=4)
axes[2].scatter(*X1[:2000].T, s=2, c="tab:orange", alpha=0.15)
for p in paths:
    axes[2].plot(p[:, 0], p[:, 1], lw=0.6, c="k", alpha=0.5)
axes[2].scatter(*starts.T, c="tab:blue", s=25, zorder=3, label="x")
axes[2].scatter(*paths[:, -1].T, c="tab:red", s=10, zorder=3, label="x_1")
axes[2].set_title("SB trajectories (5 per start)")
axes[2].legend(loc="upper left")
for ax in axes:
    ax.set_aspect("equal")
fig.tight_layout()

# %%
# The fitted potential and one conditional plan
# ---------------------------------------------
# Left: ``log v(y)``, the adjusted Schrödinger potential, a Gaussian mixture evaluated with
# :func:`mixtures.gaussian.log_prob`. Middle: the conditional density ``pi(y | x)`` for one
# source point ``x`` (a Gaussian mixture, from :meth:`LightSB.conditional`). Right: the
# training objective.

potential = GMM(model.log_weights_, model.means_, model.covariances_, model.covariance_type_)
x_star = np.array([[0.8, -0.6]])
cond = model.conditional(x_star)
cond0 = GMM(cond.log_weights[0], cond.means[0], cond.covariances[0], cond.covariance_type)


def log_v(Y):
    with x64():
        return np.asarray(gaussian.log_prob(potential, jnp.asarray(Y)))


def log_pi(Y):
    with x64():
        return np.asarray(gaussian.log_prob(cond0, jnp.asarray(Y)))


lim = (-2.5, 2.5)
fig, axes = plt.subplots(1, 3, figsize=(13, 4.2))
plot_density_2d(axes[0], log_v, lim, lim, n=150, levels=15)
axes[0].scatter(*model.means_.T, s=6, c="w", label="r_k")
axes[0].set_title("potential v(y) (contours of the density)")
axes[0].legend(loc="upper left")
plot_density_2d(axes[1], log_pi, lim, lim, n=150, levels=15)
axes[1].scatter(*x_star.T, c="tab:red", marker="x", s=60, label="x")
axes[1].scatter(*model.predict(x_star).T, c="w", marker="+", s=80, label="E[y | x]")
axes[1].set_title("conditional plan pi(y | x)")
axes[1].legend(loc="upper left")
for ax in axes[:2]:
    ax.set_aspect("equal")
axes[2].plot(model.loss_curve_, lw=0.5)
axes[2].set_xlabel("Adam step")
axes[2].set_ylabel("minibatch objective")
axes[2].set_title("training objective")
fig.tight_layout()
plt.show()
