"""The scikit-learn-style LightSB estimator."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from mixtures import as_key, sharding, x64
from mixtures.base import (
    Bool,
    DivergenceError,
    Integer,
    MixturesEstimator,
    Options,
    Real,
    check_scalar,
    pad_axis,
    padded_length,
)
from mixtures.gaussian import GMM
from solvers.lightsb import _core

__all__ = ["LightSB"]

_CHUNK = 500  # Adam steps per compiled chunk (one compilation serves every max_iter)
#: ``covariance_type="auto"`` fits full ``S_k`` up to this dimension, diagonal above it.
AUTO_FULL_MAX_DIM = 64


class LightSB(MixturesEstimator):
    """Light Schrödinger Bridge: entropic OT / Schrödinger bridge with a Gaussian-mixture potential.

    Fits the adjusted Schrödinger potential
    ``v(y) = sum_k alpha_k N(y | r_k, epsilon S_k)`` by minimising
    ``E_{x ~ p0} log c(x) - E_{y ~ p1} log v(y)`` with Adam on minibatches of two unpaired
    samples (Korotin, Gushchin & Burnaev, ICLR 2024). The conditional plan is then the
    Gaussian mixture ``pi(y | x) = sum_k alpha_k(x) N(y | r_k + S_k x, epsilon S_k)`` and the
    bridge between ``x`` and ``y`` is a Brownian bridge of variance ``epsilon`` per unit time.

    Internally the data are centred (``X0`` and ``X1`` separately) and divided by one common
    scale, ``epsilon`` by its square; the fitted attributes are mapped back to data units. So
    a change of units ``X0, X1 -> c X0, c X1`` together with ``epsilon -> c**2 epsilon`` (the
    entropy weight is a variance: data units squared) gives the same plan: ``means_`` scaled
    by ``c``, ``covariances_`` by ``c**2``, ``log_weights_`` unchanged and ``score`` shifted by
    the log-Jacobian ``-d log c``.

    Parameters
    ----------
    n_components : int, default=10
        Number ``K`` of Gaussian components of the potential (>= 1).
    epsilon : float, default=1.0
        Entropy weight = variance of the Wiener prior per unit time, > 0, in data units
        squared (rescaling the data by ``c`` asks for ``epsilon * c**2``).
    covariance_type : {"auto", "full", "diag"}, default="auto"
        Structure of the ``S_k``. ``"auto"`` takes ``"full"`` for ``d <= 64``
        (``AUTO_FULL_MAX_DIM`` in ``solvers.lightsb.estimator``) and ``"diag"`` above. Why: a
        diagonal ``S_k`` cannot represent a rotated conditional covariance; on Gaussian pairs
        with rotated covariances its error is an order of magnitude above the full form's in
        d = 8 and more in d = 64 (more components only patch it), while in d = 2 both are
        equally accurate. A full ``S_k`` costs ``O(K d^2)`` per point and ``O(K d^3 log d)``
        per step: several times the diagonal form's at d = 64, still a small price there,
        but growing as ``d^3``, so above 64 the diagonal form keeps the step linear in ``d``
        (set ``"full"`` explicitly when the budget allows). The table is in
        ``docs/methods/lightsb.rst`` (section Defaults). The choice is stored in
        ``covariance_type_``.
    learning_rate : float, default=0.01
        Adam step size (in standardised units), > 0; decays (cosine) to 1 % of it over
        ``max_iter`` steps.
    max_iter : int, default=5000
        Number of Adam steps (>= 1). LightSB has no convergence test: it always takes
        ``max_iter`` steps (``n_iter_``); compare settings with the held-out ``score``.
    batch_size : int, default=128
        Points drawn (with replacement) from each sample per step (>= 1). It is capped at the
        sample sizes: for a sample of ``n <= batch_size`` points every step uses that whole
        sample once (an exact gradient for that side), never more points than it holds.
    random_state : None, int, numpy.random.Generator or JAX key
        Seeds the initialisation (``r_k`` drawn from ``X1``) and the minibatches.
    verbose : bool, default=False
        Show a tqdm progress bar.
    anneal_factor : float, default=1.0
        Entropy-weight annealing (>= 1; 1 disables it): training step ``t`` uses the entropy
        weight ``epsilon * anneal_factor ** max(0, 1 - t / (max_iter / 2))``, decreasing
        geometrically from ``anneal_factor * epsilon`` to ``epsilon`` over the first half of
        the steps; the second half trains at ``epsilon``. For high dimension and small
        ``epsilon`` the conditional weights ``alpha_k(x)`` are nearly one-hot and training at
        ``epsilon`` from the start stalls in a poor partition of the source space; there
        annealing helps; in low dimension it can cost accuracy. Choose it by the held-out
        ``score`` (the comparison is in ``docs/methods/lightsb.rst``).
    devices : None, int, "all", "local", sequence of jax.Device or Mesh, default=None
        Devices over which every minibatch is split (data parallel, see
        :mod:`mixtures.sharding`): the per-point terms of the loss and its gradient are
        computed where their rows live and summed by the compiler. ``None``: one device.
        The minibatches drawn do not depend on it, so the fit is the one-device fit up to
        the summation order; ``batch_size`` is padded (weight zero) to a multiple of the
        number of devices. Under :mod:`jax.distributed`, ``"all"`` spans every process's
        devices (every process passes the same samples).

    Attributes
    ----------
    covariance_type_ : {"full", "diag"}
        The covariance structure fitted (``covariance_type`` with ``"auto"`` resolved).
    log_weights_ : ndarray, shape (K,)
        Normalised log-weights ``log alpha_k`` of the potential.
    means_ : ndarray, shape (K, d)
        ``r_k`` (data units).
    covariances_ : ndarray, shape (K, d) or (K, d, d)
        ``epsilon S_k`` (data units squared): the potential's component covariances, which are
        also the conditional plan's component covariances.
    n_iter_ : int
        Adam steps taken (``max_iter``).
    loss_curve_ : ndarray, shape ``(n_iter_,)``
        Minibatch objective per step, in data units, at that step's (annealed) entropy weight
        (the full-sample objective at the fitted parameters is ``-score(X0, X1)``).
    n_features_in_ : int
        Number of features ``d``.
    feature_names_in_ : ndarray of str, shape (d,)
        Column names of ``X0`` when it is a DataFrame with string column names (``X1``, when
        it has names, must have the same).

    Notes
    -----
    The samples are padded to the lengths of :func:`mixtures.base.padded_length` (padded
    rows carry weight zero), and the step count, step size and annealing are traced values,
    so a refit at another sample size within the same length bucket, or with another
    ``max_iter``, ``learning_rate``, ``epsilon`` or ``anneal_factor``, reuses the compiled
    training program.
    """

    _parameter_constraints = {
        "n_components": Integer(low=1),
        "epsilon": Real(low=0.0, low_open=True),
        "covariance_type": Options(("auto", "full", "diag")),
        "learning_rate": Real(low=0.0, low_open=True),
        "max_iter": Integer(low=1),
        "batch_size": Integer(low=1),
        "random_state": None,  # normalised by mixtures.as_key
        "verbose": Bool(),
        "anneal_factor": Real(low=1.0),
        "devices": lambda value, name: _check_devices(value),
    }

    def __init__(
        self,
        n_components=10,
        epsilon=1.0,
        covariance_type="auto",
        learning_rate=1e-2,
        max_iter=5000,
        batch_size=128,
        random_state=None,
        verbose=False,
        anneal_factor=1.0,
        devices=None,
    ):
        self.n_components = n_components
        self.epsilon = epsilon
        self.covariance_type = covariance_type
        self.learning_rate = learning_rate
        self.max_iter = max_iter
        self.batch_size = batch_size
        self.random_state = random_state
        self.verbose = verbose
        self.anneal_factor = anneal_factor
        self.devices = devices

    # ------------------------------------------------------------------ fitting
    def fit(self, X0, X1):
        """Fit the potential to unpaired samples of the source and the target.

        Parameters
        ----------
        X0 : array-like or DataFrame, shape (n0, d)
            Source sample (data units), at least 2 rows.
        X1 : array-like or DataFrame, shape (n1, d)
            Target sample; ``n1`` may differ from ``n0``.

        Returns
        -------
        self

        Raises
        ------
        DivergenceError
            When the loss or the parameters become non-finite (lower ``learning_rate``).
        """
        p = self._validate_params()
        for name in [k for k in vars(self) if k.endswith("_") and not k.startswith("__")]:
            delattr(self, name)  # a failed refit must not leave a half-fitted estimator
        try:
            return self._fit(p, X0, X1)
        except BaseException:
            for name in [k for k in vars(self) if k.endswith("_") and not k.startswith("__")]:
                delattr(self, name)
            raise

    def _fit(self, p, X0, X1):
        X0 = self._check_table(X0, "X0", reset=True, min_rows=2)
        X1 = self._check_table(X1, "X1", reset=False, min_rows=2)
        n0, d = X0.shape
        n1 = X1.shape[0]
        ctype = p["covariance_type"]
        if ctype == "auto":
            ctype = "full" if d <= AUTO_FULL_MAX_DIM else "diag"
        a, b = X0.mean(axis=0), X1.mean(axis=0)
        scale = np.sqrt(0.5 * (np.mean((X0 - a) ** 2) + np.mean((X1 - b) ** 2)))
        if not scale > 0:
            raise ValueError("X0 and X1 are both constant: nothing to transport.")
        # standardised samples, padded to their length buckets (padded rows are never drawn)
        P0, P1 = padded_length(n0), padded_length(n1)
        Z0 = pad_axis((X0 - a) / scale, P0)
        Z1 = pad_axis((X1 - b) / scale, P1)
        batch0, batch1 = min(p["batch_size"], P0), min(p["batch_size"], P1)
        eps = p["epsilon"] / scale**2
        max_iter, anneal = p["max_iter"], p["anneal_factor"]
        anneal_steps = 0.5 * max_iter
        n_chunks = -(-max_iter // _CHUNK)
        mesh = None if p["devices"] is None else sharding.sample_mesh(p["devices"])
        bar = _progress_bar(max_iter) if p["verbose"] else None
        losses = []
        try:
            with x64():
                key = as_key(self.random_state)
                # S_k starts at the bridge between standardised isotropic Gaussians (1-D formula)
                s_init = 2.0 / (np.sqrt(4.0 + eps**2) + eps)
                params, state = _core.init_params(key, Z1, n1, self.n_components, s_init, ctype)
                Z0d, Z1d = Z0, Z1
                if mesh is not None:  # the samples and the state live on every device
                    params, state, Z0d, Z1d, key = sharding.replicate(
                        sharding.to_host((params, state, Z0, Z1, key)), mesh
                    )
                for c in range(n_chunks):
                    n_active = min(_CHUNK, max_iter - c * _CHUNK)
                    params, state, chunk_loss = _core.train_chunk(
                        params,
                        state,
                        key,
                        c,
                        Z0d,
                        n0,
                        Z1d,
                        n1,
                        eps,
                        p["learning_rate"],
                        float(max_iter),
                        n_active,
                        anneal,
                        anneal_steps,
                        n_steps=_CHUNK,
                        batch0=batch0,
                        batch1=batch1,
                        covariance_type=ctype,
                        mesh=mesh,
                    )
                    chunk_loss = sharding.to_host(chunk_loss)[:n_active]
                    if not (np.all(np.isfinite(chunk_loss)) and _finite(params)):
                        raise DivergenceError(
                            "LightSB diverged (non-finite loss or parameters) within steps "
                            f"{c * _CHUNK + 1}-{c * _CHUNK + n_active}; lower learning_rate."
                        )
                    losses.append(chunk_loss)
                    if bar is not None:
                        bar.update(n_active)
                log_alpha, r, S = sharding.to_host(_core.unpack_params(params, ctype))
        finally:
            if bar is not None:
                bar.close()
        self.covariance_type_ = ctype
        self._set_fitted(log_alpha, r, S, a, b, scale, ctype)
        # LightSB runs a fixed budget of steps: there is no convergence criterion to report
        self.n_iter_ = int(max_iter)
        # objective in data units = standardised objective + a.b / eps + d log(scale) (exact
        # on the full samples, whose standardised means are zero)
        steps = np.arange(max_iter, dtype=np.float64)
        frac = np.clip(1.0 - steps / max(anneal_steps, 1.0), 0.0, 1.0)
        eps_steps = p["epsilon"] * anneal**frac
        self.loss_curve_ = np.concatenate(losses) + float(a @ b) / eps_steps + d * np.log(scale)
        return self

    def _set_fitted(self, log_alpha, r_std, S, a, b, scale, ctype):
        """Map the standardised solution back to data units.

        With ``x = a + scale x'`` and ``y = b + scale y'``: ``S`` is unchanged,
        ``r = b + scale r' - S a`` and ``log alpha = log alpha' + a^T S a / (2 eps) -
        scale r'^T a / eps`` (up to a constant), which keeps ``pi(y | x)`` the same plan.
        """
        eps = float(self.epsilon)
        r_c = scale * r_std  # centred, data units
        Sa = S * a if ctype == "diag" else S @ a
        log_alpha = log_alpha + (0.5 * Sa @ a - r_c @ a) / eps
        log_alpha = log_alpha - np.logaddexp.reduce(log_alpha)
        self.log_weights_ = log_alpha
        self.means_ = b + r_c - Sa
        self.covariances_ = eps * S

    # ------------------------------------------------------------------ helpers
    def _params(self):
        return (
            jnp.asarray(self.log_weights_),
            jnp.asarray(self.means_),
            jnp.asarray(self.covariances_ / float(self.epsilon)),
        )

    def _check_X(self, X, name="X"):
        self._check_fitted()
        return self._check_table(X, name, reset=False)

    # ------------------------------------------------------------------ inference
    def conditional(self, X) -> GMM:
        """The conditional plan ``pi(. | x)`` for each row of ``X``.

        Parameters
        ----------
        X : array-like, shape (n, d)

        Returns
        -------
        GMM
            A batched :class:`mixtures.gaussian.GMM` of NumPy arrays: ``log_weights`` (n, K)
            (normalised), ``means`` (n, K, d), ``covariances`` (n, K, d) for ``"diag"`` or
            (n, K, d, d) for ``"full"`` (a read-only broadcast view: they do not depend on x).
        """
        X = self._check_X(X)
        n = X.shape[0]
        with x64():
            log_w, means = _core.conditional_plan(
                *self._params(), _padded_rows(X), float(self.epsilon), self.covariance_type_
            )
        cov = np.broadcast_to(self.covariances_, (n,) + self.covariances_.shape)
        return GMM(np.asarray(log_w)[:n], np.asarray(means)[:n], cov, self.covariance_type_)

    def predict(self, X):
        """Conditional mean ``E[y | x]``.

        Parameters
        ----------
        X : array-like, shape (n, d)
            Source points (data units).

        Returns
        -------
        ndarray, shape (n, d)
        """
        X = self._check_X(X)
        with x64():
            out = _core.conditional_mean(
                *self._params(), _padded_rows(X), float(self.epsilon), self.covariance_type_
            )
        return np.asarray(out)[: X.shape[0]]

    def sample(self, X, n_samples=1, random_state=None):
        """Draw from ``pi(. | x)`` for each row of ``X``.

        Returns
        -------
        ndarray, shape (n, n_samples, d)
        """
        X = self._check_X(X)
        n_samples = check_scalar(n_samples, "n_samples", kind="int", low=1)
        with x64():
            out = _core.sample_conditional(
                as_key(random_state),
                *self._params(),
                X,
                float(self.epsilon),
                n_samples=n_samples,
                covariance_type=self.covariance_type_,
            )
        return np.asarray(out)

    def sample_trajectory(self, X, n_steps=100, random_state=None):
        """Exact Schrödinger-bridge paths from each row of ``X`` on ``t = 0, 1/n_steps, ..., 1``.

        ``x_1 ~ pi(. | x_0)``, then a Brownian bridge with variance ``epsilon`` per unit time
        (marginal variance ``epsilon t (1 - t)`` about the straight line), without SDE
        discretisation error.

        Returns
        -------
        ndarray, shape (n, n_steps + 1, d)
            ``[:, 0]`` equals ``X``.
        """
        X = self._check_X(X)
        n_steps = check_scalar(n_steps, "n_steps", kind="int", low=1)
        with x64():
            out = _core.sample_trajectory(
                as_key(random_state),
                *self._params(),
                X,
                float(self.epsilon),
                n_steps=n_steps,
                covariance_type=self.covariance_type_,
            )
        return np.asarray(out)

    def drift(self, X, t):
        """Schrödinger-bridge drift ``g(x, t)`` of ``dX = g dt + sqrt(epsilon) dW``.

        Parameters
        ----------
        X : array-like, shape (n, d)
        t : float in [0, 1]
            Time.

        Returns
        -------
        ndarray, shape (n, d)
            ``E[X_1 | X_t = x] - x`` divided by ``1 - t`` (finite also at ``t = 1``).
        """
        X = self._check_X(X)
        t = check_scalar(t, "t", low=0.0, high=1.0)
        with x64():
            out = _core.drift(
                *self._params(), _padded_rows(X), t, float(self.epsilon), self.covariance_type_
            )
        return np.asarray(out)[: X.shape[0]]

    def score(self, X0, X1):
        """Minus the LightSB objective: ``mean_y log v(y) - mean_x log c(x)`` (higher is better).

        Parameters
        ----------
        X0 : array-like, shape (n0, d)
            Source sample (data units).
        X1 : array-like, shape (n1, d)
            Target sample.

        Returns
        -------
        float
            In nats; rescaling the data by ``c`` (and ``epsilon`` by ``c**2``) shifts it by
            the log-Jacobian ``-d log c`` (``log v`` is a density in ``y``; ``log c(x)`` is
            unit-free).
        """
        X0 = self._check_X(X0, "X0")
        X1 = self._check_X(X1, "X1")
        w0, w1 = (pad_axis(np.full(len(X), 1.0 / len(X)), padded_length(len(X))) for X in (X0, X1))
        with x64():
            val = _core.objective(
                *self._params(),
                _padded_rows(X0),
                _padded_rows(X1),
                float(self.epsilon),
                self.covariance_type_,
                None,
                w0,
                w1,
            )
        return -float(val)


def _progress_bar(total):
    from tqdm.auto import tqdm  # lazily: only a verbose fit needs it

    return tqdm(total=total, desc="LightSB")


def _padded_rows(X):
    """``X`` padded with zero rows to its length bucket, so new sizes reuse compiled code."""
    return pad_axis(X, padded_length(X.shape[0]))


def _check_devices(devices):
    sharding.resolve_devices(devices)  # raises for a bad value; the value itself is kept
    return devices


def _finite(params):
    return all(np.all(np.isfinite(v)) for v in sharding.to_host(params).values())
