"""
GP-HM on a multi-scale 1-D Poisson equation
===========================================

Solve ``u_xx = f`` on ``[0, 1]`` whose exact solution mixes three scales,

.. math:: u(x) = \\sin x + 0.1 \\sin 20x + 0.05 \\sin 100x,

with a Gaussian process whose kernel is a learned spectral mixture (GP-HM, Student-t
components). We show the solution, its pointwise error, and the learned spectrum (component
weights against their frequencies) beside the solution's true frequencies
``1 / 2 pi``, ``20 / 2 pi`` and ``100 / 2 pi`` cycles per unit length.
"""

# %%
# Fit
# ---
# 200 collocation points, 20 spectral components initialised from 0 to 30 cycles per unit
# length, 600 outer iterations (each solves for the grid values exactly and takes one Adam
# step on the kernel).
import warnings

import matplotlib.pyplot as plt
import numpy as np

from mixtures import ConvergenceWarning
from solvers.gp_pde import SpectralMixtureGPSolver, problems

problem = problems.poisson_1d_multiscale()
solver = SpectralMixtureGPSolver(
    n_components=20,
    spectral="student_t",
    grid=200,
    max_iter=600,
    max_frequency=30.0,
    random_state=0,
)
with warnings.catch_warnings():
    warnings.simplefilter("ignore", ConvergenceWarning)
    solver.fit(problem)
print(
    f"relative L2 error: {solver.relative_l2_error():.2e} (state of iteration "
    f"{solver.best_iter_} of {solver.n_iter_}, chosen by the held-out PDE residual)"
)

# %%
# Solution and error
# ------------------
x = np.linspace(0.0, 1.0, 2000)[:, None]
u_hat, u_std = solver.predict(x, return_std=True)
u_true = problem.solution(x)

fig, axes = plt.subplots(2, 1, figsize=(8, 6), sharex=True)
axes[0].plot(x[:, 0], u_true, "k-", lw=2.5, alpha=0.4, label="exact")
axes[0].plot(x[:, 0], u_hat, "C0-", lw=1, label="GP-HM")
axes[0].set_ylabel("u(x)")
axes[0].legend()
axes[1].semilogy(x[:, 0], np.abs(u_hat - u_true), "C3-", lw=1)
axes[1].set_xlabel("x")
axes[1].set_ylabel("|error|")
axes[0].set_title("Multi-scale Poisson: solution and pointwise error")
fig.tight_layout()

# %%
# Learned spectrum
# ----------------
# Log-domain weights (a Jeffreys prior) shrink the components that the solution does not
# need; the heavy ones move to the solution's frequencies.
true_freqs = np.array([1.0, 20.0, 100.0]) / (2 * np.pi)
fig, ax = plt.subplots(figsize=(8, 3.5))
ax.stem(solver.frequencies_[0], solver.weights_[0], basefmt=" ", label="learned components")
for k, f in enumerate(true_freqs):
    ax.axvline(f, color="k", ls="--", lw=1, label="true frequencies" if k == 0 else None)
ax.set_yscale("log")
ax.set_xlabel("frequency (cycles per unit length)")
ax.set_ylabel("weight")
ax.legend()
ax.set_title("Learned spectral mixture vs the solution's frequencies")
fig.tight_layout()

# %%
# Which state is returned
# -----------------------
# Every 25 iterations the fit scores its state by the root-mean-square PDE residual
# ``u_xx - f`` at the midpoints between collocation points: points the fit never saw, and a
# score that needs the equation only, never the exact solution. The best state is returned
# (``checkpoint="residual"``, the default).
iters = np.minimum(25 * np.arange(1, solver.checkpoint_scores_.size + 1), solver.n_iter_)
fig, ax = plt.subplots(figsize=(8, 3))
ax.semilogy(iters, solver.checkpoint_scores_, "C0o-", ms=3, label="held-out residual (RMS)")
ax.axvline(solver.best_iter_, color="C3", ls="--", lw=1, label="returned state")
ax.set_xlabel("outer iteration")
ax.set_ylabel("RMS of u_xx - f at midpoints")
ax.legend()
ax.set_title("Checkpoint selection without the exact solution")
fig.tight_layout()
plt.show()
