"""Public functional API: the bicycle model, moment propagation and position mixtures."""

from __future__ import annotations

import dataclasses
import math
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.special import logsumexp

from mixtures import as_key, gaussian
from mixtures.base import check_array, check_option, check_scalar, check_spd
from solvers.kinematic import _core
from solvers.kinematic._core import FORMULATIONS, REFERENCES

__all__ = [
    "FORMULATIONS",
    "METHODS",
    "BicycleModel",
    "propagate",
    "propagate_mixture",
    "trajectory_nll",
]

#: every accepted value of ``formulation``: the analytical ones plus the two references
METHODS = FORMULATIONS + ("monte_carlo", "unscented")


@dataclasses.dataclass(frozen=True)
class BicycleModel:
    """Kinematic bicycle model with explicit-Euler time stepping.

    Parameters
    ----------
    wheelbase : float
        Distance L between the axles (m), > 0.
    dt : float
        Time step (s), > 0.
    reference : {"rear_axle", "centre_of_mass"}
        Reference point of the state's position. ``"rear_axle"``: the velocity points along
        the heading, ``theta' = theta + dt v tan(delta) / L``. ``"centre_of_mass"``: the
        velocity is rotated by the slip angle ``beta = atan(l_r tan(delta) / L)`` and
        ``theta' = theta + dt v cos(beta) tan(delta) / L``.
    rear_length : float, optional
        Distance l_r from the rear axle to the centre of mass (m), in (0, L]; only for
        ``reference="centre_of_mass"`` (default L / 2).

    Notes
    -----
    State ``(x, y, theta, v)`` (m, m, rad, m/s); action ``(a, delta)`` (m/s^2, rad)::

        x' = x + dt v cos(theta)        y' = y + dt v sin(theta)
        theta' = theta + dt v tan(delta) / L        v' = v + dt a

    The same object supplies ``dt`` to the other formulations of :func:`propagate`.
    """

    wheelbase: float = 2.8
    dt: float = 0.1
    reference: str = "rear_axle"
    rear_length: float | None = None

    def __post_init__(self):
        L = check_scalar(self.wheelbase, "wheelbase", low=0.0, low_open=True)
        dt = check_scalar(self.dt, "dt", low=0.0, low_open=True)
        check_option(self.reference, "reference", REFERENCES)
        if self.rear_length is None:
            lr = 0.5 * L
        else:
            lr = check_scalar(self.rear_length, "rear_length", low=0.0, high=L, low_open=True)
        object.__setattr__(self, "wheelbase", L)
        object.__setattr__(self, "dt", dt)
        object.__setattr__(self, "rear_length", lr)

    def params(self, dtype=None) -> _core.Params:
        """The model's numbers as a JAX pytree (:class:`solvers.kinematic._core.Params`)."""
        dtype = dtype or jnp.result_type(float)
        arr = lambda v: jnp.asarray(v, dtype=dtype)
        return _core.Params(
            arr(self.wheelbase), arr(self.rear_length), arr(self.dt), self.reference
        )

    def step(self, state, action):
        """Deterministic bicycle update.

        Parameters
        ----------
        state : array, shape (..., 4)
            ``(x, y, theta, v)``.
        action : array, shape (..., 2)
            ``(a, delta)``; leading dimensions broadcast against ``state``'s.

        Returns
        -------
        jax.Array, shape (..., 4)
        """
        state, action = _as_float(state), _as_float(action)
        _check_last(state, "state", (4,))
        _check_last(action, "action", (2,))
        p = self.params(state.dtype)
        fn = jnp.vectorize(lambda s, u: _core.step_bicycle(s, u, p), signature="(4),(2)->(4)")
        return fn(state, action)

    def rollout(self, state, actions):
        """Deterministic rollout: ``state`` (..., 4), ``actions`` (..., T, 2) -> (..., T, 4)."""
        state, actions = _as_float(state), _as_float(actions)
        _check_last(actions, "actions", (2,))
        steps = jnp.moveaxis(actions, -2, 0)

        def body(s, u):
            s = self.step(s, u)
            return s, s

        _, out = jax.lax.scan(
            body,
            jnp.broadcast_to(state, jnp.broadcast_shapes(state.shape, steps.shape[1:-1] + (4,))),
            steps,
        )
        return jnp.moveaxis(out, 0, -2)


# --------------------------------------------------------------------------------------------
# validation helpers
# --------------------------------------------------------------------------------------------
def _as_float(x):
    x = jnp.asarray(x)
    if not jnp.issubdtype(x.dtype, jnp.floating):
        x = x.astype(jnp.result_type(float))
    return x


def _is_concrete(*xs) -> bool:
    return not any(isinstance(x, jax.core.Tracer) for x in xs)


def _check_last(x, name, tail):
    if x.ndim < len(tail) or tuple(x.shape[x.ndim - len(tail) :]) != tuple(tail):
        want = "(..., " + ", ".join(str(t) for t in tail) + ")"
        raise ValueError(f"{name} must have shape {want}, got {tuple(x.shape)}.")


def _check_values(x, name, spd=False):
    if spd:
        check_spd(np.asarray(x, dtype=np.float64), name)
    else:
        check_array(np.asarray(x, dtype=np.float64), name, ndim=None)


def _prepare(state_mean, state_cov, action_means, action_covs, model):
    """Check shapes (always) and values (when not traced); broadcast the batch dimensions."""
    if not isinstance(model, BicycleModel):
        raise TypeError(f"model must be a BicycleModel, got {type(model).__name__}.")
    dtype = jnp.result_type(float)
    sm, sc = jnp.asarray(state_mean, dtype), jnp.asarray(state_cov, dtype)
    am, ac = jnp.asarray(action_means, dtype), jnp.asarray(action_covs, dtype)
    _check_last(sm, "state_mean", (4,))
    _check_last(sc, "state_cov", (4, 4))
    _check_last(am, "action_means", (2,))
    if am.ndim < 2:
        raise ValueError(f"action_means must have shape (..., T, 2), got {tuple(am.shape)}.")
    _check_last(ac, "action_covs", (am.shape[-2], 2, 2))
    try:
        batch = jnp.broadcast_shapes(sm.shape[:-1], sc.shape[:-2], am.shape[:-2], ac.shape[:-3])
    except ValueError:
        raise ValueError(
            "the leading (batch) dimensions of state_mean, state_cov, action_means and "
            f"action_covs do not broadcast: {sm.shape[:-1]}, {sc.shape[:-2]}, "
            f"{am.shape[:-2]}, {ac.shape[:-3]}."
        ) from None
    if _is_concrete(state_mean, state_cov, action_means, action_covs):
        _check_values(state_mean, "state_mean")
        _check_values(action_means, "action_means")
        _check_values(state_cov, "state_cov", spd=True)
        _check_values(action_covs, "action_covs", spd=True)
    T = am.shape[-2]
    n = math.prod(batch)
    flat = (
        jnp.broadcast_to(sm, batch + (4,)).reshape(n, 4),
        jnp.broadcast_to(sc, batch + (4, 4)).reshape(n, 4, 4),
        jnp.broadcast_to(am, batch + (T, 2)).reshape(n, T, 2),
        jnp.broadcast_to(ac, batch + (T, 2, 2)).reshape(n, T, 2, 2),
    )
    return flat, batch, model.params(dtype)


# --------------------------------------------------------------------------------------------
# public functions
# --------------------------------------------------------------------------------------------
def propagate(
    state_mean,
    state_cov,
    action_means,
    action_covs,
    model,
    formulation="acceleration_steering",
    *,
    covariance="full",
    moments="linear",
    dynamics=None,
    n_samples=10_000,
    random_state=None,
):
    """Propagate a Gaussian state through T kinematic steps with Gaussian actions.

    Given ``s_0 ~ N(state_mean, state_cov)`` and independent actions
    ``u_t ~ N(action_means[t], action_covs[t])``, returns the mean and covariance of
    ``s_1, ..., s_T``. Jitted cores, batched over any broadcastable leading dimensions and
    differentiable (``jax.grad``/``jax.jacfwd``) in all array arguments.

    Parameters
    ----------
    state_mean : array, shape (..., 4)
        Initial state mean; layout by formulation (see Notes).
    state_cov : array, shape (..., 4, 4)
        Initial state covariance, symmetric positive semi-definite.
    action_means : array, shape (..., T, 2)
        Per-step action means.
    action_covs : array, shape (..., T, 2, 2)
        Per-step action covariances, symmetric positive semi-definite.
    model : BicycleModel
        Supplies ``dt`` (and the wheelbase for ``"acceleration_steering"``).
    formulation : str
        One of :data:`FORMULATIONS` (analytical), ``"monte_carlo"`` (sampled reference) or
        ``"unscented"`` (sigma points).
    covariance : {"full", "independent"}
        Analytical formulations only: keep the full state covariance, or treat the state
        variables as independent (diagonal covariance, cheaper and cruder).
    moments : {"linear", "exact"}
        Analytical formulations only: first-order linearisation (the EKF prediction,
        ``P' = F P F^T + G Q G^T``) or exact moments of the trigonometric functions of the
        Gaussian heading and of the products of Gaussian variables (``"speed_heading"``, and
        ``"acceleration_steering"`` with the rear-axle reference, where ``tan(delta)`` stays
        linearised). Identical for the linear ``"velocity"``/``"acceleration"``.
    dynamics : str, optional
        ``"monte_carlo"``/``"unscented"`` only: which formulation's kinematics to simulate
        (default ``"acceleration_steering"``).
    n_samples : int
        ``"monte_carlo"`` only: samples per agent (static: a new value recompiles).
    random_state : None, int, numpy.random.Generator or JAX key
        ``"monte_carlo"`` only.

    Returns
    -------
    means : jax.Array, shape (..., T, 4)
    covs : jax.Array, shape (..., T, 4, 4)

    Notes
    -----
    State and action per formulation: ``"velocity"``: state ``(x, y, v_x, v_y)``, action
    ``(v_x, v_y)``, ``p' = p + dt u``; ``"acceleration"``: state ``(x, y, v_x, v_y)``, action
    ``(a_x, a_y)``, ``p' = p + dt v``, ``v' = v + dt a``; ``"speed_heading"``: state
    ``(x, y, theta, v)``, action ``(v, theta)``, ``p' = p + dt v (cos theta, sin theta)``;
    ``"acceleration_steering"``: the bicycle model (:class:`BicycleModel`).
    """
    check_option(formulation, "formulation", METHODS)
    (m0, P0, mus, Qs), batch, p = _prepare(state_mean, state_cov, action_means, action_covs, model)
    T = mus.shape[1]
    if formulation in FORMULATIONS:
        check_option(covariance, "covariance", ("full", "independent"))
        check_option(moments, "moments", ("linear", "exact"))
        if dynamics is not None and dynamics != formulation:
            raise ValueError("dynamics is only used with 'monte_carlo' and 'unscented'.")
        if (
            moments == "exact"
            and formulation == "acceleration_steering"
            and model.reference != "rear_axle"
        ):
            raise ValueError(
                "moments='exact' with 'acceleration_steering' needs "
                "reference='rear_axle'; use moments='linear'."
            )
        fn = lambda m, P, mu, Q: _core.propagate_one(
            m, P, mu, Q, p, formulation, covariance, moments
        )
        means, covs = jax.vmap(fn)(m0, P0, mus, Qs)
    else:
        dynamics = "acceleration_steering" if dynamics is None else dynamics
        check_option(dynamics, "dynamics", FORMULATIONS)
        if formulation == "unscented":
            fn = lambda m, P, mu, Q: _core.unscented_one(m, P, mu, Q, p, dynamics)
            means, covs = jax.vmap(fn)(m0, P0, mus, Qs)
        else:
            n_samples = check_scalar(n_samples, "n_samples", kind="int", low=2)
            keys = jax.random.split(as_key(random_state), m0.shape[0])
            fn = lambda m, P, mu, Q, k: _core.monte_carlo_one(
                m, P, mu, Q, p, k, dynamics, n_samples
            )
            means, covs = jax.vmap(fn)(m0, P0, mus, Qs, keys)
    return means.reshape(batch + (T, 4)), covs.reshape(batch + (T, 4, 4))


def propagate_mixture(
    state_mean,
    state_cov,
    action_weights,
    action_means,
    action_covs,
    model,
    formulation="acceleration_steering",
    *,
    min_variance=0.0,
    **kwargs,
):
    """Propagate every mode of a mixture of action sequences; position mixture per step.

    Mode k is a sequence of Gaussian actions with weight ``w_k``; each mode is propagated by
    :func:`propagate` from the same initial state, and its position marginal ``(x, y)``
    becomes component k of the step's Gaussian mixture.

    Parameters
    ----------
    state_mean : array, shape (..., 4)
    state_cov : array, shape (..., 4, 4)
    action_weights : array, shape (..., K)
        Non-negative mode weights (normalised here).
    action_means : array, shape (..., K, T, 2)
    action_covs : array, shape (..., K, T, 2, 2)
    model : BicycleModel
    formulation : str
        As in :func:`propagate`.
    min_variance : float
        Added to the position variances (m^2), a floor that keeps the densities proper.
    **kwargs
        Passed to :func:`propagate` (``covariance``, ``moments``, ``n_samples``, ...).

    Returns
    -------
    mixtures.gaussian.GMM
        Full-covariance mixture with ``log_weights`` (..., T, K), ``means`` (..., T, K, 2)
        and ``covariances`` (..., T, K, 2, 2): the position distribution at steps 1..T.
    """
    dtype = jnp.result_type(float)
    w = jnp.asarray(action_weights, dtype)
    if w.ndim < 1:
        raise ValueError(f"action_weights must have shape (..., K), got {tuple(w.shape)}.")
    if _is_concrete(action_weights):
        wn = check_array(np.asarray(action_weights, dtype=np.float64), "action_weights", ndim=None)
        if (wn < 0).any() or (wn.sum(axis=-1) <= 0).any():
            raise ValueError("action_weights must be non-negative with a positive sum.")
    min_variance = check_scalar(min_variance, "min_variance", low=0.0)
    sm = jnp.asarray(state_mean, dtype)[..., None, :]
    sc = jnp.asarray(state_cov, dtype)[..., None, :, :]
    am = jnp.asarray(action_means, dtype)
    if am.ndim < 3 or am.shape[-3] != w.shape[-1]:
        raise ValueError(
            f"action_means must have shape (..., K, T, 2) with K = {w.shape[-1]} modes, "
            f"got {tuple(am.shape)}."
        )
    means, covs = propagate(sm, sc, am, action_covs, model, formulation, **kwargs)
    pos_mean = jnp.swapaxes(means[..., :2], -2, -3)  # (..., T, K, 2)
    pos_cov = jnp.swapaxes(covs[..., :2, :2], -3, -4) + min_variance * jnp.eye(2, dtype=dtype)
    logw = jnp.log(w) - jnp.log(jnp.sum(w, axis=-1, keepdims=True))
    logw = jnp.broadcast_to(logw[..., None, :], pos_mean.shape[:-1])
    return gaussian.GMM(logw, pos_mean, pos_cov, "full")


def trajectory_nll(mixture, observed, *, joint=True):
    """Negative log-likelihood of observed future positions under per-step mixtures.

    Parameters
    ----------
    mixture : mixtures.gaussian.GMM
        Full-covariance position mixtures per step, as from :func:`propagate_mixture`:
        ``log_weights`` (..., T, K), ``means`` (..., T, K, 2), ``covariances``
        (..., T, K, 2, 2).
    observed : array, shape (..., T, 2)
        Observed positions (m).
    joint : bool
        ``True`` (default): trajectory-level mixture, each mode is a whole trajectory:
        ``-log sum_k w_k prod_t N(y_t | mu_tk, Sigma_tk)`` with the weights of step 1.
        ``False``: sum over steps of the per-step mixture NLL
        ``-sum_t log sum_k w_tk N(y_t | mu_tk, Sigma_tk)``.

    Returns
    -------
    jax.Array, shape (...)
        NLL per trajectory (nats).
    """
    if not isinstance(mixture, gaussian.GMM) or mixture.covariance_type != "full":
        raise TypeError("mixture must be a full-covariance mixtures.gaussian.GMM.")
    y = jnp.asarray(observed, mixture.means.dtype)
    lead = mixture.means.shape[:-2]  # (..., T)
    if tuple(y.shape) != tuple(lead) + (mixture.means.shape[-1],):
        raise ValueError(
            f"observed must have shape {tuple(lead) + (mixture.means.shape[-1],)} to match "
            f"the mixture, got {tuple(y.shape)}."
        )
    if _is_concrete(observed):
        _check_values(observed, "observed")
    return _trajectory_nll(mixture, y, joint)


@partial(jax.jit, static_argnames=("joint",))
def _trajectory_nll(mixture, y, joint):
    lead = mixture.means.shape[:-2]
    n, K = math.prod(lead), mixture.means.shape[-2]
    flat = gaussian.GMM(
        mixture.log_weights.reshape(n, K),
        mixture.means.reshape(n, K, 2),
        mixture.covariances.reshape(n, K, 2, 2),
        "full",
    )
    comp = jax.vmap(lambda g, x: gaussian.component_log_prob(g, x[None])[0])(
        flat, y.reshape(n, 2)
    ).reshape(lead + (K,))  # (..., T, K)
    logw = mixture.log_weights - logsumexp(mixture.log_weights, axis=-1, keepdims=True)
    if joint:
        return -logsumexp(jnp.sum(comp, axis=-2) + logw[..., 0, :], axis=-1)
    return -jnp.sum(logsumexp(comp + logw, axis=-1), axis=-1)
