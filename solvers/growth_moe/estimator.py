"""Scikit-learn-style estimator for covariate mixture-of-experts growth mixture models."""

from __future__ import annotations

from types import SimpleNamespace

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
    padded_length,
    warn,
)
from solvers.growth_moe import _core, _fitting
from solvers.growth_moe._data import (
    check_longitudinal,
    check_time_varying,
    covariate_columns,
    long_to_wide,
    varying_columns,
)
from solvers.growth_moe._fitting import (
    _bucket,
    _canonical_order,
    _dev,
    _make_data,
    _permute,
    _relative_entropy,
    _scaling,
    _split_like,
    _standardise,
    _standardise_z,
    _to_jax,
    _to_numpy,
    _tril,
)
from solvers.growth_moe._report import ReportMixin
from solvers.growth_moe._starts import StartGenerator

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
# two final-stage log-likelihoods closer than this (log-likelihood units) replicate each other
_REPLICATION_TOL = 1e-3


def _n_best(lls):
    """How many final-stage log-likelihoods reach the best one (to ``_REPLICATION_TOL``)."""
    lls = np.asarray(lls, dtype=float)
    finite = np.isfinite(lls)
    if not finite.any():
        return 0
    return int(np.sum(finite & (lls >= np.max(lls[finite]) - _REPLICATION_TOL)))


class GrowthMixtureMoE(ReportMixin, MixturesEstimator):
    r"""Growth mixture model with covariates in the gating network, the experts, or both.

    Person :math:`i` with observed occasions at individual times :math:`t_{ij}` belongs to
    latent class :math:`k` with probability :math:`\pi_k(x_i) = \mathrm{softmax}_k(\beta_{0k} +
    \beta_k^\top x_{g,i})` (class 0 the reference). Within class :math:`k` the growth factors
    are :math:`\eta_i = \alpha_k + B_k x_{e,i} + \zeta_i`, :math:`\zeta_i \sim N(0, \Psi_k)`,
    and :math:`y_i = \Lambda_i(g_k)\eta_i + Z_i \kappa_k + \varepsilon_i`,
    :math:`\varepsilon_i \sim N(0, \theta_k I)` (``Z_i``: optional time-varying covariates,
    one row per occasion, with class-specific effects :math:`\kappa_k`), where
    :math:`\Lambda_i(g_k)` is the growth curve's basis at the person's own times and
    :math:`g_k` a class-level curve parameter (the knot of the bilinear spline). The
    exact marginal likelihood (a Gaussian mixture over the observed occasions only: full
    information, no listwise deletion) is maximised directly with the exact JAX gradient from
    staged random starts (as Mplus' ``STARTS = n_initial n_init``): ``n_initial`` starts
    (per-person least-squares curves clustered by k-means, random perturbations of them, and
    splits of a (K-1)-class solution when one is given) run a short L-BFGS stage all at once
    (vectorised), and the ``n_init`` best are carried to convergence with L-BFGS-B. How many
    of those reach the best log-likelihood is reported (``n_best_starts_``). When the best is
    not replicated by a second final start, further rounds of fresh random starts are run
    (each as large as all earlier rounds together, up to ``max_starts_factor`` times the base
    budget) and their final starts pooled with the earlier ones, as Mplus users are advised to
    do by hand; a warning is emitted when the best is still not replicated. Solutions are put
    in a canonical class order (label switching); standard errors come from the inverse
    observed information.

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
    random_knot : bool, default=False
        Bilinear spline only: each person has its own knot, the class knot plus a zero-mean
        normal deviation that is the last random effect in ``class_covariances_`` (its
        variance in time units squared, its covariances with the growth factors). The curve
        is linearised in that deviation (first-order Taylor expansion at the class knot and
        the conditional mean growth factors, with the value at the knot and the two slopes
        held fixed, as in Liu & Perera's individual-measurement-occasion models), which is
        accurate when the knot's spread is small against the time range and the slopes'
        spread small against their mean difference.
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
        Number of final-stage starts, each optimised to convergence (the best is kept).
    n_initial : int or None, default=None
        Number of initial-stage starts (None: ``4 * n_init``; 0: no initial stage, the
        ``n_init`` starts go straight to the final stage). Must be 0 or at least ``n_init``.
    max_starts_factor : int, default=8
        Cap on the adaptive start budget, as a multiple of the base budget (``n_initial``,
        ``n_init``). While the best final log-likelihood is reached (to 1e-3) by fewer than
        two final starts, another round of fresh random starts is run with as many initial
        and final starts as all earlier rounds together (the total doubles: 1, 2, 4, 8 times
        the base), until the best is replicated or the total reaches this cap. 1 disables the
        extra rounds; nothing is added when ``n_init = 1``.
    initial_iter : int, default=20
        L-BFGS iterations of every initial-stage start.
    max_iter : int, default=2000
        Maximum L-BFGS iterations per start.
    tol : float, default=1e-6
        Convergence when the largest entry of the gradient of the mean negative
        log-likelihood per person (in the unconstrained parameterisation, in the fit's
        standardised units, so ``tol`` does not depend on the data's units) is below ``tol``,
        or when L-BFGS-B reports no further relative decrease of the objective after at least
        two iterations.
    random_state : None, int, numpy.random.Generator or JAX key, default=None
        Seeds the k-means starts and their random perturbations.
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
    class_covariances_ : ndarray, shape (K, q + r, q + r)
        (Residual) covariance of the growth factors within each class (r = 1 with
        ``random_knot``: the knot's deviation last).
    residual_variance_ : ndarray, shape (K,)
        Measurement-error variance per class (outcome units squared).
    covariate_means_, covariate_covariances_ : ndarray, shapes (K, p_j), (K, p_j, p_j)
        Class-specific distribution of the covariates in ``density_columns_`` (joint form;
        p_j = 0 otherwise).
    time_varying_coef_ : ndarray, shape (K, p_z)
        Class-specific effects of the time-varying covariates ``Z`` on the outcome (outcome
        units per unit of each covariate; p_z = 0 without ``Z``).
    time_varying_names_ : ndarray of str, shape (p_z,)
        Names of the time-varying covariates (the DataFrame columns in :meth:`fit_frame`,
        else ``z0``, ``z1`` ...).
    stderr_ : dict of str -> ndarray
        Standard errors from the inverse observed information, keyed like the attributes
        ("gating_intercept", "gating_coef", "class_means", "expert_coef",
        "class_covariances", "residual_variance", "covariate_means",
        "covariate_covariances", "time_varying_coef"), each of the matching shape.
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
    start_logliks_ : ndarray, shape (n_init * f,)
        Final log-likelihood of every final-stage start of every round (f: the budget
        multiple used, see ``max_starts_factor``); ``n_best_starts_`` of them reach the best
        value (to 1e-3): the best log-likelihood is replicated when this is at least 2.
    initial_logliks_ : ndarray, shape (n_initial * f,)
        Log-likelihood of every initial-stage start at the end of that stage.
    n_start_rounds_ : int
        Rounds of staged starts run (1 when the first round replicated its best).
    posterior_ : ndarray, shape (n, K)
        Posterior class probabilities of the persons in ``fit``.
    n_iter_ : int
        L-BFGS iterations of the best start (at most ``max_iter``).
    converged_ : bool
        Whether the best start met the convergence criterion (see ``tol``); a
        :class:`~sklearn.exceptions.ConvergenceWarning` is emitted otherwise.
    gating_columns_, expert_columns_, density_columns_ : ndarray of int
        Columns of ``X`` used by the gate, by the experts, and given a class-specific density.
    n_features_in_ : int
        Number of columns of ``X`` seen in ``fit`` (0 when ``X`` was None).
    feature_names_in_ : ndarray of str, shape (n_features_in,)
        Column names of ``X`` when it was a DataFrame with string column names (also used in
        ``param_names_``).
    time_range_ : ndarray, shape (2,)
        Smallest and largest observed time in ``fit``.
    """

    def __init__(
        self,
        n_classes=2,
        curve="bilinear_spline",
        random_knot=False,
        gating_covariates=True,
        expert_covariates=True,
        covariate_density="joint",
        n_init=8,
        n_initial=None,
        max_starts_factor=8,
        initial_iter=20,
        max_iter=2000,
        tol=1e-6,
        random_state=None,
        verbose=False,
    ):
        self.n_classes = n_classes
        self.curve = curve
        self.random_knot = random_knot
        self.gating_covariates = gating_covariates
        self.expert_covariates = expert_covariates
        self.covariate_density = covariate_density
        self.n_init = n_init
        self.n_initial = n_initial
        self.max_starts_factor = max_starts_factor
        self.initial_iter = initial_iter
        self.max_iter = max_iter
        self.tol = tol
        self.random_state = random_state
        self.verbose = verbose

    _parameter_constraints = {
        "n_classes": Integer(low=1),
        "curve": Options(_core.CURVES),
        "random_knot": Bool(),
        "gating_covariates": None,  # bool or column indices: resolved against X in fit
        "expert_covariates": None,
        "covariate_density": Options(("joint", "conditional")),
        "n_init": Integer(low=1),
        "n_initial": Integer(low=0, allow_none=True),
        "max_starts_factor": Integer(low=1),
        "initial_iter": Integer(low=1),
        "max_iter": Integer(low=1),
        "tol": Real(low=0.0, low_open=True),
        "random_state": None,
        "verbose": Bool(),
    }

    # ----------------------------------------------------------------------------------------
    def fit(self, Y, times, X=None, *, Z=None, init_from=None):
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
        Z : array-like, shape (n, T, p_z) or (n, T), optional
            Time-varying covariates, one value per person and occasion (finite wherever ``Y``
            is observed), with class-specific direct effects on the outcome
            (``time_varying_coef_``).
        init_from : GrowthMixtureMoE, optional
            A model with ``n_classes - 1`` classes fitted to the same data with the same
            curve and covariates: its classes, split one at a time, are added to the starts
            (class enumeration, :func:`compare_models` and :func:`blrt` pass it).

        Returns
        -------
        self
        """
        return self._fit(Y, times, X, Z, init_from)

    def _fit(self, Y, times, X, Z, init_from, z_names=None):
        hp = self._validate_params()
        for stale in ("bootstrap_params_", "ids_", "_frame_spec"):  # from an earlier fit
            self.__dict__.pop(stale, None)
        prob = self._setup(Y, times, X, hp, Z, z_names)
        rng = check_random_state(self.random_state)
        bar = None
        if hp["verbose"]:
            from tqdm.auto import tqdm

            bar = tqdm(total=hp["n_init"] * hp["max_iter"], desc="GrowthMixtureMoE")
        try:
            with x64():
                data = _make_data(
                    prob.Ys, prob.Ts, prob.mask, prob.Xg, prob.Xe, prob.Xj,
                    prob.lo_s, prob.hi_s, _bucket(prob.n), Z=prob.Zs,
                )  # fmt: skip
                initial, final = self._staged_starts(prob, data, rng, init_from, hp, bar)
        finally:
            if bar is not None:
                bar.close()
        self._finish(prob, data, initial, final, hp)
        return self

    # ----------------------------------------------------------------------------------------
    # the steps of fit
    def _setup(self, Y, times, X, hp, Z=None, z_names=None):
        """Validate and standardise the data; resolve the covariate columns."""
        curve, K = hp["curve"], hp["n_classes"]
        if hp["n_initial"] is not None and 0 < hp["n_initial"] < hp["n_init"]:
            raise ValueError(
                f"n_initial must be 0 (no initial stage) or at least n_init = {hp['n_init']}, "
                f"got {hp['n_initial']}."
            )
        if X is not None:
            X = self._check_table(X, "X", reset=True, min_cols=0)
        Y, times, mask, X = check_longitudinal(Y, times, X)
        Z = check_time_varying(Z, mask)
        pz = 0 if Z is None else Z.shape[2]
        if z_names is None:
            z_names = [f"z{j}" for j in range(pz)]
        self.time_varying_names_ = np.array([str(v) for v in z_names], dtype=object)
        if X.shape[1] == 0:
            self.n_features_in_ = 0
            if hasattr(self, "feature_names_in_"):
                del self.feature_names_in_
        n = Y.shape[0]
        if K > n:
            raise ValueError(f"n_classes must not exceed the number of persons n = {n}, got {K}.")
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
        r = int(hp["random_knot"])
        if r and curve != "bilinear_spline":
            raise ValueError(f"random_knot=True needs curve='bilinear_spline', got {curve!r}.")
        t_obs = times[mask]
        n_distinct = np.unique(t_obs).size
        if n_distinct < q + c:
            raise ValueError(
                f"times must hold at least {q + c} distinct observed values for "
                f"curve={curve!r} ({q} growth factor(s) and {c} curve parameter(s) to "
                f"identify), got {n_distinct}."
            )
        sc = _scaling(Y, times, mask, X, curve, gcols, ecols, jcols, Z)
        Ys, Ts, Xs = _standardise(Y, times, X, sc)
        return SimpleNamespace(
            Y=Y, times=times, mask=mask, X=X, Z=Z, Zs=_standardise_z(Z, sc),
            n=n, gcols=gcols, ecols=ecols, jcols=jcols,
            t_obs=t_obs, lo=float(t_obs.min()), hi=float(t_obs.max()), sc=sc,
            Ys=Ys, Ts=Ts, Xg=Xs[:, gcols], Xe=Xs[:, ecols], Xj=Xs[:, jcols],
            lo_s=float(Ts[mask].min()), hi_s=float(Ts[mask].max()),
            dims=(K, q, c, gcols.size, ecols.size, jcols.size, pz, r), curve=curve,
        )  # fmt: skip

    def _staged_starts(self, prob, data, rng, init_from, hp, bar):
        """Rounds of staged starts: the base round, then, while the best final
        log-likelihood is not replicated, rounds of fresh random starts as large as all
        earlier rounds together (run as chunks of the base budget, so they reuse the
        compiled initial stage), up to ``max_starts_factor`` times the base budget.

        Returns the pooled initial-stage log-likelihoods and final-stage results."""
        gen = StartGenerator(
            prob.Ys, prob.mask, prob.Ts, prob.Xg, prob.Xe, prob.Xj, hp["n_classes"], prob.curve,
            Z=prob.Zs, random_knot=hp["random_knot"],
        )  # fmt: skip
        prev = self._previous_solution(init_from, prob, hp)
        W0, initial = self._initial_stage(prob, data, rng, gen, prev, hp, fresh=False)
        final = self._final_stage(prob, data, W0, hp, bar)
        used, rounds = 1, 1
        while (
            hp["n_init"] > 1
            and used < hp["max_starts_factor"]
            and _n_best([r.ll for r in final]) < 2
        ):
            extra = min(used, hp["max_starts_factor"] - used)
            for _ in range(extra):
                W0, ini = self._initial_stage(prob, data, rng, gen, prev, hp, fresh=True)
                initial = np.concatenate([initial, ini])
                final = final + self._final_stage(prob, data, W0, hp, bar)
            used, rounds = used + extra, rounds + 1
        self.n_start_rounds_ = rounds
        return initial, final

    def _initial_stage(self, prob, data, rng, gen, prev, hp, fresh):
        """Starting values, and the initial stage of one base budget of staged starts:
        ``n_initial`` starts run ``initial_iter`` L-BFGS iterations at once (vmap); the
        ``n_init`` best go on (``fresh``: random starts only, for the extra rounds).

        Returns the final stage's starting points (n_init, m) and the initial stage's
        log-likelihoods (n_initial,) in standardised units (empty without an initial
        stage)."""
        n_init, n_initial = hp["n_init"], hp["n_initial"]
        if n_initial is None:
            n_initial = 4 * n_init
        starts = gen.starts(max(n_initial, n_init), rng, prev, fresh=fresh)
        to_w = _core.unconstrained_from_params
        W = np.array([np.asarray(to_w(_to_jax(p), data.lo, data.hi, prob.curve)) for p in starts])
        if n_initial == 0:
            return W, np.zeros(0)
        S = W.shape[0]
        # the starts axis is padded to a bucket (copies of the first start), so a new number of
        # starts reuses the compiled program
        Wp = np.concatenate([W, np.repeat(W[:1], padded_length(S, minimum=8) - S, axis=0)])
        Wp, f = _core.initial_stage(
            _dev(Wp), data, hp["initial_iter"], hp["tol"], prob.dims, prob.curve
        )
        W, f = np.asarray(Wp)[:S], np.asarray(f)[:S]
        order = np.argsort(np.where(np.isfinite(f), f, np.inf), kind="stable")
        return W[order[:n_init]], -prob.n * f

    def _previous_solution(self, init_from, prob, hp):
        """The standardised parameters of ``init_from`` (a fitted K-1 model on the same data),
        or None."""
        if init_from is None:
            return None
        K = hp["n_classes"]
        ok = (
            isinstance(init_from, GrowthMixtureMoE)
            and hasattr(init_from, "_fit_state")
            and init_from.n_classes == K - 1
            and init_from.curve == prob.curve
            and np.array_equal(init_from.gating_columns_, prob.gcols if K > 2 else [])
            and np.array_equal(init_from.expert_columns_, prob.ecols)
            and np.array_equal(init_from.density_columns_, prob.jcols)
            and init_from._fit_state["dims"][6:] == prob.dims[6:]
        )
        if not ok:
            raise ValueError(
                f"init_from must be a fitted GrowthMixtureMoE with n_classes = {K - 1} and "
                "the same curve, random_knot and covariate columns (baseline and "
                "time-varying)."
            )
        theirs = init_from._fit_state["scaling"]
        if not all(np.allclose(theirs[k], prob.sc[k]) for k in _core.Scaling._fields):
            raise ValueError("init_from must be fitted to the same data (Y, times, X).")
        prev = dict(init_from._fit_state["params"])
        if K == 2:  # a one-class model has no gate columns
            prev["gate_coef"] = np.zeros((0, prob.gcols.size))
        return prev

    def _final_stage(self, prob, data, W0, hp, bar):
        """Each starting point optimised to convergence (L-BFGS-B, exact JAX gradient)."""
        out = []
        for w0 in W0:
            res = _fitting._minimize(
                w0, data, prob.dims, prob.curve, hp["max_iter"], hp["tol"], bar
            )
            gnorm = float(np.max(np.abs(res.jac), initial=0.0))
            out.append(
                SimpleNamespace(
                    x=res.x,
                    ll=-prob.n * res.fun,
                    nit=res.nit,
                    gnorm=gnorm,
                    # L-BFGS-B's "no further relative decrease" counts only after a step was
                    # taken; a start that stops at once must meet the gradient criterion
                    ok=gnorm <= hp["tol"] or (bool(res.success) and res.nit > 1),
                    msg=str(res.message),
                )
            )
        return out

    def _finish(self, prob, data, initial, final, hp):
        """Best start in canonical class order, parameters in the data's units, observed
        information, posterior summaries, convergence and replication checks."""
        n, sc, dims, curve = prob.n, prob.sc, prob.dims, prob.curve
        lls = np.array([r.ll for r in final])
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
                _dev(final[best].x), data.lo, data.hi, jsc, dims, curve
            )
            perm = _canonical_order(_to_numpy(p_orig))
            p_std = _permute(_to_numpy(p_std), perm)
            w_best = np.asarray(
                _core.unconstrained_from_params(_to_jax(p_std), data.lo, data.hi, curve)
            )
            H = _fitting._hessian(w_best, data, dims, curve, n)
            if final[best].ok:  # refine a converged start; report any other as it stopped
                w_best, H, f_best, gnorm = _fitting._newton_polish(w_best, H, data, dims, curve, n)
                lls[best], final[best].gnorm = -n * f_best, gnorm
            p_std, p_orig, J = _core.natural_params(
                _dev(w_best), data.lo, data.hi, jsc, dims, curve
            )
            p_std, params = _to_numpy(p_std), _to_numpy(p_orig)
            vcov = _fitting._delta_vcov(H, np.asarray(J))
            lp, _, weights = _core.posterior(_to_jax(p_std), data, curve)
            post, weights = np.exp(np.asarray(lp))[:n], np.asarray(weights)
        # log-Jacobian of the standardisation: y = yc + ys y' for every observed value, and
        # x = c + s x' for the covariates whose density is modelled
        shift = -prob.mask.sum() * np.log(sc["ys"]) - n * np.sum(np.log(sc["js"]))
        lls = lls + shift
        self.gating_columns_, self.expert_columns_, self.density_columns_ = (
            prob.gcols,
            prob.ecols,
            prob.jcols,
        )
        self.time_range_ = np.array([prob.lo, prob.hi])
        self.start_logliks_ = lls
        self.initial_logliks_ = initial + shift
        self.n_best_starts_ = _n_best(lls)
        self._fit_state = {
            "params": p_std,
            "scaling": sc,
            "data": (prob.Y, prob.times, prob.X),
            "Z": prob.Z,
            "w": w_best,
            "hessian": H,
            "bounds": (prob.lo_s, prob.hi_s),
            "dims": dims,
        }
        self._store(params, float(lls[best]), vcov, weights, n)
        self.posterior_ = post
        self.entropy_ = _relative_entropy(post)
        r = final[best]
        self._set_convergence(
            r.ok,
            r.nit,
            hp["max_iter"],
            hint=(
                f"largest gradient entry {r.gnorm:.2e} > tol={hp['tol']:g} (L-BFGS-B: "
                f"{r.msg}); increase max_iter"
            ),
        )
        if len(final) > 1 and self.n_best_starts_ < 2:
            warn(
                f"the best log-likelihood ({lls[best]:.4f}) was reached by only one of the "
                f"{len(final)} final-stage starts (not replicated) after "
                f"{self.n_start_rounds_} round(s) of staged starts: it may be a local optimum; "
                "increase n_init, n_initial or max_starts_factor.",
                UserWarning,
            )
        if curve == "bilinear_spline":
            _fitting._warn_knot_on_occasion(params["curve"][:, 0], prob.t_obs, prob.hi - prob.lo)

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
        self.time_varying_coef_ = params["kappa"]
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
        rf = fac + (("knot",) if self.random_knot else ())  # random effects
        ii, jj = np.tril_indices(len(rf))
        names += [f"class{k}.psi.{rf[j]}.{rf[i]}" for k in range(K) for i, j in zip(ii, jj)]
        names += [f"class{k}.residual_variance" for k in range(K)]
        names += [f"class{k}.{c}" for k in range(K) for c in cpn]
        xj = [col[j] for j in self.density_columns_]
        names += [f"class{k}.xmean.{x}" for k in range(K) for x in xj]
        ii, jj = np.tril_indices(len(xj))
        names += [f"class{k}.xcov.{xj[j]}.{xj[i]}" for k in range(K) for i, j in zip(ii, jj)]
        names += [f"class{k}.y~{z}" for k in range(K) for z in self.time_varying_names_]
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
            kappa=_dev(self.time_varying_coef_),
        )

    def _prepare(self, Y, times, X, Z=None):
        self._check_fitted()
        if X is not None:
            X = self._check_table(X, "X", reset=False, min_cols=0)
        Y, times, mask, X = check_longitudinal(Y, times, X)
        if X.shape[1] != self.n_features_in_:
            raise ValueError(
                f"X must have {self.n_features_in_} columns as in fit, got {X.shape[1]}."
            )
        Z = self._check_z(Z, mask)
        return Y, times, mask, X, Z

    def _check_z(self, Z, mask):
        """``Z`` validated against the number of time-varying covariates seen in fit."""
        pz = self.time_varying_coef_.shape[1]
        Z = check_time_varying(Z, mask)
        if (0 if Z is None else Z.shape[2]) != pz:
            raise ValueError(
                f"Z must hold the {pz} time-varying covariate(s) of fit (shape (n, T, {pz}))"
                + (", got None." if Z is None else f", got shape {Z.shape}.")
            )
        return Z

    def _container(self, Y, times, X, length=None, Z=None):
        """Data (validated wide arrays, ``X`` with every column, ``Z`` (n, T, pz) or None) in
        the fit's standardised units as a padded :class:`_core.Data`, with the fit's time
        bounds."""
        sc = self._fit_state["scaling"]
        mask = ~np.isnan(Y)
        Ys, Ts, Xs = _standardise(Y, times, X, sc)
        return _make_data(
            Ys,
            Ts,
            mask,
            Xs[:, self.gating_columns_],
            Xs[:, self.expert_columns_],
            Xs[:, self.density_columns_],
            *self._fit_state["bounds"],
            _bucket(len(Y)) if length is None else length,
            Z=_standardise_z(Z, sc),
        )

    def _posterior_from_attrs(self, arrays):
        """Log posterior class probabilities ``(n, K)`` and log-likelihood per person ``(n,)``
        in the data's units (evaluated in the fit's standardised units)."""
        Y, times, mask, X, Z = arrays
        n = Y.shape[0]
        sc = self._fit_state["scaling"]
        with x64():
            data = self._container(Y, times, X, Z=Z)
            lp, lpp, _ = _core.posterior(_to_jax(self._fit_state["params"]), data, self.curve)
            lp, lpp = np.asarray(lp)[:n], np.asarray(lpp)[:n]
        lpp = lpp - mask.sum(axis=1) * np.log(sc["ys"]) - np.sum(np.log(sc["js"]))
        return lp, lpp

    def predict_proba(self, Y, times, X=None, Z=None):
        """Posterior class probabilities.

        Parameters
        ----------
        Y : array-like, shape (n, T)
            Outcomes, NaN for missing occasions.
        times : array-like, shape (n, T) or (T,)
        X : array-like, shape (n, p), optional
            Covariates (required when the model was fitted with covariates).
        Z : array-like, shape (n, T, p_z), optional
            Time-varying covariates (required when the model was fitted with them).

        Returns
        -------
        ndarray, shape (n, K)
        """
        return np.exp(self._posterior_from_attrs(self._prepare(Y, times, X, Z))[0])

    def predict(self, Y, times, X=None, Z=None):
        """Most probable class of each person, ndarray of int, shape (n,)."""
        return np.argmax(self.predict_proba(Y, times, X, Z), axis=1)

    def score(self, Y, times, X=None, Z=None):
        """Mean log-likelihood per person (float, higher is better; in the units of ``Y``)."""
        return float(np.mean(self._posterior_from_attrs(self._prepare(Y, times, X, Z))[1]))

    def predict_trajectories(self, times, X=None, Z=None):
        """Class-specific expected trajectories.

        Parameters
        ----------
        times : array-like, shape (T,) or (n, T)
            Times at which to evaluate the curves.
        X : array-like, shape (n, p), optional
            Covariates; the expert covariates shift each class's growth-factor means.
            Without ``X`` the covariates are set to 0.
        Z : array-like, shape (n, T, p_z) or (T, p_z), optional
            Time-varying covariates at those times (shift each class's mean by
            ``Z kappa_k``); without ``Z`` they are set to 0.

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
        pz = self.time_varying_coef_.shape[1]
        if Z is None:
            Z = np.zeros(times.shape + (pz,))
        else:
            Z = check_array(Z, "Z", ndim=(2, 3))
            Z = np.broadcast_to(Z, times.shape + (pz,)) if Z.shape[-1] == pz else None
            if Z is None:
                raise ValueError(f"Z must have {pz} columns (its last axis) as in fit.")
        sc = self._fit_state["scaling"]
        Ts = (times - sc["tc"]) / sc["ts"]
        Xe = (X[:, self.expert_columns_] - sc["ec"]) / sc["es"]
        with x64():
            out = np.asarray(
                _core.mean_trajectories(
                    _to_jax(self._fit_state["params"]),
                    _dev(Ts),
                    _dev(Xe),
                    _dev(_standardise_z(Z, sc)),
                    self.curve,
                )
            )
        out = sc["yc"] + sc["ys"] * out
        return out[0] if squeeze else out

    # ----------------------------------------------------------------------------------------
    # long format
    def fit_frame(self, df, *, id, time, y, gating=None, experts=None, init_from=None):
        """Fit from a long-format table (one row per person and occasion).

        Unbalanced designs, individual measurement times and missing occasions need no
        preparation: rows with a missing outcome are dropped and each person keeps the
        occasions it has. An expert column that is constant within every person is a
        baseline covariate (a direct effect on the growth factors); one that changes within a
        person is a time-varying covariate with a class-specific direct effect on the outcome
        at each occasion (``time_varying_coef_``). Gating columns must be baseline. The
        fitted parameters are named after the columns (``param_names_``, :meth:`summary`).

        Parameters
        ----------
        df : pandas.DataFrame
        id, time, y : str
            Columns of the person identifier, the measurement time and the outcome.
        gating, experts : sequence of str, optional
            Covariate columns that predict class membership / act on the growth factors (or,
            when they vary within a person, on the outcome). ``gating_covariates`` and
            ``expert_covariates`` are set to the positions of the baseline columns in ``X``
            (the union, gating columns first); when both are None the model has no
            covariates.
        init_from : GrowthMixtureMoE, optional
            As in :meth:`fit`.

        Returns
        -------
        self
            With ``ids_`` (n,), the person identifiers in the order of ``posterior_``.
        """
        Y, times, X, Z, ids, tv = self._frame_arrays(df, id, time, y, gating, experts)
        self._fit(Y, times, X, Z if tv else None, init_from, z_names=tv)
        self.ids_ = ids
        self._frame_spec = {"id": id, "time": time, "y": y, "time_varying": tv}
        return self

    def _frame_arrays(self, df, id, time, y, gating=None, experts=None):
        gating, experts = list(gating or []), list(experts or [])
        tv = []
        known = getattr(df, "columns", ())
        if all(c in known for c in [id, y] + experts):  # else long_to_wide names the problem
            tv = [c for c in varying_columns(df, id, y, experts) if c not in gating]
        experts = [c for c in experts if c not in tv]
        cols = list(dict.fromkeys(gating + experts))
        ids, Y, times, X, Z = long_to_wide(df, id, time, y, cols, tv)
        if cols:
            self.gating_covariates = [cols.index(c) for c in gating]
            self.expert_covariates = [cols.index(c) for c in experts]
        else:
            self.gating_covariates = self.expert_covariates = False
        return Y, times, (X if cols else None), Z, ids, tv

    def predict_proba_frame(self, df):
        """Posterior class probabilities from a long-format table with the columns used in
        :meth:`fit_frame`.

        Returns
        -------
        pandas.DataFrame, shape (n, K)
            Indexed by person, columns ``class0`` ...
        """
        import pandas as pd

        self._check_fitted()
        spec = getattr(self, "_frame_spec", None)
        if spec is None:
            raise ValueError("predict_proba_frame needs a model fitted with fit_frame.")
        cols = [str(c) for c in getattr(self, "feature_names_in_", [])]
        tv = spec["time_varying"]
        ids, Y, times, X, Z = long_to_wide(df, spec["id"], spec["time"], spec["y"], cols, tv)
        proba = self.predict_proba(Y, times, X if cols else None, Z if tv else None)
        return pd.DataFrame(
            proba,
            index=pd.Index(ids, name=spec["id"]),
            columns=[f"class{k}" for k in range(proba.shape[1])],
        )
