"""KinematicForecaster: a small JAX MLP with a Gaussian-mixture head and a kinematic prior."""

from __future__ import annotations

import warnings

import jax
import jax.numpy as jnp
import numpy as np
import optax
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted

from mixtures import gaussian
from mixtures._config import as_key, x64
from mixtures._validation import (
    ConvergenceWarning,
    check_array,
    check_option,
    check_same_length,
    check_scalar,
)
from solvers.kinematic import _forecaster
from solvers.kinematic._core import FORMULATIONS

__all__ = ["KinematicForecaster"]

_CHUNK = 50  # Adam steps per compiled chunk (also the window of the convergence test)


def _agent_frame(past, dt):
    """Origin, rotation, encoder features and speed estimate from the observed past."""
    origin = past[:, -1]
    step = past[:, -1] - past[:, -2]
    heading = np.arctan2(step[:, 1], step[:, 0])
    c, s = np.cos(heading), np.sin(heading)
    R = np.stack([np.stack([c, -s], -1), np.stack([s, c], -1)], -2)  # agent -> world
    local = np.einsum("nji,ntj->nti", R, past - origin[:, None])  # world -> agent
    v0 = np.linalg.norm(step, axis=1) / dt
    feats = np.concatenate(
        [local.reshape(len(past), -1), v0[:, None]], axis=1
    ) / _forecaster.FEATURE_SCALE
    return origin, R, feats, v0


class KinematicForecaster(BaseEstimator):
    """Multimodal trajectory forecaster with a deep stochastic kinematic prior.

    An MLP encodes the observed past track (in the agent's frame). With
    ``prior="kinematic"`` its head predicts, for each of ``n_modes`` modes, a mode weight and
    per future step a Gaussian over actions; the actions are integrated by the chosen
    kinematic formulation and their uncertainty is propagated analytically
    (:func:`propagate`, first-order, full covariance), giving a Gaussian mixture over the
    position at every step. With ``prior="none"`` the head predicts the position means and
    (free) covariances directly. Training minimises the trajectory-level mixture NLL of the
    observed future with minibatch Adam (optax).

    Parameters
    ----------
    n_modes : int
        Number of mixture components K (>= 1).
    horizon : int
        Number of future steps T (>= 1).
    prior : {"kinematic", "none"}
    formulation : str
        One of :data:`FORMULATIONS` (used with ``prior="kinematic"``).
    hidden : int
        Width of the two hidden layers.
    max_iter : int
        Maximum number of Adam steps.
    batch_size : int or None
        Agents per Adam step, drawn with replacement (None or >= n_agents: full batch).
    learning_rate : float
        Adam step size.
    tol : float
        Convergence: relative change of the mean training loss between consecutive windows
        of 50 steps.
    dt : float
        Time step between positions (s).
    wheelbase : float
        Wheelbase of the kinematic bicycle model (m).
    random_state : None, int, numpy.random.Generator or JAX key
        Initial weights.
    verbose : bool
        Show a tqdm progress bar.

    Attributes
    ----------
    params_ : list of dict of numpy.ndarray
        Network weights.
    loss_curve_ : numpy.ndarray, shape (n_iter_,)
        Training loss (mean NLL, nats) per step.
    n_iter_ : int
    converged_ : bool
    n_past_ : int
        Length of the past track seen in ``fit``.
    """

    def __init__(
        self,
        n_modes=3,
        horizon=12,
        prior="kinematic",
        formulation="acceleration_steering",
        hidden=64,
        max_iter=1000,
        batch_size=128,
        learning_rate=3e-3,
        tol=1e-3,
        dt=0.25,
        wheelbase=2.8,
        random_state=None,
        verbose=False,
    ):
        self.n_modes = n_modes
        self.horizon = horizon
        self.prior = prior
        self.formulation = formulation
        self.hidden = hidden
        self.max_iter = max_iter
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.tol = tol
        self.dt = dt
        self.wheelbase = wheelbase
        self.random_state = random_state
        self.verbose = verbose

    # ------------------------------------------------------------------ helpers
    def _config(self):
        return _forecaster.Config(
            n_modes=check_scalar(self.n_modes, "n_modes", kind="int", low=1),
            horizon=check_scalar(self.horizon, "horizon", kind="int", low=1),
            prior=check_option(self.prior, "prior", ("kinematic", "none")),
            formulation=check_option(self.formulation, "formulation", FORMULATIONS),
            dt=check_scalar(self.dt, "dt", low=0.0, low_open=True),
            wheelbase=check_scalar(self.wheelbase, "wheelbase", low=0.0, low_open=True),
            hidden=check_scalar(self.hidden, "hidden", kind="int", low=1),
        )

    def _check_past(self, past, n_past=None):
        past = check_array(past, "past", ndim=3)
        if past.shape[2] != 2 or past.shape[1] < 2:
            raise ValueError(
                f"past must have shape (n_agents, n_past >= 2, 2), got {past.shape}."
            )
        if n_past is not None and past.shape[1] != n_past:
            raise ValueError(
                f"past must have {n_past} steps as in fit, got shape {past.shape}."
            )
        if (np.linalg.norm(past[:, -1] - past[:, -2], axis=1) == 0).any():
            raise ValueError("past: the last two positions of every track must differ "
                             "(the heading is estimated from them).")
        return past

    def _check_future(self, future, past, horizon):
        future = check_array(future, "future", ndim=3)
        if future.shape[1:] != (horizon, 2):
            raise ValueError(
                f"future must have shape (n_agents, horizon={horizon}, 2), got {future.shape}."
            )
        check_same_length(past, future, ("past", "future"))
        return future

    def _local_future(self, future, origin, R):
        return np.einsum("nji,ntj->nti", R, future - origin[:, None])


    # ------------------------------------------------------------------ API
    def fit(self, past, future):
        """Train on observed tracks.

        Parameters
        ----------
        past : array, shape (n_agents, n_past, 2)
            Observed positions (m), the last one is the present.
        future : array, shape (n_agents, horizon, 2)
            The positions at the next ``horizon`` steps (m).

        Returns
        -------
        self
        """
        cfg = self._config()
        max_iter = check_scalar(self.max_iter, "max_iter", kind="int", low=1)
        lr = check_scalar(self.learning_rate, "learning_rate", low=0.0, low_open=True)
        tol = check_scalar(self.tol, "tol", low=0.0)
        past = self._check_past(past)
        batch = 0
        if self.batch_size is not None:
            batch = check_scalar(self.batch_size, "batch_size", kind="int", low=1)
            batch = 0 if batch >= len(past) else batch
        future = self._check_future(future, past, cfg.horizon)
        origin, R, feats, v0 = _agent_frame(past, cfg.dt)
        local = self._local_future(future, origin, R)
        key, train_key = jax.random.split(as_key(self.random_state))
        losses = []
        converged = False
        with x64():
            feats_j, v0_j, fut_j = jnp.asarray(feats), jnp.asarray(v0), jnp.asarray(local)
            params = _forecaster.init_params(key, feats.shape[1], cfg, jnp.float64)
            opt_state = optax.adam(lr).init(params)
            bar = None
            if self.verbose:
                from tqdm.auto import tqdm

                bar = tqdm(total=max_iter, desc="KinematicForecaster")
            done = 0
            while done < max_iter:
                n = min(_CHUNK, max_iter - done)
                train_key, k = jax.random.split(train_key)
                params, opt_state, values = _forecaster.train_chunk(
                    params, opt_state, k, feats_j, v0_j, fut_j, cfg, n, lr, batch
                )
                values = np.asarray(values)
                if not np.isfinite(values).all():
                    raise FloatingPointError(
                        "KinematicForecaster.fit diverged (non-finite loss); lower "
                        "learning_rate."
                    )
                losses.append(values)
                done += n
                if bar is not None:
                    bar.update(n)
                    bar.set_postfix(loss=float(values[-1]))
                if len(losses) >= 2:
                    prev, last = losses[-2].mean(), losses[-1].mean()
                    if abs(prev - last) <= tol * max(1.0, abs(last)):
                        converged = True
                        break
            if bar is not None:
                bar.close()
            self.params_ = jax.tree_util.tree_map(np.asarray, params)
        self.loss_curve_ = np.concatenate(losses)
        self.n_iter_ = int(done)
        self.converged_ = converged
        self.n_past_ = past.shape[1]
        if not converged:
            warnings.warn(
                f"KinematicForecaster did not converge in {max_iter} steps (tol={tol}); "
                "increase max_iter.",
                ConvergenceWarning,
                stacklevel=2,
            )
        return self

    def predict(self, past):
        """Position mixture per future step, in world coordinates.

        Parameters
        ----------
        past : array, shape (n_agents, n_past, 2)

        Returns
        -------
        mixtures.gaussian.GMM
            Holding NumPy float64 arrays: ``log_weights`` (n_agents, horizon, K), ``means``
            (n_agents, horizon, K, 2) (m), ``covariances`` (n_agents, horizon, K, 2, 2) (m^2).
        """
        check_is_fitted(self, "params_")
        past = self._check_past(past, self.n_past_)
        cfg = self._config()
        origin, R, feats, v0 = _agent_frame(past, cfg.dt)
        with x64():
            params = jax.tree_util.tree_map(jnp.asarray, self.params_)
            gmm = _forecaster.forecast(params, jnp.asarray(feats), jnp.asarray(v0), cfg)
        means = np.einsum("nij,ntkj->ntki", R, np.asarray(gmm.means)) + origin[:, None, None]
        covs = np.einsum("nij,ntkjl,nml->ntkim", R, np.asarray(gmm.covariances), R)
        return gaussian.GMM(np.asarray(gmm.log_weights), means, covs, "full")

    def score(self, past, future):
        """Mean trajectory-level negative log-likelihood of ``future`` (nats; lower is better).

        Parameters
        ----------
        past : array, shape (n_agents, n_past, 2)
        future : array, shape (n_agents, horizon, 2)

        Returns
        -------
        float
        """
        check_is_fitted(self, "params_")
        past = self._check_past(past, self.n_past_)
        future = self._check_future(future, past, self.horizon)
        cfg = self._config()
        origin, R, feats, v0 = _agent_frame(past, cfg.dt)
        local = self._local_future(future, origin, R)
        with x64():
            params = jax.tree_util.tree_map(jnp.asarray, self.params_)
            return float(_forecaster.loss(params, jnp.asarray(feats), jnp.asarray(v0),
                                          jnp.asarray(local), cfg))

    def min_ade_fde(self, past, future, k=None):
        """Best-of-k average and final displacement errors.

        Parameters
        ----------
        past : array, shape (n_agents, n_past, 2)
        future : array, shape (n_agents, horizon, 2)
        k : int, optional
            Number of most probable modes considered (default: all ``n_modes``).

        Returns
        -------
        min_ade, min_fde : float
            Means over agents of the smallest (over the k modes) average and final Euclidean
            errors of the mode means (m).
        """
        gmm = self.predict(past)
        future = self._check_future(future, np.asarray(past), self.horizon)
        k = self.n_modes if k is None else check_scalar(k, "k", kind="int", low=1,
                                                         high=self.n_modes)
        order = np.argsort(-gmm.log_weights[:, 0, :], axis=1)[:, :k]  # (n, k)
        means = np.take_along_axis(gmm.means, order[:, None, :, None], axis=2)  # (n, T, k, 2)
        err = np.linalg.norm(means - future[:, :, None, :], axis=-1)  # (n, T, k)
        return float(err.mean(axis=1).min(axis=1).mean()), float(err[:, -1].min(axis=1).mean())
