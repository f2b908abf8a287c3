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
    observed future with minibatch Adam (optax), optionally with an L2 weight penalty
    (``alpha``) and early stopping on held-out tracks (``early_stopping``); with few training
    tracks use them, as the test NLL otherwise rises after a few hundred steps.

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
    alpha : float
        L2 penalty on the network's weight matrices (>= 0, biases excluded): training
        minimises the mean NLL per track (nats) plus ``alpha * sum(W**2) / (2 * n_train)``
        over the ``n_train`` training tracks, i.e. the negative log-posterior per track under
        a zero-mean Gaussian prior of precision ``alpha`` on the weights, so the penalty
        weighs more when there are fewer tracks. 0 (default) disables it. Choose it on
        training data only, e.g. fit a small grid with ``early_stopping=True`` and keep the
        fit with the lowest ``best_validation_score_`` (the held-out tracks depend only on
        ``random_state``), as ``benchmarks/bench_kinematic.py`` does.
    tol : float
        Convergence (>= 0, relative): without early stopping, training stops when the mean
        training loss changes by at most ``tol * max(1, |loss|)`` between consecutive windows
        of 50 steps; with early stopping, a validation check counts as an improvement only
        if it lowers the best validation NLL by more than ``tol * max(1, |best|)``.
    early_stopping : bool
        Hold out a random ``validation_fraction`` of the training tracks, evaluate the mean
        NLL on them every 50 Adam steps, stop when it has not improved for
        ``n_iter_no_change`` consecutive checks, and keep the parameters of the best check
        (as scikit-learn's ``MLPRegressor(early_stopping=True)``). The split is drawn from
        ``random_state``. Recommended with few tracks, where the test NLL first falls and then
        rises as the action variances become overconfident.
    validation_fraction : float
        Fraction of the tracks held out when ``early_stopping`` (in (0, 1); ``ceil(
        validation_fraction * n_agents)`` tracks, at least one, and at least one must remain
        for training). Ignored otherwise.
    n_iter_no_change : int
        Early stopping patience, in validation checks (>= 1; one check every 50 Adam steps,
        so the patience is ``50 * n_iter_no_change`` steps). Ignored without early stopping.
    dt : float
        Time step between positions (s).
    wheelbase : float
        Wheelbase of the kinematic bicycle model (m).
    random_state : None, int, numpy.random.Generator or JAX key
        Initial weights, minibatches and the validation split.
    verbose : bool
        Show a tqdm progress bar.

    Attributes
    ----------
    params_ : list of dict of numpy.ndarray
        Network weights.
    loss_curve_ : numpy.ndarray, shape ``(n_iter_,)``
        Training loss (mean NLL, nats) per step.
    n_iter_ : int
        Adam steps run.
    converged_ : bool
        True when training stopped before ``max_iter`` (training loss converged, or early
        stopping triggered).
    validation_indices_ : numpy.ndarray of int, shape (n_validation,) or None
        Indices (into the tracks passed to ``fit``) of the held-out validation tracks; None
        without early stopping.
    validation_scores_ : numpy.ndarray, shape (n_checks,) or None
        Mean validation NLL (nats) after every 50 Adam steps; None without early stopping.
    best_validation_score_ : float or None
        The lowest entry of ``validation_scores_`` (nats), that of the kept parameters.
    best_iter_ : int or None
        The Adam step after which the kept parameters were taken (early stopping only).
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
        alpha=0.0,
        tol=1e-3,
        dt=0.25,
        wheelbase=2.8,
        random_state=None,
        verbose=False,
        early_stopping=False,
        validation_fraction=0.1,
        n_iter_no_change=10,
    ):
        self.n_modes = n_modes
        self.horizon = horizon
        self.prior = prior
        self.formulation = formulation
        self.hidden = hidden
        self.max_iter = max_iter
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.alpha = alpha
        self.tol = tol
        self.dt = dt
        self.wheelbase = wheelbase
        self.random_state = random_state
        self.verbose = verbose
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change

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

    def _check_early_stopping(self, n_agents):
        """Validate the early-stopping settings; return (early, n_validation, patience)."""
        early = self.early_stopping
        if not isinstance(early, bool | np.bool_):
            raise ValueError(f"early_stopping must be True or False, got {early!r}.")
        frac = check_scalar(self.validation_fraction, "validation_fraction", low=0.0,
                            high=1.0, low_open=True, high_open=True)
        patience = check_scalar(self.n_iter_no_change, "n_iter_no_change", kind="int", low=1)
        n_val = int(np.ceil(frac * n_agents))
        if early and n_agents - n_val < 1:
            raise ValueError(
                f"validation_fraction={frac} holds out {n_val} of {n_agents} tracks and leaves "
                "none for training; lower validation_fraction or pass more tracks."
            )
        return bool(early), n_val, patience

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
        alpha = check_scalar(self.alpha, "alpha", low=0.0)
        past = self._check_past(past)
        future = self._check_future(future, past, cfg.horizon)
        early, n_val, patience = self._check_early_stopping(len(past))
        batch = 0
        if self.batch_size is not None:
            batch = check_scalar(self.batch_size, "batch_size", kind="int", low=1)
        origin, R, feats, v0 = _agent_frame(past, cfg.dt)
        local = self._local_future(future, origin, R)
        key, train_key = jax.random.split(as_key(self.random_state))
        val_idx = None
        if early:
            perm = np.asarray(jax.random.permutation(jax.random.fold_in(key, 1), len(past)))
            val_idx, train_idx = np.sort(perm[:n_val]), np.sort(perm[n_val:])
            val_data = (feats[val_idx], v0[val_idx], local[val_idx])
            feats, v0, local = feats[train_idx], v0[train_idx], local[train_idx]
        batch = 0 if batch >= len(feats) else batch
        losses, val_scores = [], []
        best_val, best_params, best_iter, no_improvement = np.inf, None, None, 0
        converged = False
        with x64():
            feats_j, v0_j, fut_j = jnp.asarray(feats), jnp.asarray(v0), jnp.asarray(local)
            if early:
                val_j = tuple(jnp.asarray(a) for a in val_data)
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
                    params, opt_state, k, feats_j, v0_j, fut_j, cfg, n, lr, batch, alpha
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
                if early:
                    val = float(_forecaster.loss(params, *val_j, cfg))
                    val = val if np.isfinite(val) else np.inf
                    val_scores.append(val)
                    if not np.isfinite(best_val):  # first finite check
                        improved = np.isfinite(val)
                    else:
                        improved = val < best_val - tol * max(1.0, abs(best_val))
                    if improved:
                        no_improvement = 0
                    else:
                        no_improvement += 1
                    if val < best_val:
                        best_val, best_iter = val, done
                        best_params = jax.tree_util.tree_map(np.asarray, params)
                    if no_improvement >= patience:
                        converged = True
                        break
                elif len(losses) >= 2:
                    prev, last = losses[-2].mean(), losses[-1].mean()
                    if abs(prev - last) <= tol * max(1.0, abs(last)):
                        converged = True
                        break
            if bar is not None:
                bar.close()
            if early and best_params is None:
                raise FloatingPointError(
                    "KinematicForecaster.fit: the validation loss was never finite; lower "
                    "learning_rate."
                )
            self.params_ = best_params if early else jax.tree_util.tree_map(np.asarray, params)
        self.loss_curve_ = np.concatenate(losses)
        self.n_iter_ = int(done)
        self.converged_ = converged
        self.n_past_ = past.shape[1]
        self.validation_indices_ = val_idx
        self.validation_scores_ = np.asarray(val_scores) if early else None
        self.best_validation_score_ = float(best_val) if early else None
        self.best_iter_ = int(best_iter) if early else None
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
