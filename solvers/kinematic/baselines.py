"""Physics baselines with the forecaster's interface: constant velocity, a constant-velocity
Kalman filter and the stochastic kinematic bicycle model.

Each one predicts a single Gaussian per future step (a one-mode
:class:`mixtures.gaussian.GMM`) and shares :class:`KinematicForecaster`'s ``fit(past,
future)``, ``predict``, ``score``/``score_samples``/``nll`` and ``min_ade_fde``, so that a
forecaster is compared with them in one line. Their noise parameters are fitted by maximum
likelihood of the observed futures given the pasts (the per-step Gaussians' product, the
quantity that :meth:`score` reports), in normalised units (lengths over the training tracks'
step length, time in steps), so metres or feet give the same model.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import scipy.optimize

from mixtures import gaussian, x64
from mixtures.base import Integer, MixturesEstimator, Real, pad_axis, padded_length
from mixtures.gaussian import GMM
from solvers.kinematic import _tracks
from solvers.kinematic.propagation import BicycleModel, propagate

__all__ = ["ConstantVelocity", "ConstantVelocityKalman", "KinematicPropagation"]

WHEELBASE_STEPS = _tracks.WHEELBASE_STEPS


class _PhysicsBaseline(MixturesEstimator):
    """Shared fit preamble, frames and metrics; subclasses fill ``_fit_local`` and
    ``_predict_local`` (agent frame, step lengths)."""

    def _prepare(self, past, future=None):
        p = self._validate_params()
        past = _tracks.check_past(past)
        future = _tracks.check_future(future, past)
        self.length_scale_ = _tracks.step_length(past, future)
        self.speed_scale_ = self.length_scale_ / p["dt"]
        self.n_past_, self.n_channels_ = past.shape[1], past.shape[2]
        self.horizon_ = future.shape[1]
        self.n_features_in_ = past.shape[1] * past.shape[2]
        origin, heading, speed = _tracks.present_state(past, p["dt"], self.length_scale_)
        R = _tracks.rotation(heading)
        local_past = _tracks.to_agent(past[..., :2], origin, R, self.length_scale_)
        local_future = _tracks.to_agent(future, origin, R, self.length_scale_)
        return p, local_past, speed, local_future

    def _frame(self, past):
        self._check_fitted()
        past = _tracks.check_past(past, self.n_past_, self.n_channels_)
        origin, heading, speed = _tracks.present_state(past, self.dt, self.length_scale_)
        R = _tracks.rotation(heading)
        local_past = _tracks.to_agent(past[..., :2], origin, R, self.length_scale_)
        return past, origin, R, local_past, speed

    def predict(self, past):
        """Position Gaussian per future step, in world coordinates.

        Parameters
        ----------
        past : array, shape (n_agents, n_past, 2) or (n_agents, n_past, 4)
            Observed positions (and heading, speed), as in ``fit``.

        Returns
        -------
        mixtures.gaussian.GMM
            One mode: ``log_weights`` (n_agents, horizon, 1), ``means`` (n_agents, horizon,
            1, 2), ``covariances`` (n_agents, horizon, 1, 2, 2), NumPy float64.
        """
        past, origin, R, local_past, speed = self._frame(past)
        mu, cov = self._predict_local(local_past, speed)
        logw = np.zeros(mu.shape[:2] + (1,))
        return _tracks.to_world(
            logw, mu[:, :, None], cov[:, :, None], origin, R, self.length_scale_
        )

    def score_samples(self, past, future):
        """Log-likelihood of each observed future (nats; a density in the positions' unit).

        Parameters
        ----------
        past : array, shape (n_agents, n_past, 2) or (n_agents, n_past, 4)
        future : array, shape (n_agents, horizon, 2)

        Returns
        -------
        numpy.ndarray, shape (n_agents,)
        """
        gmm = self.predict(past)
        future = _tracks.check_future(future, gmm.means, self.horizon_)
        return _tracks.gmm_loglik(gmm, future)

    def score(self, past, future):
        """Mean log-likelihood per trajectory (nats, higher is better)."""
        return float(np.mean(self.score_samples(past, future)))

    def nll(self, past, future):
        """Mean negative log-likelihood per trajectory (nats): ``-score``."""
        return -self.score(past, future)

    def min_ade_fde(self, past, future, k=None):
        """Average and final displacement errors of the mean (one mode: ``k`` <= 1)."""
        gmm = self.predict(past)
        future = _tracks.check_future(future, gmm.means, self.horizon_)
        return _tracks.min_ade_fde(gmm, future, k)


def _gaussian_nll(mu, cov, y, weights):
    """Weighted sum over agents of ``-sum_t log N(y_t | mu_t, cov_t)``: the one-mode case of
    :func:`_tracks.gmm_loglik`."""
    one_mode = GMM(np.zeros(mu.shape[:2] + (1,)), mu[:, :, None], cov[:, :, None])
    return float(-np.sum(weights * _tracks.gmm_loglik(one_mode, y)))


class ConstantVelocity(_PhysicsBaseline):
    """Constant-velocity extrapolation with a per-step residual covariance in the agent frame.

    The mean continues the present velocity (the last displacement over its time gap, or the
    speed and heading channels when ``past`` has them); the covariance at step t is the
    maximum-likelihood (zero-mean) covariance of the training residuals at step t, in the
    frame aligned with each agent's heading, rotated back into the world.

    Parameters
    ----------
    dt : float
        Time between consecutive positions (s, or any time unit): converts a speed channel
        into displacements per step; positions alone do not need it.

    Attributes
    ----------
    residual_covariances_ : numpy.ndarray, shape (horizon, 2, 2)
        Along-track / cross-track residual covariance per step (squared unit of positions).
    length_scale_ : float
        RMS step of the training tracks (unit of positions).
    speed_scale_ : float
        ``length_scale_ / dt``.
    horizon_, n_past_, n_channels_, n_features_in_ : int
    """

    _parameter_constraints = {"dt": Real(low=0.0, low_open=True)}

    def __init__(self, dt=0.25):
        self.dt = dt

    def fit(self, past, future, groups=None):
        """Estimate the residual covariances.

        Parameters
        ----------
        past : array, shape (n_agents, n_past, 2) or (n_agents, n_past, 4)
            Observed positions (NaN where missing, the present observed), optionally with
            heading (rad) and speed (positions' unit per time unit) channels.
        future : array, shape (n_agents, horizon, 2)
        groups : array, shape (n_agents,), optional
            Track ids (unused; accepted for a common interface).

        Returns
        -------
        self
        """
        _, local_past, speed, local_future = self._prepare(past, future)
        _tracks.check_groups(groups, len(speed))
        mu, _ = self._cv_mean(speed, self.horizon_)
        resid = local_future - mu
        cov = np.einsum("nti,ntj->tij", resid, resid) / len(resid)
        # a floor far below any real residual keeps a single-track fit proper
        self._cov = cov + 1e-9 * np.eye(2)
        self.residual_covariances_ = self._cov * self.length_scale_**2
        return self

    @staticmethod
    def _cv_mean(speed, horizon):
        steps = np.arange(1, horizon + 1)
        mu = np.stack([speed[:, None] * steps, np.zeros((len(speed), horizon))], axis=-1)
        return mu, steps

    def _predict_local(self, local_past, speed):
        mu, _ = self._cv_mean(speed, self.horizon_)
        return mu, np.broadcast_to(self._cov, mu.shape + (2,))


# ------------------------------------------------------------------------------------------
# constant-velocity Kalman filter
# ------------------------------------------------------------------------------------------
_F = np.array([[1.0, 0, 1, 0], [0, 1, 0, 1], [0, 0, 1, 0], [0, 0, 0, 1]])
# white-noise acceleration over one step: covariance of (position, velocity) increments
_QW = np.array([[1 / 3, 0, 1 / 2, 0], [0, 1 / 3, 0, 1 / 2], [1 / 2, 0, 1, 0], [0, 1 / 2, 0, 1]])


def kalman_filter(y, q, r):
    """Filter ``y`` (n, T, 2; NaN = missing) with a constant-velocity model (time step 1).

    The filter starts at each track's first observation with a velocity variance of 1/2 per
    axis (the squared step length, 1 in normalised units, split over two axes). Returns the
    filtered state ``(x, y, v_x, v_y)`` means (n, 4) and covariances (n, 4, 4) at the last
    step.
    """
    n, T = y.shape[:2]
    obs = np.isfinite(y[..., 0])
    m, P = np.zeros((n, 4)), np.zeros((n, 4, 4))
    started = np.zeros(n, bool)
    Q, Rm = q * _QW, r * np.eye(2)
    P_init = np.diag([r, r, 0.5, 0.5])
    for t in range(T):
        m = np.where(started[:, None], m @ _F.T, m)
        P = np.where(started[:, None, None], _F @ P @ _F.T + Q, P)
        o = obs[:, t]
        upd = o & started
        if upd.any():
            S = P[:, :2, :2] + Rm
            K = np.linalg.solve(S, P[:, :2, :]).transpose(0, 2, 1)  # (n, 4, 2)
            innov = np.nan_to_num(y[:, t]) - m[:, :2]
            m = np.where(upd[:, None], m + np.einsum("nij,nj->ni", K, innov), m)
            P = np.where(upd[:, None, None], P - K @ P[:, :2, :], P)
        new = o & ~started
        m[new] = np.concatenate([y[new, t], np.zeros((new.sum(), 2))], axis=1)
        P[new] = P_init
        started |= o
    return m, 0.5 * (P + P.transpose(0, 2, 1))


def _kalman_forecast(y, q, r, horizon):
    """Predicted means (n, horizon, 2) and covariances (n, horizon, 2, 2) of the observed
    positions after filtering ``y`` (see :func:`kalman_filter`)."""
    m, P = kalman_filter(y, q, r)
    Q, Rm = q * _QW, r * np.eye(2)
    means, covs = [], []
    for _ in range(horizon):
        m, P = m @ _F.T, _F @ P @ _F.T + Q
        means.append(m[:, :2])
        covs.append(P[:, :2, :2] + Rm)
    return np.stack(means, 1), np.stack(covs, 1)


def fit_kalman_noise(local_past, local_future, max_iter=200, tol=1e-12):
    """Maximum-likelihood log (q, r) of the CV Kalman filter (normalised units)."""
    w = np.full(len(local_past), 1.0 / len(local_past))

    def objective(theta):
        mu, cov = _kalman_forecast(local_past, *np.exp(theta), local_future.shape[1])
        return _gaussian_nll(mu, cov, local_future, w)

    res = scipy.optimize.minimize(
        objective,
        np.log([0.1, 0.01]),
        method="L-BFGS-B",
        bounds=[(-25.0, 5.0)] * 2,
        options={"maxiter": max_iter, "ftol": tol},
    )
    return np.asarray(res.x), res


def polar_state(m, P):
    """Filtered ``(x, y, v_x, v_y)`` -> ``(x, y, theta, v)`` mean and first-order covariance.

    The heading of a (nearly) stopped agent is uncertain; its variance is capped at
    ``(pi / 2)^2``, where it no longer matters (positions move with ``v``)."""
    vx, vy = m[:, 2], m[:, 3]
    v2 = vx**2 + vy**2
    speed = np.sqrt(v2)
    heading = np.arctan2(vy, vx)
    n = len(m)
    J = np.zeros((n, 4, 4))
    J[:, 0, 0] = J[:, 1, 1] = 1.0
    tiny = 1e-12
    J[:, 2, 2], J[:, 2, 3] = -vy / (v2 + tiny), vx / (v2 + tiny)
    J[:, 3, 2], J[:, 3, 3] = vx / (speed + tiny), vy / (speed + tiny)
    S = J @ P @ J.transpose(0, 2, 1)
    cap = (np.pi / 2) ** 2
    scale = np.sqrt(np.minimum(S[:, 2, 2], cap) / np.maximum(S[:, 2, 2], tiny))
    S[:, 2, :] *= scale[:, None]
    S[:, :, 2] *= scale[:, None]
    S = 0.5 * (S + S.transpose(0, 2, 1)) + 1e-12 * np.eye(4)
    return np.stack([m[:, 0], m[:, 1], heading, speed], axis=1), S


class ConstantVelocityKalman(_PhysicsBaseline):
    """Constant-velocity Kalman filter with fitted process and measurement noise.

    State ``(x, y, v_x, v_y)``, white-noise acceleration of spectral density ``q`` (isotropic)
    and position measurement noise of variance ``r``. The filter runs over the observed past
    (skipping missing steps) and predicts ``horizon`` steps; the predicted covariance of an
    observed position includes ``r``. ``q`` and ``r`` maximise the log-likelihood of the
    training futures given their pasts (L-BFGS-B on their logarithms, normalised units).

    Parameters
    ----------
    dt : float
        Time between consecutive positions: sets the time unit of the fitted noises.
    max_iter : int
        Maximum L-BFGS-B iterations.
    tol : float
        L-BFGS-B tolerance on the relative change of the mean NLL.

    Attributes
    ----------
    process_noise_ : float
        Spectral density of the acceleration noise (positions' unit^2 / time unit^3).
    measurement_noise_ : float
        Variance of the position noise (positions' unit^2).
    length_scale_, speed_scale_ : float
    horizon_, n_past_, n_channels_, n_features_in_, n_iter_ : int
    converged_ : bool
    """

    _parameter_constraints = {
        "dt": Real(low=0.0, low_open=True),
        "max_iter": Integer(low=1),
        "tol": Real(low=0.0),
    }

    def __init__(self, dt=0.25, max_iter=200, tol=1e-12):
        self.dt = dt
        self.max_iter = max_iter
        self.tol = tol

    def fit(self, past, future, groups=None):
        """Fit the two noise levels by maximum likelihood (see the class docstring).

        Parameters
        ----------
        past : array, shape (n_agents, n_past, 2) or (n_agents, n_past, 4)
        future : array, shape (n_agents, horizon, 2)
        groups : array, shape (n_agents,), optional
            Track ids (unused).

        Returns
        -------
        self
        """
        p, local_past, _, local_future = self._prepare(past, future)
        _tracks.check_groups(groups, len(local_past))
        self._theta, res = fit_kalman_noise(local_past, local_future, p["max_iter"], p["tol"])
        q, r = np.exp(self._theta)
        ell = self.length_scale_
        self.process_noise_ = float(q * ell**2 / p["dt"] ** 3)
        self.measurement_noise_ = float(r * ell**2)
        self._set_convergence(bool(res.success), res.nit, p["max_iter"])
        return self

    def _predict_local(self, local_past, speed):
        return _kalman_forecast(local_past, *np.exp(self._theta), self.horizon_)


# ------------------------------------------------------------------------------------------
# stochastic kinematic bicycle
# ------------------------------------------------------------------------------------------
#: fitted noise levels, in this order (normalised units; steering for a unit wheelbase;
#: "initial" scales the filtered initial-state covariance)
NOISE_NAMES = ("acceleration", "steering", "drift", "measurement", "initial")


def bicycle_moments(theta, m0, P0, horizon):
    """Position means (n, T, 2) and covariances (n, T, 2, 2) of the zero-mean-action bicycle
    (pure JAX; normalised units, wheelbase 1, time step 1).

    ``theta`` the log noise levels (:data:`NOISE_NAMES`), ``m0`` (n, 4) and ``P0`` (n, 4, 4)
    the initial state ``(x, y, theta, v)`` and its covariance (scaled by ``initial**2``).
    The observed position adds ``measurement**2`` and an isotropic drift: the position
    variance of a constant-velocity model driven by white-noise acceleration of density
    ``drift**2`` (the Kalman filter's process noise: motion the bicycle cannot make, such as
    a pedestrian's side step), so that zero acceleration and steering noise recover the
    constant-velocity Kalman forecast to first order.
    """
    s = jnp.exp(theta)
    am = jnp.zeros((horizon, 2), m0.dtype)
    ac = jnp.broadcast_to(jnp.diag(jnp.stack([s[0], s[1]]) ** 2), (horizon, 2, 2))
    means, covs = propagate(m0, s[4] ** 2 * P0, am, ac, BicycleModel(wheelbase=1.0, dt=1.0))
    growth = jnp.asarray(drift_growth(horizon), m0.dtype)
    extra = (growth * s[2] ** 2 + s[3] ** 2)[:, None, None] * jnp.eye(2, dtype=m0.dtype)
    return means[..., :2], covs[..., :2, :2] + extra


def drift_growth(horizon):
    """Position variance per axis after 1..horizon steps of a constant-velocity model under
    unit white-noise acceleration, from a known state (NumPy, shape (horizon,))."""
    P, out = np.zeros((4, 4)), []
    for _ in range(horizon):
        P = _F @ P @ _F.T + _QW
        out.append(P[0, 0])
    return np.asarray(out)


def gaussian_nll_jax(mu, cov, y):
    """``-sum_t log N(y_t | mu_t, cov_t)`` per agent (2-D positions, pure JAX)."""
    return -jnp.sum(gaussian.mvn_logpdf(y, mu, cov, unroll=True), axis=-1)


def _bicycle_objective(theta, m0, P0, future, weights):
    mu, cov = bicycle_moments(theta, m0, P0, future.shape[1])
    return jnp.sum(weights * gaussian_nll_jax(mu, cov, future))


_objective_and_grad = jax.jit(jax.value_and_grad(_bicycle_objective))
_moments = jax.jit(bicycle_moments, static_argnames=("horizon",))


def fit_bicycle_noise(m0, P0, future, measurement, drift, max_iter=200, tol=1e-12):
    """Maximum-likelihood log noise levels of the bicycle baseline (normalised units).

    ``m0`` (n, 4), ``P0`` (n, 4, 4) filtered initial states, ``future`` (n, T, 2)
    agent-frame futures (step lengths); ``measurement`` and ``drift`` the filter's
    measurement sd and square-root process noise. The acceleration and steering noise are
    fitted on top of the filter's forecast (drift, measurement and initial covariance stay
    the filter's, fitted on the same likelihood): two parameters, which keeps the fit well
    posed on a handful of tracks. Returns ``(theta, scipy OptimizeResult)``.
    """
    n = len(m0)
    size = padded_length(n)
    weights = pad_axis(np.full(n, 1.0 / n), size)
    P0 = pad_axis(P0, size)
    P0[n:] = np.eye(4)  # padded agents: any proper covariance (weight 0)
    fixed = np.log([drift, measurement, 1.0])
    with x64():
        args = (
            jnp.asarray(pad_axis(m0, size)),
            jnp.asarray(P0),
            jnp.asarray(pad_axis(future, size)),
            jnp.asarray(weights),
        )

        def fun(free):
            theta = jnp.asarray(np.concatenate([free, fixed]))
            value, grad = _objective_and_grad(theta, *args)
            return float(value), np.asarray(grad, dtype=np.float64)[:2]

        res = scipy.optimize.minimize(
            fun,
            np.log([0.05, 0.05]),
            jac=True,
            method="L-BFGS-B",
            bounds=[(-12.0, 3.0)] * 2,
            options={"maxiter": max_iter, "ftol": tol},
        )
    return np.concatenate([res.x, fixed]), res


class KinematicPropagation(_PhysicsBaseline):
    """The stochastic kinematic bicycle model with action noise fitted by maximum likelihood.

    The present state ``(x, y, theta, v)`` and its covariance come from a constant-velocity
    Kalman filter run over the observed past (its noises fitted as in
    :class:`ConstantVelocityKalman`; speed and heading by first-order change of variables).
    From there the rear-axle bicycle model is propagated with zero-mean Gaussian
    acceleration and steering actions through :func:`propagate` (first-order moments, full
    covariance), on top of the filter's own forecast: its isotropic white-noise acceleration
    (the "drift": motion a bicycle cannot make, such as a pedestrian's side step) and its
    measurement noise are kept. The acceleration and steering noise are fitted by maximum
    likelihood of the training futures; with both at zero the forecast is the filter's
    (to first order), so the bicycle only adds the uncertainty that the data support. The
    mean is the filtered constant-velocity line; the covariance bends with the heading
    uncertainty. This
    is the base distribution on which :class:`KinematicForecaster` learns its corrections.

    Parameters
    ----------
    dt : float
        Time between consecutive positions (sets the time unit of the fitted noises).
    wheelbase : float or None
        Wheelbase (unit of positions); None: ``1.24`` step lengths. With zero-mean steering
        it only sets the unit of ``steering_sd_`` (the yaw noise ``v steering_sd_ /
        wheelbase`` is what is fitted).
    max_iter : int
        Maximum L-BFGS-B iterations (each of the two fits).
    tol : float
        L-BFGS-B tolerance on the relative change of the mean NLL.

    Attributes
    ----------
    acceleration_sd_ : float
        Acceleration action sd (positions' unit per time unit^2).
    steering_sd_ : float
        Steering action sd (rad) at ``wheelbase_``.
    drift_sd_ : float
        Square root of the isotropic white-noise acceleration density of the drift
        (positions' unit / time unit**1.5).
    measurement_sd_ : float
        Position measurement sd (unit of positions).
    initial_scale_ : float
        Factor on the filtered initial-state standard deviations.
    process_noise_, measurement_noise_ : float
        The filter's noises (as in :class:`ConstantVelocityKalman`).
    wheelbase_, length_scale_, speed_scale_ : float
    horizon_, n_past_, n_channels_, n_features_in_, n_iter_ : int
    converged_ : bool
    """

    _parameter_constraints = {
        "dt": Real(low=0.0, low_open=True),
        "wheelbase": Real(low=0.0, low_open=True, allow_none=True),
        "max_iter": Integer(low=1),
        "tol": Real(low=0.0),
    }

    def __init__(self, dt=0.25, wheelbase=None, max_iter=200, tol=1e-12):
        self.dt = dt
        self.wheelbase = wheelbase
        self.max_iter = max_iter
        self.tol = tol

    def fit(self, past, future, groups=None):
        """Fit the filter, then the bicycle's noise levels, by maximum likelihood.

        Parameters
        ----------
        past : array, shape (n_agents, n_past, 2) or (n_agents, n_past, 4)
        future : array, shape (n_agents, horizon, 2)
        groups : array, shape (n_agents,), optional
            Track ids (unused).

        Returns
        -------
        self
        """
        p, local_past, speed, local_future = self._prepare(past, future)
        _tracks.check_groups(groups, len(speed))
        self.fit_local(local_past, speed, local_future, p)
        return self

    def fit_local(self, local_past, speed, local_future, p):
        """Fit on agent-frame tracks in normalised units (used by the forecaster)."""
        self._kalman, res_k = fit_kalman_noise(local_past, local_future, p["max_iter"], p["tol"])
        m0, P0 = self.initial_state(local_past, speed)
        q, r = np.exp(self._kalman)
        theta, res = fit_bicycle_noise(
            m0, P0, local_future, np.sqrt(r), np.sqrt(q), p["max_iter"], p["tol"]
        )
        self._set_theta(theta, p)
        self._set_convergence(bool(res.success and res_k.success), res.nit, p["max_iter"])

    def initial_state(self, local_past, speed):
        """Filtered initial state ``(x, y, theta, v)`` (n, 4) and covariance (n, 4, 4),
        agent frame, normalised units (before the ``initial`` factor)."""
        q, r = np.exp(self._kalman)
        m, P = kalman_filter(local_past, q, r)
        return polar_state(m, P)

    def _set_theta(self, theta, p):
        self._theta = np.asarray(theta, dtype=np.float64)
        ell, dt = self.length_scale_, p["dt"]
        self.wheelbase_ = float(
            p["wheelbase"] if p["wheelbase"] is not None else WHEELBASE_STEPS * ell
        )
        s = np.exp(self._theta)
        q, r = np.exp(self._kalman)
        self.process_noise_ = float(q * ell**2 / dt**3)
        self.measurement_noise_ = float(r * ell**2)
        self.acceleration_sd_ = float(s[0] * ell / dt**2)
        # linearised at zero steering the yaw noise is v s / L: rescale the unit-wheelbase fit
        self.steering_sd_ = float(s[1] * self.wheelbase_ / ell)
        self.drift_sd_ = float(s[2] * ell / dt**1.5)
        self.measurement_sd_ = float(s[3] * ell)
        self.initial_scale_ = float(s[4])

    def noise_levels(self):
        """The fitted noise levels in normalised units (step lengths, steps; steering at the
        fitted wheelbase), a dict keyed by :data:`NOISE_NAMES`."""
        self._check_fitted()
        s = np.exp(self._theta)
        s[1] = s[1] * self.wheelbase_ / self.length_scale_
        return dict(zip(NOISE_NAMES, s))

    def _predict_local(self, local_past, speed):
        m0, P0 = self.initial_state(local_past, speed)
        n = len(m0)
        size = padded_length(n)
        P0 = pad_axis(P0, size)
        P0[n:] = np.eye(4)
        with x64():
            mu, cov = _moments(
                jnp.asarray(self._theta),
                jnp.asarray(pad_axis(m0, size)),
                jnp.asarray(P0),
                self.horizon_,
            )
            return np.asarray(mu)[:n], np.asarray(cov)[:n]
