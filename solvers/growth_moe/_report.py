"""Reporting on a fitted :class:`~solvers.growth_moe.GrowthMixtureMoE`: parameter, fit and
class tables, simulation from the fitted model, the parametric bootstrap and the trajectory
plot (a mixin, so the estimator module holds the fit alone)."""

from __future__ import annotations

import numpy as np

from mixtures import gating, x64
from mixtures.base import check_array, check_random_state
from solvers.growth_moe import _core


class ReportMixin:
    """Tables, simulation and plots of a fitted growth mixture model."""

    # ----------------------------------------------------------------------------------------
    # tables
    def to_frame(self, ci="wald", level=0.95):
        """Parameter table: estimate, standard error, z, two-sided normal p value and
        confidence interval.

        Parameters
        ----------
        ci : {"wald", "bootstrap"}
            Wald intervals from the inverse observed information, or percentile intervals
            from the parametric bootstrap (run :meth:`bootstrap` first; ``std_err``, ``z``
            and ``p_value`` stay the Wald ones).
        level : float in (0, 1)
            Confidence level.

        Returns
        -------
        pandas.DataFrame
            Indexed by ``param_names_``; columns ``estimate``, ``std_err``, ``z``,
            ``p_value``, ``ci_lower``, ``ci_upper``.
        """
        import pandas as pd
        from scipy import stats

        self._check_fitted()
        if not 0.0 < float(level) < 1.0:
            raise ValueError(f"level must lie in (0, 1), got {level!r}.")
        var = np.diag(self.vcov_)
        se = np.sqrt(np.where(var > 0, var, np.nan))
        z = self.params_ / se
        if ci == "wald":
            h = stats.norm.ppf(0.5 + level / 2) * se
            lower, upper = self.params_ - h, self.params_ + h
        elif ci == "bootstrap":
            draws = getattr(self, "bootstrap_params_", None)
            if draws is None:
                raise ValueError("ci='bootstrap' needs bootstrap() to have run.")
            lower, upper = np.nanquantile(draws, [0.5 - level / 2, 0.5 + level / 2], axis=0)
        else:
            raise ValueError(f"ci must be 'wald' or 'bootstrap', got {ci!r}.")
        return pd.DataFrame(
            {
                "estimate": self.params_,
                "std_err": se,
                "z": z,
                "p_value": 2 * stats.norm.sf(np.abs(z)),
                "ci_lower": lower,
                "ci_upper": upper,
            },
            index=pd.Index(self.param_names_, name="parameter"),
        )

    def summary(self, ci="wald", level=0.95):
        """Parameter table (see :meth:`to_frame`) carrying the fit statistics
        (:meth:`fit_statistics`, with how many final-stage starts replicated the best
        log-likelihood) and the class table (:meth:`class_table`) in its ``attrs``
        (``"fit"`` and ``"classes"``).

        Returns
        -------
        pandas.DataFrame
        """
        tab = self.to_frame(ci=ci, level=level)
        tab.attrs["fit"] = self.fit_statistics().to_dict()
        tab.attrs["classes"] = self.class_table()
        return tab

    def fit_statistics(self):
        """Log-likelihood, information criteria, entropy and the staged starts' replication
        of the best log-likelihood (``start_rounds``: rounds of staged starts run, see
        ``max_starts_factor``).

        Returns
        -------
        pandas.Series
            ``sabic`` is the sample-size adjusted BIC (``log((n + 2) / 24)`` per parameter).
        """
        import pandas as pd

        self._check_fitted()
        n = self.posterior_.shape[0]
        return pd.Series(
            {
                "loglik": self.loglik_,
                "n_parameters": self.n_parameters_,
                "n_persons": n,
                "aic": self.aic_,
                "bic": self.bic_,
                "sabic": -2.0 * self.loglik_ + np.log((n + 2) / 24.0) * self.n_parameters_,
                "entropy": self.entropy_,
                "n_initial_starts": self.initial_logliks_.size,
                "n_final_starts": self.start_logliks_.size,
                "n_best_starts": self.n_best_starts_,
                "start_rounds": self.n_start_rounds_,
                "best_replicated": bool(self.n_best_starts_ >= 2),
                "converged": self.converged_,
            },
            dtype=object,
        )

    def class_table(self):
        """Per class: model proportion, count and share by most likely class, and the
        average posterior probabilities of the persons assigned to the class (the diagonal
        is the usual classification-quality figure; rows sum to 1).

        Returns
        -------
        pandas.DataFrame, shape (K, 3 + K)
        """
        import pandas as pd

        self._check_fitted()
        post = self.posterior_
        K = post.shape[1]
        label = np.argmax(post, axis=1)
        count = np.bincount(label, minlength=K)
        avg = np.array(
            [post[label == k].mean(0) if count[k] else np.full(K, np.nan) for k in range(K)]
        )
        tab = pd.DataFrame(
            {"proportion": self.weights_, "count": count, "share": count / post.shape[0]},
            index=pd.Index([f"class{k}" for k in range(K)], name="class"),
        )
        for k in range(K):
            tab[f"avepp.class{k}"] = avg[:, k]
        return tab

    # ----------------------------------------------------------------------------------------
    # simulation and the parametric bootstrap
    def sample(self, times, X=None, random_state=None, *, Z=None):
        """Draw outcomes from the fitted model at given times (and covariates).

        Parameters
        ----------
        times : array-like, shape (n, T)
            Measurement times, NaN where no occasion is drawn.
        X : array-like, shape (n, p), optional
            Covariates (conditioned on: classes come from the gate at ``X``).
        random_state : None, int or numpy.random.Generator
        Z : array-like, shape (n, T, p_z), optional
            Time-varying covariates (required when the model was fitted with them).

        Returns
        -------
        Y : ndarray, shape (n, T)
            NaN where ``times`` is NaN.
        labels : ndarray of int, shape (n,)
        """
        self._check_fitted()
        rng = check_random_state(random_state)
        times = check_array(times, "times", ndim=2, allow_nan=True)
        n, T = times.shape
        X = (
            np.zeros((n, self.n_features_in_))
            if X is None
            else check_array(X, "X", ndim=2, min_cols=0)
        )
        if X.shape != (n, self.n_features_in_):
            raise ValueError(f"X must have shape {(n, self.n_features_in_)}, got {X.shape}.")
        Z = self._check_z(Z, ~np.isnan(times))
        K, q = self.class_means_.shape[0], _core.N_FACTORS[self.curve]
        with x64():
            log_prob = gating.log_gate(
                X[:, self.gating_columns_], self.gating_intercept_, self.gating_coef_
            )
        prob = np.exp(np.asarray(log_prob))
        labels = (rng.random((n, 1)) > np.cumsum(prob, axis=1)).sum(1).clip(0, K - 1)
        Xe = X[:, self.expert_columns_]
        mean = self.class_means_[labels, :q] + np.einsum(
            "nqp,np->nq", self.expert_coef_[labels], Xe
        )
        vals, vecs = np.linalg.eigh(self.class_covariances_)
        root = vecs * np.sqrt(np.clip(vals, 0.0, None))[:, None, :]
        nr = root.shape[-1]  # growth factors and a random knot's deviation
        mean = np.concatenate([mean, np.zeros((n, nr - q))], axis=1)
        eta = mean + np.einsum("nqr,nr->nq", root[labels], rng.standard_normal((n, nr)))
        t0 = np.nan_to_num(times)
        lam = _core.basis(t0, self.curve_params_[labels], self.curve, xp=np)
        if nr > q:  # the linearised random knot (the model that was fitted)
            g = self.curve_params_[labels]
            slope_below, slope_above = mean[:, 1:2], mean[:, 2:3]
            load = -(slope_below * (t0 < g) + slope_above * (t0 > g))
            lam = np.concatenate([lam, load[..., None]], axis=-1)
        sd = np.sqrt(self.residual_variance_[labels])[:, None]
        Y = np.einsum("ntq,nq->nt", lam, eta) + sd * rng.standard_normal((n, T))
        if Z is not None:
            Y = Y + np.einsum("ntp,np->nt", np.nan_to_num(Z), self.time_varying_coef_[labels])
        Y[np.isnan(times)] = np.nan
        return Y, labels

    def bootstrap(self, n_boot=100, random_state=None):
        """Parametric bootstrap of the parameters: ``n_boot`` data sets drawn from the fitted
        model at the persons' own times and covariates, each refitted with the same
        hyper-parameters. Sets ``bootstrap_params_`` (n_boot, m) for
        ``to_frame(ci="bootstrap")``.

        Returns
        -------
        self
        """
        import warnings

        self._check_fitted()
        Y, times, X = self._fit_state["data"]
        Z = self._fit_state["Z"]
        rng = check_random_state(random_state)
        draws = []
        for _ in range(int(n_boot)):
            Yb, _ = self.sample(np.where(np.isnan(Y), np.nan, times), X, rng, Z=Z)
            m = self._refit_clone(rng)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                m.fit(Yb, times, X if X.shape[1] else None, Z=Z)
            draws.append(m.params_)
        self.bootstrap_params_ = np.array(draws)
        return self

    def _refit_clone(self, rng):
        from sklearn.base import clone

        m = clone(self)
        m.set_params(random_state=int(rng.integers(2**31 - 1)))
        return m

    def plot_trajectories(self, ax=None, n_spaghetti=200, random_state=0):
        """Class mean trajectories over the persons' observed curves (spaghetti, coloured by
        most likely class); see :func:`solvers.growth_moe.plotting.plot_trajectories`."""
        from solvers.growth_moe.plotting import plot_trajectories

        return plot_trajectories(self, ax=ax, n_spaghetti=n_spaghetti, random_state=random_state)
