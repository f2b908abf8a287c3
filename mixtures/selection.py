"""Model selection for Gaussian mixtures: BIC and ICL over covariance structures and numbers
of components in one call (as mclust's ``Mclust``).

For each covariance structure, the fits of all the numbers of components run as one compiled
program (one after the other, padded components masked), each started, by
default, from the model-based hierarchical partition (:mod:`mixtures.hierarchical`), which is
computed once for all of them.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field

import jax
import numpy as np

from mixtures import parsimonious
from mixtures.base import DivergenceError, check_array, check_option, check_scalar

__all__ = ["ModelSelection", "select_gaussian_mixture", "CRITERIA"]

CRITERIA = ("bic", "icl")


@dataclass
class ModelSelection:
    """Result of :func:`select_gaussian_mixture`.

    Attributes
    ----------
    best : GaussianMixture
        The fitted model with the lowest criterion.
    table : pandas.DataFrame
        One row per (``n_components``, ``covariance_type``) tried, with columns
        ``n_components``, ``covariance_type``, ``log_likelihood`` (total, nats, units of X),
        ``n_parameters``, ``bic``, ``icl`` (both ``-2 log L + ...``: lower is better; NaN where
        the fit failed or ``degenerate``: a component collapsed onto a point or a subspace,
        its smallest variance within ten ridges ``reg_covar`` of zero), ``converged`` and
        ``n_iter``; sorted by the criterion.
    criterion : str
    covariance_types : tuple of str
        The structures tried, in the order given.
    models : dict
        ``(n_components, covariance_type) -> fitted GaussianMixture`` (failed fits absent).
    """

    best: object
    table: object
    criterion: str
    models: dict = field(repr=False)
    covariance_types: tuple = ()

    def pivot(self, criterion: str | None = None):
        """The criterion as a table: rows ``n_components``, columns ``covariance_type``."""
        criterion = check_option(criterion or self.criterion, "criterion", CRITERIA)
        wide = self.table.pivot(index="n_components", columns="covariance_type", values=criterion)
        return wide[list(self.covariance_types)]

    def plot(self, ax=None, criterion: str | None = None):
        """BIC (or ICL) curves against the number of components, one per structure
        (:func:`mixtures.plotting.plot_criterion_curves`)."""
        from mixtures.plotting import plot_criterion_curves

        criterion = criterion or self.criterion
        return plot_criterion_curves(self.pivot(criterion), ax=ax, label=criterion.upper())


def _starts(X, std, Ks, options, seed, K_pad):
    """The padded initial responsibilities of every number of components, shape
    (len(Ks), S, n_pad, K_pad), and the other arguments of the compiled search: the starts
    are shared by all covariance structures (as mclust's hierarchical partition is)."""
    from mixtures.estimators import GaussianMixture

    none = (None, None, None)
    resps = []
    for K in Ks:
        est = GaussianMixture(K, random_state=seed, **options)
        params = est._validate_params()
        resp0, n_starts = est._initial_responsibilities(std, K, none, params)
        args, small, _ = est._em_call(std, resp0, n_starts, none, params, K_pad=K_pad)
        resps.append(args[0])
    return np.stack(resps), args, small, n_starts


def _fit_structure(X, std, Ks, covariance_type, options, seed, starts):
    """Fit every number of components of one structure in one compiled call."""
    from mixtures._config import x64
    from mixtures.estimators import _SEARCH_JIT, _SEARCH_SMALL, GaussianMixture, _program_type

    resp0, args, _, n_starts = starts
    small = resp0.shape[0] * resp0.shape[1] * resp0.shape[2] <= _SEARCH_SMALL
    with x64():
        res = _SEARCH_JIT[int(small)](
            resp0,
            args[1],
            args[2],
            args[3],
            np.asarray(Ks, np.int32),
            args[5],
            args[9],
            args[10],
            covariance_type=_program_type(covariance_type),
        )
        res = jax.tree_util.tree_map(np.asarray, res)
    out, params = [], None
    for i, K in enumerate(Ks):
        est = GaussianMixture(K, covariance_type=covariance_type, random_state=seed, **options)
        # validated once per structure; the others differ only in n_components
        params = est._validate_params() if i == 0 else dict(params, n_components=K)
        est.n_features_in_ = X.shape[1]
        one = jax.tree_util.tree_map(lambda a, i=i: a[i], res)
        try:
            out.append(est._store_result(one, n_starts, std, params))
        except DivergenceError:
            out.append(None)
    return out


def _degenerate(est, scale, reg_covar):
    """Whether a component collapsed: a covariance eigenvalue within a few ridges of zero (in
    the standardised units of the fit). The likelihood is unbounded near such fits, so
    their BIC would reward the collapse (mclust reports them as missing, too)."""
    cov = np.asarray(est.covariances_) / scale**2
    st = parsimonious.storage_type(est.covariance_type)
    low = cov.min() if st in ("spherical", "diag") else np.linalg.eigvalsh(cov).min()
    return bool(low < _COLLAPSE * reg_covar)


# a component whose smallest variance is below this many ridges (reg_covar) is collapsed
_COLLAPSE = 10.0


def select_gaussian_mixture(
    X,
    n_components=range(1, 10),
    covariance_types=None,
    *,
    criterion: str = "bic",
    init_params: str = "hierarchical",
    n_init: int = 1,
    tol: float = 1e-4,
    reg_covar: float = 1e-6,
    max_iter: int = 1000,
    random_state=None,
) -> ModelSelection:
    """Fit Gaussian mixtures over numbers of components and covariance structures; keep the
    one with the lowest BIC (or ICL).

    Parameters
    ----------
    X : array-like, shape (n_samples, n_features)
    n_components : iterable of int, default=range(1, 10)
        Numbers of components to try (those above ``n_samples`` are skipped).
    covariance_types : iterable of str, optional
        Structures to try (:class:`mixtures.GaussianMixture`'s ``covariance_type`` values);
        default all fourteen models of :mod:`mixtures.parsimonious`.
    criterion : {"bic", "icl"}, default="bic"
        ``bic = -2 log L + p log n``; ``icl = bic - 2 sum_i log max_k z_ik`` (Biernacki,
        Celeux & Govaert 2000, with the MAP classification as mclust's), which also
        penalises overlapping components. Lower is better for both.
    init_params, n_init, tol, reg_covar, max_iter, random_state
        As :class:`mixtures.GaussianMixture` (``tol`` in nats per sample of the standardised
        data; the default is ten times tighter than the estimator's and close to mclust's
        relative ``1e-5`` on the total log-likelihood for per-sample log-likelihoods of a few
        nats, so that the criteria are compared at convergence).

    Returns
    -------
    ModelSelection
        The best model, the table of criteria (pandas), all fitted models; ``.plot()``
        draws the criterion curves.

    Raises
    ------
    DivergenceError
        If every fit failed.
    """
    import pandas as pd

    from mixtures._config import as_generator
    from mixtures.estimators import _Standardised

    X = check_array(X, "X")
    criterion = check_option(criterion, "criterion", CRITERIA)
    n = X.shape[0]
    Ks = sorted({check_scalar(k, "n_components", kind="int", low=1) for k in n_components})
    Ks = [k for k in Ks if k <= n]
    if not Ks:
        raise ValueError(f"n_components must contain a value <= n_samples={n}.")
    types = parsimonious.MODELS if covariance_types is None else tuple(covariance_types)
    if not types:
        raise ValueError("covariance_types must not be empty.")
    for ct in types:
        parsimonious.canonical(ct)
    options = dict(
        init_params=init_params, n_init=n_init, tol=tol, reg_covar=reg_covar, max_iter=max_iter
    )
    seed = int(as_generator(random_state).integers(0, 2**31 - 1))
    std = _Standardised.of(X)
    # as many component slots as the largest K: the search runs its own programs, and a
    # padded slot would cost as much as a real component in every fit
    starts = _starts(X, std, Ks, options, seed, max(Ks))
    rows, models = [], {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=Warning)  # non-convergence is in the table
        for ct in types:
            for K, est in zip(
                Ks, _fit_structure(X, std, Ks, ct, options, seed, starts), strict=True
            ):
                row = dict(
                    n_components=K,
                    covariance_type=ct,
                    log_likelihood=np.nan,
                    n_parameters=parsimonious.n_parameters(ct, K, X.shape[1]),
                    bic=np.nan,
                    icl=np.nan,
                    converged=False,
                    n_iter=0,
                    degenerate=False,
                )
                if est is not None and _degenerate(est, std.scale, reg_covar):
                    row.update(degenerate=True)
                elif est is not None:
                    log_resp, norm = est._log_resp_and_norm(X)
                    loglik = float(norm.sum())
                    bic = -2.0 * loglik + row["n_parameters"] * math.log(n)
                    row.update(
                        log_likelihood=loglik,
                        bic=bic,
                        icl=bic - 2.0 * float(log_resp.max(axis=1).sum()),
                        converged=bool(est.converged_),
                        n_iter=int(est.n_iter_),
                    )
                    if np.isfinite(bic):
                        models[K, ct] = est
                rows.append(row)
    table = pd.DataFrame(rows)
    if not models:
        raise DivergenceError("every fit failed; try a larger reg_covar or fewer components.")
    table = table.sort_values(criterion, kind="stable", na_position="last")
    best = table.iloc[0]
    return ModelSelection(
        models[int(best.n_components), best.covariance_type],
        table.reset_index(drop=True),
        criterion,
        models,
        types,
    )
