"""Scikit-learn-style estimator for covariate mixture-of-experts growth mixture models."""

from __future__ import annotations

import jax
import numpy as np

from mixtures import x64
from mixtures.base import (
    Bool,
    DivergenceError,
    Integer,
    MixturesEstimator,
    Options,
    Real,
    check_array,
    check_random_state,
    pad_axis,
    padded_length,
    warn,
)
from solvers.growth_moe import _core
from solvers.growth_moe._data import check_longitudinal, covariate_columns

__all__ = ["GrowthMixtureMoE"]

_FACTOR_NAMES = {
    "bilinear_spline": ("eta0", "eta1", "eta2"),
    "linear": ("eta0", "eta1"),
    "quadratic": ("eta0", "eta1", "eta2"),
    "negative_exponential": ("eta0", "eta1"),
    "jenss_bayley": ("eta0", "eta1", "eta2"),
}
_CURVE_PARAM_NAMES = {
    "bilinear_spline": ("knot",),
    "negative_exponential": ("rate",),
    "jenss_bayley": ("acceleration",),
    "linear": (),
    "quadratic": (),
}
# curves whose time origin is part of the model (the basis vanishes at t = 0): their times are
# scaled but not centred, so the fitted rate keeps its meaning and exp(g * tc) cannot overflow
_ORIGIN_CURVES = ("negative_exponential", "jenss_bayley")


def _dev(a):
    """NumPy float64 array -> JAX array (a transfer; ``jnp.asarray`` would compile a small
    program per new shape)."""
    return jax.device_put(np.asarray(a, dtype=float))


def _bucket(n):
    """Padded length of the persons axis (one compiled program per bucket)."""
    return padded_length(n)


class GrowthMixtureMoE(MixturesEstimator):
    r"""Growth mixture model with covariates in the gating network, the experts, or both.

    Person :math:`i` with observed occasions at individual times :math:`t_{ij}` belongs to
    latent class :math:`k` with probability :math:`\pi_k(x_i) = \mathrm{softmax}_k(\beta_{0k} +
    \beta_k^\top x_{g,i})` (class 0 the reference). Within class :math:`k` the growth factors
    are :math:`\eta_i = \alpha_k + B_k x_{e,i} + \zeta_i`, :math:`\zeta_i \sim N(0, \Psi_k)`,
    and :math:`y_i = \Lambda_i(g_k)\eta_i + \varepsilon_i`, :math:`\varepsilon_i \sim N(0,
    \theta_k I)`, where :math:`\Lambda_i(g_k)` is the growth curve's basis at the person's own
    times and :math:`g_k` a class-level curve parameter (the knot of the bilinear spline). The
    exact marginal likelihood (a Gaussian mixture over the observed occasions only: full
    information, no listwise deletion) is maximised directly with L-BFGS-B and the exact JAX
    gradient from ``n_init`` starts (per-person least-squares fits clustered by k-means, then
    jittered); solutions are put in a canonical class order (label switching), and standard
    errors come from the inverse observed information.

    The fit runs in standardised units (times, outcomes and covariates centred and scaled) and
    the parameters are mapped back exactly, so changing the units of ``Y``, ``times`` or ``X``
    changes only the parameters' units and shifts the log-likelihood by the log-Jacobian
    (``-N_obs log c`` for ``Y`` times ``c`` over ``N_obs`` observed values).

    Parameters
    ----------
    n_classes : int, default=2
        Number of latent classes K (1 <= K <= n).
    curve : str, default="bilinear_spline"
        Within-class growth curve, one of "bilinear_spline", "linear", "quadratic",
        "negative_exponential", "jenss_bayley". Bilinear spline:
        ``eta0 + eta1 min(t, g) + eta2 max(t - g, 0)`` with knot ``g`` (time units), kept
        inside the observed time range; linear
        ``eta0 + eta1 t``; quadratic ``eta0 + eta1 t + eta2 t^2``; negative exponential
        ``eta0 + eta1 (1 - exp(-g t))`` with rate ``g > 0`` (1/time units); Jenss-Bayley
        ``eta0 + eta1 t + eta2 (exp(g t) - 1)`` with ``g < 0``.
    gating_covariates : bool or sequence of int, default=True
        Columns of ``X`` that predict class membership (True: all, False: none).
    expert_covariates : bool or sequence of int, default=True
        Columns of ``X`` with direct effects on the growth factors (True: all, False: none).
    covariate_density : {"joint", "conditional"}, default="joint"
        "joint" (the paper's form, as in the authors' OpenMx/Mplus code): expert covariates
        that are not also gating covariates get a class-specific normal density
        ``N(x_j | mu_x,k, Phi_k)`` inside each class; "conditional": the likelihood is that of
        ``y`` given ``x`` only. Gating covariates are always conditioned on (a covariate in
        both the gate and the experts is therefore conditioned on under either setting; a
        class-specific density for it would count its information about the class twice).
        Log-likelihoods of models with different placements are comparable only under
        "conditional" (the default of :func:`compare_models`).
    n_init : int, default=8
        Number of starts (each optimised to convergence; the best is kept).
    max_iter : int, default=2000
        Maximum L-BFGS iterations per start.
    tol : float, default=1e-6
        Convergence when the largest entry of the gradient of the mean negative
        log-likelihood per person (in the unconstrained parameterisation, in the fit's
        standardised units, so ``tol`` does not depend on the data's units) is below ``tol``,
        or when L-BFGS-B reports no further relative decrease of the objective after at least
        two iterations.
    random_state : None, int, numpy.random.Generator or JAX key, default=None
        Seeds the k-means starts and their jitter.
    verbose : bool, default=False
        Show a tqdm progress bar over L-BFGS iterations (all starts).

    Attributes
    ----------
    weights_ : ndarray, shape (K,)
        Class proportions (the sample average of the gate's probabilities when gating
        covariates are present).
    gating_intercept_ : ndarray, shape (K-1,)
        Log-odds intercepts of classes 1..K-1 against class 0.
    gating_coef_ : ndarray, shape (K-1, p_g)
        Log-odds coefficients of the gating covariates (per unit of each covariate).
    class_means_ : ndarray, shape (K, q + c)
        Growth-factor means (at ``x_e = 0``: intercepts of the expert regressions) followed by
        the class's curve parameter(s) (the knot, in time units, for the bilinear spline).
    curve_params_ : ndarray, shape (K, c)
        The curve parameters alone (c = 1 for bilinear spline / negative exponential /
        Jenss-Bayley, 0 otherwise).
    expert_coef_ : ndarray, shape (K, q, p_e)
        Direct effects of the expert covariates on the growth factors.
    class_covariances_ : ndarray, shape (K, q, q)
        (Residual) covariance of the growth factors within each class.
    residual_variance_ : ndarray, shape (K,)
        Measurement-error variance per class (outcome units squared).
    covariate_means_, covariate_covariances_ : ndarray, shapes (K, p_j), (K, p_j, p_j)
        Class-specific distribution of the covariates in ``density_columns_`` (joint form;
        p_j = 0 otherwise).
    stderr_ : dict of str -> ndarray
        Standard errors from the inverse observed information, keyed like the attributes
        ("gating_intercept", "gating_coef", "class_means", "expert_coef",
        "class_covariances", "residual_variance", "covariate_means",
        "covariate_covariances"), each of the matching shape.
    param_names_ : list of str
        Names of the free parameters, in the order of ``params_`` / ``vcov_``.
    params_ : ndarray, shape (m,)
    vcov_ : ndarray, shape (m, m)
        Inverse observed information (asymptotic covariance of ``params_``).
    loglik_, aic_, bic_ : float
        Maximised log-likelihood and information criteria (BIC uses the number of persons).
    n_parameters_ : int
    entropy_ : float
        Relative entropy of the posterior classification (1 = perfectly separated).
    start_logliks_ : ndarray, shape (n_init,)
        Final log-likelihood of every start; ``n_best_starts_`` of them reach the best value
        (to 1e-3).
    n_iter_ : int
        L-BFGS iterations of the best start (at most ``max_iter``).
    converged_ : bool
        Whether the best start met the convergence criterion (see ``tol``); a
        :class:`~sklearn.exceptions.ConvergenceWarning` is emitted otherwise.
    gating_columns_, expert_columns_, density_columns_ : ndarray of int
        Columns of ``X`` used by the gate, by the experts, and given a class-specific density.
    n_features_in_ : int
        Number of columns of ``X`` seen in ``fit`` (0 when ``X`` was None).
    feature_names_in_ : ndarray of str, shape (n_features_in_,)
        Column names of ``X`` when it was a DataFrame with string column names (also used in
        ``param_names_``).
    time_range_ : ndarray, shape (2,)
        Smallest and largest observed time in ``fit``.
    """

    def __init__(
        self,
        n_classes=2,
        curve="bilinear_spline",
        gating_covariates=True,
        expert_covariates=True,
        covariate_density="joint",
        n_init=8,
        max_iter=2000,
        tol=1e-6,
        random_state=None,
        verbose=False,
    ):
        self.n_classes = n_classes
        self.curve = curve
        self.gating_covariates = gating_covariates
        self.expert_covariates = expert_covariates
        self.covariate_density = covariate_density
        self.n_init = n_init
        self.max_iter = max_iter
        self.tol = tol
        self.random_state = random_state
        self.verbose = verbose

    _parameter_constraints = {
        "n_classes": Integer(low=1),
        "curve": Options(_core.CURVES),
        "gating_covariates": None,  # bool or column indices: resolved against X in fit
        "expert_covariates": None,
        "covariate_density": Options(("joint", "conditional")),
        "n_init": Integer(low=1),
        "max_iter": Integer(low=1),
        "tol": Real(low=0.0, low_open=True),
        "random_state": None,
        "verbose": Bool(),
    }

    # ----------------------------------------------------------------------------------------
    def fit(self, Y, times, X=None):
        """Fit the model by full-information maximum likelihood.

        The fit runs in standardised units (times, outcomes and covariates centred and scaled
        by their observed means and standard deviations) and the parameters are mapped back,
        so the units of ``Y``, ``times`` and ``X`` change the fitted model only by the
        corresponding change of its parameters (and the log-likelihood by the log-Jacobian).

        Parameters
        ----------
        Y : array-like, shape (n, T)
            Outcome per person and occasion; NaN marks a missing occasion.
        times : array-like, shape (n, T) or (T,)
            Measurement times (any unit; must increase within a person over the observed
            occasions; may be NaN where ``Y`` is missing).
        X : array-like, shape (n, p), optional
            Baseline covariates (finite). None: a model without covariates. A DataFrame with
            string column names sets ``feature_names_in_``.

        Returns
        -------
        self
        """
        hp = self._validate_params()
        curve, max_iter, tol = hp["curve"], hp["max_iter"], hp["tol"]
        K, n_init = hp["n_classes"], hp["n_init"]
        if X is not None:
            X = self._check_table(X, "X", reset=True, min_cols=0)
        Y, times, mask, X = check_longitudinal(Y, times, X)
        if X.shape[1] == 0:
            self.n_features_in_ = 0
            if hasattr(self, "feature_names_in_"):
                del self.feature_names_in_
        n = Y.shape[0]
        if K > n:
            raise ValueError(f"n_classes must not exceed the number of persons n = {n}, got {K}.")
        rng = check_random_state(self.random_state)
        gcols = covariate_columns(self.gating_covariates, X.shape[1], "gating_covariates")
        ecols = covariate_columns(self.expert_covariates, X.shape[1], "expert_covariates")
        if K == 1:
            gcols = np.zeros(0, dtype=int)
        jcols = (
            np.setdiff1d(ecols, gcols)
            if self.covariate_density == "joint"
            else np.zeros(0, dtype=int)
        )
        q, c = _core.N_FACTORS[curve], _core.N_CURVE_PARAMS[curve]
        t_obs = times[mask]
        n_distinct = np.unique(t_obs).size
        if n_distinct < q + c:
            raise ValueError(
                f"times must hold at least {q + c} distinct observed values for "
                f"curve={curve!r} ({q} growth factor(s) and {c} curve parameter(s) to "
                f"identify), got {n_distinct}."
            )
        lo, hi = float(t_obs.min()), float(t_obs.max())

        sc = _scaling(Y, times, mask, X, curve, gcols, ecols, jcols)
        Ys, Ts, Xs = _standardise(Y, times, X, sc)
        lo_s, hi_s = float(Ts[mask].min()), float(Ts[mask].max())
        pg, pe = gcols.size, ecols.size
        dims = (K, q, c, pg, pe, jcols.size)
        Xg, Xe, Xj = Xs[:, gcols], Xs[:, ecols], Xs[:, jcols]
        starts = [
            _initial_params(Ys, mask, Ts, Xg, Xe, Xj, K, curve, rng, jitter=s > 0)
            for s in range(n_init)
        ]
        bar = None
        if hp["verbose"]:
            from tqdm.auto import tqdm

            bar = tqdm(total=n_init * max_iter, desc="GrowthMixtureMoE")
        ws, lls, iters, gnorms, oks, msgs = [], [], [], [], [], []
        try:
            with x64():
                data = _make_data(Ys, Ts, mask, Xg, Xe, Xj, lo_s, hi_s, _bucket(n))
                for p0 in starts:
                    w0 = np.asarray(
                        _core.unconstrained_from_params(_to_jax(p0), data.lo, data.hi, curve)
                    )
                    res = _minimize(w0, data, dims, curve, max_iter, tol, bar)
                    ws.append(res.x)
                    lls.append(-n * res.fun)
                    iters.append(res.nit)
                    gnorms.append(float(np.max(np.abs(res.jac), initial=0.0)))
                    # L-BFGS-B's "no further relative decrease" counts only after a step was
                    # taken; a start that stops at once must meet the gradient criterion
                    oks.append(gnorms[-1] <= tol or (bool(res.success) and res.nit > 1))
                    msgs.append(str(res.message))
        finally:
            if bar is not None:
                bar.close()
        lls = np.array(lls)
        finite = np.isfinite(lls)
        if not finite.any():
            raise DivergenceError(
                "every start of GrowthMixtureMoE diverged (non-finite log-likelihood); use "
                "fewer classes or check the data for outliers."
            )
        best = int(np.argmax(np.where(finite, lls, -np.inf)))
        with x64():
            jsc = _core.Scaling(**{k: _dev(sc[k]) for k in _core.Scaling._fields})
            p_std, p_orig, _ = _core.natural_params(
                _dev(ws[best]), data.lo, data.hi, jsc, dims, curve
            )
            perm = _canonical_order(_to_numpy(p_orig))
            p_std = _permute(_to_numpy(p_std), perm)
            w_best = np.asarray(
                _core.unconstrained_from_params(_to_jax(p_std), data.lo, data.hi, curve)
            )
            _, p_orig, J = _core.natural_params(_dev(w_best), data.lo, data.hi, jsc, dims, curve)
            params = _to_numpy(p_orig)
            vcov = _delta_vcov(w_best, data, np.asarray(J), dims, curve, n)
            lp, _, weights = _core.posterior(_to_jax(p_std), data, curve)
            post, weights = np.exp(np.asarray(lp))[:n], np.asarray(weights)
        # log-Jacobian of the standardisation: y = yc + ys y' for every observed value, and
        # x = c + s x' for the covariates whose density is modelled
        shift = -mask.sum() * np.log(sc["ys"]) - n * np.sum(np.log(sc["js"]))
        lls = lls + shift
        self.gating_columns_, self.expert_columns_, self.density_columns_ = gcols, ecols, jcols
        self.time_range_ = np.array([lo, hi])
        self.start_logliks_ = lls
        self.n_best_starts_ = int(np.sum(finite & (lls >= lls[best] - 1e-3)))
        self._fit_state = {"params": p_std, "scaling": sc}
        self._store(params, float(lls[best]), vcov, weights, n)
        self.entropy_ = _relative_entropy(post)
        self._set_convergence(
            oks[best],
            iters[best],
            max_iter,
            hint=(
                f"largest gradient entry {gnorms[best]:.2e} > tol={tol:g} (L-BFGS-B: "
                f"{msgs[best]}); increase max_iter"
            ),
        )
        if curve == "bilinear_spline":
            _warn_knot_on_occasion(params["curve"][:, 0], t_obs, hi - lo)
        return self

    # ----------------------------------------------------------------------------------------
    def _store(self, params, loglik, vcov, weights, n):
        K = params["alpha"].shape[0]
        self.gating_intercept_ = params["gate_intercept"]
        self.gating_coef_ = params["gate_coef"]
        self.curve_params_ = params["curve"]
        self.class_means_ = np.concatenate([params["alpha"], params["curve"]], axis=1)
        self.expert_coef_ = params["beta"]
        self.class_covariances_ = params["psi"]
        self.residual_variance_ = params["theta"]
        self.covariate_means_ = params["mux"]
        self.covariate_covariances_ = params["phi"]
        self.weights_ = weights
        self.params_ = np.concatenate(
            [
                np.ravel(params[k]) if k not in ("psi", "phi") else _tril(params[k])
                for k in _core.Params._fields
            ]
        )
        self.param_names_ = self._param_names(K)
        self.n_parameters_ = int(self.params_.size)
        self.loglik_ = loglik
        self.aic_ = -2.0 * loglik + 2.0 * self.n_parameters_
        self.bic_ = -2.0 * loglik + np.log(n) * self.n_parameters_
        self.vcov_ = vcov
        var = np.diag(vcov)
        se = np.where(var > 0, np.sqrt(np.abs(var)), np.nan)
        self.stderr_ = _split_like(se, params)

    def _param_names(self, K):
        fac = _FACTOR_NAMES[self.curve]
        cpn = _CURVE_PARAM_NAMES[self.curve]
        col = self._column_names()
        xg = [col[j] for j in self.gating_columns_]
        xe = [col[j] for j in self.expert_columns_]
        names = [f"gate.class{k}.intercept" for k in range(1, K)]
        names += [f"gate.class{k}.{x}" for k in range(1, K) for x in xg]
        names += [f"class{k}.mean.{f}" for k in range(K) for f in fac]
        names += [f"class{k}.{f}~{x}" for k in range(K) for f in fac for x in xe]
        q = len(fac)
        ii, jj = np.tril_indices(q)
        names += [f"class{k}.psi.{fac[j]}.{fac[i]}" for k in range(K) for i, j in zip(ii, jj)]
        names += [f"class{k}.residual_variance" for k in range(K)]
        names += [f"class{k}.{c}" for k in range(K) for c in cpn]
        xj = [col[j] for j in self.density_columns_]
        names += [f"class{k}.xmean.{x}" for k in range(K) for x in xj]
        ii, jj = np.tril_indices(len(xj))
        names += [f"class{k}.xcov.{xj[j]}.{xj[i]}" for k in range(K) for i, j in zip(ii, jj)]
        return names

    # ----------------------------------------------------------------------------------------

    def _column_names(self):
        names = getattr(self, "feature_names_in_", None)
        if names is not None:
            return [str(v) for v in names]
        return [f"x{j}" for j in range(self.n_features_in_)]

    # ----------------------------------------------------------------------------------------
    def _params_jax(self):
        """Fitted parameters in the data's units (:class:`_core.Params`)."""
        return _core.Params(
            gate_intercept=_dev(self.gating_intercept_),
            gate_coef=_dev(self.gating_coef_),
            alpha=_dev(self.class_means_[:, : _core.N_FACTORS[self.curve]]),
            beta=_dev(self.expert_coef_),
            psi=_dev(self.class_covariances_),
            theta=_dev(self.residual_variance_),
            curve=_dev(self.curve_params_),
            mux=_dev(self.covariate_means_),
            phi=_dev(self.covariate_covariances_),
        )

    def _prepare(self, Y, times, X):
        self._check_fitted()
        if X is not None:
            X = self._check_table(X, "X", reset=False, min_cols=0)
        Y, times, mask, X = check_longitudinal(Y, times, X)
        if X.shape[1] != self.n_features_in_:
            raise ValueError(
                f"X must have {self.n_features_in_} columns as in fit, got {X.shape[1]}."
            )
        return Y, times, mask, X

    def _posterior_from_attrs(self, arrays):
        """Log posterior class probabilities ``(n, K)`` and log-likelihood per person ``(n,)``
        in the data's units (evaluated in the fit's standardised units)."""
        Y, times, mask, X = arrays
        n = Y.shape[0]
        sc = self._fit_state["scaling"]
        Ys, Ts, Xs = _standardise(Y, times, X, sc)
        with x64():
            data = _make_data(
                Ys,
                Ts,
                mask,
                Xs[:, self.gating_columns_],
                Xs[:, self.expert_columns_],
                Xs[:, self.density_columns_],
                0.0,
                1.0,
                _bucket(n),
            )
            lp, lpp, _ = _core.posterior(_to_jax(self._fit_state["params"]), data, self.curve)
            lp, lpp = np.asarray(lp)[:n], np.asarray(lpp)[:n]
        lpp = lpp - mask.sum(axis=1) * np.log(sc["ys"]) - np.sum(np.log(sc["js"]))
        return lp, lpp

    def predict_proba(self, Y, times, X=None):
        """Posterior class probabilities.

        Parameters
        ----------
        Y : array-like, shape (n, T)
            Outcomes, NaN for missing occasions.
        times : array-like, shape (n, T) or (T,)
        X : array-like, shape (n, p), optional
            Covariates (required when the model was fitted with covariates).

        Returns
        -------
        ndarray, shape (n, K)
        """
        return np.exp(self._posterior_from_attrs(self._prepare(Y, times, X))[0])

    def predict(self, Y, times, X=None):
        """Most probable class of each person, ndarray of int, shape (n,)."""
        return np.argmax(self.predict_proba(Y, times, X), axis=1)

    def score(self, Y, times, X=None):
        """Mean log-likelihood per person (float, higher is better; in the units of ``Y``)."""
        return float(np.mean(self._posterior_from_attrs(self._prepare(Y, times, X))[1]))

    def predict_trajectories(self, times, X=None):
        """Class-specific expected trajectories.

        Parameters
        ----------
        times : array-like, shape (T,) or (n, T)
            Times at which to evaluate the curves.
        X : array-like, shape (n, p), optional
            Covariates; the expert covariates shift each class's growth-factor means.
            Without ``X`` the covariates are set to 0.

        Returns
        -------
        ndarray, shape (n, K, T), or (K, T) when ``times`` is 1-D and ``X`` is None.
            In the units of ``Y``.
        """
        self._check_fitted()
        times = check_array(times, "times", ndim=(1, 2))
        squeeze = times.ndim == 1 and X is None
        if X is not None:
            X = self._check_table(X, "X", reset=False, min_cols=0)
        n = times.shape[0] if times.ndim == 2 else (1 if X is None else X.shape[0])
        times = np.broadcast_to(times, (n, times.shape[-1]))
        if X is None:
            X = np.zeros((n, self.n_features_in_))
        elif X.shape[0] != n:
            raise ValueError(f"X must have {n} rows like times, got {X.shape[0]}.")
        sc = self._fit_state["scaling"]
        Ts = (times - sc["tc"]) / sc["ts"]
        Xe = (X[:, self.expert_columns_] - sc["ec"]) / sc["es"]
        with x64():
            out = np.asarray(
                _core.mean_trajectories(
                    _to_jax(self._fit_state["params"]),
                    _dev(Ts),
                    _dev(Xe),
                    self.curve,
                )
            )
        out = sc["yc"] + sc["ys"] * out
        return out[0] if squeeze else out

    def summary(self):
        """Parameter table: estimate, standard error, z and two-sided normal p value.

        Returns
        -------
        pandas.DataFrame
            Indexed by the parameter names of ``param_names_``.
        """
        import pandas as pd
        from scipy import stats

        self._check_fitted()
        se = np.sqrt(np.where(np.diag(self.vcov_) > 0, np.diag(self.vcov_), np.nan))
        z = self.params_ / se
        return pd.DataFrame(
            {
                "estimate": self.params_,
                "std_err": se,
                "z": z,
                "p_value": 2 * stats.norm.sf(np.abs(z)),
            },
            index=pd.Index(self.param_names_, name="parameter"),
        )


# --------------------------------------------------------------------------------------------
# helpers (NumPy side)
# --------------------------------------------------------------------------------------------


def _make_data(Y, times, mask, Xg, Xe, Xj, lo, hi, length=None):
    """:class:`_core.Data` with the persons axis padded to ``length`` (default: no padding) by
    rows of weight 0 with every occasion missing."""
    n = Y.shape[0]
    length = n if length is None else length

    def pad(a):
        return _dev(pad_axis(np.asarray(a, dtype=float), length, axis=0))

    return _core.Data(
        Y0=pad(np.where(mask, Y, 0.0)),
        mask=pad(mask),
        times0=pad(np.where(mask, times, 0.0)),
        Xg=pad(Xg),
        Xe=pad(Xe),
        Xj=pad(Xj),
        lo=_dev(float(lo)),
        hi=_dev(float(hi)),
        weight=pad(np.ones(n)),
    )


def _scaling(Y, times, mask, X, curve, gcols, ecols, jcols):
    """Centres and scales of the standardisation: a dict of the :class:`_core.Scaling` fields
    and ``xc``/``xs`` (every column of ``X``), NumPy values.

    Each is equivariant (a change of units rescales it by the same factor), so the
    standardised data, and hence the fit in standardised units, do not depend on the units."""
    t_obs, y_obs = times[mask], Y[mask]
    if curve in _ORIGIN_CURVES:
        tc, ts = 0.0, float(np.sqrt(np.mean(t_obs**2)))
    else:
        tc, ts = float(t_obs.mean()), float(t_obs.std())
    yc, ys = float(y_obs.mean()), float(y_obs.std())
    if not ys > 0:  # constant outcome: nothing to scale
        ys = 1.0
    xc = X.mean(axis=0) if X.shape[0] else np.zeros(X.shape[1])
    xs = X.std(axis=0) if X.shape[0] else np.ones(X.shape[1])
    xs = np.where(xs > 0, xs, 1.0)
    sc = {"tc": tc, "ts": ts, "yc": yc, "ys": ys, "xc": xc, "xs": xs}
    for key, cols in (("g", gcols), ("e", ecols), ("j", jcols)):
        sc[key + "c"], sc[key + "s"] = xc[cols], xs[cols]
    return {k: np.asarray(v, dtype=float) for k, v in sc.items()}


def _standardise(Y, times, X, sc):
    """Data in the standardised units of ``sc`` (a dict of :class:`_core.Scaling` fields plus
    ``xc``/``xs`` for every column of ``X``)."""
    Ys = (Y - sc["yc"]) / sc["ys"]
    Ts = (times - sc["tc"]) / sc["ts"]
    Xs = (X - sc["xc"]) / sc["xs"]
    return Ys, Ts, Xs


def _to_numpy(p):
    return {k: np.asarray(v) for k, v in p._asdict().items()}


def _minimize(w0, data, dims, curve, max_iter, tol, bar):
    """L-BFGS-B on the mean negative log-likelihood (exact JAX gradient)."""
    from scipy import optimize

    def fun(w):
        value, grad = _core.nll_and_grad(_dev(w), data, dims, curve)
        value = float(value)
        if not np.isfinite(value):
            return np.inf, np.zeros_like(w)
        return value, np.asarray(grad)

    res = optimize.minimize(
        fun,
        w0,
        jac=True,
        method="L-BFGS-B",
        callback=None if bar is None else (lambda *_: bar.update(1)),
        options={"maxiter": max_iter, "gtol": tol, "ftol": 1e-15, "maxcor": 20, "maxls": 50},
    )
    return res


def _warn_knot_on_occasion(knots, t_obs, span):
    """The likelihood has a kink wherever the knot crosses an observed time; with few distinct
    times (a common design) the maximum can sit on one, where the observed information of the
    knot is undefined."""
    t_unique = np.unique(t_obs)
    if t_unique.size > 10 * t_obs.size**0.5:
        return  # individually varying times: kinks are dense and tiny
    gap = np.min(np.abs(knots[:, None] - t_unique[None, :]), axis=1)
    if np.any(gap < 1e-4 * span):
        warn(
            "an estimated knot lies on a measurement occasion shared by many persons, where "
            "the log-likelihood is not differentiable; its standard error is not valid "
            "(consider a smooth curve such as 'quadratic' or 'linear').",
            RuntimeWarning,
        )


def _delta_vcov(w, data, J, dims, curve, n):
    """Inverse observed information on the natural scale.

    The Hessian of the negative log-likelihood in the unconstrained parameters is the central
    finite difference of its exact (JAX) gradient; the delta method maps its inverse to the
    natural parameters, in the data's units, through the exact Jacobian of the parameter
    transform composed with the map out of the standardised units (``J``, (m, m))."""
    m = w.size
    grad = lambda x: n * np.asarray(_core.nll_and_grad(_dev(x), data, dims, curve)[1])
    H = np.empty((m, m))
    for i in range(m):
        h = 1e-5 * max(1.0, abs(w[i]))
        e = np.zeros(m)
        e[i] = h
        H[:, i] = (grad(w + e) - grad(w - e)) / (2 * h)
    H = 0.5 * (H + H.T)
    try:
        np.linalg.cholesky(H)
        cov_w = np.linalg.inv(H)
    except np.linalg.LinAlgError:
        warn(
            "the observed information is not positive definite at the optimum (a boundary or "
            "weakly identified solution); standard errors of the affected parameters are NaN.",
            RuntimeWarning,
        )
        cov_w = np.linalg.pinv(H)
    return J @ cov_w @ J.T


def _to_jax(p):
    return _core.Params(**{k: _dev(v) for k, v in p.items()})


def _tril(m):
    d = m.shape[-1]
    i, j = np.tril_indices(d)
    return np.ravel(m[:, i, j])


def _split_like(vec, params):
    """Split a vector ordered like ``_core.params_to_vector`` into arrays shaped like
    ``params`` (symmetric matrices rebuilt from their lower triangles)."""
    out, pos = {}, 0
    for k in _core.Params._fields:
        a = params[k]
        if k in ("psi", "phi"):
            K, d = a.shape[0], a.shape[-1]
            size = K * d * (d + 1) // 2
            m = np.zeros_like(a)
            i, j = np.tril_indices(d)
            m[:, i, j] = vec[pos : pos + size].reshape(K, -1)
            m[:, j, i] = m[:, i, j]
            out[k] = m
        else:
            size = a.size
            out[k] = vec[pos : pos + size].reshape(a.shape)
        pos += size
    names = {
        "gate_intercept": "gating_intercept",
        "gate_coef": "gating_coef",
        "alpha": "class_means",
        "beta": "expert_coef",
        "psi": "class_covariances",
        "theta": "residual_variance",
        "curve": "curve_params",
        "mux": "covariate_means",
        "phi": "covariate_covariances",
    }
    res = {names[k]: v for k, v in out.items()}
    res["class_means"] = np.concatenate([res["class_means"], res["curve_params"]], axis=1)
    return res


def _relative_entropy(post):
    K = post.shape[1]
    if K == 1:
        return 1.0
    ent = -np.sum(post * np.log(np.clip(post, 1e-300, None)))
    return float(1.0 - ent / (post.shape[0] * np.log(K)))


def _canonical_order(p):
    """Canonical class order (label switching), from the parameters in the data's units: by
    curve parameter, then by the mean slope, then by the mean intercept."""
    keys = [p["alpha"][:, 0]]
    if p["alpha"].shape[1] > 1:
        keys.insert(0, p["alpha"][:, 1])
    if p["curve"].shape[1]:
        keys.insert(0, p["curve"][:, 0])
    return np.lexsort(keys[::-1])


def _permute(p, perm):
    """Classes of ``p`` in the order ``perm``, the gate re-referenced to the new class 0 (the
    same permutation serves standardised and original units: the unit maps act per class
    and are linear in the gate)."""
    K = p["alpha"].shape[0]
    a = np.concatenate([[0.0], p["gate_intercept"]])
    b = np.concatenate([np.zeros((1, p["gate_coef"].shape[1])), p["gate_coef"]], axis=0)
    a, b = a[perm] - a[perm[0]], b[perm] - b[perm[0]]
    out = {k: (v[perm] if v.shape[:1] == (K,) else v) for k, v in p.items()}
    out["gate_intercept"], out["gate_coef"] = a[1:], b[1:]
    return out


def _curve_grid(curve, t_obs, lo, hi):
    if curve == "bilinear_spline":
        return np.quantile(t_obs, np.linspace(0.15, 0.85, 15))
    span = hi - lo
    rates = np.geomspace(0.2, 20.0, 15) / span
    if curve == "negative_exponential":
        return rates
    if curve == "jenss_bayley":
        return -rates
    return np.zeros(1)


def _person_fits(Y0, mask, times0, g, curve):
    """Per-person ridge least squares of the curve with parameter ``g`` (scalar).

    Returns coefficients (n, q) and residual sums of squares (n,)."""
    n = Y0.shape[0]
    lam = _core.basis(times0, np.full((n, 1), g), curve, xp=np)
    lam = lam * mask[:, :, None]
    A = np.einsum("ntq,ntr->nqr", lam, lam)
    scale = np.trace(A, axis1=1, axis2=2)[:, None, None] / A.shape[1] + 1.0
    A = A + 1e-6 * scale * np.eye(A.shape[1])
    coef = np.linalg.solve(A, np.einsum("ntq,nt->nq", lam, Y0)[..., None])[..., 0]
    resid = (Y0 - np.einsum("ntq,nq->nt", lam, coef)) * mask
    return coef, np.sum(resid**2, axis=1)


def _initial_params(Y, mask, times, Xg, Xe, Xj, K, curve, rng, jitter):
    """One start: per-person least-squares fits clustered by k-means, class-wise refits."""
    n = Y.shape[0]
    q, c = _core.N_FACTORS[curve], _core.N_CURVE_PARAMS[curve]
    Y0, t0 = np.where(mask, Y, 0.0), np.where(mask, times, 0.0)
    t_obs = times[mask]
    lo, hi = t_obs.min(), t_obs.max()
    grid = _curve_grid(curve, t_obs, lo, hi)
    fits = [_person_fits(Y0, mask, t0, g, curve) for g in grid]
    rss = np.array([f[1] for f in fits])  # (G, n)
    g0 = int(np.argmin(rss.sum(axis=1)))
    feats = fits[g0][0]
    feats = (feats - feats.mean(0)) / (feats.std(0) + 1e-12)
    if jitter:
        feats = feats + 0.3 * rng.standard_normal(feats.shape)
    if K > 1:
        from sklearn.cluster import KMeans

        labels = KMeans(K, n_init=3, random_state=int(rng.integers(2**31 - 1))).fit_predict(feats)
    else:
        labels = np.zeros(n, dtype=int)
    n_obs = mask.sum(axis=1)
    pe = Xe.shape[1]
    Z = np.concatenate([np.ones((n, 1)), Xe], axis=1)
    alpha, beta = np.zeros((K, q)), np.zeros((K, q, pe))
    psi, theta, gk = np.zeros((K, q, q)), np.zeros(K), np.zeros((K, c))
    pej = Xj.shape[1]
    mux, phi = np.zeros((K, pej)), np.zeros((K, pej, pej))
    for k in range(K):
        idx = np.flatnonzero(labels == k)
        if idx.size < q + 2:
            idx = rng.choice(n, size=min(n, max(q + 2, n // K)), replace=False)
        j = int(np.argmin(rss[:, idx].sum(axis=1)))
        coef = fits[j][0][idx]
        if c:
            gk[k, 0] = grid[j]
        sol, *_ = np.linalg.lstsq(Z[idx], coef, rcond=None)
        alpha[k], beta[k] = sol[0], sol[1:].T
        res = coef - Z[idx] @ sol
        spread = np.var(coef, axis=0) + 1e-3
        psi[k] = np.cov(res.T).reshape(q, q) * 0.7 + np.diag(0.05 * spread)
        df = np.maximum(n_obs[idx] - q, 0).sum()
        theta[k] = max(fits[j][1][idx].sum() / max(df, 1), 1e-3 * np.var(Y0[mask]))
        if pej:
            mux[k] = Xj[idx].mean(0)
            phi[k] = np.cov(Xj[idx].T).reshape(pej, pej) + 1e-3 * np.eye(pej)
    if jitter:
        alpha = alpha + 0.05 * np.abs(alpha).mean(0) * rng.standard_normal(alpha.shape)
        psi = psi * np.exp(0.2 * rng.standard_normal((K, 1, 1)))
        if curve == "bilinear_spline":
            gk = np.clip(
                gk + 0.05 * (hi - lo) * rng.standard_normal(gk.shape),
                lo + 0.05 * (hi - lo),
                hi - 0.05 * (hi - lo),
            )
    props = np.bincount(labels, minlength=K) / n + 1e-2
    return {
        "gate_intercept": np.log(props[1:] / props[0]),
        "gate_coef": np.zeros((K - 1, Xg.shape[1])),
        "alpha": alpha,
        "beta": beta,
        "psi": psi,
        "theta": theta,
        "curve": gk,
        "mux": mux,
        "phi": phi,
    }
