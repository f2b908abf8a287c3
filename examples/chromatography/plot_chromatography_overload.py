"""
Fronting and tailing peaks: the overload shape, chosen per peak by BIC
======================================================================

A size-exclusion run with fluorescence detection (a Shimadzu LabSolutions export shipped with
the package) has two overlapping peaks whose shapes the linear kinetic model does not follow:
the first fronts, the second tails more than a shared extra-column lag explains. With
``peak_shape="auto"`` every peak is offered one more parameter, the loading ``R`` of the
Haarhoff-van der Linde peak (the equilibrium-dispersive band under a Langmuir isotherm:
``R < 0`` steep front and tail, ``R > 0`` fronting, ``R = 0`` the linear peak); a peak keeps
it only where the data determine it, and BIC decides between the models.
"""

# %%
# The two fits
# ------------
import matplotlib.pyplot as plt
import numpy as np

from solvers.chromatography import ChromatogramFit, datasets, overload_profile, read_chromatogram

run = read_chromatogram(datasets.data_path("shimadzu_fsec.txt"), channel="Detector B")
window = run.window(240.0, 360.0)
t, y = window.t, window.signal
kinetic = ChromatogramFit(baseline="linear").fit(t, y)
auto = ChromatogramFit(baseline="linear", peak_shape="auto").fit(t, y)
for name, fit in (("kinetic", kinetic), ("auto", auto)):
    print(f"{name:8s} R^2 = {fit.score(t, y):.5f}  shapes: {', '.join(fit.peak_shapes_)}")
print("loadings R:", np.round(auto.loadings_, 2), "+-", np.round(auto.loading_stderr_, 2))

fig, axes = plt.subplots(2, 2, figsize=(10, 5), sharex=True, height_ratios=[3, 1])
for col, (name, fit) in enumerate((("linear kinetic peaks", kinetic), ("peak_shape='auto'", auto))):
    top, bottom = axes[0, col], axes[1, col]
    base = fit.predict_baseline(t)
    top.plot(t, y, "k.", ms=2, label="data")
    for k, comp in enumerate(fit.predict_components(t)):
        top.plot(t, base + comp, lw=1, label=f"peak {k + 1} ({fit.peak_shapes_[k]})")
    top.plot(t, fit.predict(t), "r", lw=1, label="model")
    top.set_title(f"{name}: R^2 = {fit.score(t, y):.5f}")
    top.legend(fontsize=7)
    bottom.plot(t, y - fit.predict(t), "k", lw=0.7)
    bottom.set_xlabel("time (s)")
axes[0, 0].set_ylabel("fluorescence")
axes[1, 0].set_ylabel("residual")
fig.tight_layout()

# %%
# What the loading does to a peak
# -------------------------------
# The same linear peak (retention time 0, sd 1) at loadings from anti-Langmuir to Langmuir:
# the band runs behind or ahead of the linear peak and steepens on that side.
grid = np.linspace(-6.0, 6.0, 601)
fig, ax = plt.subplots(figsize=(6, 3))
for loading in (4.0, 2.0, 0.0, -2.0, -4.0):
    ax.plot(grid, overload_profile(grid, 0.0, 1.0, loading), label=f"R = {loading:+.0f}")
ax.set_xlabel("time since the linear retention time (sd)")
ax.legend(fontsize=7)
ax.set_title("Haarhoff-van der Linde peaks")
plt.show()
