"""Pure JAX numerical core of the covariate mixture-of-experts growth mixture model.

Model (person ``i``, class ``k``, observed occasions ``j`` at individual times ``t_ij``)::

    y_i | c_i = k, x_i  ~  N(Lambda_i(g_k) (alpha_k + B_k x_e,i) + Z_i kappa_k,
                             Lambda_i(g_k) Psi_k Lambda_i(g_k)^T + theta_k I)
    P(c_i = k | x_i)    =  softmax_k(b0_k + b_k^T x_g,i)          (class 0 = reference)
    optional ("joint" form): x_j,i | c_i = k ~ N(mu_x,k, Phi_k) for the expert covariates
    x_j that are not also gating covariates

``Z_i`` (T_i, pz) holds time-varying covariates with class-specific direct effects ``kappa_k``
on the outcome at each occasion (``y_ij = Lambda_ij eta_i + kappa_k^T z_ij + e_ij``).

Random knots (bilinear spline, ``r = 1``): person ``i`` has its own knot ``g_k + d_i``, with
``d_i`` a zero-mean random effect jointly normal with ``zeta_i`` (``Psi_k`` is then
(q + 1) x (q + 1), the knot last). As in Liu & Perera's individual-measurement-occasion
papers the curve is linearised in ``d_i`` (first-order Taylor expansion at the class knot and
the person's conditional mean growth factors ``mu_ik = alpha_k + B_k x_e,i``, with the value
at the knot and the two slopes held fixed): ``d_i`` loads on occasion ``j`` with
``-(mu_ik,1 [t_ij < g_k] + mu_ik,2 [t_ij > g_k])``, so the likelihood stays an exact
Gaussian mixture of that linearised model.

``Lambda_i(g)`` is the growth-curve basis at the person's own times; the curve is linear in the
growth factors and nonlinear only in the class-level curve parameter ``g_k`` (the knot of the
bilinear spline, the rate of the negative exponential, the Jenss-Bayley acceleration), so the
marginal likelihood is an exact Gaussian mixture: no linearisation is needed. Missing occasions
are handled exactly (full information): their rows of ``Lambda`` and of the residual are zeroed,
and the density of the observed occasions is evaluated through Woodbury's identity in the growth
factors (no LAPACK call: see :mod:`mixtures.linalg`). The persons axis may carry
padding rows (``weight`` 0, every occasion missing) so that one compiled program serves every
number of persons in a shape bucket.

The estimator fits in standardised units (times, outcomes and covariates centred and scaled);
:func:`to_original` maps the parameters back exactly, since every curve family is closed under
an affine change of the time axis (``Lambda(c + s t'; g) eta = Lambda(t'; g') M(g) eta``).

Estimation maximises the exact log-likelihood with L-BFGS over an unconstrained flat
parameterisation (log-Cholesky for covariances, log for variances, a logistic map that keeps
the knot inside the observed time range); :func:`nll_and_grad` gives the objective and its
exact gradient by automatic differentiation.
"""

from __future__ import annotations

from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp

from mixtures import gating, gaussian, linalg

CURVES = ("bilinear_spline", "linear", "quadratic", "negative_exponential", "jenss_bayley")
N_FACTORS = {
    "bilinear_spline": 3,
    "linear": 2,
    "quadratic": 3,
    "negative_exponential": 2,
    "jenss_bayley": 3,
}
N_CURVE_PARAMS = {
    "bilinear_spline": 1,
    "linear": 0,
    "quadratic": 0,
    "negative_exponential": 1,
    "jenss_bayley": 1,
}
# XLA:CPU's fusion emitters compile several times slower than the classic elemental emitters
# and bring nothing to these small kernels; parallel code generation costs more than it saves
# on a few cores (as in mixtures.estimators)
_COMPILE = {"xla_cpu_use_fusion_emitters": False, "xla_cpu_parallel_codegen_split_count": 1}
# programs run once or twice per fit (parameter maps, posteriors, per-person scores): the
# backend's optimisations cost more compile time than they could save
_COMPILE_ONCE = {"xla_backend_optimization_level": 0, **_COMPILE}


class Params(NamedTuple):
    """Model parameters on their natural scale (K classes, q growth factors, c curve
    parameters, pg gating and pe expert covariates; ``mux``/``phi`` have pe = 0 columns unless
    the joint covariate density is modelled)."""

    gate_intercept: jax.Array  # (K-1,)
    gate_coef: jax.Array  # (K-1, pg)
    alpha: jax.Array  # (K, q)   growth-factor means at x_e = 0
    beta: jax.Array  # (K, q, pe)
    psi: jax.Array  # (K, q + r, q + r)  (r = 1: the random knot's deviation last)
    theta: jax.Array  # (K,)
    curve: jax.Array  # (K, c)
    mux: jax.Array  # (K, pe_joint)
    phi: jax.Array  # (K, pe_joint, pe_joint)
    kappa: jax.Array  # (K, pz)  effects of the time-varying covariates on the outcome


class Data(NamedTuple):
    """Observed data: ``Y0``/``times0`` (n, T) with zeros at missing entries, ``mask`` (n, T)
    1.0 where observed, gating covariates ``Xg`` (n, pg), expert covariates ``Xe`` (n, pe),
    covariates with a class-specific density ``Xj`` (n, pej), time range ``lo``/``hi``,
    ``weight`` (n,) 1.0 for a person and 0.0 for a padding row, time-varying covariates ``Z``
    (n, T, pz) with zeros at missing entries."""

    Y0: jax.Array
    mask: jax.Array
    times0: jax.Array
    Xg: jax.Array
    Xe: jax.Array
    Xj: jax.Array
    lo: jax.Array
    hi: jax.Array
    weight: jax.Array
    Z: jax.Array


class Scaling(NamedTuple):
    """Standardisation of the data: ``t' = (t - tc) / ts``, ``y' = (y - yc) / ys`` and
    ``x' = (x - c) / s`` per covariate column (gating ``gc``/``gs`` (pg,), expert ``ec``/``es``
    (pe,), density ``jc``/``js`` (pej,), time-varying ``zc``/``zs`` (pz,))."""

    tc: jax.Array
    ts: jax.Array
    yc: jax.Array
    ys: jax.Array
    gc: jax.Array
    gs: jax.Array
    ec: jax.Array
    es: jax.Array
    jc: jax.Array
    js: jax.Array
    zc: jax.Array
    zs: jax.Array


def basis(t, g, curve, xp=jnp):
    """Growth-curve basis ``Lambda`` at times ``t``.

    Parameters
    ----------
    t : array, shape (..., T)
        Measurement times.
    g : array, shape (..., c)
        Curve parameters broadcastable against ``t[..., :1]`` (knot / rate / acceleration).
    curve : str
        One of :data:`CURVES`.
    xp : module
        ``jax.numpy`` (default) or ``numpy`` (eager start values, no compilation per shape).

    Returns
    -------
    array, shape (..., T, q)
    """
    one = xp.ones_like(t)
    if curve == "linear":
        cols = (one, t)
    elif curve == "quadratic":
        cols = (one, t, t * t)
    elif curve == "bilinear_spline":
        knot = g[..., 0:1]
        cols = (one, xp.minimum(t, knot), xp.maximum(t - knot, 0.0))
    elif curve == "negative_exponential":
        cols = (one, 1.0 - xp.exp(-g[..., 0:1] * t))
    elif curve == "jenss_bayley":
        cols = (one, t, xp.expm1(g[..., 0:1] * t))
    else:  # pragma: no cover - validated by the estimator
        raise ValueError(curve)
    return xp.stack(xp.broadcast_arrays(*cols), axis=-1)


def class_means(params: Params, times, Xe, curve, Z=None):
    """Class-conditional mean trajectories, shape (n, K, T), at ``times`` (n, T), expert
    covariates ``Xe`` (n, pe) and time-varying covariates ``Z`` (n, T, pz) (None: none)."""
    lam = basis(times[:, None, :], params.curve[None, :, :], curve)  # (n, K, T, q)
    eta = params.alpha[None] + jnp.einsum("kqp,np->nkq", params.beta, Xe)
    mean = jnp.einsum("nktq,nkq->nkt", lam, eta)
    if Z is not None and params.kappa.shape[1] > 0:
        mean = mean + jnp.einsum("ntp,kp->nkt", Z, params.kappa)
    return mean


def knot_loading(times, g, eta):
    """Loading (n, K, T) of a person's knot deviation in the linearised random-knot bilinear
    spline: the derivative of the curve in its knot with the value at the knot and the two
    slopes held fixed, ``-(eta_1 [t < g] + eta_2 [t > g])``, at times (n, T), class knots
    ``g`` (K, 1) and growth factors ``eta`` (n, K, q)."""
    t = times[:, None, :]
    knot = g[None, :, :]
    return -(eta[..., 1:2] * (t < knot) + eta[..., 2:3] * (t > knot))


def _factor_terms(params: Params, data: Data, curve):
    """Per person and class, the pieces of the marginal normal density of the observed
    outcomes, ``Sigma = theta I + C C^T`` on the observed occasions with ``C = Lambda P`` and
    ``Psi = P P^T``, through Woodbury's identity in the growth factors (q x q work instead of
    T x T): with ``M = I + C^T C / theta = R R^T``, ``log det Sigma = n_obs log theta +
    2 sum log diag R``, and the Mahalanobis term is the minimum of the ridge problem
    ``r^T Sigma^{-1} r = min_x |r - C x|^2 / theta + |x|^2``, attained at
    ``x = M^{-1} C^T r / theta``. Evaluating that sum of squares (rather than the difference
    ``r^T r / theta - |R^{-1} C^T r|^2 / theta^2``) loses no precision when ``theta`` is small
    against ``Psi``.

    Returns the means ``eta`` (n, K, q), ``P`` (K, q, q), ``x`` (n, K, q),
    ``log det Sigma`` (n, K) and ``r^T Sigma^{-1} r`` (n, K)."""
    mask = data.mask
    lam = basis(data.times0[:, None, :], params.curve[None, :, :], curve) * mask[:, None, :, None]
    eta = params.alpha[None] + jnp.einsum("kqp,np->nkq", params.beta, data.Xe)
    if params.psi.shape[-1] > lam.shape[-1]:  # random knot: its linearised loading
        lam = jnp.concatenate([lam, knot_loading(data.times0, params.curve, eta)[..., None]], -1)
        lam = lam * mask[:, None, :, None]
    mean = class_means(params, data.times0, data.Xe, curve, data.Z)
    resid = (data.Y0[:, None, :] - mean) * mask[:, None, :]
    P = linalg.cholesky(params.psi)
    C = jnp.einsum("nktq,kqr->nktr", lam, P)
    inv_theta = (1.0 / params.theta)[None, :]
    q = P.shape[-1]
    M = jnp.eye(q) + jnp.einsum("nktq,nktr->nkqr", C, C) * inv_theta[..., None, None]
    R = linalg.cholesky(M)
    b = jnp.einsum("nktq,nkt->nkq", C, resid) * inv_theta[..., None]
    x = linalg.solve_lower_transpose(R, linalg.solve_lower(R, b))
    e = resid - jnp.einsum("nktq,nkq->nkt", C, x)  # zero at missing occasions
    maha = jnp.sum(e * e, axis=-1) * inv_theta + jnp.sum(x * x, axis=-1)
    n_obs = jnp.sum(mask, axis=1)[:, None]
    logdet = n_obs * jnp.log(params.theta)[None, :] + 2.0 * jnp.sum(
        jnp.log(jnp.diagonal(R, axis1=-2, axis2=-1)), axis=-1
    )
    return eta, P, x, logdet, maha


def component_loglik(params: Params, data: Data, curve):
    """``log p(y_i, [x_e,i] | c_i = k, x_i)`` for every person and class, shape (n, K): the
    exact normal density of the observed occasions only (full information)."""
    _, _, _, logdet, maha = _factor_terms(params, data, curve)
    n_obs = jnp.sum(data.mask, axis=1)[:, None]
    ll = -0.5 * (n_obs * linalg.LOG_2PI + logdet + maha)
    if params.mux.shape[1] > 0:
        ll = ll + gaussian.mvn_logpdf(
            data.Xj[:, None, :], params.mux[None], params.phi[None], unroll=True
        )
    return ll


def log_joint(params: Params, data: Data, curve):
    """``log P(c_i = k | x_i) + log p(y_i | c_i = k, x_i)``, shape (n, K)."""
    lg = gating.log_gate(data.Xg, params.gate_intercept, params.gate_coef)
    return lg + component_loglik(params, data, curve)


def loglik_per_person(params: Params, data: Data, curve):
    """Marginal log-likelihood of each person, shape (n,)."""
    return jax.nn.logsumexp(log_joint(params, data, curve), axis=1)


def loglik(params: Params, data: Data, curve):
    """Total marginal log-likelihood of the persons (padding rows have weight 0; scalar)."""
    return jnp.sum(data.weight * loglik_per_person(params, data, curve))


# --------------------------------------------------------------------------------------------
# Flat parameter vectors
# --------------------------------------------------------------------------------------------
# ``dims = (K, q, c, pg, pe, pej, pz, r)`` (static; r = 1 with a random knot). The natural
# vector ``v`` stacks, in this order, gate intercepts (K-1), gate coefficients (K-1, pg), alpha
# (K, q), beta (K, q, pe), the lower triangles of Psi (K, (q+r)(q+r+1)/2), theta (K,), curve
# parameters (K, c), mu_x (K, pej), the lower triangles of Phi (K, pej(pej+1)/2) and the
# time-varying effects kappa (K, pz). The unconstrained vector ``w`` has the same layout with
# log-Cholesky factors for Psi and Phi, log theta and a transformed curve parameter.


def _block_shapes(dims):
    K, q, c, pg, pe, pej, pz, r = dims
    return (
        (K - 1,),
        (K - 1, pg),
        (K, q),
        (K, q, pe),
        (K, (q + r) * (q + r + 1) // 2),
        (K,),
        (K, c),
        (K, pej),
        (K, pej * (pej + 1) // 2),
        (K, pz),
    )


def n_params(dims):
    """Number of free parameters for ``dims = (K, q, c, pg, pe, pej, pz, r)``."""
    total = 0
    for shp in _block_shapes(dims):
        size = 1
        for s in shp:
            size *= s
        total += size
    return total


def _split(vec, dims):
    out, pos = [], 0
    for shp in _block_shapes(dims):
        size = 1
        for s in shp:
            size *= s
        out.append(vec[pos : pos + size].reshape(shp))
        pos += size
    return out


def _tril_to_matrix(vals, d, log_diag):
    i, j = jnp.tril_indices(d)
    m = jnp.zeros(vals.shape[:-1] + (d, d), vals.dtype).at[..., i, j].set(vals)
    if log_diag:  # log-Cholesky factor -> covariance
        eye = jnp.eye(d, dtype=vals.dtype)
        diag = jnp.diagonal(m, axis1=-2, axis2=-1)
        L = jnp.tril(m, -1) + eye * jnp.exp(diag)[..., None, :]
        return L @ jnp.swapaxes(L, -1, -2)
    return m + jnp.swapaxes(jnp.tril(m, -1), -1, -2)


def _matrix_to_tril(m, log_chol):
    d = m.shape[-1]
    i, j = jnp.tril_indices(d)
    if log_chol:
        L = linalg.cholesky(m)
        eye = jnp.eye(d, dtype=m.dtype)
        m = jnp.tril(L, -1) + eye * jnp.log(jnp.diagonal(L, axis1=-2, axis2=-1))[..., None, :]
    return m[..., i, j]


def _curve_to(u, lo, hi, curve):
    if curve == "bilinear_spline":
        return lo + (hi - lo) * jax.nn.sigmoid(u)
    if curve == "negative_exponential":
        return jnp.exp(u)
    if curve == "jenss_bayley":
        return -jnp.exp(u)
    return u


def _curve_from(g, lo, hi, curve):
    if curve == "bilinear_spline":
        z = (g - lo) / (hi - lo)
        return jnp.log(z) - jnp.log1p(-z)
    if curve == "negative_exponential":
        return jnp.log(g)
    if curve == "jenss_bayley":
        return jnp.log(-g)
    return g


def params_from_vector(v, dims) -> Params:
    """Natural flat vector -> :class:`Params`."""
    gi, gc, al, be, ps, th, cu, mx, ph, ka = _split(v, dims)
    q, pej = dims[1] + dims[7], dims[5]
    return Params(
        gi,
        gc,
        al,
        be,
        _tril_to_matrix(ps, q, False),
        th,
        cu,
        mx,
        _tril_to_matrix(ph, pej, False),
        ka,
    )


def params_to_vector(p: Params):
    """:class:`Params` -> natural flat vector (covariances by their lower triangles)."""
    parts = (
        p.gate_intercept,
        p.gate_coef,
        p.alpha,
        p.beta,
        _matrix_to_tril(p.psi, False),
        p.theta,
        p.curve,
        p.mux,
        _matrix_to_tril(p.phi, False),
        p.kappa,
    )
    return jnp.concatenate([jnp.ravel(a) for a in parts])


def params_from_unconstrained(w, lo, hi, dims, curve) -> Params:
    """Unconstrained flat vector -> :class:`Params`."""
    gi, gc, al, be, ps, th, cu, mx, ph, ka = _split(w, dims)
    q, pej = dims[1] + dims[7], dims[5]
    return Params(
        gi,
        gc,
        al,
        be,
        _tril_to_matrix(ps, q, True),
        jnp.exp(th),
        _curve_to(cu, lo, hi, curve),
        mx,
        _tril_to_matrix(ph, pej, True),
        ka,
    )


@partial(jax.jit, static_argnames=("curve",), compiler_options=_COMPILE_ONCE)
def unconstrained_from_params(p: Params, lo, hi, curve):
    """:class:`Params` -> unconstrained flat vector (inverse of
    :func:`params_from_unconstrained`)."""
    parts = (
        p.gate_intercept,
        p.gate_coef,
        p.alpha,
        p.beta,
        _matrix_to_tril(p.psi, True),
        jnp.log(p.theta),
        _curve_from(p.curve, lo, hi, curve),
        p.mux,
        _matrix_to_tril(p.phi, True),
        p.kappa,
    )
    return jnp.concatenate([jnp.ravel(a) for a in parts])


@partial(jax.jit, static_argnames=("dims", "curve"), compiler_options=_COMPILE)
def nll_and_grad(w, data: Data, dims, curve):
    """Mean negative log-likelihood per person and its gradient in the unconstrained
    parameters ``w``."""

    def f(w):
        p = params_from_unconstrained(w, data.lo, data.hi, dims, curve)
        return -loglik(p, data, curve) / jnp.sum(data.weight)

    return jax.value_and_grad(f)(w)


def time_map(g, s: Scaling, curve):
    """Matrices ``M(g)`` (K, q, q) with ``Lambda(tc + ts t'; g) eta = Lambda(t'; g') M(g) eta``
    for the class curve parameters ``g`` (K, c) on the original time axis."""
    tc, ts = s.tc, s.ts
    K = g.shape[0]
    one, zero = jnp.ones((K,)), jnp.zeros((K,))
    if curve == "linear":
        rows = ((one, tc * one), (zero, ts * one))
    elif curve == "quadratic":
        rows = (
            (one, tc * one, tc * tc * one),
            (zero, ts * one, 2.0 * tc * ts * one),
            (zero, zero, ts * ts * one),
        )
    elif curve == "bilinear_spline":
        rows = ((one, tc * one, zero), (zero, ts * one, zero), (zero, zero, ts * one))
    elif curve == "negative_exponential":
        e = jnp.exp(-g[:, 0] * tc)
        rows = ((one, 1.0 - e), (zero, e))
    elif curve == "jenss_bayley":
        e = jnp.exp(g[:, 0] * tc)
        rows = ((one, tc * one, e - 1.0), (zero, ts * one, zero), (zero, zero, e))
    else:  # pragma: no cover - validated by the estimator
        raise ValueError(curve)
    return jnp.stack([jnp.stack(r, axis=-1) for r in rows], axis=-2)


def curve_to_original(g_std, s: Scaling, curve):
    """Curve parameters on the standardised time axis -> original time units."""
    if curve == "bilinear_spline":
        return s.tc + s.ts * g_std  # a knot is a time
    if curve in ("negative_exponential", "jenss_bayley"):
        return g_std / s.ts  # a rate is per unit time
    return g_std


def to_original(p: Params, s: Scaling, curve) -> Params:
    """Parameters fitted in standardised units -> the same model in the data's units.

    Undoes, in turn, the covariate scaling (``x' = (x - c) / s``), the outcome scaling
    (``y = yc + ys y'``: growth factors scale by ``ys`` and the intercept factor shifts by
    ``yc``; a time-varying effect becomes ``kappa = ys kappa' / zs`` and the intercept factor
    absorbs ``-kappa^T zc``, since the first basis column is the constant 1) and the time
    scaling (``eta = M(g)^{-1} eta''``, see :func:`time_map`)."""
    g = curve_to_original(p.curve, s, curve)
    # expert covariates: eta' = alpha' + B' (x - ec) / es
    beta1 = p.beta / s.es[None, None, :]
    alpha1 = p.alpha - jnp.einsum("kqp,p->kq", beta1, s.ec)
    # outcome: y = yc + ys y' (the first basis column is the constant 1 for every curve)
    kappa = s.ys * p.kappa / s.zs[None, :]
    offset = s.yc - kappa @ s.zc  # (K,)
    alpha2 = s.ys * alpha1 + jnp.zeros_like(alpha1).at[:, 0].set(offset)
    # the growth factors scale with the outcome; a random knot's deviation is a time (below)
    q = p.alpha.shape[-1]
    r = p.psi.shape[-1] - q
    scale = jnp.concatenate([jnp.full((q,), s.ys), jnp.ones((r,))])
    beta2, psi2 = s.ys * beta1, p.psi * scale[:, None] * scale[None, :]
    # time axis
    M = time_map(g, s, curve)
    # M is upper triangular, so M = L^T with L = M^T lower triangular: back substitution
    eye = jnp.broadcast_to(jnp.eye(M.shape[-1]), M.shape)
    inverse = jax.vmap(linalg.solve_lower_transpose, in_axes=(None, -1), out_axes=-1)
    Minv = inverse(jnp.swapaxes(M, -1, -2), eye)
    alpha = jnp.einsum("kqr,kr->kq", Minv, alpha2)
    beta = jnp.einsum("kqr,krp->kqp", Minv, beta2)
    Maug = jnp.zeros(M.shape[:1] + (q + r, q + r)).at[:, :q, :q].set(Minv)
    Maug = Maug.at[:, q:, q:].set(s.ts * jnp.eye(r))  # d_orig = ts d'
    psi = Maug @ psi2 @ jnp.swapaxes(Maug, -1, -2)
    gate_coef = p.gate_coef / s.gs[None, :]
    gate_intercept = p.gate_intercept - gate_coef @ s.gc
    mux = s.jc[None, :] + s.js[None, :] * p.mux
    phi = p.phi * s.js[None, :, None] * s.js[None, None, :]
    theta = s.ys**2 * p.theta
    return Params(gate_intercept, gate_coef, alpha, beta, psi, theta, g, mux, phi, kappa)


@partial(jax.jit, static_argnames=("dims", "curve"), compiler_options=_COMPILE_ONCE)
def natural_params(w, lo, hi, s: Scaling, dims, curve):
    """Unconstrained standardised vector ``w`` -> standardised and original-unit
    :class:`Params`, and the Jacobian ``dv/dw`` (m, m) of the original-unit natural vector
    ``v`` (:func:`params_to_vector`) for the delta method (one program serves both uses)."""

    def f(w):
        p = params_from_unconstrained(w, lo, hi, dims, curve)
        return params_to_vector(to_original(p, s, curve))

    p = params_from_unconstrained(w, lo, hi, dims, curve)
    return p, to_original(p, s, curve), jax.jacfwd(f)(w)


@partial(jax.jit, static_argnames=("curve",), compiler_options=_COMPILE_ONCE)
def posterior(params: Params, data: Data, curve):
    """Log posterior class probabilities (n, K), per-person log-likelihoods (n,) and the class
    proportions (K,): the gate's probabilities averaged over the persons of weight 1."""
    lg = gating.log_gate(data.Xg, params.gate_intercept, params.gate_coef)
    lj = lg + component_loglik(params, data, curve)
    lpp = jax.nn.logsumexp(lj, axis=1)
    weights = data.weight @ jnp.exp(lg) / jnp.sum(data.weight)
    return lj - lpp[:, None], lpp, weights


@partial(jax.jit, static_argnames=("curve",), compiler_options=_COMPILE_ONCE)
def mean_trajectories(params: Params, times, Xe, Z, curve):
    """Class mean trajectories (n, K, T) at ``times`` (n, T) for expert covariates ``Xe``
    (n, pe) and time-varying covariates ``Z`` (n, T, pz)."""
    return class_means(params, times, Xe, curve, Z)


@partial(jax.jit, static_argnames=("curve",), compiler_options=_COMPILE_ONCE)
def growth_factor_posterior_means(params: Params, data: Data, curve):
    """Empirical-Bayes growth factors ``E[eta_i | y_i, c_i = k, x_i]``, shape (n, K, q + r)
    (a random knot's deviation last): ``eta + Psi Lambda^T Sigma^{-1} r = eta + P x`` in the
    notation of :func:`_factor_terms` (``C^T Sigma^{-1} = M^{-1} C^T / theta``)."""
    eta, P, x, _, _ = _factor_terms(params, data, curve)
    r = P.shape[-1] - eta.shape[-1]
    eta = jnp.concatenate([eta, jnp.zeros(eta.shape[:-1] + (r,))], axis=-1)
    return eta + jnp.einsum("kqr,nkr->nkq", P, x)


_MEMORY = 8  # L-BFGS memory of the initial stage


def _two_loop(g, S, Yd, rho, k):
    """L-BFGS direction ``-H g`` from the ring buffers ``S``/``Yd`` (M, m) of ``k`` pairs."""
    M = S.shape[0]
    q = g
    alphas = []
    for i in range(M):  # newest to oldest
        j = (k - 1 - i) % M
        valid = i < jnp.minimum(k, M)
        a = jnp.where(valid, rho[j] * (S[j] @ q), 0.0)
        q = q - a * Yd[j]
        alphas.append((j, valid, a))
    jn = (k - 1) % M
    gamma = jnp.where(k > 0, (S[jn] @ Yd[jn]) / (Yd[jn] @ Yd[jn]), 1.0)
    r = gamma * q
    for j, valid, a in reversed(alphas):
        b = rho[j] * (Yd[j] @ r)
        r = r + jnp.where(valid, a - b, 0.0) * S[j]
    return -r


def _lbfgs_run(w0, data: Data, n_steps, tol, dims, curve):
    """At most ``n_steps`` L-BFGS iterations (backtracking Armijo line search) from ``w0``
    (m,): the last iterate and its mean negative log-likelihood per person (``inf`` where not
    finite). Pure, so it vmaps over starts and data sets; a start stops moving when its
    largest gradient entry falls below ``tol`` or its line search fails, and the loop ends
    when every start (of every vmapped data set) has stopped."""
    inf = jnp.asarray(jnp.inf, w0.dtype)

    def f(w):
        p = params_from_unconstrained(w, data.lo, data.hi, dims, curve)
        v = -loglik(p, data, curve) / jnp.sum(data.weight)
        return jnp.where(jnp.isfinite(v), v, inf)

    vg = jax.value_and_grad(f)

    # the first iteration (d = 0 against v = inf) only evaluates the start, so the
    # program traces the objective once, inside the line search
    m = w0.shape[0]
    zeros = jnp.zeros((_MEMORY, m), w0.dtype)
    zm = jnp.zeros(m, w0.dtype)
    init = (w0, inf, zm, zeros, zeros, jnp.zeros(_MEMORY, w0.dtype), 0, True)

    def step(_, carry):
        w, v, g, S, Yd, rho, k, alive = carry
        d = _two_loop(g, S, Yd, rho, k)
        slope = g @ d
        d = jnp.where(slope < 0, d, -g)
        slope = jnp.where(slope < 0, slope, -(g @ g))
        # first step of a fresh memory: at most a unit move in the largest coordinate
        a0 = jnp.where(k > 0, 1.0, jnp.minimum(1.0, 1.0 / (jnp.max(jnp.abs(g)) + 1e-300)))

        def cond(c):
            a, vt, _, i = c
            return alive & ((i == 0) | (vt > v + 1e-4 * a * slope)) & (i < 30)

        def body(c):
            a, _, _, i = c
            vt, gt = vg(w + 0.5 * a * d)
            return a * 0.5, vt, gt, i + 1

        a, vt, gt, _ = jax.lax.while_loop(cond, body, (2.0 * a0, inf, zm, 0))
        ok = alive & (vt <= v + 1e-4 * a * slope)
        gt = jnp.where(jnp.isfinite(gt), gt, 0.0)
        w_new = jnp.where(ok, w + a * d, w)
        s, y = w_new - w, gt - g
        sy = s @ y
        keep = ok & (sy > 1e-10 * jnp.sqrt((s @ s) * (y @ y)))
        j = k % _MEMORY
        S = jnp.where(keep, S.at[j].set(s), S)
        Yd = jnp.where(keep, Yd.at[j].set(y), Yd)
        rho = jnp.where(keep, rho.at[j].set(1.0 / jnp.where(keep, sy, 1.0)), rho)
        k = jnp.where(keep, k + 1, k)
        g_new = jnp.where(ok, gt, g)
        alive = ok & (jnp.max(jnp.abs(g_new)) > tol)
        return w_new, jnp.where(ok, vt, v), g_new, S, Yd, rho, k, alive

    # stop when the start is done: under vmap the loop runs until every start is done
    out = jax.lax.while_loop(
        lambda c: (c[0] <= n_steps) & c[1][-1], lambda c: (c[0] + 1, step(c[0], c[1])), (0, init)
    )[1]
    return out[0], out[1]


@partial(jax.jit, static_argnames=("dims", "curve"), compiler_options=_COMPILE)
def initial_stage(W0, data: Data, n_steps, tol, dims, curve):
    """Initial stage of the staged starts: ``n_steps`` L-BFGS iterations from every row of
    ``W0`` (S, m) at once (stopping early at gradient ``tol``). Returns the iterates (S, m)
    and their mean negative log-likelihoods per person (S,). ``n_steps`` and ``tol`` are
    traced: a new budget compiles nothing."""
    run = partial(_lbfgs_run, dims=dims, curve=curve)
    return jax.vmap(run, in_axes=(0, None, None, None))(W0, data, n_steps, tol)


@partial(jax.jit, static_argnames=("dims", "curve"), compiler_options=_COMPILE)
def batch_stage(W0, data: Data, n_steps, tol, dims, curve):
    """:func:`initial_stage` for B data sets at once: ``W0`` (B, S, m) and ``data`` with a
    leading axis B on every field (simulation studies, the bootstrap likelihood-ratio
    test). Returns (B, S, m) and (B, S)."""
    run = jax.vmap(partial(_lbfgs_run, dims=dims, curve=curve), in_axes=(0, None, None, None))
    return jax.vmap(run, in_axes=(0, 0, None, None))(W0, data, n_steps, tol)


@partial(jax.jit, static_argnames=("dims", "curve"), compiler_options=_COMPILE_ONCE)
def person_scores(w, data: Data, dims, curve):
    """Per-person gradients of the log-likelihood in the unconstrained parameters, shape
    (n, m) (zero rows for padding)."""

    def f(w):
        p = params_from_unconstrained(w, data.lo, data.hi, dims, curve)
        return data.weight * loglik_per_person(p, data, curve)

    return jax.jacfwd(f)(w)  # m forward passes: m is far below n
