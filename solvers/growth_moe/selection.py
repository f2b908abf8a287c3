"""Model comparison across the four covariate placements, and covariate screening."""

from __future__ import annotations

import numpy as np

from mixtures import x64
from mixtures.base import check_random_state, check_scalar
from solvers.growth_moe import _core, _fitting
from solvers.growth_moe._data import check_longitudinal
from solvers.growth_moe._fitting import _make_data, _to_jax
from solvers.growth_moe.estimator import GrowthMixtureMoE

__all__ = ["compare_models", "screen_covariates", "lmr_test", "blrt", "blrt_test"]

_WITHOUT_GATE = {"none": "none", "gating": "none", "expert": "expert", "full": "expert"}
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
    n_initial=None,
    max_starts_factor=8,
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
    curve, covariate_density, n_init, n_initial, max_starts_factor, max_iter, tol, verbose
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
        ``bic``, ``sabic`` (sample-size adjusted BIC), ``entropy``, ``n_best_starts`` (final
        starts replicating the best log-likelihood), ``converged``, ``vlmr_p`` and ``lmr_p``
        (Vuong-Lo-Mendell-Rubin and adjusted LMR tests against the fit with one class fewer
        and the same placement, see :func:`lmr_test`; NaN for the smallest K); plus
        ``best_bic`` marking the lowest BIC. Each K-class fit also starts from the splits of
        the (K-1)-class fit (``init_from``). For the bootstrap LRT see :func:`blrt`.
    """
    import pandas as pd

    check_longitudinal(Y, times, X)
    for p in placements:
        if p not in PLACEMENTS:
            raise ValueError(f"placements must be drawn from {tuple(PLACEMENTS)}, got {p!r}.")
    rng = check_random_state(random_state)
    rows, models, previous = [], [], {}
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
                n_initial=n_initial,
                max_starts_factor=max_starts_factor,
                max_iter=max_iter,
                tol=tol,
                random_state=rng,
                verbose=verbose,
            )
            # the (K-1)-class fit of the same placement (a one-class model has no gate)
            prev = previous.get((K - 1, p if K > 2 else _WITHOUT_GATE[p]))
            m.fit(Y, times, X, init_from=prev if covariate_density == "conditional" else None)
            row = {
                "n_classes": K,
                "placement": p,
                "loglik": m.loglik_,
                "n_parameters": m.n_parameters_,
                "aic": m.aic_,
                "bic": m.bic_,
                "sabic": m.fit_statistics()["sabic"],
                "entropy": m.entropy_,
                "n_best_starts": m.n_best_starts_,
                "converged": m.converged_,
                "vlmr_p": np.nan,
                "lmr_p": np.nan,
            }
            if prev is not None:
                test = lmr_test(prev, m)
                row["vlmr_p"], row["lmr_p"] = test["p_value"], test["p_value_adjusted"]
            rows.append(row)
            models.append(m)
            previous[(K, p)] = m
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


def lmr_test(model0, model1, n_draws=200_000, random_state=0):
    """Vuong-Lo-Mendell-Rubin likelihood-ratio test of K0 against K1 > K0 classes.

    Under the K0-class model the likelihood-ratio statistic ``LR = 2 (l1 - l0)`` of two
    misspecified-or-nested models tends to a weighted sum of chi-square(1) variables whose
    weights are the eigenvalues of Vuong's (1989) matrix built from the two models'
    per-person scores and observed information; Lo, Mendell & Rubin (2001) apply it to
    mixtures and propose the adjusted statistic ``LR / (1 + 1 / (d log n))`` (``d`` the
    difference in the number of parameters). The p values are Monte Carlo tail
    probabilities of that weighted sum.

    Parameters
    ----------
    model0, model1 : GrowthMixtureMoE
        Fitted to the same data, with K0 < K1 classes.
    n_draws : int
        Monte Carlo draws of the weighted chi-square sum.
    random_state : None, int or numpy.random.Generator

    Returns
    -------
    dict
        ``lr``, ``p_value`` (VLMR), ``lr_adjusted``, ``p_value_adjusted`` (LMR adjusted),
        ``weights`` (the eigenvalues).
    """
    n = model0.posterior_.shape[0]
    if model1.posterior_.shape[0] != n or model1.n_classes <= model0.n_classes:
        raise ValueError("model1 must have more classes than model0, fitted to the same data.")
    parts = []
    for m in (model0, model1):
        Y, times, X = m._fit_state["data"]
        with x64():
            data = m._container(Y, times, X, Z=m._fit_state["Z"])
            S = np.asarray(
                _core.person_scores(
                    _fitting._dev(m._fit_state["w"]), data, m._fit_state["dims"], m.curve
                )
            )[:n]
        A = -m._fit_state["hessian"] / n  # expected Hessian of the log-likelihood per person
        parts.append((S, np.linalg.pinv(A)))
    (S0, A0i), (S1, A1i) = parts
    B0, B1, B10 = S0.T @ S0 / n, S1.T @ S1 / n, S1.T @ S0 / n
    W = np.block([[-B1 @ A1i, -B10 @ A0i], [B10.T @ A1i, B0 @ A0i]])
    lam = np.real(np.linalg.eigvals(W))
    lr = 2.0 * (model1.loglik_ - model0.loglik_)
    d = model1.n_parameters_ - model0.n_parameters_
    lr_adj = lr / (1.0 + 1.0 / (d * np.log(n)))
    rng = check_random_state(random_state)
    sims = np.zeros(int(n_draws))
    for chunk in np.array_split(np.arange(lam.size), max(1, lam.size // 8)):
        sims += rng.chisquare(1.0, (int(n_draws), chunk.size)) @ lam[chunk]
    p = lambda x: float((1 + np.sum(sims >= x)) / (sims.size + 1))  # noqa: E731
    return {
        "lr": lr,
        "p_value": p(lr),
        "lr_adjusted": lr_adj,
        "p_value_adjusted": p(lr_adj),
        "weights": lam,
    }


def blrt(
    Y,
    times,
    X=None,
    *,
    Z=None,
    n_classes=(1, 2),
    n_boot=50,
    boot_starts=8,
    boot_iter=300,
    random_state=None,
    return_models=False,
    **params,
):
    """Bootstrap likelihood-ratio test (McLachlan 1987; Nylund et al. 2007) of K0 against K1
    classes, fitting both models first (see :func:`blrt_test` for models already fitted).

    Both models are fitted to the data (K1 with the split K0 solution among its starts when
    K1 = K0 + 1), then :func:`blrt_test` runs the bootstrap.

    Parameters
    ----------
    Y, times, X, Z
        As for :meth:`GrowthMixtureMoE.fit`.
    n_classes : tuple (K0, K1)
    n_boot, boot_starts, boot_iter
        As for :func:`blrt_test`.
    random_state : None, int or numpy.random.Generator
        One generator drives both fits and the bootstrap.
    return_models : bool
        Also return the two fitted models.
    **params
        Hyper-parameters of :class:`GrowthMixtureMoE` shared by both models (``curve``,
        covariate placement, ``n_init`` ...). ``covariate_density`` defaults to
        "conditional" (the bootstrap keeps the observed ``X`` and times).

    Returns
    -------
    dict
        As for :func:`blrt_test`; with ``return_models`` also ``models`` (the K0 and K1
        fits).
    """
    K0, K1 = (check_scalar(k, "n_classes", kind="int", low=1) for k in n_classes)
    if K1 <= K0:
        raise ValueError(f"n_classes must be (K0, K1) with K1 > K0, got {n_classes!r}.")
    n_boot = check_scalar(n_boot, "n_boot", kind="int", low=1)
    rng = check_random_state(random_state)
    params = {"covariate_density": "conditional", **params}
    m0 = GrowthMixtureMoE(K0, random_state=rng, **params).fit(Y, times, X, Z=Z)
    m1 = GrowthMixtureMoE(K1, random_state=rng, **params)
    m1.fit(Y, times, X, Z=Z, init_from=m0 if K1 == K0 + 1 else None)
    out = blrt_test(
        m0, m1, n_boot=n_boot, boot_starts=boot_starts, boot_iter=boot_iter, random_state=rng
    )
    if return_models:
        out["models"] = (m0, m1)
    return out


def blrt_test(model0, model1, n_boot=50, boot_starts=8, boot_iter=300, random_state=None):
    """Bootstrap likelihood-ratio test (McLachlan 1987; Nylund et al. 2007) of a fitted
    K0-class model against a fitted K1-class model, K1 > K0.

    ``n_boot`` data sets are drawn from the K0-class model at the persons' own times and
    covariates, and both models are refitted to each, all bootstrap fits at once (vectorised
    L-BFGS of at most ``boot_iter`` iterations: from the generating K0 parameters for K0;
    from ``boot_starts`` starts for K1, the splits of the generating solution and random
    perturbations of them, or k-means starts when K1 > K0 + 1). The p value is
    ``(1 + #{LR_b >= LR}) / (n_boot + 1)``, so it is never below ``1 / (n_boot + 1)``.

    Parameters
    ----------
    model0, model1 : GrowthMixtureMoE
        Fitted to the same data (with :meth:`~GrowthMixtureMoE.fit` or
        :meth:`~GrowthMixtureMoE.fit_frame`), the same curve and covariate placement, with
        K0 < K1 classes and no class-specific covariate density (covariates are conditioned
        on: the bootstrap keeps them).
    n_boot : int
        Bootstrap data sets.
    boot_starts : int
        Starts per bootstrap fit of the K1-class model.
    boot_iter : int
        L-BFGS iterations per bootstrap fit.
    random_state : None, int or numpy.random.Generator

    Returns
    -------
    dict
        ``lr`` (observed), ``p_value``, ``lr_boot`` (n_boot,).
    """
    import warnings

    import jax

    m0, m1 = model0, model1
    for name, m in (("model0", m0), ("model1", m1)):
        if not isinstance(m, GrowthMixtureMoE) or not hasattr(m, "_fit_state"):
            raise TypeError(f"{name} must be a fitted GrowthMixtureMoE.")
        if m.density_columns_.size:
            raise ValueError(
                f"{name} models a class-specific covariate density; the bootstrap conditions "
                "on the covariates: fit with covariate_density='conditional'."
            )
    Y0, _, _ = m0._fit_state["data"]
    Y1, _, _ = m1._fit_state["data"]
    if (
        m1.n_classes <= m0.n_classes
        or Y0.shape != Y1.shape
        or not np.array_equal(Y0, Y1, equal_nan=True)
        or m0.curve != m1.curve
        or not np.array_equal(m0.expert_columns_, m1.expert_columns_)
        or m0.time_varying_coef_.shape[1] != m1.time_varying_coef_.shape[1]
        or (
            m0._fit_state["Z"] is not None
            and not np.array_equal(m0._fit_state["Z"], m1._fit_state["Z"], equal_nan=True)
        )
    ):
        raise ValueError(
            "model1 must have more classes than model0, fitted to the same data with the same "
            "curve and expert (baseline and time-varying) covariates."
        )
    n_boot = check_scalar(n_boot, "n_boot", kind="int", low=1)
    boot_starts = check_scalar(boot_starts, "boot_starts", kind="int", low=1)
    boot_iter = check_scalar(boot_iter, "boot_iter", kind="int", low=1)
    rng = check_random_state(random_state)
    K0, K1 = m0.n_classes, m1.n_classes
    lr = 2.0 * (m1.loglik_ - m0.loglik_)
    Yv, tv, Xv = m0._fit_state["data"]
    Zv = m0._fit_state["Z"]
    n, mask = len(Yv), ~np.isnan(Yv)
    t_draw = np.where(mask, tv, np.nan)
    boots = [m0.sample(t_draw, Xv, rng, Z=Zv)[0] for _ in range(n_boot)]
    best = []
    for m, K in ((m0, K0), (m1, K1)):
        dims, curve = m._fit_state["dims"], m.curve
        with x64():
            datas = [m._container(Yb, tv, Xv, Z=Zv) for Yb in boots]
            stacked = jax.tree_util.tree_map(lambda *a: np.stack(a), *datas)
            W = []
            for Yb, data in zip(boots, datas):
                W.append(_boot_starts(m0, m, K, Yb, tv, Xv, data, boot_starts, rng))
            W = _fitting._dev(np.array(W))
            data_b = jax.tree_util.tree_map(_fitting._dev, stacked)
            _, f = _core.batch_stage(W, data_b, boot_iter, m.tol, dims, curve)
        f = np.asarray(f)
        best.append(np.min(np.where(np.isfinite(f), f, np.inf), axis=1))
    lr_boot = 2.0 * n * (best[0] - best[1])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        p = float((1 + np.sum(lr_boot >= lr)) / (n_boot + 1))
    return {"lr": lr, "p_value": p, "lr_boot": lr_boot}


def _boot_starts(m0, m, K, Yb, times, X, data, n_starts, rng):
    """Starts (S, m) of one bootstrap fit in ``m``'s standardised units: for the K0 model the
    generating parameters; for the K1 model their splits and random perturbations of them
    (k-means starts on ``Yb`` when K1 > K0 + 1)."""
    from solvers.growth_moe._starts import StartGenerator

    curve, to_w = m.curve, _core.unconstrained_from_params
    gen_params = m0._fit_state["params"]
    if m is m0:
        starts = [gen_params]
    else:
        d = np.asarray
        gen = StartGenerator(
            d(data.Y0)[: len(Yb)], ~np.isnan(Yb), d(data.times0)[: len(Yb)],
            d(data.Xg)[: len(Yb)], d(data.Xe)[: len(Yb)], d(data.Xj)[: len(Yb)], K, curve,
            Z=d(data.Z)[: len(Yb)], random_knot=m.random_knot,
        )  # fmt: skip
        prev = dict(gen_params)
        if m0.n_classes == 1:
            prev["gate_coef"] = np.zeros((0, m.gating_columns_.size))
        if K == m0.n_classes + 1:
            # the generating solution split (as the data were drawn from it), then random
            # perturbations of those splits: no clustering per bootstrap data set
            splits = gen.splits(prev)
            starts = splits + [
                gen.perturb(splits[i % len(splits)], rng) for i in range(n_starts - len(splits))
            ]
            starts = starts[:n_starts]
        else:
            starts = gen.starts(n_starts, rng)
    return np.array([np.asarray(to_w(_to_jax(p), data.lo, data.hi, curve)) for p in starts])
