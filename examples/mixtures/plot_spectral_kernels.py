"""
Spectral densities and their kernels
====================================

A stationary kernel is the Fourier transform of a spectral density (Wiener-Khinchin). A
*mixture* spectral density gives a kernel that is a sum of modulated envelopes, one per
component: Gaussian components give squared-exponential envelopes, Student-t components
(5 degrees of freedom) give Matern-5/2 envelopes. This is the kernel family behind the GP-HM
PDE solver (``solvers.gp_pde``).
"""

# %%
# Two spectral mixtures with the same frequencies and scales
# ----------------------------------------------------------
import jax.numpy as jnp
import matplotlib.pyplot as plt
import numpy as np

import mixtures
from mixtures import kronecker, spectral

mixtures.enable_x64()

weights = jnp.array([0.6, 0.3, 0.1])
freqs = jnp.array([0.0, 2.0, 6.0])  # cycles per unit length
scales = jnp.array([0.3, 0.25, 0.4])
sms = {
    kind: spectral.SpectralMixture(jnp.log(weights), freqs, jnp.log(scales), kind)
    for kind in spectral.KINDS
}

s = np.linspace(-10, 10, 2001)
tau = np.linspace(-3, 3, 1201)
fig, axes = plt.subplots(1, 2, figsize=(11, 4))
for kind, sm in sms.items():
    axes[0].semilogy(s, spectral.spectral_density(s, sm), label=kind)
    axes[1].plot(tau, spectral.kernel(tau, sm), label=kind)
axes[0].set(
    xlabel="frequency s (cycles / unit)", ylabel="S(s)", title="spectral densities", ylim=(1e-5, 2)
)
axes[1].set(xlabel="lag tau", ylabel="k(tau)", title="kernels (inverse Fourier transforms)")
for ax in axes:
    ax.legend()
fig.tight_layout()

# %%
# The kernel is the inverse Fourier transform of the density
# ----------------------------------------------------------
# A numerical inverse transform of the density (a plain Riemann sum on a fine frequency grid)
# lies on top of the closed form.
s_fine = np.linspace(-60, 60, 240_001)
ds = s_fine[1] - s_fine[0]
fig, ax = plt.subplots(figsize=(6, 4))
for (kind, sm), color in zip(sms.items(), ["C0", "C1"]):
    dens = np.asarray(spectral.spectral_density(s_fine, sm))
    t_pts = tau[::60]
    numeric = [np.sum(dens * np.cos(2 * np.pi * s_fine * t)) * ds for t in t_pts]
    ax.plot(tau, spectral.kernel(tau, sm), color=color, label=f"{kind}: closed form")
    ax.plot(t_pts, numeric, "o", color=color, mfc="none", label=f"{kind}: numerical FT")
ax.set(xlabel="lag tau", ylabel="k(tau)")
ax.legend(fontsize=8)
fig.tight_layout()

# %%
# Samples from the two Gaussian processes
# ---------------------------------------
# Heavier spectral tails (Student-t) put more power at high frequencies: rougher paths.
x = np.linspace(0, 4, 400)
rng = np.random.default_rng(0)
z = rng.normal(size=(len(x), 2))
fig, ax = plt.subplots(figsize=(8, 3.5))
for (kind, sm), ls in zip(sms.items(), ["-", "--"]):
    K = np.asarray(spectral.gram(x, x, sm)) + 1e-9 * np.eye(len(x))
    L = np.linalg.cholesky(K)
    ax.plot(x, L @ z[:, 0], ls, label=kind)
ax.set(xlabel="x", ylabel="u(x)", title="GP samples (same random numbers)")
ax.legend()
fig.tight_layout()

# %%
# Data on a grid: Kronecker algebra instead of a dense solve
# ----------------------------------------------------------
# On a tensor grid a product kernel has a Kronecker Gram matrix ``K_x (x) K_y``, so the GP's
# log marginal likelihood and posterior mean cost a few small eigendecompositions instead of
# one factorisation of the full ``n x n`` matrix (:mod:`mixtures.kronecker`; GP-HM uses the
# same structure). We draw a field with frequency 1.5 along x, add noise, and scan the
# frequency of the x-kernel by the exact log marginal likelihood: it peaks at the truth. The
# posterior mean is one Kronecker solve.
gx, gy = np.linspace(0, 3, 40), np.linspace(0, 2, 30)


def sm_1d(freq, scale):
    return spectral.SpectralMixture(jnp.zeros(1), jnp.array([freq]), jnp.log(jnp.array([scale])))


def factors(freq):
    return [
        spectral.gram(gx, gx, sm_1d(freq, 0.15)),
        spectral.gram(gy, gy, sm_1d(0.0, 0.4)),
    ]


noise = 0.05
field = np.asarray(
    kronecker.kron_matvec(
        [np.linalg.cholesky(np.asarray(F) + 1e-8 * np.eye(len(F))) for F in factors(1.5)],
        rng.normal(size=gx.size * gy.size),
    )
)
y = field + np.sqrt(noise) * rng.normal(size=field.size)
freqs_scan = np.linspace(0.5, 3.0, 26)
lml = [float(kronecker.kron_mvn_logpdf(y, factors(f), noise)) for f in freqs_scan]
best = freqs_scan[int(np.argmax(lml))]
post_mean = np.asarray(
    kronecker.kron_matvec(factors(best), kronecker.kron_solve(factors(best), y, noise))
)
print(f"frequency with the highest marginal likelihood: {best:.2f} (truth 1.5)")
print(f"RMS error of the posterior mean against the noise-free field: "
      f"{np.sqrt(np.mean((post_mean - field) ** 2)):.3f} (noise sd {np.sqrt(noise):.3f})")

fig, axes = plt.subplots(1, 3, figsize=(12, 3.4))
axes[0].plot(freqs_scan, lml)
axes[0].axvline(1.5, color="k", ls=":", label="truth")
axes[0].set(xlabel="frequency along x", ylabel="log marginal likelihood")
axes[0].legend()
for ax, img, title in zip(axes[1:], [y, post_mean], ["noisy data", "posterior mean"]):
    ax.imshow(img.reshape(gx.size, gy.size).T, origin="lower", extent=(0, 3, 0, 2), aspect="auto")
    ax.set(xlabel="x", ylabel="y", title=title)
fig.tight_layout()
plt.show()
