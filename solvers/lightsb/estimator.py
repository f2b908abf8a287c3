"""The scikit-learn-style LightSB estimator."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from sklearn.base import BaseEstimator
from sklearn.exceptions import NotFittedError
from tqdm.auto import tqdm

from mixtures._config import as_key, x64
from mixtures._validation import check_array, check_option, check_scalar
from mixtures.gaussian import GMM
from solvers.lightsb import _core

__all__ = ["LightSB"]

_CHUNK = 500  # Adam steps per compiled chunk (one compilation serves every max_iter)


class LightSB(BaseEstimator):
    """Light Schrödinger Bridge: entropic OT / Schrödinger bridge with a Gaussian-mixture potential.

    Fits the adjusted Schrödinger potential
    ``v(y) = sum_k alpha_k N(y | r_k, epsilon S_k)`` by minimising
    ``E_{x ~ p0} log c(x) - E_{y ~ p1} log v(y)`` with Adam on minibatches of two unpaired
    samples (Korotin, Gushchin & Burnaev, ICLR 2024). The conditional plan is then the
    Gaussian mixture ``pi(y | x) = sum_k alpha_k(x) N(y | r_k + S_k x, epsilon S_k)`` and the
    bridge between ``x`` and ``y`` is a Brownian bridge of variance ``epsilon`` per unit time.

    Internally the data are centred (``X0`` and ``X1`` separately) and divided by one common
    scale, ``epsilon`` by its square; the fitted attributes are mapped back to data units.

    Parameters
    ----------
    n_components : int, default=10
        Number ``K`` of Gaussian components of the potential (>= 1).
    epsilon : float, default=1.0
        Entropy weight = variance of the Wiener prior per unit time (data units squared), > 0.
    covariance_type : {"diag", "full"}, default="diag"
        Structure of the ``S_k``.
    learning_rate : float, default=0.01
        Adam step size (in standardised units).
    max_iter : int, default=5000
        Number of Adam steps.
    batch_size : int, default=128
        Points drawn (with replacement) from each sample per step.
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
        annealing helps (benchmark pair d = 64, ``epsilon = 0.1``, K = 5: cBW2-UVP 2.68 %
        without, 0.57 % with ``anneal_factor=100``); in low dimension it costs accuracy
        (d = 2, ``epsilon = 0.1``: 0.014 % without, 0.125 % with 100). Choose it by the
        held-out ``score``, which ranked the two settings as the cBW2-UVP did in 6 of the 7
        pairs measured and nearly tied in the seventh (``docs/benchmarks.md``).

    Attributes
    ----------
    log_weights_ : ndarray, shape (K,)
        Normalised log-weights ``log alpha_k`` of the potential.
    means_ : ndarray, shape (K, d)
        ``r_k`` (data units).
    covariances_ : ndarray, shape (K, d) or (K, d, d)
        ``epsilon S_k`` (data units squared): the potential's component covariances, which are
        also the conditional plan's component covariances.
    n_iter_ : int
        Adam steps taken.
    loss_curve_ : ndarray, shape ``(n_iter_,)``
        Minibatch objective per step, in data units, at that step's (annealed) entropy weight
        (the full-sample objective at the fitted parameters is ``-score(X0, X1)``).
    n_features_in_ : int
    """

    def __init__(self, n_components=10, epsilon=1.0, covariance_type="diag",
                 learning_rate=1e-2, max_iter=5000, batch_size=128, random_state=None,
                 verbose=False, anneal_factor=1.0):
        self.n_components = n_components
        self.epsilon = epsilon
        self.covariance_type = covariance_type
        self.learning_rate = learning_rate
        self.max_iter = max_iter
        self.batch_size = batch_size
        self.random_state = random_state
        self.verbose = verbose
        self.anneal_factor = anneal_factor

    # ------------------------------------------------------------------ fitting
    def _check_params(self):
        check_scalar(self.n_components, "n_components", kind="int", low=1)
        check_scalar(self.epsilon, "epsilon", low=0.0, low_open=True)
        check_option(self.covariance_type, "covariance_type", ("diag", "full"))
        check_scalar(self.learning_rate, "learning_rate", low=0.0, low_open=True)
        check_scalar(self.max_iter, "max_iter", kind="int", low=1)
        check_scalar(self.batch_size, "batch_size", kind="int", low=1)
        check_scalar(self.anneal_factor, "anneal_factor", low=1.0)

    def fit(self, X0, X1):
        """Fit the potential to unpaired samples of the source and the target.

        Parameters
        ----------
        X0 : array-like, shape (n0, d)
            Source sample (data units).
        X1 : array-like, shape (n1, d)
            Target sample; ``n1`` may differ from ``n0``.

        Returns
        -------
        self
        """
        self._check_params()
        X0 = check_array(X0, "X0", min_rows=2)
        X1 = check_array(X1, "X1", min_rows=2)
        if X0.shape[1] != X1.shape[1]:
            raise ValueError(
                "X0 and X1 must have the same number of features (columns), got "
                f"{X0.shape[1]} and {X1.shape[1]}."
            )
        ctype = self.covariance_type
        a, b = X0.mean(axis=0), X1.mean(axis=0)
        scale = np.sqrt(0.5 * (np.mean((X0 - a) ** 2) + np.mean((X1 - b) ** 2)))
        if not scale > 0:
            raise ValueError("X0 and X1 are both constant: nothing to transport.")
        Z0, Z1 = (X0 - a) / scale, (X1 - b) / scale
        eps = float(self.epsilon) / scale**2
        key = as_key(self.random_state)
        chunk = _CHUNK
        n_chunks = -(-self.max_iter // chunk)
        anneal_steps = 0.5 * self.max_iter
        anneal = float(self.anneal_factor)
        bar = tqdm(total=self.max_iter, desc="LightSB", disable=not self.verbose)
        with x64():
            k_init, k_train = jax.random.split(key)
            # S_k starts at the bridge between standardised isotropic Gaussians (1-D formula)
            s_init = 2.0 / (np.sqrt(4.0 + eps**2) + eps)
            params = _core.init_params(k_init, Z1, self.n_components, s_init, ctype)
            state = _core.init_opt_state(params)
            losses = []
            for c in range(n_chunks):
                n_active = min(chunk, self.max_iter - c * chunk)
                params, state, chunk_loss = _core.train_chunk(
                    params, state, jax.random.fold_in(k_train, c), Z0, Z1, eps,
                    float(self.learning_rate), float(self.max_iter), n_active, c * chunk,
                    anneal, anneal_steps, n_steps=chunk,
                    batch_size=self.batch_size, covariance_type=ctype)
                chunk_loss = np.asarray(chunk_loss)[:n_active]
                if not (np.all(np.isfinite(chunk_loss)) and _finite(params)):
                    bar.close()
                    raise FloatingPointError(
                        "LightSB diverged (non-finite loss or parameters) after "
                        f"{c * chunk + n_active} steps; lower learning_rate."
                    )
                losses.append(chunk_loss)
                bar.update(n_active)
            bar.close()
            log_alpha, r, S = (np.asarray(p) for p in _core._unpack(params, ctype))
        self._set_fitted(log_alpha, r, S, a, b, scale, ctype)
        self.n_features_in_ = X0.shape[1]
        self.n_iter_ = int(self.max_iter)
        # objective in data units = standardised objective + a.b / eps + d log(scale) (exact
        # on the full samples, whose standardised means are zero)
        with x64():
            eps_steps = np.asarray(_core.annealed_epsilon(
                float(self.epsilon), jnp.arange(self.max_iter, dtype=jnp.float64),
                anneal, anneal_steps))
        shift = float(a @ b) / eps_steps + X0.shape[1] * np.log(scale)
        self.loss_curve_ = np.concatenate(losses) + shift
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
        return (jnp.asarray(self.log_weights_), jnp.asarray(self.means_),
                jnp.asarray(self.covariances_ / float(self.epsilon)))

    def _check_X(self, X, name="X"):
        if not hasattr(self, "log_weights_"):
            raise NotFittedError("This LightSB instance is not fitted yet; call fit first.")
        X = check_array(X, name)
        if X.shape[1] != self.n_features_in_:
            raise ValueError(
                f"{name} must have {self.n_features_in_} features (columns), got {X.shape[1]}."
            )
        return X

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
        with x64():
            log_w, means = _core.conditional_plan(*self._params(), X, float(self.epsilon),
                                                  self.covariance_type)
        cov = np.broadcast_to(self.covariances_, (X.shape[0],) + self.covariances_.shape)
        return GMM(np.asarray(log_w), np.asarray(means), cov, self.covariance_type)

    def predict(self, X):
        """Conditional mean ``E[y | x]``, shape ``(n, d)``."""
        X = self._check_X(X)
        with x64():
            return np.asarray(_core.conditional_mean(*self._params(), X, float(self.epsilon),
                                                     self.covariance_type))

    def sample(self, X, n_samples=1, random_state=None):
        """Draw from ``pi(. | x)`` for each row of ``X``.

        Returns
        -------
        ndarray, shape (n, n_samples, d)
        """
        X = self._check_X(X)
        n_samples = check_scalar(n_samples, "n_samples", kind="int", low=1)
        with x64():
            out = _core.sample_conditional(as_key(random_state), *self._params(), X,
                                           float(self.epsilon), n_samples=n_samples,
                                           covariance_type=self.covariance_type)
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
            out = _core.sample_trajectory(as_key(random_state), *self._params(), X,
                                          float(self.epsilon), n_steps=n_steps,
                                          covariance_type=self.covariance_type)
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
            return np.asarray(_core.drift(*self._params(), X, t, float(self.epsilon),
                                          self.covariance_type))

    def score(self, X0, X1):
        """Minus the LightSB objective: ``mean_y log v(y) - mean_x log c(x)`` (higher is better).

        Parameters
        ----------
        X0 : array-like, shape (n0, d)
        X1 : array-like, shape (n1, d)

        Returns
        -------
        float
        """
        X0 = self._check_X(X0, "X0")
        X1 = self._check_X(X1, "X1")
        with x64():
            val = _core.objective(*self._params(), X0, X1, float(self.epsilon),
                                  self.covariance_type)
        return -float(val)


def _finite(params):
    return all(np.all(np.isfinite(np.asarray(v))) for v in params.values())
