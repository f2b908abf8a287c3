"""Model comparison across the four covariate placements, and covariate screening."""

from __future__ import annotations

import numpy as np

from mixtures import x64
from mixtures.base import check_random_state, check_scalar
from solvers.growth_moe import _core
from solvers.growth_moe._data import check_longitudinal
from solvers.growth_moe.estimator import GrowthMixtureMoE, _make_data

__all__ = ["compare_models", "screen_covariates"]

PLACEMENTS = {
    "none": (False, False),
    "gating": (True, False),
    "expert": (False, True),
    "full": (True, True),
}


def compare_models(
    Y,
    times,
    X,
    n_classes=(1, 2, 3),
    *,
    curve="bilinear_spline",
    placements=("none", "gating", "expert", "full"),
    covariate_density="conditional",
    n_init=8,
    max_iter=2000,
    tol=1e-6,
    random_state=None,
    verbose=False,
    return_models=False,
):
    """Fit every covariate placement for every number of classes and tabulate the fit.

    The four placements are: no covariates ("none"), covariates in the gating network only
    ("gating"), in the experts only ("expert"), in both ("full"). With one class the gate is
    empty, so only "none" and "expert" are fitted for K = 1. The default
    ``covariate_density="conditional"`` makes every log-likelihood that of ``Y`` given ``X``,
    so BIC compares all placements on the same data (under the paper's joint form the expert
    placements would also model ``X``).

    Parameters
    ----------
    Y : array-like, shape (n, T)
        Outcomes, NaN for missing occasions.
    times : array-like, shape (n, T) or (T,)
    X : array-like, shape (n, p)
        Covariates, used by every placement that has them.
    n_classes : sequence of int
    curve, covariate_density, n_init, max_iter, tol, verbose
        As for :class:`GrowthMixtureMoE`.
    placements : sequence of str
        Subset of ("none", "gating", "expert", "full").
    random_state : None, int or numpy.random.Generator
        One generator drives every fit.
    return_models : bool
        Also return the fitted estimators (a list in the table's row order).

    Returns
    -------
    pandas.DataFrame
        One row per fit: ``n_classes``, ``placement``, ``loglik``, ``n_parameters``, ``aic``,
        ``bic``, ``entropy``, ``converged``; plus ``best_bic`` marking the lowest BIC.
    """
    import pandas as pd

    check_longitudinal(Y, times, X)
    for p in placements:
        if p not in PLACEMENTS:
            raise ValueError(f"placements must be drawn from {tuple(PLACEMENTS)}, got {p!r}.")
    rng = check_random_state(random_state)
    rows, models = [], []
    for K in n_classes:
        K = check_scalar(K, "n_classes", kind="int", low=1)
        for p in placements:
            if K == 1 and p in ("gating", "full"):
                continue
            gate, expert = PLACEMENTS[p]
            m = GrowthMixtureMoE(
                K,
                curve=curve,
                gating_covariates=gate,
                expert_covariates=expert,
                covariate_density=covariate_density,
                n_init=n_init,
                max_iter=max_iter,
                tol=tol,
                random_state=rng,
                verbose=verbose,
            ).fit(Y, times, X)
            rows.append(
                {
                    "n_classes": K,
                    "placement": p,
                    "loglik": m.loglik_,
                    "n_parameters": m.n_parameters_,
                    "aic": m.aic_,
                    "bic": m.bic_,
                    "entropy": m.entropy_,
                    "converged": m.converged_,
                }
            )
            models.append(m)
    table = pd.DataFrame(rows)
    table["best_bic"] = table["bic"] == table["bic"].min()
    return (table, models) if return_models else table


def screen_covariates(
    Y,
    times,
    X,
    *,
    curve="linear",
    feature_names=None,
    n_estimators=300,
    min_samples_leaf=5,
    n_splits=3,
    n_repeats=5,
    random_state=None,
):
    """Rank candidate covariates by how much trajectory heterogeneity they explain.

    A forest-based equivalent of the paper's structural-equation-model forests: a one-class
    growth model of ``curve`` is fitted (no covariates), each person's empirical-Bayes growth
    factors ``E[eta_i | y_i]`` are standardised, and a multi-output random forest
    (scikit-learn) predicts them from ``X``. A covariate's importance is the out-of-fold
    permutation importance: the drop in the forest's R^2 (averaged over the growth factors)
    when that covariate is shuffled in held-out folds, averaged over ``n_splits`` folds.

    Parameters
    ----------
    Y : array-like, shape (n, T)
    times : array-like, shape (n, T) or (T,)
    X : array-like, shape (n, p)
        Candidate covariates.
    curve : str
        Growth curve of the one-class model (see :class:`GrowthMixtureMoE`).
    feature_names : sequence of str, optional
        Names of the columns of ``X`` (default ``x0, x1, ...``).
    n_estimators, min_samples_leaf : int
        Forest size and leaf size.
    n_splits, n_repeats : int
        Cross-fitting folds and permutation repeats.
    random_state : None, int or numpy.random.Generator

    Returns
    -------
    pandas.DataFrame
        Columns ``feature``, ``importance`` (mean drop in R^2), ``std`` (over folds), ``rank``,
        sorted by decreasing importance.
    """
    import pandas as pd
    from sklearn.ensemble import RandomForestRegressor
    from sklearn.inspection import permutation_importance
    from sklearn.model_selection import KFold

    Y, times, mask, X = check_longitudinal(Y, times, X)
    if X.shape[1] == 0:
        raise ValueError("X must have at least one candidate covariate column.")
    n_splits = check_scalar(n_splits, "n_splits", kind="int", low=2)
    rng = check_random_state(random_state)
    names = [f"x{j}" for j in range(X.shape[1])] if feature_names is None else list(feature_names)
    if len(names) != X.shape[1]:
        raise ValueError(f"feature_names must have {X.shape[1]} entries, got {len(names)}.")
    model = GrowthMixtureMoE(
        1, curve=curve, gating_covariates=False, expert_covariates=False, n_init=1, random_state=rng
    ).fit(Y, times)
    with x64():
        data = _make_data(Y, times, mask, X[:, :0], X[:, :0], X[:, :0], *model.time_range_)
        eta = np.asarray(_core.growth_factor_posterior_means(model._params_jax(), data, curve))
    eta = eta[:, 0, :]
    target = (eta - eta.mean(0)) / (eta.std(0) + 1e-12)
    scores = []
    folds = KFold(n_splits, shuffle=True, random_state=int(rng.integers(2**31 - 1)))
    for train, test in folds.split(X):
        forest = RandomForestRegressor(
            n_estimators=n_estimators,
            min_samples_leaf=min_samples_leaf,
            random_state=int(rng.integers(2**31 - 1)),
        )
        forest.fit(X[train], target[train])
        imp = permutation_importance(
            forest,
            X[test],
            target[test],
            n_repeats=n_repeats,
            random_state=int(rng.integers(2**31 - 1)),
        )
        scores.append(imp.importances_mean)
    scores = np.array(scores)
    table = pd.DataFrame({"feature": names, "importance": scores.mean(0), "std": scores.std(0)})
    table = table.sort_values("importance", ascending=False, ignore_index=True)
    table["rank"] = np.arange(1, len(table) + 1)
    return table
