"""KinematicForecaster: a small JAX MLP with a Gaussian-mixture head and a kinematic prior."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax

from mixtures import as_key, sharding, x64
from mixtures.base import (
    Bool,
    DivergenceError,
    Integer,
    MixturesEstimator,
    Options,
    Real,
    pad_axis,
    padded_length,
)
from mixtures.gaussian import GMM
from solvers.kinematic import _forecaster, _tracks
from solvers.kinematic._core import FORMULATIONS
from solvers.kinematic.baselines import (
    ConstantVelocity,
    ConstantVelocityKalman,
    KinematicPropagation,
)

__all__ = ["KinematicForecaster"]

_CHUNK = 50  # Adam steps per compiled chunk (also the window of the convergence test)


def _padded(arrays, n):
    """Pad the agent axis of ``arrays`` to the bucket of ``n``; return them and the mask."""
    length = padded_length(n)
    mask = pad_axis(np.ones(n), length)
    return [pad_axis(a, length) for a in arrays], mask


def _max_steer(local_past, local_future, wheelbase):
    """Steering bound (rad) from the sharpest turns of the training tracks.

    The 99th percentile of the heading change per step length between consecutive moving
    steps (longer than half a step length), times the wheelbase, doubled for margin, as a
    steering angle; 1.4 rad at most (``tan`` grows without bound towards pi / 2).
    """
    tracks = np.concatenate([local_past, local_future], axis=1)
    d = np.diff(tracks, axis=1)
    a, b = d[:, :-1], d[:, 1:]
    la, lb = np.linalg.norm(a, axis=-1), np.linalg.norm(b, axis=-1)
    ok = np.isfinite(la) & np.isfinite(lb) & (la > 0.5) & (lb > 0.5)
    if not ok.any():
        return 1.4
    turn = (
        np.abs(np.arctan2(a[..., 0] * b[..., 1] - a[..., 1] * b[..., 0], np.sum(a * b, axis=-1)))[
            ok
        ]
        / lb[ok]
    )
    return float(np.clip(np.arctan(2.0 * wheelbase * np.quantile(turn, 0.99)), 0.05, 1.4))


def _action_scales(local_past, local_future, wheelbase, m0, formulation):
    """Units of the network's action-mean corrections (normalised units), from the training
    futures: the RMS deviation of the actions that reproduce them from the baseline's
    zero-correction actions.

    The baseline's fitted action noise is the wrong unit for deliberate manoeuvres: where an
    isotropic drift explains most of the spread, its acceleration and steering deviations
    come out far smaller than a turn or a braking. The actions are read off the futures by
    finite differences in the agent frame (the present displacement, then one per future
    step): ``acceleration_steering``: change of step length and steering angle
    ``atan(wheelbase * turn / step)`` (moving steps only, longer than half a step length);
    ``speed_heading``: step length minus the present speed, heading of the step;
    ``velocity``: displacement minus the present velocity; ``acceleration``: change of
    displacement. Returns two scales, shape (2,) (NaN where no step qualifies).
    """
    last = local_past[:, -1:, :2]
    prev = local_past[:, -2:-1, :2] if local_past.shape[1] > 1 else last
    tracks = np.concatenate([prev, last, local_future], axis=1)
    d = np.diff(tracks, axis=1)  # (n, T + 1, 2): present displacement, then the future's
    step = np.linalg.norm(d, axis=-1)

    def rms(x):
        x = x[np.isfinite(x)]
        return float(np.sqrt(np.mean(x**2))) if x.size else np.nan

    if formulation == "acceleration_steering":
        a, b = d[:, :-1], d[:, 1:]
        la, lb = step[:, :-1], step[:, 1:]
        turn = np.arctan2(a[..., 0] * b[..., 1] - a[..., 1] * b[..., 0], np.sum(a * b, axis=-1))
        moving = np.isfinite(la) & np.isfinite(lb) & (la > 0.5) & (lb > 0.5)
        steer = np.arctan(wheelbase * turn[moving] / lb[moving])
        return np.array([rms(lb - la), rms(steer)])
    future = d[:, 1:]
    if formulation == "speed_heading":
        v0 = m0[:, 3:4]
        heading = np.arctan2(future[..., 1], future[..., 0])
        return np.array([rms(step[:, 1:] - v0), rms(heading[step[:, 1:] > 0.5])])
    if formulation == "velocity":
        v0 = m0[:, 3:4, None] * np.stack([np.cos(m0[:, 2:3]), np.sin(m0[:, 2:3])], axis=-1)
        dev = future - v0
        return np.array([rms(dev[..., 0]), rms(dev[..., 1])])
    acc = np.diff(d, axis=1)
    return np.array([rms(acc[..., 0]), rms(acc[..., 1])])


def _feature_groups(n_past, n_channels):
    """Group of each encoder input (see ``KinematicForecaster._encode``): 0 lengths (past
    positions, filtered position), 1 dimensionless (observed mask, cos and sin of headings),
    2 speeds (filtered speed, speed channel)."""
    groups = [0] * (2 * n_past) + [1] * n_past + [0, 0, 1, 1, 2]
    if n_channels == 4:
        groups += [1] * (2 * n_past) + [2] * n_past
    return np.asarray(groups)


def _feature_scales(feats, groups):
    """One scale per feature group: the RMS magnitude of the group's inputs (1 for the
    dimensionless group).

    A scale shared by the group keeps the geometry of the track: a small lateral deviation
    stays small beside the distance travelled. Scaling each input by its own spread would
    blow up inputs that hardly vary (the lateral positions of a straight approach, or a
    filtered position at rounding level on noise-free tracks) to unit variance, which lets
    the network fit their noise: it then generalises far worse from a few hundred tracks.
    """
    scales = np.ones(feats.shape[1])
    for g in (0, 2):
        sel = groups == g
        rms = float(np.sqrt(np.mean(feats[:, sel] ** 2)))
        scales[sel] = rms if rms > 1e-12 else 1.0
    return scales


def _defensive_weight(ll_base, ll_net, groups, n_grid=4000):
    """Weight of the physics baseline in ``w * baseline + (1 - w) * network``, from held-out
    windows: the posterior mean of ``w`` under a uniform prior.

    Each held-out track counts as one observation (its windows are not independent): its
    log-likelihood is the mean over its windows of ``log(w p_base + (1 - w) p_net)``, from
    the per-window log-likelihoods ``ll_base`` and ``ll_net`` (n_windows,). The likelihood
    of ``g`` tracks is ``(1 - w)^g`` times a function increasing in ``w`` (and ``w^g`` times
    one decreasing), so the posterior mean lies in ``[1 / (g + 2), (g + 1) / (g + 2)]``
    (Laplace's rule of succession at the extremes): the mixture's log-likelihood of any
    window is at most ``log(g + 2)`` below the baseline's, however overconfident the network.
    Midpoint rule on ``n_grid`` points of (0, 1).
    """
    _, inv = np.unique(groups, return_inverse=True)
    per_window = 1.0 / np.bincount(inv)[inv]  # the windows of a track share one unit of weight
    ll_net = np.where(np.isnan(ll_net), -np.inf, ll_net)
    w = (np.arange(n_grid) + 0.5) / n_grid
    ll = np.logaddexp(np.log(w)[:, None] + ll_base, np.log1p(-w)[:, None] + ll_net)
    log_post = ll @ per_window
    post = np.exp(log_post - log_post.max())
    return float(np.sum(w * post) / np.sum(post))


#: the physics baselines the defensive component is chosen from (built from its parameters)
_BASELINES = {
    "ConstantVelocity": lambda p: ConstantVelocity(dt=p["dt"]),
    "ConstantVelocityKalman": lambda p: ConstantVelocityKalman(dt=p["dt"]),
    "KinematicPropagation": lambda p: KinematicPropagation(dt=p["dt"], wheelbase=p["wheelbase"]),
}


def _check_devices(value, name):
    """A ``devices=`` argument, checked (:func:`mixtures.sharding.resolve_devices`), kept."""
    if value is not None:
        try:
            sharding.resolve_devices(value)
        except (TypeError, ValueError) as exc:
            raise type(exc)(f"{name}: {exc}") from None
    return value


def _shard_training_data(data, mesh):
    """The training arrays ``(feats, m0, P0, future, mask)`` with their rows split over
    ``mesh``, padded to a multiple of its devices with zero-weight rows (a proper
    covariance, mask 0)."""
    n = data[0].shape[0]
    length = sharding.padded_rows(n, mesh)
    out = [np.array(pad_axis(np.asarray(a), length)) for a in data]
    out[2][n:] = np.eye(4)
    return tuple(sharding.shard_rows(a, mesh) for a in out)


def _with_defensive(gmm, base, weight):
    """The network's mixture ``gmm`` (K modes) and the baseline's Gaussian ``base`` as one
    mixture of K + 1 modes, the baseline weighted ``weight`` (the last mode)."""
    return GMM(
        np.concatenate(
            [np.log1p(-weight) + gmm.log_weights, np.log(weight) + base.log_weights], axis=-1
        ),
        np.concatenate([gmm.means, base.means], axis=2),
        np.concatenate([gmm.covariances, base.covariances], axis=2),
        "full",
    )


def _zero_head(params):
    """The network with its output layer zeroed: every mode is the baseline."""
    out = [dict(layer) for layer in params]
    out[-1] = {k: np.zeros_like(v) for k, v in out[-1].items()}
    return out


class KinematicForecaster(MixturesEstimator):
    """Multimodal trajectory forecaster that learns on top of a stochastic kinematic model.

    ``fit`` first fits the physics baseline :class:`KinematicPropagation` on the training
    tracks (a constant-velocity Kalman filter for the present state, then the bicycle model
    with acceleration and steering noise, all by maximum likelihood). An MLP encodes the
    observed past (in the agent's frame). With ``prior="kinematic"`` its head predicts, for
    each of ``n_modes`` modes, a mode weight and per future step *corrections* to the
    baseline's action distribution: action means in units of the baseline's action standard
    deviations, factors on those deviations, and a factor on the spread the bicycle does not
    model (the baseline's initial-state, drift and measurement variance). The actions are
    integrated by the chosen kinematic formulation from the filtered state and their
    uncertainty is propagated analytically (:func:`propagate`, first-order, full covariance),
    giving a Gaussian mixture over the position at every step. Zero network outputs reproduce
    the baseline exactly (``acceleration_steering``), and the L2 penalty ``alpha`` shrinks the
    network towards them. With ``early_stopping`` the three physics baselines
    (:class:`ConstantVelocity`, :class:`ConstantVelocityKalman`, :class:`KinematicPropagation`)
    fitted on the training rows are scored on the held-out tracks, and the best of them,
    refitted on all training tracks, stays in the model as a defensive mixture component
    (``defensive_``): the forecast is ``w * baseline + (1 - w) * network`` (``n_modes + 1``
    modes, the baseline last), ``w`` (``defensive_weight_``) the posterior mean of the
    mixture weight given the held-out tracks under a uniform prior, each track counting as
    one observation. With ``g`` held-out tracks ``w`` lies in ``[1 / (g + 2), (g + 1) / (g +
    2)]``, so no window scores more than ``log(g + 2)`` nats below that baseline, however
    overconfident the network; it approaches 0 as the held-out tracks favour the network.
    Little data therefore gives mostly the better physics model, more data what the network
    learns. With ``prior="none"`` the head predicts
    the position means and (free) covariances directly. Training minimises the trajectory-level
    mixture NLL with minibatch Adam (optax).

    The network works in normalised units: positions are divided by the training tracks'
    step length ``length_scale_`` (the RMS distance between consecutive positions), time is
    counted in steps, the encoder inputs are scaled per group (lengths, speeds) by their RMS
    on the training tracks, the units of the action-mean corrections are the RMS actions of
    the training futures, and the action noise and the steering bound come from the fitted
    baseline and the training tracks. Positions in feet
    instead of metres, or pedestrians instead of cars, therefore give the same model:
    predictions scale with the positions and the log-likelihood shifts by the log-Jacobian
    (``-2 * horizon * log(c)`` per trajectory for positions times ``c``), up to the
    baseline optimiser's tolerance.

    Inputs: ``past`` holds positions ``(n_agents, n_past, 2)``, or positions, heading (rad)
    and speed (positions' unit per unit of ``dt``) ``(n_agents, n_past, 4)``. Earlier
    positions may be missing (NaN: short histories, gaps); the present must be observed.
    Stopped agents keep the heading of their last motion. ``groups`` (track ids) makes the
    validation split hold out whole tracks.

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
        Time between consecutive positions (s, or any time unit). Positions alone do not
        depend on it (the network counts time in steps); it converts a speed channel and
        sets the time unit of ``speed_scale_``.
    wheelbase : float or None
        Wheelbase of the kinematic bicycle model, in the unit of the positions. None
        (default): 1.24 step lengths (``1.24 * length_scale_``), so that the default does not
        depend on units. The baseline's steering noise is fitted at this wheelbase, so it
        mostly sets the unit of the steering angle.
    random_state : None, int, numpy.random.Generator or JAX key
        Initial weights, minibatches and the validation split.
    verbose : bool
        Show a tqdm progress bar.
    early_stopping : bool
        Hold out a random ``validation_fraction`` of the training tracks, evaluate the mean
        log-likelihood on them every 50 Adam steps, stop when it has not improved for
        ``n_iter_no_change`` consecutive checks, and keep the parameters of the best check
        (as scikit-learn's ``MLPRegressor(early_stopping=True)``). The split is drawn from
        ``random_state`` (whole tracks when ``groups`` is given). With the kinematic prior the
        best physics baseline on the held-out tracks joins the forecast as a defensive
        component weighted by those tracks (``defensive_``, ``defensive_weight_``), which
        is what makes learning safe with few tracks: recommended.
    validation_fraction : float
        Fraction of the tracks held out when ``early_stopping`` (in (0, 1); ``ceil(
        validation_fraction * n_tracks)`` tracks, counted by ``groups``, at least one, and at
        least one must remain for training). Ignored otherwise.
    n_iter_no_change : int
        Early stopping patience, in validation checks (>= 1; one check every 50 Adam steps,
        so the patience is ``50 * n_iter_no_change`` steps). Ignored without early stopping.
    devices : None, int, "all", "local", sequence of jax.Device or Mesh, default=None
        Devices of the training step (see :mod:`mixtures.sharding`): the training tracks
        are split over them (padded with zero-weight rows to a multiple of their number),
        the network and the optimiser state live on every device, and the compiler sums
        the per-device losses and gradients: the one-device fit, data parallel, equal to
        it up to the order of floating-point sums. None: one device.

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
        Mean held-out log-likelihood (nats) of the network kept (without the defensive
        component): the highest entry of ``validation_scores_`` (with the kinematic prior,
        the zero head's when the held-out likelihood was never finite).
    best_iter_ : int or None
        The Adam step after which the kept parameters were taken (early stopping only; 0
        for the zero head).
    baseline_validation_scores_ : dict or None
        Mean log-likelihood per held-out window (nats) of each physics baseline
        (``"ConstantVelocity"``, ``"ConstantVelocityKalman"``, ``"KinematicPropagation"``)
        fitted on the training rows; kinematic prior with early stopping only.
    baseline_validation_score_ : float or None
        The best of them: the baseline kept as the defensive component.
    defensive_ : ConstantVelocity, ConstantVelocityKalman, KinematicPropagation or None
        That baseline refitted on every training track, the last mode of every forecast;
        None without it (``prior="none"`` or no early stopping: the network alone, ``n_modes``
        modes).
    defensive_weight_ : float
        Its weight ``w`` in (0, 1) (0.0 without it): the posterior mean of the weight of
        ``w * baseline + (1 - w) * network`` under a uniform prior, given the held-out
        tracks' log-likelihoods (each track's mean over its windows, one observation per
        track).
    baseline_ : KinematicPropagation
        The fitted physics baseline the network corrects.
    max_steer_ : float
        Bound on the steering angle (rad), from the sharpest turns of the training tracks.
    feature_scale_ : numpy.ndarray, shape (n_inputs,)
        Scales of the encoder inputs: one per group (lengths, speeds; 1 for dimensionless
        inputs), the RMS magnitude of the group's inputs on the training tracks. Inputs are
        not centred: the agent frame already puts the present at the origin.
    action_scales_ : numpy.ndarray, shape (2,)
        Units of the kinematic head's action-mean corrections (normalised units: step
        lengths, steps, rad): the RMS deviation of the training futures' actions from the
        baseline's (see ``_action_scales``; never below the baseline's action sds).
    n_past_ : int
        Length of the past track seen in ``fit``.
    n_channels_ : int
        2 (positions) or 4 (positions, heading, speed).
    n_features_in_ : int
        Number of values of one observed past track, ``n_past_ * n_channels_``.
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
        "devices": lambda value, name: _check_devices(value, name),
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
        devices=None,
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
        self.devices = devices

    # ------------------------------------------------------------------ helpers
    def _config(self, params=None):
        p = self._validate_params() if params is None else params
        return _forecaster.Config(
            n_modes=p["n_modes"],
            horizon=p["horizon"],
            prior=p["prior"],
            formulation=p["formulation"],
            hidden=p["hidden"],
        )

    def _check_past(self, past, fitted=True):
        if fitted:
            return _tracks.check_past(past, self.n_past_, self.n_channels_)
        return _tracks.check_past(past)

    def _log_jacobian(self, horizon):
        # NLL in the positions' unit = normalised NLL + 2 T log(ell) per trajectory
        return 2.0 * horizon * np.log(self.length_scale_)

    def _encode(self, past, baseline):
        """Agent frame and network inputs (unscaled features) of observed tracks.

        Returns ``origin, R, local, feats, m0, P0``; the feature groups of ``feats`` are in
        :func:`_feature_groups`.
        """
        ell = self.length_scale_
        origin, heading, speed = _tracks.present_state(past, self.dt, ell)
        R = _tracks.rotation(heading)
        local = _tracks.to_agent(past[..., :2], origin, R, ell)
        m0, P0 = baseline.initial_state(local, speed)
        n = len(past)
        parts = [
            np.nan_to_num(local).reshape(n, -1),
            np.isfinite(local[..., 0]),
            m0[:, :2],
            np.cos(m0[:, 2:3]),
            np.sin(m0[:, 2:3]),
            m0[:, 3:],
        ]
        if past.shape[2] == 4:  # heading relative to the frame, speed in step lengths/step
            rel = past[..., 2] - heading[:, None]
            parts += [
                np.nan_to_num(np.cos(rel)),
                np.nan_to_num(np.sin(rel)),
                np.nan_to_num(past[..., 3] * self.dt / ell),
            ]
        feats = np.concatenate([np.asarray(a, float) for a in parts], axis=1)
        return origin, R, local, feats, m0, P0

    def _inputs(self, past):
        """Scaled inputs of a fitted model: origin, R, feats, m0, P0."""
        origin, R, _, feats, m0, P0 = self._encode(past, self.baseline_)
        return origin, R, feats / self.feature_scale_, m0, P0

    def _split(self, groups, n, p, key):
        """Training and validation rows: whole tracks (``groups``) are held out."""
        if not p["early_stopping"]:
            return np.arange(n), None
        uniq, inv = np.unique(groups, return_inverse=True)
        n_val = int(np.ceil(p["validation_fraction"] * len(uniq)))
        if len(uniq) - n_val < 1:
            raise ValueError(
                f"validation_fraction={p['validation_fraction']} holds out {n_val} of "
                f"{len(uniq)} tracks and leaves none for training; lower "
                "validation_fraction or pass more tracks."
            )
        # a NumPy permutation seeded from the key: fixed-shape JAX work, so a new number
        # of tracks compiles nothing
        seed = np.asarray(jax.random.bits(jax.random.fold_in(key, 1), (4,), jnp.uint32))
        perm = np.random.default_rng(seed).permutation(len(uniq))
        val = np.isin(inv, perm[:n_val])
        return np.flatnonzero(~val), np.flatnonzero(val)

    def _fit_physics(self, past, future, p):
        """Fit the kinematic baseline on the training rows; set the scales it defines."""
        self.baseline_ = KinematicPropagation(dt=p["dt"], wheelbase=p["wheelbase"]).fit(
            past, future
        )
        self.length_scale_ = self.baseline_.length_scale_
        self.speed_scale_ = self.length_scale_ / p["dt"]
        self.wheelbase_ = self.baseline_.wheelbase_
        wheelbase = self.wheelbase_ / self.length_scale_
        origin, R, local, feats, m0, _ = self._encode(past, self.baseline_)
        local_future = _tracks.to_agent(future, origin, R, self.length_scale_)
        self.max_steer_ = _max_steer(local, local_future, wheelbase)
        self.feature_scale_ = _feature_scales(feats, _feature_groups(*past.shape[1:]))
        free_scale = float(np.sqrt(np.mean(np.sum(local_future**2, axis=-1))))
        self.action_scales_ = _action_scales(local, local_future, wheelbase, m0, p["formulation"])
        self._phys = np.concatenate(
            [
                self.baseline_._theta,
                [wheelbase, self.max_steer_, free_scale],
                np.nan_to_num(self.action_scales_, nan=0.0),
            ]
        )

    def _train(self, data, val_data, val_groups, n_train, key, cfg, p):
        """Adam in compiled chunks, with early stopping on ``val_data`` when given.

        Returns ``(params, losses, val_scores, best_val, best_iter, best_ll, n_done,
        converged)``; the validation scores are mean log-likelihoods per held-out track in
        normalised units, ``best_ll`` the kept parameters' log-likelihood of each held-out
        window (None without early stopping, or when the validation loss was never finite:
        with the kinematic prior the caller then keeps the zero head, the baseline).
        """
        max_iter, lr, tol, alpha = p["max_iter"], p["learning_rate"], p["tol"], p["alpha"]
        patience = p["n_iter_no_change"]
        batch = p["batch_size"] or 0
        batch = 0 if batch >= n_train else batch
        bucket = padded_length(batch, minimum=8) if batch else 0
        key, train_key = jax.random.split(key)
        phys = jnp.asarray(self._phys)
        params = _forecaster.init_params(key, data[0].shape[1], cfg, jnp.float64)
        opt_state = optax.adam(lr).init(params)
        mesh = None if p["devices"] is None else sharding.sample_mesh(p["devices"])
        if mesh is not None and mesh.devices.size > 1:
            # the tracks split over the devices, the state on every one of them
            data = _shard_training_data(data, mesh)
            params, opt_state, phys = sharding.replicate(
                sharding.to_host((params, opt_state, phys)), mesh
            )
        losses, val_scores = [], []
        best_val, best_params, best_iter, best_ll = -np.inf, None, None, None
        no_improvement, converged, done = 0, False, 0

        def validate(params):
            ll = -np.asarray(_forecaster.track_nll(params, *val_data[:-1], phys, cfg))
            ll = ll[: len(val_groups)]
            val = float(np.mean(ll))
            return (val if np.isfinite(val) else -np.inf), ll

        bar = None
        if p["verbose"]:
            from tqdm.auto import tqdm

            bar = tqdm(total=max_iter, desc="KinematicForecaster")
        while done < max_iter:
            n = min(_CHUNK, max_iter - done)
            train_key, k = jax.random.split(train_key)
            params, opt_state, values = _forecaster.train_chunk(
                params,
                opt_state,
                k,
                *data,
                phys,
                n,
                lr,
                alpha,
                float(max(batch, 1)),
                cfg=cfg,
                chunk=_CHUNK,
                batch_bucket=bucket,
            )
            values = np.asarray(values)[:n]
            if not np.isfinite(values).all():
                raise DivergenceError(
                    "KinematicForecaster.fit diverged (non-finite loss); lower learning_rate."
                )
            losses.append(values)
            done += n
            if bar is not None:
                bar.update(n)
                bar.set_postfix(loss=float(values[-1]))
            if val_data is not None:
                val, ll = validate(params)
                val_scores.append(val)
                if not np.isfinite(best_val):  # first finite check
                    improved = np.isfinite(val)
                else:
                    improved = val > best_val + tol * max(1.0, abs(best_val))
                no_improvement = 0 if improved else no_improvement + 1
                if val > best_val:
                    best_val, best_iter, best_ll = val, done, ll
                    best_params = sharding.to_host(params)
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
        if val_data is not None and best_params is None and cfg.prior != "kinematic":
            raise DivergenceError(
                "KinematicForecaster.fit: the validation loss was never finite; lower "
                "learning_rate."
            )
        if best_params is None:  # no early stopping, or (kinematic prior) never finite
            best_params = sharding.to_host(params)
        return (
            best_params,
            np.concatenate(losses),
            val_scores,
            best_val,
            best_iter,
            best_ll,
            done,
            converged,
        )

    def _choose_baseline(self, past, future, train_idx, val_idx, p):
        """The physics baselines fitted on the training rows, scored on the held-out tracks.

        Returns ``(name, scores)``: the name of the baseline with the highest mean held-out
        log-likelihood and every baseline's log-likelihood of each held-out window (nats,
        positions' unit). ``KinematicPropagation`` is the fitted ``baseline_`` itself.
        """
        scores = {}
        for name, make in _BASELINES.items():
            if name == "KinematicPropagation":
                est = self.baseline_
            else:
                est = make(p).fit(past[train_idx], future[train_idx])
            scores[name] = est.score_samples(past[val_idx], future[val_idx])
        means = {
            k: float(np.mean(v)) if np.all(np.isfinite(v)) else -np.inf for k, v in scores.items()
        }
        return max(means, key=means.get), scores

    # ------------------------------------------------------------------ API
    def fit(self, past, future, groups=None):
        """Fit the kinematic baseline, then train the network on top of it.

        Parameters
        ----------
        past : array, shape (n_agents, n_past, 2) or (n_agents, n_past, 4)
            Observed positions (any length unit, e.g. m), the last one is the present;
            earlier positions may be missing (NaN: short histories, gaps). Optional
            channels 3 and 4: heading (rad) and speed (positions' unit per unit of ``dt``),
            NaN where unknown.
        future : array, shape (n_agents, horizon, 2)
            The positions at the next ``horizon`` steps (same unit, all observed).
        groups : array, shape (n_agents,), optional
            Track id of every window: with ``early_stopping`` whole tracks are held out
            (None: every window is its own track).

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
        past = self._check_past(past, fitted=False)
        future = _tracks.check_future(future, past, cfg.horizon)
        groups = _tracks.check_groups(groups, len(past))
        key = as_key(self.random_state)
        train_idx, val_idx = self._split(groups, len(past), p, key)
        self.n_past_, self.n_channels_ = past.shape[1], past.shape[2]
        self.n_features_in_ = past.shape[1] * past.shape[2]
        with x64():
            self._fit_physics(past[train_idx], future[train_idx], p)
            origin, R, feats, m0, P0 = self._inputs(past)
            local = _tracks.to_agent(future, origin, R, self.length_scale_)

            def padded(rows):
                (f, m, P, y), mask = _padded(
                    [feats[rows], m0[rows], P0[rows], local[rows]], len(rows)
                )
                P[len(rows) :] = np.eye(4)  # padded agents: a proper covariance (weight 0)
                return [jnp.asarray(a) for a in (f, m, P, y)], mask

            train, mask = padded(train_idx)
            data = (*train, jnp.asarray(mask))
            val_data = None
            if val_idx is not None:
                val, _ = padded(val_idx)
                val_data = (*val, len(val_idx))
            (params, losses, val_scores, best_val, best_iter, best_ll, done, converged) = (
                self._train(
                    data,
                    val_data,
                    None if val_idx is None else groups[val_idx],
                    len(train_idx),
                    key,
                    cfg,
                    p,
                )
            )
        shift = self._log_jacobian(cfg.horizon)
        early = val_idx is not None
        self.defensive_, self.defensive_weight_ = None, 0.0
        self.baseline_validation_scores_ = self.baseline_validation_score_ = None
        if early and cfg.prior == "kinematic":
            # the best physics baseline on the held-out tracks stays in the model as a
            # defensive component, its weight the posterior mean given those tracks: the
            # loss on any window is bounded by the baseline's plus log(n_tracks + 2), and the
            # network only takes over as far as the held-out tracks support it
            name, scores = self._choose_baseline(past, future, train_idx, val_idx, p)
            self.baseline_validation_scores_ = {k: float(np.mean(v)) for k, v in scores.items()}
            self.baseline_validation_score_ = self.baseline_validation_scores_[name]
            if best_ll is None:  # never a finite held-out likelihood: the zero head
                params = _zero_head(params)
                net = self.baseline_.score_samples(past[val_idx], future[val_idx])
                best_val, best_iter = float(np.mean(net)) + shift, 0
            else:
                net = best_ll - shift
            self.defensive_weight_ = _defensive_weight(scores[name], net, groups[val_idx])
            # refitted on every training track (the held-out ones only served to decide)
            self.defensive_ = _BASELINES[name](p).fit(past, future)
        self.params_ = jax.tree_util.tree_map(np.asarray, params)
        self.loss_curve_ = losses + shift
        self.validation_indices_ = val_idx
        self.validation_scores_ = np.asarray(val_scores) - shift if early else None
        self.best_validation_score_ = float(best_val - shift) if early else None
        self.best_iter_ = int(best_iter) if early else None
        self._set_convergence(converged, done, p["max_iter"], hint="increase max_iter")
        return self

    def predict(self, past):
        """Position mixture per future step, in world coordinates.

        Parameters
        ----------
        past : array, shape (n_agents, n_past, 2) or (n_agents, n_past, 4)
            Observed tracks, as in ``fit``.

        Returns
        -------
        mixtures.gaussian.GMM
            Holding NumPy float64 arrays: ``log_weights`` (n_agents, horizon, K), ``means``
            (n_agents, horizon, K, 2) (unit of the positions), ``covariances`` (n_agents,
            horizon, K, 2, 2) (squared unit); ``K = n_modes``, or ``n_modes + 1`` with the
            defensive baseline component (the last mode, weight ``defensive_weight_``).
        """
        self._check_fitted()
        past = self._check_past(past)
        cfg = self._config()
        n = len(past)
        with x64():
            origin, R, feats, m0, P0 = self._inputs(past)
            (feats, m0, P0), _ = _padded([feats, m0, P0], n)
            P0[n:] = np.eye(4)
            params = jax.tree_util.tree_map(jnp.asarray, self.params_)
            gmm = _forecaster.forecast(
                params,
                jnp.asarray(feats),
                jnp.asarray(m0),
                jnp.asarray(P0),
                jnp.asarray(self._phys),
                cfg,
            )
            logw, mu, cov = (
                np.asarray(a)[:n] for a in (gmm.log_weights, gmm.means, gmm.covariances)
            )
        gmm = _tracks.to_world(logw, mu, cov, origin, R, self.length_scale_)
        if self.defensive_ is not None:
            gmm = _with_defensive(gmm, self.defensive_.predict(past), self.defensive_weight_)
        return gmm

    def score_samples(self, past, future):
        """Trajectory-level log-likelihood of each observed future (nats).

        Parameters
        ----------
        past : array, shape (n_agents, n_past, 2) or (n_agents, n_past, 4)
        future : array, shape (n_agents, horizon, 2)
            Positions, in the unit used in ``fit`` (the log-likelihood is a density in that
            unit: positions times ``c`` shift it by ``-2 * horizon * log(c)``).

        Returns
        -------
        numpy.ndarray, shape (n_agents,)
        """
        self._check_fitted()
        past = self._check_past(past)
        cfg = self._config()
        future = _tracks.check_future(future, past, cfg.horizon)
        n = len(past)
        with x64():
            origin, R, feats, m0, P0 = self._inputs(past)
            local = _tracks.to_agent(future, origin, R, self.length_scale_)
            (feats, m0, P0, local), _ = _padded([feats, m0, P0, local], n)
            P0[n:] = np.eye(4)
            params = jax.tree_util.tree_map(jnp.asarray, self.params_)
            nll = _forecaster.track_nll(
                params,
                *(jnp.asarray(a) for a in (feats, m0, P0, local)),
                jnp.asarray(self._phys),
                cfg,
            )
            nll = np.asarray(nll)[:n]
        ll = -(nll + self._log_jacobian(cfg.horizon))
        if self.defensive_ is not None:
            w = self.defensive_weight_
            base = self.defensive_.score_samples(past, future)
            ll = np.logaddexp(np.log1p(-w) + ll, np.log(w) + base)
        return ll

    def score(self, past, future):
        """Mean trajectory-level log-likelihood of ``future`` per trajectory (nats; higher is
        better), so that ``GridSearchCV`` and ``cross_val_score`` pick the best model.

        Parameters
        ----------
        past : array, shape (n_agents, n_past, 2) or (n_agents, n_past, 4)
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
        past : array, shape (n_agents, n_past, 2) or (n_agents, n_past, 4)
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
        past : array, shape (n_agents, n_past, 2) or (n_agents, n_past, 4)
        future : array, shape (n_agents, horizon, 2)
        k : int, optional
            Number of most probable modes considered (default: all, ``n_modes`` or
            ``n_modes + 1`` with the defensive component).

        Returns
        -------
        min_ade, min_fde : float
            Means over agents of the smallest (over the k modes) average and final Euclidean
            errors of the mode means (unit of the positions).
        """
        gmm = self.predict(past)
        future = _tracks.check_future(future, gmm.means, gmm.means.shape[1])
        return _tracks.min_ade_fde(gmm, future, k)
