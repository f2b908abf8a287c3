"""
Growth mixture of experts on the paper's simulation design
==========================================================

Five hundred simulated people are measured ten times at slightly different individual times.
They belong to two latent classes whose bilinear-spline trajectories differ in the knot (3.5 vs
5.5) and the post-knot slope. Two baseline covariates act in both places: they shift the odds
of class membership (the gating network) and the growth factors inside each class (the
experts). We fit the full mixture-of-experts model, compare the estimates with the true values
and look at how the covariates drive the posterior class probabilities.
"""

# %%
# Simulate and fit
# ----------------
import matplotlib.pyplot as plt
import numpy as np

from solvers.growth_moe import GrowthMixtureMoE, datasets

d = datasets.simulate(n=500, placement="full", random_state=0)
model = GrowthMixtureMoE(n_classes=2, curve="bilinear_spline", n_init=2, random_state=0)
model.fit(d.Y, d.times, d.X)
print(
    f"log-likelihood {model.loglik_:.1f}, BIC {model.bic_:.1f}, "
    f"{model.n_best_starts_}/{len(model.start_logliks_)} starts reached the best value"
)

# %%
# Estimates beside the truth
# --------------------------
# ``class_means_`` holds the growth-factor means (intercept, pre-knot slope, post-knot slope,
# at covariates 0) and the knot; ``stderr_`` the standard errors from the observed information.
true = d.params["class_means"]
for k in range(2):
    est = ", ".join(
        f"{e:.2f} ({s:.2f}) [{t:g}]"
        for e, s, t in zip(model.class_means_[k], model.stderr_["class_means"][k], true[k])
    )
    print(f"class {k}: estimate (SE) [true]: {est}")
acc = np.mean(model.predict(d.Y, d.times, d.X) == d.labels)
print(f"classification accuracy {acc:.3f}, relative entropy {model.entropy_:.3f}")
print(model.summary().round(3).head(12))

# %%
# Class trajectories over the data
# --------------------------------
# Each person's observed curve is coloured by the most probable class; the thick lines are the
# estimated class mean curves at covariates 0 and the dashed lines the true ones.
labels = model.predict(d.Y, d.times, d.X)
grid = np.linspace(0, 9, 200)
curves = model.predict_trajectories(grid)
colors = ["tab:blue", "tab:orange"]
fig, ax = plt.subplots(figsize=(7, 4.5))
for i in range(120):
    ax.plot(d.times[i], d.Y[i], color=colors[labels[i]], alpha=0.25, lw=0.8)
for k in range(2):
    a0, a1, a2, g = true[k]
    ax.plot(
        grid,
        curves[k],
        color=colors[k],
        lw=3,
        label=f"class {k} (knot {model.curve_params_[k, 0]:.2f})",
    )
    ax.plot(grid, a0 + a1 * np.minimum(grid, g) + a2 * np.maximum(grid - g, 0), "k--", lw=1.2)
    ax.axvline(model.curve_params_[k, 0], color=colors[k], ls=":")
ax.set_xlabel("time")
ax.set_ylabel("outcome")
ax.set_title("Bilinear-spline classes: estimated (solid) and true (dashed) mean curves")
ax.legend()
fig.tight_layout()

# %%
# Posterior class probabilities against the covariates
# -----------------------------------------------------
# The gate says how the odds of class 1 change with each covariate; the posterior
# probabilities combine the gate with the person's own trajectory, so they spread around the
# gate's curve and are pushed towards 0 or 1 by the data.
proba = model.predict_proba(d.Y, d.times, d.X)[:, 1]
fig, axes = plt.subplots(1, 2, figsize=(9, 3.8), sharey=True)
xs = np.linspace(-3, 3, 100)
for j, ax in enumerate(axes):
    ax.scatter(d.X[:, j], proba, s=8, c=d.labels, cmap="coolwarm", alpha=0.6)
    logit = model.gating_intercept_[0] + model.gating_coef_[0, j] * xs
    ax.plot(xs, 1 / (1 + np.exp(-logit)), "k", lw=2, label="gate (other covariate = 0)")
    ax.set_xlabel(
        f"covariate x{j} (true gate coefficient {d.params['gating_coef'][0, j]:g}, "
        f"estimated {model.gating_coef_[0, j]:.2f})",
        fontsize=8,
    )
axes[0].set_ylabel("P(class 1 | data)")
axes[0].legend(loc="upper left", fontsize=8)
fig.suptitle("Posterior class probability vs covariates (colour: true class)")
fig.tight_layout()
plt.show()
