"""Pure JAX pieces of the forecaster: MLP encoder, GMM heads, loss and an Adam training chunk.

Everything works in the agent frame (origin at the present position, x-axis along the
present heading estimate) and in normalised units: lengths in units of the training data's
step length ``ell`` (the RMS distance between consecutive positions), times in steps. The
estimator scales and rotates inputs in and predictions out, so that the fitted model does not
depend on the units of the positions or of the time step.

The batch (agent) axis of every array is padded to a bucket size by the estimator; ``mask``
(1 for a real agent, 0 for padding) keeps padded agents out of every sum, and the number of
real agents ``n_real`` is a traced value, so one compiled program serves every data size in a
bucket.
"""

from __future__ import annotations

import dataclasses
from functools import partial

import jax
import jax.numpy as jnp
import optax
from jax.scipy.special import logsumexp

from mixtures import gaussian
from solvers.kinematic import _core
from solvers.kinematic.propagation import trajectory_nll

# The dimensionless scales below are the former metric defaults, tuned on cars at 6-12 m/s
# sampled every 0.25 s, expressed in units of that data's step length (about 2.25 m) and of
# one step: a speed of 1 m/s is 1/9 step length per step, an acceleration of 1 m/s^2 is 1/36.
# Action means: (first, second) component scale per formulation.
_MEAN_SCALE = {
    "velocity": (0.55, 0.55),
    "acceleration": (0.083, 0.083),
    "speed_heading": (0.55, 1.0),
    "acceleration_steering": (0.083, 1.0),
}
# Action standard deviations: scale per component (angles in rad).
_STD_SCALE = {
    "velocity": (0.11, 0.11),
    "acceleration": (0.028, 0.028),
    "speed_heading": (0.11, 0.2),
    "acceleration_steering": (0.028, 0.05),
}
MAX_STEER = 0.6  # rad, bound on the steering angle (dimensionless: a bound on tan(delta))
POS_SD0 = 0.022  # initial position sd (step lengths)
SPEED_SD0 = 0.033  # initial speed sd (step lengths per step)
HEADING_SD0 = 0.02  # initial heading sd (rad)
POS_FLOOR = 0.002  # floor on the position variances (squared step lengths)
STD_FLOOR = 0.05  # floor on the action standard deviations, in units of their scale
FEATURE_SCALE = 4.4  # step lengths: encoder inputs and free-head means are O(1) in this unit
FREE_SD = 0.44  # step lengths: scale of the free head's standard deviations
#: default wheelbase in step lengths (a car's 2.8 m over its 2.25 m step)
WHEELBASE_STEPS = 1.24


@dataclasses.dataclass(frozen=True)
class Config:
    """Static settings of the network (hashable: used as a jit static argument)."""

    n_modes: int
    horizon: int
    prior: str
    formulation: str
    hidden: int


def n_outputs(cfg: Config) -> int:
    per_step = 4 if cfg.prior == "kinematic" else 5
    return cfg.n_modes * (1 + per_step * cfg.horizon)


def init_params(key, n_in: int, cfg: Config, dtype):
    """Two-hidden-layer MLP; the output layer starts small (near constant-velocity)."""
    sizes = [n_in, cfg.hidden, cfg.hidden, n_outputs(cfg)]
    keys = jax.random.split(key, len(sizes) - 1)
    params = []
    for i, (k, a, b) in enumerate(zip(keys, sizes[:-1], sizes[1:])):
        scale = (0.01 if i == len(sizes) - 2 else 1.0) * jnp.sqrt(2.0 / a)
        params.append({"W": scale * jax.random.normal(k, (a, b), dtype), "b": jnp.zeros(b, dtype)})
    return params


def _mlp(params, x):
    for layer in params[:-1]:
        x = jax.nn.gelu(x @ layer["W"] + layer["b"])
    return x @ params[-1]["W"] + params[-1]["b"]


def _kinematic_head(raw, v0, wheelbase, cfg: Config):
    """Per-mode action Gaussians -> propagated position Gaussians (agent frame, normalised
    units: ``v0`` in step lengths per step, ``wheelbase`` in step lengths, time step 1)."""
    K, T, f = cfg.n_modes, cfg.horizon, cfg.formulation
    raw = raw.reshape(K, T, 4)
    ms, ss = _MEAN_SCALE[f], _STD_SCALE[f]
    r0, r1 = raw[..., 0], raw[..., 1]
    if f == "acceleration_steering":
        mu = jnp.stack([ms[0] * r0, MAX_STEER * jnp.tanh(r1)], axis=-1)
    elif f in ("speed_heading", "velocity"):  # first action component is a speed
        mu = jnp.stack([v0 + ms[0] * r0, ms[1] * r1], axis=-1)
    else:
        mu = jnp.stack([ms[0] * r0, ms[1] * r1], axis=-1)
    scale = jnp.stack([ss[0], ss[1]])
    std = scale * (jax.nn.softplus(raw[..., 2:] - 1.0) + STD_FLOOR)
    Q = jax.vmap(jax.vmap(jnp.diag))(std**2)
    dtype = raw.dtype
    zero = jnp.zeros_like(v0)
    if f in ("velocity", "acceleration"):  # state (x, y, v_x, v_y)
        m0 = jnp.stack([zero, zero, v0, zero])
        P0 = jnp.diag(jnp.array([POS_SD0, POS_SD0, SPEED_SD0, SPEED_SD0], dtype) ** 2)
    else:  # state (x, y, theta, v)
        m0 = jnp.stack([zero, zero, zero, v0])
        P0 = jnp.diag(jnp.array([POS_SD0, POS_SD0, HEADING_SD0, SPEED_SD0], dtype) ** 2)
    wheelbase = jnp.asarray(wheelbase, dtype)
    p = _core.Params(wheelbase, 0.5 * wheelbase, jnp.ones((), dtype), "rear_axle")
    means, covs = jax.vmap(
        lambda a, b: _core.propagate_one(m0, P0, a, b, p, f, "full", "linear")
    )(mu, Q)
    return means[..., :2], covs[..., :2, :2]  # (K, T, 2), (K, T, 2, 2)


def _free_head(raw, cfg: Config):
    """Directly predicted position Gaussians (no kinematic prior), agent frame."""
    raw = raw.reshape(cfg.n_modes, cfg.horizon, 5)
    mean = FEATURE_SCALE * raw[..., :2]
    sd = FREE_SD * jax.nn.softplus(raw[..., 2:4]) + 1e-3 * FREE_SD
    rho = 0.95 * jnp.tanh(raw[..., 4])
    off = rho * sd[..., 0] * sd[..., 1]
    cov = jnp.stack(
        [jnp.stack([sd[..., 0] ** 2, off], -1), jnp.stack([off, sd[..., 1] ** 2], -1)], -2
    )
    return mean, cov


@partial(jax.jit, static_argnames=("cfg",))
def forecast(params, feats, v0, wheelbase, cfg: Config):
    """Position mixtures per step, agent frame, normalised units.

    Parameters
    ----------
    feats : (n, n_in) encoder input; v0 : (n,) present speed estimate (step lengths per
    step); wheelbase : scalar (step lengths).

    Returns
    -------
    mixtures.gaussian.GMM with log_weights (n, T, K), means (n, T, K, 2),
    covariances (n, T, K, 2, 2).
    """
    out = _mlp(params, feats)
    K = cfg.n_modes
    logits, raw = out[:, :K], out[:, K:]
    if cfg.prior == "kinematic":
        mean, cov = jax.vmap(lambda r, v: _kinematic_head(r, v, wheelbase, cfg))(raw, v0)
    else:
        mean, cov = jax.vmap(lambda r: _free_head(r, cfg))(raw)
    cov = cov + POS_FLOOR * jnp.eye(2, dtype=cov.dtype)
    logw = logits - logsumexp(logits, axis=-1, keepdims=True)
    T = cfg.horizon
    return gaussian.GMM(
        jnp.broadcast_to(logw[:, None, :], (logw.shape[0], T, K)),
        jnp.swapaxes(mean, 1, 2),
        jnp.swapaxes(cov, 1, 2),
        "full",
    )


@partial(jax.jit, static_argnames=("cfg",))
def track_nll(params, feats, v0, future, wheelbase, cfg: Config):
    """Trajectory-level NLL per agent (n,), normalised units; ``future`` (n, T, 2) in the
    agent frame."""
    return trajectory_nll(forecast(params, feats, v0, wheelbase, cfg), future)


def weight_penalty(params):
    """Half the sum of the squared weight matrices (biases excluded)."""
    return 0.5 * sum(jnp.sum(layer["W"] ** 2) for layer in params)


def _objective(params, feats, v0, future, weights, wheelbase, cfg: Config, alpha, n_total):
    """Weighted mean NLL (``weights`` sum to one over the batch) plus the L2 penalty
    ``alpha * weight_penalty / n_total`` (a Gaussian prior of precision ``alpha`` on the
    weights, shared over the ``n_total`` training tracks); returns (objective, mean NLL)."""
    nll = jnp.sum(weights * track_nll(params, feats, v0, future, wheelbase, cfg))
    return nll + alpha * weight_penalty(params) / n_total, nll


@partial(jax.jit, static_argnames=("cfg", "chunk", "batch_size"))
def train_chunk(params, opt_state, key, feats, v0, future, mask, wheelbase, n_steps,
                learning_rate, alpha, cfg: Config, chunk, batch_size):
    """Up to ``chunk`` Adam steps (the first ``n_steps``, a traced count, are run).

    Minibatches of ``batch_size`` real agents are drawn with replacement from the first
    ``sum(mask)`` rows (``batch_size=0``: the full batch, padded rows weighted zero); the
    objective is the mean NLL plus ``alpha / n_real`` times :func:`weight_penalty`. Returns
    the new state and the mean NLL (without the penalty) of each step, shape ``(chunk,)``;
    entries past ``n_steps`` are zero.
    """
    opt = optax.adam(learning_rate)
    n_real = jnp.sum(mask)
    keys = jax.random.split(key, chunk)

    def body(i, carry):
        params, opt_state, values = carry
        if batch_size:
            idx = jax.random.randint(keys[i], (batch_size,), 0, n_real.astype(jnp.int32))
            batch = (feats[idx], v0[idx], future[idx])
            weights = jnp.full((batch_size,), 1.0 / batch_size, feats.dtype)
        else:
            batch = (feats, v0, future)
            weights = mask / n_real
        (_, value), grads = jax.value_and_grad(_objective, has_aux=True)(
            params, *batch, weights, wheelbase, cfg, alpha, n_real
        )
        updates, opt_state = opt.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, values.at[i].set(value)

    values = jnp.zeros((chunk,), feats.dtype)
    params, opt_state, values = jax.lax.fori_loop(
        0, n_steps, body, (params, opt_state, values)
    )
    return params, opt_state, values
