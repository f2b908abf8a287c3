"""Synthetic traffic: bicycle-model vehicles at a four-way intersection, with ground truth."""

from __future__ import annotations

import numpy as np
from sklearn.utils import Bunch

from mixtures import as_generator
from mixtures.base import check_scalar

__all__ = ["synthetic_traffic", "MANOEUVRES"]

#: manoeuvre labels, indexed by ``Bunch.manoeuvre``
MANOEUVRES = ("left", "straight", "right")


def _smooth_noise(rng, shape, rho):
    """Stationary unit-variance AR(1) noise along the last axis."""
    e = rng.standard_normal(shape)
    out = np.empty(shape)
    out[..., 0] = e[..., 0]
    c = np.sqrt(1.0 - rho**2)
    for t in range(1, shape[-1]):
        out[..., t] = rho * out[..., t - 1] + c * e[..., t]
    return out


def synthetic_traffic(
    n_agents=1000,
    horizon=12,
    noise=1.0,
    random_state=None,
    *,
    n_past=8,
    dt=0.25,
    wheelbase=2.8,
):
    """Vehicles approaching a four-way intersection and turning left, going straight or right.

    Each vehicle follows the rear-axle kinematic bicycle model (:class:`BicycleModel`,
    explicit Euler, step ``dt``). It approaches along one of the four arms at 6-12 m/s with
    small smooth control noise; at the present time (the end of the observed past) it picks a
    manoeuvre (left 30 %, straight 40 %, right 30 %) which sets a smooth steering profile
    over the future. Acceleration and steering carry smooth AR(1) noise (correlation 0.8 per
    step) of standard deviation ``noise * 0.3`` m/s^2 and ``noise * 0.03`` rad. The past does
    not reveal the manoeuvre, so the future is multimodal.

    Parameters
    ----------
    n_agents : int
        Number of vehicles (>= 1).
    horizon : int
        Number of future steps T (>= 1).
    noise : float
        Control-noise scale (>= 0, dimensionless; 0 gives noise-free controls).
    random_state : None, int, numpy.random.Generator or JAX key
    n_past : int
        Number of observed past positions (>= 2), the last one is the present.
    dt : float
        Time step (s).
    wheelbase : float
        Wheelbase L (m).

    Returns
    -------
    sklearn.utils.Bunch
        ``past`` (n_agents, n_past, 2) observed positions (m); ``future`` (n_agents, horizon,
        2) the positions at the next T steps (m); ``states`` (n_agents, n_past + horizon, 4)
        the full states ``(x, y, theta, v)`` at the same times; ``actions`` (n_agents,
        n_past + horizon - 1, 2) the controls ``(a, delta)`` applied between consecutive
        states; ``manoeuvre`` (n_agents,) index into :data:`MANOEUVRES`; ``dt``;
        ``wheelbase``.
    """
    n_agents = check_scalar(n_agents, "n_agents", kind="int", low=1)
    horizon = check_scalar(horizon, "horizon", kind="int", low=1)
    noise = check_scalar(noise, "noise", low=0.0)
    n_past = check_scalar(n_past, "n_past", kind="int", low=2)
    dt = check_scalar(dt, "dt", low=0.0, low_open=True)
    wheelbase = check_scalar(wheelbase, "wheelbase", low=0.0, low_open=True)
    rng = as_generator(random_state)

    n_steps = n_past + horizon - 1
    manoeuvre = rng.choice(3, size=n_agents, p=[0.3, 0.4, 0.3])
    # steering ramps to a manoeuvre-specific level over the future (left positive)
    target = np.array([0.22, 0.0, -0.30])[manoeuvre] * rng.uniform(0.8, 1.2, n_agents)
    tau = np.clip((np.arange(n_steps) - (n_past - 1) + 1) / 4.0, 0.0, 1.0)
    ramp = 0.5 - 0.5 * np.cos(np.pi * tau)  # smooth 0 -> 1 after the present
    delta = target[:, None] * ramp[None, :]
    delta = delta + noise * 0.03 * _smooth_noise(rng, (n_agents, n_steps), 0.8)
    accel = rng.normal(0.0, 0.3, (n_agents, 1)) - 0.8 * (manoeuvre != 1)[:, None] * ramp
    accel = accel + noise * 0.3 * _smooth_noise(rng, (n_agents, n_steps), 0.8)

    arm = rng.integers(0, 4, n_agents)
    heading = arm * (np.pi / 2) + rng.normal(0.0, 0.02, n_agents)
    speed = rng.uniform(6.0, 12.0, n_agents)
    states = np.empty((n_agents, n_steps + 1, 4))
    states[:, 0] = np.stack([np.zeros(n_agents), np.zeros(n_agents), heading, speed], axis=1)
    for t in range(n_steps):
        x, y, th, v = states[:, t].T
        states[:, t + 1] = np.stack(
            [
                x + dt * v * np.cos(th),
                y + dt * v * np.sin(th),
                th + dt * v * np.tan(delta[:, t]) / wheelbase,
                np.maximum(v + dt * accel[:, t], 0.0),
            ],
            axis=1,
        )
    # place the present position 8 m before the centre, in the right-hand lane of its arm
    present = states[:, n_past - 1, :2]
    c, s = np.cos(heading), np.sin(heading)
    goal = np.stack([-8.0 * c + 1.75 * s, -8.0 * s - 1.75 * c], axis=1)
    states[:, :, :2] += (goal - present)[:, None, :]
    return Bunch(
        past=states[:, :n_past, :2].copy(),
        future=states[:, n_past:, :2].copy(),
        states=states,
        actions=np.stack([accel, delta], axis=-1),
        manoeuvre=manoeuvre,
        dt=dt,
        wheelbase=wheelbase,
    )
