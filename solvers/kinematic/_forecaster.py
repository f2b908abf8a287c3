"""Pure JAX pieces of the forecaster: MLP encoder, GMM heads, loss and an Adam training chunk.

Everything works in the agent frame (origin at the present position, x-axis along the
present heading estimate) and in normalised units: lengths in units of the training data's
step length ``ell`` (the RMS distance between consecutive positions), times in steps. The
estimator scales and rotates inputs in and predictions out, so that the fitted model does not
depend on the units of the positions or of the time step.

The kinematic head predicts corrections to the action distribution of the fitted
:class:`KinematicPropagation` baseline: zero network outputs reproduce the baseline, and the
weight penalty shrinks towards it.

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
import numpy as np
import optax

from mixtures import gaussian
from solvers.kinematic import _core, _tracks
from solvers.kinematic.baselines import drift_growth
from solvers.kinematic.propagation import trajectory_nll

STD_FLOOR = 0.05  # floor on the action standard deviations, in units of the baseline's
POS_FLOOR = 0.002  # free head: floor on the position variances (squared step lengths)
WHEELBASE_STEPS = _tracks.WHEELBASE_STEPS
_SOFTPLUS_ONE = float(np.log(np.e - 1.0))  # softplus(_SOFTPLUS_ONE) == 1

#: order of the physics vector ``phys`` passed to the heads: the baseline's log noise levels
#: (acceleration, steering at a unit wheelbase, drift, measurement, initial factor), the
#: wheelbase and the steering bound (step lengths, rad), the free head's mean scale, and the
#: units of the two action-mean corrections (from the training futures' actions)
PHYS_SIZE = 10


@dataclasses.dataclass(frozen=True)
class Config:
    """Static settings of the network (hashable: used as a jit static argument)."""

    n_modes: int
    horizon: int
    prior: str
    formulation: str
    hidden: int


def n_outputs(cfg: Config) -> int:
    per_step = 5
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


def _scaled_sd(raw, base):
    """``base * (STD_FLOOR + (1 - STD_FLOOR) * softplus(raw + c))``: ``base`` at ``raw = 0``."""
    return base * (STD_FLOOR + (1.0 - STD_FLOOR) * jax.nn.softplus(raw + _SOFTPLUS_ONE))


def _cartesian(m0, P0):
    """``(x, y, theta, v)`` -> ``(x, y, v_x, v_y)`` mean and first-order covariance."""
    th, v = m0[2], m0[3]
    c, s = jnp.cos(th), jnp.sin(th)
    z, o = jnp.zeros_like(th), jnp.ones_like(th)
    J = jnp.array([[o, z, z, z], [z, o, z, z], [z, z, -v * s, c], [z, z, v * c, s]])
    return jnp.stack([m0[0], m0[1], v * c, v * s]), J @ P0 @ J.T


def _kinematic_head(raw, m0, P0, phys, cfg: Config):
    """Corrections to the baseline's action distribution -> propagated position Gaussians.

    Agent frame, normalised units (step lengths, time step 1). ``raw`` (K * T * 5,) network
    outputs (per mode and step: two action-mean corrections, two factors on the action
    standard deviations, one factor on the spread the bicycle does not model); ``m0``
    (4,), ``P0`` (4, 4) the filtered initial state ``(x, y, theta, v)``; ``phys`` the
    baseline's physics (:data:`PHYS_SIZE`). At ``raw = 0`` every mode is the
    fitted :class:`KinematicPropagation` baseline (exactly for ``acceleration_steering``):
    zero-mean actions with the baseline's standard deviations.
    """
    K, T, f = cfg.n_modes, cfg.horizon, cfg.formulation
    raw = raw.reshape(K, T, 5)
    s = jnp.exp(phys[:5])
    s_a, s_1, s_w, s_m, s_0 = s[0], s[1], s[2], s[3], s[4]
    wheelbase, max_steer = phys[5], phys[6]
    # mean corrections in units of the training futures' actions (never below the noise)
    u_a, u_1 = jnp.maximum(phys[8], s_a), jnp.maximum(phys[9], s_1)
    r0, r1 = raw[..., 0], raw[..., 1]
    # the fifth output scales the variance the bicycle does not model: the initial state's
    # (first step) and the drift and measurement terms' (every step), per mode
    spread = _scaled_sd(raw[..., 4], 1.0)  # (K, T), 1 at raw = 0
    P0 = s_0**2 * P0
    if f == "acceleration_steering":
        s_d = s_1 * wheelbase  # steering sd giving the baseline's yaw noise at this wheelbase
        u_d = jnp.maximum(phys[9], s_d)
        mu = jnp.stack([u_a * r0, max_steer * jnp.tanh(u_d * r1 / max_steer)], axis=-1)
        base = jnp.stack([s_a, s_d])
    elif f == "speed_heading":
        mu = jnp.stack([m0[3] + u_a * r0, m0[2] + u_1 * r1], axis=-1)
        base = jnp.stack([s_a, s_1])
    else:
        m0, P0 = _cartesian(m0, P0)
        shift = m0[2:] if f == "velocity" else jnp.zeros(2, raw.dtype)
        mu = shift + jnp.stack([u_a * r0, jnp.maximum(phys[9], s_a) * r1], axis=-1)
        base = jnp.stack([s_a, s_a])
    std = _scaled_sd(raw[..., 2:4], base)
    Q = jax.vmap(jax.vmap(jnp.diag))(std**2)
    p = _core.Params(wheelbase, 0.5 * wheelbase, jnp.ones((), raw.dtype), "rear_axle")
    means, covs = jax.vmap(
        lambda a, b, c: _core.propagate_one(m0, c**2 * P0, a, b, p, f, "full", "linear")
    )(mu, Q, spread[:, 0])
    growth = jnp.asarray(drift_growth(T), raw.dtype)
    extra = (spread**2 * (growth * s_w**2 + s_m**2))[..., None, None] * jnp.eye(2, dtype=raw.dtype)
    return means[..., :2], covs[..., :2, :2] + extra  # (K, T, 2), (K, T, 2, 2)


def _free_head(raw, phys, cfg: Config):
    """Directly predicted position Gaussians (no kinematic prior), agent frame; ``phys[7]``
    is the RMS future position of the training tracks (step lengths), the unit of the
    means."""
    raw = raw.reshape(cfg.n_modes, cfg.horizon, 5)
    scale = phys[7]
    mean = scale * raw[..., :2]
    sd = 0.1 * scale * jax.nn.softplus(raw[..., 2:4]) + 1e-3 * scale
    rho = 0.95 * jnp.tanh(raw[..., 4])
    off = rho * sd[..., 0] * sd[..., 1]
    cov = jnp.stack(
        [jnp.stack([sd[..., 0] ** 2, off], -1), jnp.stack([off, sd[..., 1] ** 2], -1)], -2
    )
    return mean, cov + POS_FLOOR * jnp.eye(2, dtype=cov.dtype)


@partial(jax.jit, static_argnames=("cfg",))
def forecast(params, feats, m0, P0, phys, cfg: Config):
    """Position mixtures per step, agent frame, normalised units.

    Parameters
    ----------
    feats : (n, n_in) scaled encoder input; m0 : (n, 4), P0 : (n, 4, 4) filtered
    initial states ``(x, y, theta, v)``; phys : (PHYS_SIZE,) the baseline's physics.

    Returns
    -------
    mixtures.gaussian.GMM with log_weights (n, T, K), means (n, T, K, 2),
    covariances (n, T, K, 2, 2).
    """
    out = _mlp(params, feats)
    K = cfg.n_modes
    logits, raw = out[:, :K], out[:, K:]
    if cfg.prior == "kinematic":
        mean, cov = jax.vmap(lambda r, m, P: _kinematic_head(r, m, P, phys, cfg))(raw, m0, P0)
    else:
        mean, cov = jax.vmap(lambda r: _free_head(r, phys, cfg))(raw)
    logw = jax.nn.log_softmax(logits, axis=-1)
    T = cfg.horizon
    return gaussian.GMM(
        jnp.broadcast_to(logw[:, None, :], (logw.shape[0], T, K)),
        jnp.swapaxes(mean, 1, 2),
        jnp.swapaxes(cov, 1, 2),
        "full",
    )


@partial(jax.jit, static_argnames=("cfg",))
def track_nll(params, feats, m0, P0, future, phys, cfg: Config):
    """Trajectory-level NLL per agent (n,), normalised units; ``future`` (n, T, 2) in the
    agent frame."""
    return trajectory_nll(forecast(params, feats, m0, P0, phys, cfg), future)


def weight_penalty(params):
    """Half the sum of the squared weight matrices (biases excluded)."""
    return 0.5 * sum(jnp.sum(layer["W"] ** 2) for layer in params)


def _objective(params, feats, m0, P0, future, weights, phys, cfg: Config, alpha, n_total):
    """Weighted mean NLL (``weights`` sum to one over the batch) plus the L2 penalty
    ``alpha * weight_penalty / n_total`` (a Gaussian prior of precision ``alpha`` on the
    weights, shared over the ``n_total`` training tracks); returns (objective, mean NLL)."""
    nll = jnp.sum(weights * track_nll(params, feats, m0, P0, future, phys, cfg))
    return nll + alpha * weight_penalty(params) / n_total, nll


@partial(jax.jit, static_argnames=("cfg", "chunk", "batch_bucket"))
def train_chunk(
    params,
    opt_state,
    key,
    feats,
    m0,
    P0,
    future,
    mask,
    phys,
    n_steps,
    learning_rate,
    alpha,
    batch_size,
    cfg: Config,
    chunk,
    batch_bucket,
):
    """Up to ``chunk`` Adam steps (the first ``n_steps``, a traced count, are run).

    Minibatches of ``batch_size`` (traced) real agents are drawn with replacement from the
    first ``sum(mask)`` rows into a buffer of ``batch_bucket`` rows (static; unused rows
    weigh zero, so batch sizes within a bucket share the compiled code; ``batch_bucket=0``:
    the full batch, padded rows weighted zero); the objective is the mean NLL plus
    ``alpha / n_real`` times :func:`weight_penalty`. Returns the new state and the mean NLL
    (without the penalty) of each step, shape ``(chunk,)``; entries past ``n_steps`` are
    zero.
    """
    opt = optax.adam(learning_rate)
    n_real = jnp.sum(mask)
    keys = jax.random.split(key, chunk)

    def body(i, carry):
        params, opt_state, values = carry
        if batch_bucket:
            idx = jax.random.randint(keys[i], (batch_bucket,), 0, n_real.astype(jnp.int32))
            batch = (feats[idx], m0[idx], P0[idx], future[idx])
            weights = (jnp.arange(batch_bucket) < batch_size) / batch_size
        else:
            batch = (feats, m0, P0, future)
            weights = mask / n_real
        (_, value), grads = jax.value_and_grad(_objective, has_aux=True)(
            params, *batch, weights.astype(feats.dtype), phys, cfg, alpha, n_real
        )
        updates, opt_state = opt.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, values.at[i].set(value)

    values = jnp.zeros((chunk,), feats.dtype)
    params, opt_state, values = jax.lax.fori_loop(0, n_steps, body, (params, opt_state, values))
    return params, opt_state, values
