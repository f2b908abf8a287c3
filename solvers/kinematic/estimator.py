"""KinematicForecaster: a small JAX MLP with a Gaussian-mixture head and a kinematic prior."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax

from mixtures import as_key, gaussian, x64
from mixtures.base import (
    Bool,
    DivergenceError,
    Integer,
    MixturesEstimator,
    Options,
    Real,
    check_array,
    check_same_length,
    check_scalar,
    pad_axis,
    padded_length,
)
from solvers.kinematic import _forecaster
from solvers.kinematic._core import FORMULATIONS

__all__ = ["KinematicForecaster"]

_CHUNK = 50  # Adam steps per compiled chunk (also the window of the convergence test)


def _agent_frame(past, length_scale):
    """Origin, rotation, encoder features and speed from the observed past.

    The features and the speed are in normalised units (lengths over ``length_scale``, time
    in steps), so that they do not depend on the units of the positions.
    """
    origin = past[:, -1]
    step = past[:, -1] - past[:, -2]
    heading = np.arctan2(step[:, 1], step[:, 0])
    c, s = np.cos(heading), np.sin(heading)
    R = np.stack([np.stack([c, -s], -1), np.stack([s, c], -1)], -2)  # agent -> world
    local = np.einsum("nji,ntj->nti", R, past - origin[:, None]) / length_scale
    v0 = np.linalg.norm(step, axis=1) / length_scale  # step lengths per step
    feats = np.concatenate(
        [local.reshape(len(past), -1) / _forecaster.FEATURE_SCALE, v0[:, None]], axis=1
    )
    return origin, R, feats, v0


def _step_length(past, future):
    """RMS distance between consecutive positions of the tracks (past, then future)."""
    tracks = np.concatenate([past, future], axis=1)
    return float(np.sqrt(np.mean(np.sum(np.diff(tracks, axis=1) ** 2, axis=-1))))


def _padded(arrays, n):
    """Pad the agent axis of ``arrays`` to the bucket of ``n``; return them and the mask."""
    length = padded_length(n)
    mask = pad_axis(np.ones(n), length)
    return [pad_axis(a, length) for a in arrays], mask


class KinematicForecaster(MixturesEstimator):
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

    The network works in normalised units: positions are divided by the training tracks'
    step length ``length_scale_`` (the RMS distance between consecutive positions) and time
    is counted in steps. Positions in feet instead of metres, or pedestrians instead of cars,
    therefore give the same model: predictions scale with the positions and the
    log-likelihood shifts by the log-Jacobian (``-2 * horizon * log(c)`` per trajectory for
    positions times ``c``).

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
        fit with the highest ``best_validation_score_`` (the held-out tracks depend only on
        ``random_state``), as ``benchmarks/bench_kinematic.py`` does.
    tol : float
        Convergence (>= 0, relative): without early stopping, training stops when the mean
        training loss (in normalised units) changes by at most ``tol * max(1, |loss|)``
        between consecutive windows of 50 steps; with early stopping, a validation check
        counts as an improvement only if it raises the best validation log-likelihood (in
        normalised units) by more than ``tol * max(1, |best|)``.
    dt : float
        Time between consecutive positions (s, or any time unit). The fit does not depend on
        it (the network counts time in steps); it sets the time unit of ``speed_scale_``.
    wheelbase : float or None
        Wheelbase of the kinematic bicycle model, in the unit of the positions. None
        (default): 1.24 step lengths (``1.24 * length_scale_``, a car's 2.8 m wheelbase over
        its 2.25 m step at 9 m/s and 4 Hz), so that the default does not depend on units.
    random_state : None, int, numpy.random.Generator or JAX key
        Initial weights, minibatches and the validation split.
    verbose : bool
        Show a tqdm progress bar.
    early_stopping : bool
        Hold out a random ``validation_fraction`` of the training tracks, evaluate the mean
        log-likelihood on them every 50 Adam steps, stop when it has not improved for
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

    Attributes
    ----------
    params_ : list of dict of numpy.ndarray
        Network weights (acting on normalised units).
    length_scale_ : float
        RMS distance between consecutive positions of the training tracks (unit of the
        positions): the unit of length of the network.
    speed_scale_ : float
        ``length_scale_ / dt`` (positions' unit per time unit).
    wheelbase_ : float
        The wheelbase used (unit of the positions).
    loss_curve_ : numpy.ndarray, shape ``(n_iter_,)``
        Training loss per step: mean NLL per trajectory (nats, in the units of the
        positions, comparable with :meth:`nll`; with minibatches, that of the batch).
    n_iter_ : int
        Adam steps run (<= ``max_iter``).
    converged_ : bool
        True when training stopped before ``max_iter`` because its criterion held (training
        loss converged, or early stopping triggered).
    validation_indices_ : numpy.ndarray of int, shape (n_validation,) or None
        Indices (into the tracks passed to ``fit``) of the held-out validation tracks; None
        without early stopping.
    validation_scores_ : numpy.ndarray, shape (n_checks,) or None
        Mean log-likelihood per validation track (nats, higher is better; as :meth:`score`)
        after every 50 Adam steps; None without early stopping.
    best_validation_score_ : float or None
        The highest entry of ``validation_scores_`` (nats), that of the kept parameters.
    best_iter_ : int or None
        The Adam step after which the kept parameters were taken (early stopping only).
    n_past_ : int
        Length of the past track seen in ``fit``.
    n_features_in_ : int
        Number of coordinates of one observed past track, ``2 * n_past_`` (``past`` read as
        a table with one row per track).
    """

    _parameter_constraints = {
        "n_modes": Integer(low=1),
        "horizon": Integer(low=1),
        "prior": Options(("kinematic", "none")),
        "formulation": Options(FORMULATIONS),
        "hidden": Integer(low=1),
        "max_iter": Integer(low=1),
        "batch_size": Integer(low=1, allow_none=True),
        "learning_rate": Real(low=0.0, low_open=True),
        "alpha": Real(low=0.0),
        "tol": Real(low=0.0),
        "dt": Real(low=0.0, low_open=True),
        "wheelbase": Real(low=0.0, low_open=True, allow_none=True),
        "random_state": None,
        "verbose": Bool(),
        "early_stopping": Bool(),
        "validation_fraction": Real(low=0.0, high=1.0, low_open=True, high_open=True),
        "n_iter_no_change": Integer(low=1),
    }

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
        wheelbase=None,
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
    def _config(self, params=None):
        p = self._validate_params() if params is None else params
        return _forecaster.Config(
            n_modes=p["n_modes"], horizon=p["horizon"], prior=p["prior"],
            formulation=p["formulation"], hidden=p["hidden"],
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
        """Future positions in the agent frame, normalised units."""
        return np.einsum("nji,ntj->nti", R, future - origin[:, None]) / self.length_scale_

    def _log_jacobian(self, horizon):
        # NLL in the positions' units = normalised NLL + 2 T log(ell) per trajectory
        return 2.0 * horizon * np.log(self.length_scale_)

    def _track_nll(self, feats, v0, local, cfg):
        """NLL per track (normalised units) with the agent axis padded to its bucket."""
        n = len(feats)
        (feats, v0, local), _ = _padded([feats, v0, local], n)
        with x64():
            params = jax.tree_util.tree_map(jnp.asarray, self.params_)
            out = _forecaster.track_nll(params, jnp.asarray(feats), jnp.asarray(v0),
                                        jnp.asarray(local), self._wheelbase_steps(), cfg)
            return np.asarray(out)[:n]

    def _wheelbase_steps(self):
        return float(self.wheelbase_ / self.length_scale_)

    # ------------------------------------------------------------------ API
    def fit(self, past, future):
        """Train on observed tracks.

        Parameters
        ----------
        past : array, shape (n_agents, n_past, 2)
            Observed positions (any length unit, e.g. m), the last one is the present.
        future : array, shape (n_agents, horizon, 2)
            The positions at the next ``horizon`` steps (same unit).

        Returns
        -------
        self

        Raises
        ------
        DivergenceError
            When the training or validation loss becomes non-finite (lower
            ``learning_rate``).
        """
        p = self._validate_params()
        cfg = self._config(p)
        max_iter, lr, tol, alpha = p["max_iter"], p["learning_rate"], p["tol"], p["alpha"]
        early, patience = p["early_stopping"], p["n_iter_no_change"]
        past = self._check_past(past)
        future = self._check_future(future, past, cfg.horizon)
        n_agents = len(past)
        self.n_features_in_ = 2 * past.shape[1]
        n_val = int(np.ceil(p["validation_fraction"] * n_agents))
        if early and n_agents - n_val < 1:
            raise ValueError(
                f"validation_fraction={p['validation_fraction']} holds out {n_val} of "
                f"{n_agents} tracks and leaves none for training; lower validation_fraction "
                "or pass more tracks."
            )
        key, train_key = jax.random.split(as_key(self.random_state))
        val_idx, train_idx = None, np.arange(n_agents)
        if early:
            # a NumPy permutation seeded from the key: fixed-shape JAX work, so a new number
            # of tracks compiles nothing
            seed = np.asarray(jax.random.bits(jax.random.fold_in(key, 1), (4,), jnp.uint32))
            perm = np.random.default_rng(seed).permutation(n_agents)
            val_idx, train_idx = np.sort(perm[:n_val]), np.sort(perm[n_val:])
        # the unit of length: from the training tracks only (validation stays held out)
        self.length_scale_ = _step_length(past[train_idx], future[train_idx])
        self.wheelbase_ = float(
            p["wheelbase"] if p["wheelbase"] is not None
            else _forecaster.WHEELBASE_STEPS * self.length_scale_
        )
        self.speed_scale_ = self.length_scale_ / p["dt"]
        wheelbase = self._wheelbase_steps()
        origin, R, feats, v0 = _agent_frame(past, self.length_scale_)
        local = self._local_future(future, origin, R)
        shift = self._log_jacobian(cfg.horizon)
        if early:
            val_data = (feats[val_idx], v0[val_idx], local[val_idx])
            feats, v0, local = feats[train_idx], v0[train_idx], local[train_idx]
        n_train = len(feats)
        batch = p["batch_size"] or 0
        batch = 0 if batch >= n_train else batch
        (feats_p, v0_p, local_p), mask = _padded([feats, v0, local], n_train)
        if early:
            val_p, _ = _padded(list(val_data), n_val)
        losses, val_scores = [], []
        best_val, best_params, best_iter, no_improvement = -np.inf, None, None, 0
        converged = False
        with x64():
            data = tuple(jnp.asarray(a) for a in (feats_p, v0_p, local_p, mask))
            if early:
                val_j = tuple(jnp.asarray(a) for a in val_p)
            params = _forecaster.init_params(key, feats.shape[1], cfg, jnp.float64)
            opt_state = optax.adam(lr).init(params)
            bar = None
            if p["verbose"]:
                from tqdm.auto import tqdm

                bar = tqdm(total=max_iter, desc="KinematicForecaster")
            done = 0
            while done < max_iter:
                n = min(_CHUNK, max_iter - done)
                train_key, k = jax.random.split(train_key)
                params, opt_state, values = _forecaster.train_chunk(
                    params, opt_state, k, *data, wheelbase, n, lr, alpha, cfg=cfg,
                    chunk=_CHUNK, batch_size=batch,
                )
                values = np.asarray(values)[:n]
                if not np.isfinite(values).all():
                    raise DivergenceError(
                        "KinematicForecaster.fit diverged (non-finite loss); lower "
                        "learning_rate."
                    )
                losses.append(values)
                done += n
                if bar is not None:
                    bar.update(n)
                    bar.set_postfix(loss=float(values[-1] + shift))
                if early:
                    # mean log-likelihood per held-out track, normalised units
                    nll = np.asarray(_forecaster.track_nll(params, *val_j, wheelbase, cfg))
                    val = -float(np.mean(nll[:n_val]))
                    val = val if np.isfinite(val) else -np.inf
                    val_scores.append(val)
                    if not np.isfinite(best_val):  # first finite check
                        improved = np.isfinite(val)
                    else:
                        improved = val > best_val + tol * max(1.0, abs(best_val))
                    no_improvement = 0 if improved else no_improvement + 1
                    if val > best_val:
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
                raise DivergenceError(
                    "KinematicForecaster.fit: the validation loss was never finite; lower "
                    "learning_rate."
                )
            self.params_ = best_params if early else jax.tree_util.tree_map(np.asarray, params)
        self.loss_curve_ = np.concatenate(losses) + shift
        self.n_past_ = past.shape[1]
        self.validation_indices_ = val_idx
        self.validation_scores_ = np.asarray(val_scores) - shift if early else None
        self.best_validation_score_ = float(best_val - shift) if early else None
        self.best_iter_ = int(best_iter) if early else None
        self._set_convergence(converged, done, max_iter, hint="increase max_iter")
        return self

    def predict(self, past):
        """Position mixture per future step, in world coordinates.

        Parameters
        ----------
        past : array, shape (n_agents, n_past, 2)
            Observed positions, in the unit used in ``fit``.

        Returns
        -------
        mixtures.gaussian.GMM
            Holding NumPy float64 arrays: ``log_weights`` (n_agents, horizon, K), ``means``
            (n_agents, horizon, K, 2) (unit of the positions), ``covariances`` (n_agents,
            horizon, K, 2, 2) (squared unit).
        """
        self._check_fitted()
        past = self._check_past(past, self.n_past_)
        cfg = self._config()
        origin, R, feats, v0 = _agent_frame(past, self.length_scale_)
        n = len(past)
        (feats, v0), _ = _padded([feats, v0], n)
        with x64():
            params = jax.tree_util.tree_map(jnp.asarray, self.params_)
            gmm = _forecaster.forecast(params, jnp.asarray(feats), jnp.asarray(v0),
                                       self._wheelbase_steps(), cfg)
            logw, mu, cov = (np.asarray(a)[:n] for a in (gmm.log_weights, gmm.means,
                                                          gmm.covariances))
        ell = self.length_scale_
        means = ell * np.einsum("nij,ntkj->ntki", R, mu) + origin[:, None, None]
        covs = ell**2 * np.einsum("nij,ntkjl,nml->ntkim", R, cov, R)
        return gaussian.GMM(logw, means, covs, "full")

    def score_samples(self, past, future):
        """Trajectory-level log-likelihood of each observed future (nats).

        Parameters
        ----------
        past : array, shape (n_agents, n_past, 2)
        future : array, shape (n_agents, horizon, 2)
            Positions, in the unit used in ``fit`` (the log-likelihood is a density in that
            unit: positions times ``c`` shift it by ``-2 * horizon * log(c)``).

        Returns
        -------
        numpy.ndarray, shape (n_agents,)
        """
        self._check_fitted()
        past = self._check_past(past, self.n_past_)
        cfg = self._config()
        future = self._check_future(future, past, cfg.horizon)
        origin, R, feats, v0 = _agent_frame(past, self.length_scale_)
        local = self._local_future(future, origin, R)
        return -(self._track_nll(feats, v0, local, cfg) + self._log_jacobian(cfg.horizon))

    def score(self, past, future):
        """Mean trajectory-level log-likelihood of ``future`` per trajectory (nats; higher is
        better), so that ``GridSearchCV`` and ``cross_val_score`` pick the best model.

        Parameters
        ----------
        past : array, shape (n_agents, n_past, 2)
        future : array, shape (n_agents, horizon, 2)

        Returns
        -------
        float
            ``score_samples(past, future).mean()``; equals ``-nll(past, future)``.
        """
        return float(np.mean(self.score_samples(past, future)))

    def nll(self, past, future):
        """Mean trajectory-level negative log-likelihood of ``future`` (nats; lower is
        better): ``-score(past, future)``.

        Parameters
        ----------
        past : array, shape (n_agents, n_past, 2)
        future : array, shape (n_agents, horizon, 2)

        Returns
        -------
        float
        """
        return -self.score(past, future)

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
            errors of the mode means (unit of the positions).
        """
        gmm = self.predict(past)
        past = check_array(past, "past", ndim=3)
        n_modes = gmm.log_weights.shape[-1]
        future = self._check_future(future, past, gmm.means.shape[1])
        k = n_modes if k is None else check_scalar(k, "k", kind="int", low=1, high=n_modes)
        order = np.argsort(-gmm.log_weights[:, 0, :], axis=1)[:, :k]  # (n, k)
        means = np.take_along_axis(gmm.means, order[:, None, :, None], axis=2)  # (n, T, k, 2)
        err = np.linalg.norm(means - future[:, :, None, :], axis=-1)  # (n, T, k)
        return float(err.mean(axis=1).min(axis=1).mean()), float(err[:, -1].min(axis=1).mean())
