"""
From a detector file to a peak table
====================================

A real GC-FID run, an Agilent (HP 6890) ChemStation ``.ch`` file of a test mixture, read with
:func:`~solvers.chromatography.read_chromatogram`, then fitted by
:class:`~solvers.chromatography.ChromatogramFit` with nothing given but the baseline model:
the peaks are detected and counted automatically, the hold-up time and an extra-column lag
are fitted for the whole run, and the result is a chromatographer's peak table.
"""

# %%
# The run as the detector wrote it
# --------------------------------
# Times come back in seconds whatever the file stores (ChemStation stores minutes).
import matplotlib.pyplot as plt

from solvers.chromatography import ChromatogramFit, datasets, read_chromatogram

run = read_chromatogram(datasets.data_path("agilent_gc_fid.ch"))
print(run.metadata["sample"], "|", run.metadata["instrument"], "|", len(run), "samples")

fig, ax = plt.subplots(figsize=(9, 3))
ax.plot(run.t, run.signal, lw=0.8)
ax.axvspan(370.0, 500.0, color="C1", alpha=0.15, label="window fitted below")
ax.set_xlabel("time since injection (s)")
ax.set_ylabel("FID signal")
ax.legend(loc="upper right")
ax.set_title("Agilent GC-FID run (5 Hz)")

# %%
# Fit a window with everything automatic
# --------------------------------------
# Two large and two small peaks; a straight baseline is fitted jointly with them.
window = run.window(370.0, 500.0)
fit = ChromatogramFit(baseline="linear").fit(window.t, window.signal)
print(f"peaks found: {fit.n_analytes_}, R^2 = {fit.score(window.t, window.signal):.5f}")
t_m, width, lag = fit.run_params_
print(f"extra-column lag {lag:.3f} s; injection sd (one sampling step) {width:.3f} s")

fig, (top, bottom) = fit.plot(window.t, window.signal)
top.set_title("Fitted peaks, baseline and residual")

# %%
# The peak table
# --------------
# Retention time (apex), area with its standard error, height, width at half height, USP
# tailing factor, plate number and resolution to the next peak, from the fitted model.
columns = [
    "retention_time",
    "area",
    "area_stderr",
    "height",
    "width_half_height",
    "tailing_factor",
    "plates",
    "resolution_next",
]
print(fit.peak_table_[columns].round(3).to_string())
plt.show()
