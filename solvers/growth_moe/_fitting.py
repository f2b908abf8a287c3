"""NumPy-side steps of the fit shared by the estimator and the model-selection tools: the
padded data container, standardisation, the final-stage optimiser, the observed
information, canonical class order (no model mathematics here: that is :mod:`_core`)."""

from __future__ import annotations

import jax
import numpy as np

from mixtures.base import pad_axis, padded_length, warn
from solvers.growth_moe import _core

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


def _make_data(Y, times, mask, Xg, Xe, Xj, lo, hi, length=None, Z=None):
    """:class:`_core.Data` with the persons axis padded to ``length`` (default: no padding) by
    rows of weight 0 with every occasion missing; ``Z`` (n, T, pz) time-varying covariates
    (None: pz = 0), zeroed where ``mask`` is False."""
    n = Y.shape[0]
    length = n if length is None else length
    Z = np.zeros(Y.shape + (0,)) if Z is None else np.where(mask[:, :, None], Z, 0.0)

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
        Z=pad(Z),
    )


def _scaling(Y, times, mask, X, curve, gcols, ecols, jcols, Z=None):
    """Centres and scales of the standardisation: a dict of the :class:`_core.Scaling` fields
    and ``xc``/``xs`` (every column of ``X``), NumPy values; ``zc``/``zs`` from the observed
    entries of the time-varying covariates ``Z`` (n, T, pz).

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
    z_obs = np.zeros((0, 0)) if Z is None else Z[mask]
    sc["zc"] = z_obs.mean(axis=0) if z_obs.shape[0] else np.zeros(z_obs.shape[1])
    zs = z_obs.std(axis=0) if z_obs.shape[0] else np.ones(z_obs.shape[1])
    sc["zs"] = np.where(zs > 0, zs, 1.0)
    return {k: np.asarray(v, dtype=float) for k, v in sc.items()}


def _standardise(Y, times, X, sc):
    """Data in the standardised units of ``sc`` (a dict of :class:`_core.Scaling` fields plus
    ``xc``/``xs`` for every column of ``X``)."""
    Ys = (Y - sc["yc"]) / sc["ys"]
    Ts = (times - sc["tc"]) / sc["ts"]
    Xs = (X - sc["xc"]) / sc["xs"]
    return Ys, Ts, Xs


def _standardise_z(Z, sc):
    """Time-varying covariates (n, T, pz) in the standardised units of ``sc`` (None: none)."""
    return None if Z is None else (Z - sc["zc"]) / sc["zs"]


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


def _hessian(w, data, dims, curve, n):
    """Observed information (Hessian of the negative log-likelihood) in the unconstrained
    parameters: the central finite difference of the exact (JAX) gradient, (m, m)."""
    m = w.size
    grad = lambda x: n * np.asarray(_core.nll_and_grad(_dev(x), data, dims, curve)[1])
    H = np.empty((m, m))
    for i in range(m):
        h = 1e-5 * max(1.0, abs(w[i]))
        e = np.zeros(m)
        e[i] = h
        H[:, i] = (grad(w + e) - grad(w - e)) / (2 * h)
    return 0.5 * (H + H.T)


def _newton_polish(w, H, data, dims, curve, n, max_steps=4):
    """Newton steps ``w - H^{-1} g`` from the best final-stage start ``w`` (m,) with the
    observed information ``H`` (see :func:`_hessian`).

    L-BFGS-B stops once the gradient is below its tolerance, at a point that depends on the
    path taken; Newton's quadratic convergence takes every path to the same optimum to
    rounding, so the estimates no longer depend on the starts' trajectories (nor on the
    data's units, which change those trajectories only by rounding). A step is kept only if
    it lowers the largest gradient entry without raising the objective beyond rounding.

    Returns ``w``, ``H`` at that point, the mean negative log-likelihood per person and the
    largest entry of its gradient."""
    from scipy.linalg import cho_factor, cho_solve

    def evaluate(x):
        f, g = _core.nll_and_grad(_dev(x), data, dims, curve)
        return float(f), np.asarray(g)

    f, g = evaluate(w)
    gnorm = float(np.max(np.abs(g), initial=0.0))
    for _ in range(max_steps):
        try:
            factor = cho_factor(H)
        except np.linalg.LinAlgError:
            break  # not a strict local maximum: nothing to polish
        step = cho_solve(factor, n * g)
        w_new = w - step
        f_new, g_new = evaluate(w_new)
        gnorm_new = float(np.max(np.abs(g_new), initial=0.0))
        eps = np.finfo(float).eps
        if not (np.isfinite(f_new) and gnorm_new < gnorm and f_new <= f + 1e3 * eps * (1 + abs(f))):
            break
        w, f, g, gnorm = w_new, f_new, g_new, gnorm_new
        H = _hessian(w, data, dims, curve, n)
        if np.max(np.abs(step)) <= 1e3 * eps * (1.0 + np.max(np.abs(w))):
            break
    return w, H, f, gnorm


def _delta_vcov(H, J):
    """Inverse observed information on the natural scale: the inverse of ``H`` (see
    :func:`_hessian`) mapped by the delta method to the natural parameters, in the data's
    units, through the exact Jacobian of the parameter transform composed with the map out
    of the standardised units (``J``, (m, m))."""
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
        "kappa": "time_varying_coef",
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
