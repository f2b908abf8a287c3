"""NumPy preprocessing shared by the forecaster and the baselines.

Observed tracks ``past`` have shape ``(n_agents, n_past, 2)`` (positions) or ``(n_agents,
n_past, 4)`` (positions, heading in rad, speed in the positions' unit per time unit of
``dt``). Earlier positions may be missing (NaN, e.g. short histories or gaps); the present
(last) position must be observed. The helpers here estimate the present state, rotate into
the agent frame and evaluate Gaussian-mixture forecasts, all in plain NumPy.
"""

from __future__ import annotations

import numpy as np
from scipy.special import logsumexp

from mixtures import gaussian
from mixtures.base import check_array, check_same_length, check_scalar

#: default wheelbase in step lengths (a car's 2.8 m over its 2.25 m step at 9 m/s and 4 Hz);
#: with the steering noise fitted by maximum likelihood it only sets the steering's unit
WHEELBASE_STEPS = 1.24

#: an agent whose last displacement is below this many step lengths counts as stopped: its
#: heading comes from an earlier, longer displacement instead of position noise
STOP_FRACTION = 0.05


def check_past(past, n_past=None, n_channels=None):
    """Validate observed tracks; NaN allowed in earlier positions and in heading/speed."""
    past = check_array(past, "past", ndim=3, allow_nan=True)
    if past.shape[2] not in (2, 4) or past.shape[1] < 1:
        raise ValueError(
            "past must have shape (n_agents, n_past, 2) (positions) or (n_agents, n_past, 4) "
            f"(positions, heading, speed), got {past.shape}."
        )
    if n_past is not None and past.shape[1] != n_past:
        raise ValueError(f"past must have {n_past} steps as in fit, got shape {past.shape}.")
    if n_channels is not None and past.shape[2] != n_channels:
        raise ValueError(
            f"past must have {n_channels} channels per step as in fit, got shape {past.shape}."
        )
    pos = past[..., :2]
    if (np.isnan(pos[..., 0]) != np.isnan(pos[..., 1])).any():
        raise ValueError("past: x and y must be missing (NaN) together.")
    if np.isnan(pos[:, -1]).any():
        raise ValueError(
            "past contains NaN at the present (last) step; earlier steps may be "
            "missing, the present position must be observed."
        )
    return past


def check_future(future, past, horizon=None):
    """Validate future positions, shape ``(n_agents, horizon, 2)``, all observed."""
    future = check_array(future, "future", ndim=3)
    if future.shape[2] != 2 or (horizon is not None and future.shape[1] != horizon):
        want = "horizon" if horizon is None else f"horizon={horizon}"
        raise ValueError(f"future must have shape (n_agents, {want}, 2), got {future.shape}.")
    check_same_length(past, future, ("past", "future"))
    return future


def check_groups(groups, n):
    """Track ids, one per window (None: every window its own track)."""
    if groups is None:
        return np.arange(n)
    groups = np.asarray(groups)
    if groups.ndim != 1 or len(groups) != n:
        raise ValueError(
            f"groups must have shape ({n},) (one track id per window), got {groups.shape}."
        )
    if groups.dtype.kind in "cOV":
        raise TypeError("groups must hold integer or string track ids.")
    return groups


def step_length(past, future):
    """RMS distance between consecutive observed positions (past then future)."""
    tracks = np.concatenate([past[..., :2], future], axis=1)
    d = np.sum(np.diff(tracks, axis=1) ** 2, axis=-1)
    d = d[np.isfinite(d)]
    ell = float(np.sqrt(np.mean(d))) if d.size else 0.0
    if not ell > 0:
        raise ValueError(
            "past and future: every track stands still (zero step length), so "
            "there is no scale of motion to learn from."
        )
    return ell


def present_state(past, dt, ell):
    """Present position, heading and speed of every agent.

    Returns ``origin`` (n, 2), ``heading`` (n,) in rad, ``speed`` (n,) in step lengths per
    step (non-negative). Without heading/speed channels the velocity is the displacement
    from the last earlier observed position over its time gap; a stopped agent (displacement
    below ``STOP_FRACTION`` step lengths) keeps the direction to the most recent earlier
    position farther than that, or 0 rad when there is none.
    """
    pos = past[..., :2]
    n, T = pos.shape[:2]
    obs = np.isfinite(pos[..., 0])
    origin = pos[:, -1]
    earlier = np.where(obs[:, :-1], np.arange(T - 1), -1).max(axis=1) if T > 1 else -np.ones(n, int)
    has = earlier >= 0
    prev = pos[np.arange(n), np.maximum(earlier, 0)] if T > 1 else origin
    gap = np.maximum(T - 1 - earlier, 1)
    vel = np.where(has[:, None], (origin - prev) / gap[:, None], 0.0) / ell
    speed = np.linalg.norm(vel, axis=1)
    heading = np.arctan2(vel[:, 1], vel[:, 0])
    stopped = speed <= STOP_FRACTION
    heading = np.where(stopped, 0.0, heading)
    if stopped.any():
        found = ~stopped
        for t in range(T - 2, -1, -1):  # most recent earlier position far enough away
            d = (origin - pos[:, t]) / ell
            far = ~found & obs[:, t] & (np.linalg.norm(np.nan_to_num(d), axis=1) > STOP_FRACTION)
            heading = np.where(far, np.arctan2(d[:, 1], d[:, 0]), heading)
            found |= far
    if past.shape[2] == 4:
        h, s = past[:, -1, 2], past[:, -1, 3]
        heading = np.where(np.isfinite(h), h, heading)
        speed = np.where(np.isfinite(s), np.abs(s) * dt / ell, speed)
    return origin, heading, speed


def rotation(heading):
    """Rotation matrices agent -> world, shape (n, 2, 2)."""
    c, s = np.cos(heading), np.sin(heading)
    return np.stack([np.stack([c, -s], -1), np.stack([s, c], -1)], -2)


def to_agent(points, origin, R, ell):
    """World positions (n, T, 2) -> agent frame in step lengths (NaN stays NaN)."""
    return np.einsum("nji,ntj->nti", R, points - origin[:, None]) / ell


def to_world(logw, mu, cov, origin, R, ell):
    """Agent-frame mixture in step lengths -> world GMM (NumPy float64)."""
    means = ell * np.einsum("nij,ntkj->ntki", R, mu) + origin[:, None, None]
    covs = ell**2 * np.einsum("nij,ntkjl,nml->ntkim", R, cov, R)
    return gaussian.GMM(np.asarray(logw, float), means, covs, "full")


def gmm_loglik(gmm, future):
    """Trajectory-level log-likelihood ``log sum_k w_k prod_t N(y_t | mu_tk, S_tk)`` (n,)."""
    comp = gaussian.mvn_logpdf_numpy(future[:, :, None, :], gmm.means, gmm.covariances)
    logw = gmm.log_weights[:, 0, :] - logsumexp(gmm.log_weights[:, 0, :], axis=-1, keepdims=True)
    return logsumexp(comp.sum(axis=1) + logw, axis=-1)


def min_ade_fde(gmm, future, k=None):
    """Best-of-k average and final displacement errors of the k most probable modes."""
    n_modes = gmm.log_weights.shape[-1]
    k = n_modes if k is None else check_scalar(k, "k", kind="int", low=1, high=n_modes)
    order = np.argsort(-gmm.log_weights[:, 0, :], axis=1, kind="stable")[:, :k]
    means = np.take_along_axis(gmm.means, order[:, None, :, None], axis=2)  # (n, T, k, 2)
    err = np.linalg.norm(means - future[:, :, None, :], axis=-1)  # (n, T, k)
    return float(err.mean(axis=1).min(axis=1).mean()), float(err[:, -1].min(axis=1).mean())
