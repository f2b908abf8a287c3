"""Pure JAX pieces of the forecaster: MLP encoder, GMM heads, loss and an Adam training chunk.

Everything works in the agent frame (origin at the present position, x-axis along the
present heading estimate); the estimator rotates inputs in and predictions out.
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

# action parametrisation per formulation: (offset uses v0?, mean scale, std scale)
_MEAN_SCALE = {
    "velocity": (5.0, 5.0),
    "acceleration": (3.0, 3.0),
    "speed_heading": (5.0, 1.0),
    "acceleration_steering": (3.0, 1.0),
}
_STD_SCALE = {
    "velocity": (1.0, 1.0),
    "acceleration": (1.0, 1.0),
    "speed_heading": (1.0, 0.2),
    "acceleration_steering": (1.0, 0.05),
}
MAX_STEER = 0.6  # rad, bound on the steering angle
POS_FLOOR = 0.01  # m^2, floor on the position variances
STD_FLOOR = 0.05  # floor on the action standard deviations, in units of their scale
FEATURE_SCALE = 10.0  # m


@dataclasses.dataclass(frozen=True)
class Config:
    """Static settings of the network (hashable: used as a jit static argument)."""

    n_modes: int
    horizon: int
    prior: str
    formulation: str
    dt: float
    wheelbase: float
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


def _kinematic_head(raw, v0, cfg: Config):
    """Per-mode action Gaussians -> propagated position Gaussians (agent frame)."""
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
        P0 = jnp.diag(jnp.array([0.05**2, 0.05**2, 0.3**2, 0.3**2], dtype))
    else:  # state (x, y, theta, v)
        m0 = jnp.stack([zero, zero, zero, v0])
        P0 = jnp.diag(jnp.array([0.05**2, 0.05**2, 0.02**2, 0.3**2], dtype))
    p = _core.Params(jnp.asarray(cfg.wheelbase, dtype), jnp.asarray(0.5 * cfg.wheelbase, dtype),
                     jnp.asarray(cfg.dt, dtype), "rear_axle")
    means, covs = jax.vmap(
        lambda a, b: _core.propagate_one(m0, P0, a, b, p, f, "full", "linear")
    )(mu, Q)
    return means[..., :2], covs[..., :2, :2]  # (K, T, 2), (K, T, 2, 2)


def _free_head(raw, cfg: Config):
    """Directly predicted position Gaussians (no kinematic prior), agent frame."""
    raw = raw.reshape(cfg.n_modes, cfg.horizon, 5)
    mean = FEATURE_SCALE * raw[..., :2]
    sd = jax.nn.softplus(raw[..., 2:4]) + 1e-3
    rho = 0.95 * jnp.tanh(raw[..., 4])
    off = rho * sd[..., 0] * sd[..., 1]
    cov = jnp.stack(
        [jnp.stack([sd[..., 0] ** 2, off], -1), jnp.stack([off, sd[..., 1] ** 2], -1)], -2
    )
    return mean, cov


@partial(jax.jit, static_argnames=("cfg",))
def forecast(params, feats, v0, cfg: Config):
    """Position mixtures per step, agent frame.

    Parameters
    ----------
    feats : (n, n_in) encoder input; v0 : (n,) present speed estimate (m/s).

    Returns
    -------
    mixtures.gaussian.GMM with log_weights (n, T, K), means (n, T, K, 2),
    covariances (n, T, K, 2, 2).
    """
    out = _mlp(params, feats)
    K = cfg.n_modes
    logits, raw = out[:, :K], out[:, K:]
    if cfg.prior == "kinematic":
        mean, cov = jax.vmap(lambda r, v: _kinematic_head(r, v, cfg))(raw, v0)
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
def loss(params, feats, v0, future, cfg: Config):
    """Mean trajectory-level NLL; ``future`` (n, T, 2) in the agent frame."""
    return jnp.mean(trajectory_nll(forecast(params, feats, v0, cfg), future))


def weight_penalty(params):
    """Half the sum of the squared weight matrices (biases excluded)."""
    return 0.5 * sum(jnp.sum(layer["W"] ** 2) for layer in params)


def _objective(params, feats, v0, future, cfg: Config, alpha, n_total):
    """Mean NLL plus the L2 penalty ``alpha * weight_penalty / n_total`` (a Gaussian prior of
    precision ``alpha`` on the weights, shared over the ``n_total`` training tracks); returns
    (objective, mean NLL)."""
    nll = loss(params, feats, v0, future, cfg)
    return nll + alpha * weight_penalty(params) / n_total, nll


@partial(jax.jit, static_argnames=("cfg", "n_steps", "learning_rate", "batch_size"))
def train_chunk(params, opt_state, key, feats, v0, future, cfg: Config, n_steps, learning_rate,
                batch_size, alpha=0.0):
    """``n_steps`` Adam steps on minibatches of ``batch_size`` agents drawn with replacement
    (``batch_size=0``: the full batch) minimising the mean NLL plus ``alpha / n_agents`` times
    :func:`weight_penalty`; returns the new state and the mean NLL (without the penalty) per
    step."""
    opt = optax.adam(learning_rate)
    n = feats.shape[0]

    def body(carry, k):
        params, opt_state = carry
        if batch_size:
            idx = jax.random.randint(k, (batch_size,), 0, n)
            batch = (feats[idx], v0[idx], future[idx])
        else:
            batch = (feats, v0, future)
        (_, value), grads = jax.value_and_grad(_objective, has_aux=True)(
            params, *batch, cfg, alpha, n
        )
        updates, opt_state = opt.update(grads, opt_state, params)
        return (optax.apply_updates(params, updates), opt_state), value

    keys = jax.random.split(key, n_steps)
    (params, opt_state), values = jax.lax.scan(body, (params, opt_state), keys)
    return params, opt_state, values
