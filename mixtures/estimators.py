"""Scikit-learn-style estimators on the mixture primitives: :class:`GaussianMixture`."""

from __future__ import annotations

import math
import warnings

import jax
import jax.numpy as jnp
import numpy as np
from sklearn.base import BaseEstimator, DensityMixin
from sklearn.utils.validation import check_is_fitted, validate_data

from mixtures import em, gaussian
from mixtures._config import as_generator, as_key, x64
from mixtures._validation import (
    ConvergenceWarning,
    check_array,
    check_option,
    check_scalar,
)

__all__ = ["GaussianMixture"]

_COVARIANCE_TYPES = ("full", "tied", "diag", "spherical")
_INIT_PARAMS = ("kmeans", "k-means++", "random", "random_from_data")


def _padded_length(n: int) -> int:
    """Row count rounded up to a small set of sizes, so that jitted code is reused.

    Powers of two up to 4096 (at least 32), then multiples of 1/16 of the power of two below
    ``n`` (at most 6.25 % padding). Padding rows get weight zero and change no result.
    """
    if n <= 4096:
        return max(32, 1 << (n - 1).bit_length())
    step = 1 << (n.bit_length() - 5)
    return -(-n // step) * step


def _pad_rows(X, n_pad: int):
    return np.concatenate([X, np.zeros((n_pad - X.shape[0], X.shape[1]), X.dtype)])


def _random_inputs(rng, n_starts, n, n_pad, n_components, init_params):
    """Random numbers of the initialisations, one leading entry per start (NumPy, seeded)."""
    if init_params in ("kmeans", "k-means++"):
        return rng.random((n_starts, n_components, 2 + int(math.log(n_components))))
    if init_params == "random":
        return rng.random((n_starts, n_pad, n_components))
    return np.stack([rng.choice(n, n_components, replace=False) for _ in range(n_starts)])


def _initial_resp(rand, Xc, w, n_components: int, init_params: str):
    """Initial responsibilities of one start, shape (n, K), from its random inputs."""
    n = Xc.shape[0]
    if n_components == 1:
        return jnp.ones((n, 1), Xc.dtype)
    if init_params == "kmeans":
        _, labels = em.kmeans(Xc, w, rand)
        return jax.nn.one_hot(labels, n_components, dtype=Xc.dtype)
    if init_params == "random":
        return rand / jnp.sum(rand, axis=1, keepdims=True)
    if init_params == "k-means++":
        _, idx = em.kmeans_plusplus(Xc, w, rand)
    else:  # random_from_data: row indices drawn beforehand
        idx = rand
    return jnp.zeros((n, n_components), Xc.dtype).at[idx, jnp.arange(n_components)].set(1.0)


def _init_core(rand, Xc, data, weights_init, means_init, precisions_init,
               *, n_components, covariance_type, init_params):
    """Initial parameters of ``S = len(rand)`` starts (vmapped), leaves with leading axis S."""
    user_all = weights_init is not None and means_init is not None and precisions_init is not None

    def init_one(r):
        if user_all:  # nothing to estimate: any responsibilities give the parameter shapes
            resp = jnp.full((Xc.shape[0], n_components), 1.0 / n_components, Xc.dtype)
        else:
            resp = _initial_resp(r, Xc, data.sample_weight, n_components, init_params)
        params = em.gaussian_params_from_resp(resp, data, covariance_type)
        return em.gaussian_params_from_init(
            params, weights_init, means_init, precisions_init, covariance_type
        )

    return jax.vmap(init_one)(rand)


def _em_core(params0, data, tol, max_iter, *, covariance_type, callback):
    """All starts' EM in one loop (initialisation and EM are compiled apart, so that fits that
    differ only in ``init_params`` share the compiled EM)."""
    e_step, m_step = em.gaussian_steps(covariance_type)
    return em.run_em(e_step, m_step, params0, data, tol, max_iter, callback)


# Small problems are dominated by compilation, large ones by run time: the former are compiled
# with XLA's backend optimisation off (about 40 % less compile time), the latter fully.
_SMALL = 1 << 16  # padded rows x starts
_FAST_COMPILE = {"xla_backend_optimization_level": 0}


def _jit_pair(fun, static):
    return (jax.jit(fun, static_argnames=static),
            jax.jit(fun, static_argnames=static, compiler_options=_FAST_COMPILE))


_INIT_JIT = _jit_pair(_init_core, ("n_components", "covariance_type", "init_params"))
_EM_JIT = _jit_pair(_em_core, ("covariance_type", "callback"))
_PREDICT_JIT = _jit_pair(lambda gmm, X: (gaussian.log_responsibilities(gmm, X),
                                         gaussian.log_prob(gmm, X)), ())
_PREC_CHOL_JIT = jax.jit(gaussian.precisions_cholesky, static_argnames="covariance_type",
                         compiler_options=_FAST_COMPILE)
_SAMPLE_JIT = jax.jit(gaussian.sample, static_argnames="n")


class GaussianMixture(DensityMixin, BaseEstimator):
    """Gaussian mixture fitted by expectation-maximisation in JAX (float64).

    A drop-in for :class:`sklearn.mixture.GaussianMixture`: same parameters, methods and
    fitted attributes, same EM iteration (started from the same parameters it gives the same
    lower bound to rounding). The ``n_init`` starts are initialised and iterated together
    (``jax.vmap`` inside one ``lax.while_loop``, see :func:`mixtures.em.run_em`), and each
    iteration is two matrix products with a feature matrix of the data, so the fit runs
    without returning to Python between iterations.

    Parameters
    ----------
    n_components : int, default=1
        Number of mixture components K.
    covariance_type : {"full", "tied", "diag", "spherical"}, default="full"
        Shape of the covariances: one full ``(d, d)`` matrix per component, one shared by all,
        a diagonal per component, or one variance per component.
    tol : float, default=1e-3
        EM stops when the lower bound (mean log-likelihood per sample, nats) changes by less.
    reg_covar : float, default=1e-6
        Positive regularisation added to the diagonal of every covariance (units of
        ``X**2``).
    max_iter : int, default=100
        Maximum number of EM iterations per start.
    n_init : int, default=1
        Number of starts; the one with the highest lower bound is kept.
    init_params : {"kmeans", "k-means++", "random", "random_from_data"}, default="kmeans"
        Initial responsibilities: k-means labels (weighted Lloyd in JAX from a k-means++
        seeding), k-means++ seeds, uniform random, or K random data points.
    weights_init : array of shape (n_components,), default=None
        Initial weights (non-negative, summing to one).
    means_init : array of shape (n_components, n_features), default=None
        Initial means.
    precisions_init : array, default=None
        Initial precision matrices (inverse covariances): ``(K, d, d)`` full, ``(d, d)`` tied,
        ``(K, d)`` diag, ``(K,)`` spherical.
    random_state : None, int, numpy.random.Generator or JAX key, default=None
        Seeds the initialisation and :meth:`sample`.
    verbose : int, default=0
        If positive, a tqdm progress bar over EM iterations shows the best lower bound.

    Attributes
    ----------
    weights_ : ndarray of shape (n_components,)
    means_ : ndarray of shape (n_components, n_features)
    covariances_ : ndarray
        Shape by ``covariance_type`` as ``precisions_init``.
    precisions_ : ndarray
        Inverses of ``covariances_``.
    precisions_cholesky_ : ndarray
        Cholesky factors of the precisions (upper triangular ``U`` with ``U U^T = P``), or
        ``1/sqrt(variance)`` for diag/spherical, as scikit-learn's.
    converged_ : bool
        Whether the best start converged.
    n_iter_ : int
        EM iterations of the best start.
    lower_bound_ : float
        Mean log-likelihood per sample of the best start at its last E-step.
    n_features_in_ : int
    feature_names_in_ : ndarray of str
        Only when ``X`` had string column names.

    Notes
    -----
    Starts whose covariance becomes singular (not positive definite even with
    ``reg_covar``) are dropped; if all do, :meth:`fit` raises ``ValueError``. The quadratic
    features make the ``full``/``tied`` fit use ``O(n d^2)`` memory. Covariances are computed
    from moments about the data mean, so a component collapsed onto points at distance ``r``
    from that mean carries a rounding error of about ``1e-16 r^2``; keep ``reg_covar`` above
    it (or scale the data). The first fit of each new shape and setting pays for JIT
    compilation; ``verbose`` fits compile their own loop.
    """

    def __init__(
        self,
        n_components=1,
        *,
        covariance_type="full",
        tol=1e-3,
        reg_covar=1e-6,
        max_iter=100,
        n_init=1,
        init_params="kmeans",
        weights_init=None,
        means_init=None,
        precisions_init=None,
        random_state=None,
        verbose=0,
    ):
        self.n_components = n_components
        self.covariance_type = covariance_type
        self.tol = tol
        self.reg_covar = reg_covar
        self.max_iter = max_iter
        self.n_init = n_init
        self.init_params = init_params
        self.weights_init = weights_init
        self.means_init = means_init
        self.precisions_init = precisions_init
        self.random_state = random_state
        self.verbose = verbose

    # ------------------------------------------------------------------ validation
    def _check_params(self, n_features):
        K = check_scalar(self.n_components, "n_components", kind="int", low=1)
        check_option(self.covariance_type, "covariance_type", _COVARIANCE_TYPES)
        check_option(self.init_params, "init_params", _INIT_PARAMS)
        check_scalar(self.tol, "tol", kind="float", low=0.0)
        check_scalar(self.reg_covar, "reg_covar", kind="float", low=0.0, low_open=True)
        check_scalar(self.max_iter, "max_iter", kind="int", low=1)
        check_scalar(self.n_init, "n_init", kind="int", low=1)
        check_scalar(self.verbose, "verbose", kind="int", low=0)
        weights = means = precisions = None
        if self.weights_init is not None:
            weights = check_array(self.weights_init, "weights_init", ndim=1)
            if weights.shape != (K,):
                raise ValueError(
                    f"weights_init must have shape ({K},), got {weights.shape}."
                )
            if (weights < 0).any() or (weights > 1).any():
                raise ValueError("weights_init must lie in [0, 1].")
            if not np.isclose(weights.sum(), 1.0, rtol=0.0, atol=1e-8):
                raise ValueError(f"weights_init must sum to 1, got {weights.sum():.10g}.")
        if self.means_init is not None:
            means = check_array(self.means_init, "means_init")
            if means.shape != (K, n_features):
                raise ValueError(
                    f"means_init must have shape ({K}, {n_features}), got {means.shape}."
                )
        if self.precisions_init is not None:
            precisions = self._check_precisions(K, n_features)
        return K, weights, means, precisions

    def _check_precisions(self, K, d):
        shape = {"full": (K, d, d), "tied": (d, d), "diag": (K, d), "spherical": (K,)}[
            self.covariance_type
        ]
        P = check_array(self.precisions_init, "precisions_init", ndim=len(shape))
        if P.shape != shape:
            raise ValueError(
                f"precisions_init must have shape {shape} for covariance_type="
                f"{self.covariance_type!r}, got {P.shape}."
            )
        if self.covariance_type in ("full", "tied"):
            if not np.allclose(P, np.swapaxes(P, -1, -2)):
                raise ValueError("precisions_init must be symmetric.")
            if (np.linalg.eigvalsh(P) <= 0).any():
                raise ValueError("precisions_init must be positive definite.")
        elif (P <= 0).any():
            raise ValueError("precisions_init must be positive.")
        return P

    def _validate_X(self, X, reset):
        X = validate_data(
            self, X, reset=reset, dtype=np.float64, ensure_all_finite=False,
            ensure_min_samples=2 if reset else 1,
        )
        return check_array(X, "X")

    # ------------------------------------------------------------------ fitting
    def fit(self, X, y=None):
        """Fit the mixture by EM from ``n_init`` starts (run together); keep the best.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Finite data, at least two samples and at least ``n_components`` samples.
        y : ignored

        Returns
        -------
        self
        """
        self.fit_predict(X)
        return self

    def fit_predict(self, X, y=None):
        """Fit as :meth:`fit` and return the component of every sample.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : ignored

        Returns
        -------
        labels : ndarray of int, shape (n_samples,)
        """
        X = self._validate_X(X, reset=True)
        n, d = X.shape
        K, weights, means, precisions = self._check_params(d)
        if n < K:
            raise ValueError(
                f"X has n_samples={n}, fewer than n_components={K}; "
                "expected n_samples >= n_components."
            )
        user_all = weights is not None and means is not None and precisions is not None
        center = X.mean(axis=0)
        n_pad = _padded_length(n)
        Xc = _pad_rows(X - center, n_pad)
        w = np.zeros(n_pad)
        w[:n] = 1.0
        bar, callback = None, None
        if self.verbose:
            from tqdm.auto import tqdm

            bar = tqdm(total=self.max_iter, desc="GaussianMixture EM", unit="it")

            def callback(it, lower, done):
                bar.update(1)
                bar.set_postfix(best_lower_bound=float(np.max(lower)), done=int(np.sum(done)))

        if user_all:  # nothing random: one start from the given parameters
            rand = np.zeros((1, 1))
        else:
            rand = _random_inputs(as_generator(self.random_state), self.n_init, n, n_pad, K,
                                  self.init_params)
        small = int(n_pad * len(rand) <= _SMALL)
        with x64():
            Xc = jnp.asarray(Xc)
            data = em.GaussianEMData(em.gaussian_features(Xc, self.covariance_type),
                                     jnp.asarray(w), jnp.asarray(float(self.reg_covar)))
            params0 = _INIT_JIT[small](
                jnp.asarray(rand), Xc, data, weights,
                None if means is None else means - center, precisions,
                n_components=K, covariance_type=self.covariance_type,
                init_params=self.init_params,
            )
            res = _EM_JIT[small](params0, data, float(self.tol), int(self.max_iter),
                                 covariance_type=self.covariance_type, callback=callback)
            res = jax.tree_util.tree_map(np.asarray, res)
        if bar is not None:
            bar.close()
        lower = np.where(res.failed, -np.inf, res.lower_bound)
        if np.all(res.failed):
            raise ValueError(
                "Fitting the mixture model failed because some components have ill-defined "
                "empirical covariance (for instance caused by singleton or collapsed samples). "
                "Try to decrease the number of components, increase reg_covar, or scale the "
                "input data."
            )
        best = int(np.argmax(lower))
        p = jax.tree_util.tree_map(lambda a: a[best], res.params)
        self.weights_ = p.weights
        self.means_ = p.means + center
        self.covariances_ = p.covariances
        with x64():
            self.precisions_cholesky_ = np.asarray(
                _PREC_CHOL_JIT(jnp.asarray(p.covariances), covariance_type=self.covariance_type)
            )
        if self.covariance_type in ("full", "tied"):
            pc = self.precisions_cholesky_
            self.precisions_ = pc @ np.swapaxes(pc, -1, -2)
        else:
            self.precisions_ = self.precisions_cholesky_**2
        self.converged_ = bool(res.converged[best])
        self.n_iter_ = int(res.n_iter[best])
        self.lower_bound_ = float(res.lower_bound[best])
        if not self.converged_:
            warnings.warn(
                "Best performing initialization did not converge "
                f"(n_iter_={self.n_iter_}, max_iter={self.max_iter}). Try different init "
                "parameters, or increase max_iter, tol, or check for degenerate data.",
                ConvergenceWarning,
                stacklevel=2,
            )
        return self._log_resp_and_norm(X)[0].argmax(axis=1)

    # ------------------------------------------------------------------ prediction
    def _gmm(self):
        return gaussian.GMM(
            jnp.log(jnp.asarray(self.weights_)), jnp.asarray(self.means_),
            jnp.asarray(self.covariances_), self.covariance_type,
        )

    def _log_resp_and_norm(self, X):
        """Log responsibilities (n, K) and log-density (n,) of validated ``X`` (float64)."""
        n = X.shape[0]
        Xp = _pad_rows(X, _padded_length(n))
        predict = _PREDICT_JIT[int(Xp.shape[0] <= _SMALL)]
        with x64():
            log_resp, log_norm = predict(self._gmm(), jnp.asarray(Xp))
            return np.asarray(log_resp)[:n], np.asarray(log_norm)[:n]

    def _predict_input(self, X):
        check_is_fitted(self)
        return self._validate_X(X, reset=False)

    def score_samples(self, X):
        """Log-density ``log p(x)`` of every sample (nats).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples,)
        """
        return self._log_resp_and_norm(self._predict_input(X))[1]

    def score(self, X, y=None):
        """Mean log-likelihood per sample of ``X`` (nats).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : ignored

        Returns
        -------
        float
        """
        return float(self.score_samples(X).mean())

    def predict_proba(self, X):
        """Posterior probability of each component for each sample.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples, n_components)
            Rows sum to one.
        """
        return np.exp(self._log_resp_and_norm(self._predict_input(X))[0])

    def predict(self, X):
        """Most probable component of each sample.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        ndarray of int, shape (n_samples,)
        """
        return self._log_resp_and_norm(self._predict_input(X))[0].argmax(axis=1)

    def sample(self, n_samples=1):
        """Draw samples from the fitted mixture (seeded by ``random_state``).

        Parameters
        ----------
        n_samples : int, default=1

        Returns
        -------
        X : ndarray of shape (n_samples, n_features)
        labels : ndarray of int, shape (n_samples,)
            Component of each sample.
        """
        check_is_fitted(self)
        n_samples = check_scalar(n_samples, "n_samples", kind="int", low=1)
        with x64():
            X, labels = _SAMPLE_JIT(self._gmm(), as_key(self.random_state), n=n_samples)
            return np.asarray(X), np.asarray(labels)

    # ------------------------------------------------------------------ model selection
    def _n_parameters(self):
        K, d = self.means_.shape
        cov = {"full": K * d * (d + 1) / 2, "diag": K * d, "tied": d * (d + 1) / 2,
               "spherical": K}[self.covariance_type]
        return int(cov + K * d + K - 1)

    def bic(self, X):
        """Bayesian information criterion ``-2 log L + p log n`` on ``X`` (lower is better).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        float
        """
        X = self._predict_input(X)
        log_lik = self._log_resp_and_norm(X)[1].sum()
        return -2.0 * log_lik + self._n_parameters() * math.log(X.shape[0])

    def aic(self, X):
        """Akaike information criterion ``-2 log L + 2 p`` on ``X`` (lower is better).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        float
        """
        X = self._predict_input(X)
        return -2.0 * self._log_resp_and_norm(X)[1].sum() + 2 * self._n_parameters()
