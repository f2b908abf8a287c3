"""Pure JAX core of the GP-HM PDE solver (Kronecker algebra on a tensor grid).

Notation. The grid is ``X = X_1 x ... x X_D`` with ``M_j`` uniform points per dimension,
``M = prod M_j``. Each dimension has a spectral-mixture kernel ``k_j``; ``C_j = K_j + eps I``
with Cholesky factor ``L_j``. The free grid values are ``U = (L_1 kron ... kron L_D) z`` (a
whitened parametrisation of the GP prior ``U ~ N(0, kron C_j)``), so the prior term is
``|z|^2 / 2``. The solution is the conditional mean ``u(x) = k(x, X) C^{-1} U``; its derivative
with per-dimension orders ``(a_1, ..., a_D)`` on the grid is ``kron_j (K_j^{(a_j)} C_j^{-1}) U
= kron_j G_j^{(a_j)} z`` with ``G_j^{(a)} = K_j^{(a)} L_j^{-T}``, applied as mode products:
nothing of size ``M x M`` is formed. Order 0 included: ``u(X) = kron_j G_j^{(0)} z`` differs
from ``U`` by ``eps C^{-1} U``, and both the boundary term and the operator's ``u`` see ``u``,
the function that is returned, not ``U``.

Parameters ``params`` are a dict: ``"kern"`` (a tuple of D dicts with ``log_weights``,
``freqs``, ``log_scales``, each shape (Q,)), ``"log_tau_b"`` and ``"log_tau_r"`` (scalars: log
precisions of the boundary and residual terms).

Objective (negative log joint, the GP-HM loss)::

    1/2 log det C + 1/2 |z|^2
    + lambda_b (-N_b/2 log tau_b + tau_b/2 |u_b - g|^2)
    + (-N_c/2 log tau_r + tau_r/2 |L[u] - f|^2)

Each outer iteration solves for ``z`` given the kernel (Gauss-Newton on the quadratic-in-``z``
least-squares problem: exact in one step for linear operators) and takes one Adam step on the
kernel parameters and precisions (the gradient of the profiled objective, by the envelope
theorem).
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.scipy.linalg import solve_triangular
from jax.scipy.sparse.linalg import cg

from mixtures.kronecker import kron_logdet, mode_product
from mixtures.spectral import SpectralMixture, gram, kernel

__all__ = [
    "mixtures_of",
    "toeplitz_gram",
    "factors",
    "derivative_field",
    "loss",
    "gn_solve",
    "preconditioner",
    "boundary_values",
    "boundary_values_t",
    "fit_chunk",
    "final_solve",
    "grid_field",
    "linearisation",
    "fold_frequencies",
    "predict_points",
    "predict_grid",
    "predict_var_points",
]


def mixtures_of(kern, kind):
    """Tuple of :class:`~mixtures.spectral.SpectralMixture`, one per dimension."""
    return tuple(SpectralMixture(p["log_weights"], p["freqs"], p["log_scales"], kind) for p in kern)


def toeplitz_gram(x, sm, order=0):
    """``gram(x, x, sm, d1=order)`` for a uniform grid ``x`` (M,), from the M lags only.

    The kernel is stationary, so entry ``(i, j)`` is ``k^{(order)}((i - j) h)``; it is
    evaluated on the M lags ``x - x_0`` and gathered (odd orders are odd in the lag).
    """
    m = x.shape[0]
    vals = kernel(x - x[0], sm, order)
    i = jnp.arange(m)
    diff = i[:, None] - i[None, :]
    sign = jnp.where(diff >= 0, 1.0, (-1.0) ** order)
    return vals[jnp.abs(diff)] * sign


def factors(kern, axes, kind, orders, jitter):
    """Per-dimension Cholesky factors and whitened derivative factors.

    Parameters
    ----------
    kern : tuple of D parameter dicts
    axes : tuple of D arrays (M_j,), uniform grids
    kind : {"gaussian", "student_t"}
    orders : tuple of D tuples of ints (static): the derivative orders needed per dimension
    jitter : float, added to each factor's diagonal

    Returns
    -------
    chols : list of D arrays (M_j, M_j), ``L_j`` with ``L_j L_j^T = K_j + jitter I``
    gs : list of D dicts ``order -> G_j^{(order)} = K_j^{(order)} L_j^{-T}`` (M_j, M_j); the
        derivative of order ``a`` of the conditional mean on the grid is
        ``kron_j G_j^{(a_j)} z`` (only the orders asked for; none for ``orders=()``)
    covs : list of D arrays ``K_j + jitter I``
    """
    chols, gs, covs = [], [], []
    for sm, x, ords in zip(mixtures_of(kern, kind), axes, orders):
        K = toeplitz_gram(x, sm, 0)
        C = K + jitter * jnp.eye(x.shape[0], dtype=x.dtype)
        L = jnp.linalg.cholesky(C)
        # order 0 is the conditional mean at the grid, K C^{-1} U = K L^{-T} z, not U = L z
        # itself: U differs from the function that predict() returns (and whose derivatives
        # enter the residual) by jitter * C^{-1} U, which is far from negligible for the sharp
        # kernels of high-frequency problems
        g = {}
        for a in ords:
            Ka = K if a == 0 else toeplitz_gram(x, sm, a)
            g[a] = solve_triangular(L, Ka.T, lower=True).T
        chols.append(L)
        gs.append(g)
        covs.append(C)
    return chols, gs, covs


def derivative_field(z, gs, orders, transpose=False):
    """``kron_j G_j^{(orders_j)} z`` (or its transpose applied to ``z``) on the grid tensor."""
    for j, a in enumerate(orders):
        G = gs[j][a]
        z = mode_product(G.T if transpose else G, z, j)
    return z


def _faces(shape):
    """The boundary as faces ``(j, side, mask)``: the nodes with ``x_j`` at its low (``side =
    0``) or high (``-1``) end; ``mask`` (the face's shape, axis ``j`` of length 1) is zero on
    nodes that an earlier face already holds, so that every boundary node counts once."""
    out = []
    for j in range(len(shape)):
        for side in (0, -1):
            m = np.ones([1 if i == j else n for i, n in enumerate(shape)])
            for i in range(j):
                idx = [slice(None)] * len(shape)
                idx[i] = 0
                m[tuple(idx)] = 0.0
                idx[i] = -1
                m[tuple(idx)] = 0.0
            out.append((j, side, m))
    return out


def boundary_values(z, gs, faces):
    """``u`` on each face of the boundary (list of face tensors), from the whitened grid
    values: the face's row of ``G_j^{(0)}`` first, so each face costs a few thin products."""
    out = []
    for j, side, mask in faces:
        G = gs[j][0]
        v = mode_product(G[side][None, :], z, j)
        for i in range(z.ndim):
            if i != j:
                v = mode_product(gs[i][0], v, i)
        out.append(mask * v)
    return out


def boundary_values_t(ws, gs, faces):
    """Transpose of :func:`boundary_values`: face tensors -> grid tensor."""
    total = 0.0
    for w, (j, side, mask) in zip(ws, faces):
        v = mask * w
        for i in range(v.ndim):
            if i != j:
                v = mode_product(gs[i][0].T, v, i)
        total = total + mode_product(gs[j][0][side][:, None], v, j)
    return total


def _take_faces(t, faces):
    """A grid tensor's values on the faces (the layout of :func:`boundary_values`)."""
    return [
        mask * jax.lax.slice_in_dim(t, side % t.shape[j], side % t.shape[j] + 1, axis=j)
        for j, side, mask in faces
    ]


def _fields(z, gs, keys):
    return {name: derivative_field(z, gs, o).reshape(-1) for name, o in keys}


def _residuals(z, gs, keys, operator, data):
    """Collocation residual tensor ``L[u] - f`` and boundary residual tensor (masked)."""
    fields = _fields(z, gs, keys)
    shape = z.shape
    rc = operator(fields, data["points"]).reshape(shape) - data["source"]
    rb = data["bmask"] * (fields["u"].reshape(shape) - data["bvalues"])
    return rc, rb, fields


def loss(params, z, data, *, kind, keys, operator, orders):
    """The GP-HM negative log joint (scalar) at kernel parameters ``params`` and ``z``."""
    _, gs, covs = factors(params["kern"], data["axes"], kind, orders, data["jitter"])
    rc, rb, _ = _residuals(z, gs, keys, operator, data)
    tau_b, tau_r = jnp.exp(params["log_tau_b"]), jnp.exp(params["log_tau_r"])
    n_b = jnp.sum(data["bmask"])
    n_c = rc.size
    lam = data["boundary_weight"]
    return (
        0.5 * kron_logdet(covs)
        + 0.5 * jnp.sum(z**2)
        + lam * (-0.5 * n_b * params["log_tau_b"] + 0.5 * tau_b * jnp.sum(rb**2))
        + (-0.5 * n_c * params["log_tau_r"] + 0.5 * tau_r * jnp.sum(rc**2))
    )


def _linearisation(fields, points, operator):
    """Pointwise coefficients ``d operator / d field`` at the current fields (dict of (M,))."""
    return jax.grad(lambda f: jnp.sum(operator(f, points)))(fields)


def _kron_jacobi(gs, keys, coef, sr, sb, bmask):
    """Basis and diagonal of the Kronecker-Jacobi preconditioner of the Gauss-Newton matrix
    ``N = I + sr^2 J_c^T J_c + sb^2 J_b^T J_b``: returns ``(orth, diag)``, the D orthogonal
    factors ``O_j`` and the tensor ``diag(O N O^T)`` (shape of the grid).

    ``J_c = sum_k diag(c_k) kron_j G_j^{(a_kj)}`` (one term per derivative key ``k``, ``c_k`` its
    pointwise coefficient tensor) and ``J_b`` is the boundary rows of ``kron_j G_j^{(0)}``.
    ``P = O^T diag(O N O^T) O``: the exact diagonal of ``N`` in an orthogonal Kronecker basis
    ``O = kron_j O_j``. ``O_j`` holds the eigenvectors of the dimension-``j`` marginal of
    ``J_c^T J_c``, ``H_j = sum_k mean(c_k^2) prod_{i != j} |G_i^{(a_ki)}|_F^2
    G_j^{(a_kj)T} G_j^{(a_kj)}``, so the basis follows whichever derivative dominates in each
    dimension (order 2 in both dimensions for a Laplacian, order 1 in x and order 0 in t for
    ``u_t + 200 u_x``). The diagonal is exact, cross terms between keys and the boundary term
    included: with ``g_kj = G_j^{(a_kj)} O_j^T``, entry ``i`` of ``diag(O J_c^T J_c O^T)`` is
    ``sum_{k, l} sum_m c_k[m] c_l[m] prod_j g_kj[m_j, i_j] g_lj[m_j, i_j]``, one transposed
    mode-product pass per pair of keys. Nothing of size ``M x M`` is formed.
    """
    D = len(gs)
    orth = []
    for j in range(D):
        H = 0.0
        for name, o in keys:
            w = jnp.mean(coef[name] ** 2)
            for i in range(D):
                if i != j:
                    w = w * jnp.sum(gs[i][o[i]] ** 2)
            H = H + w * (gs[j][o[j]].T @ gs[j][o[j]])
        _, V = jnp.linalg.eigh(H)
        orth.append(V.T)
    g_rot = [{a: G @ O.T for a, G in g.items()} for g, O in zip(gs, orth)]
    zero = (0,) * D
    b_fac = [{0: g[0] ** 2} for g in g_rot]
    diag = 1.0 + sb**2 * derivative_field(bmask, b_fac, zero, transpose=True)
    for p, (n1, o1) in enumerate(keys):
        for q, (n2, o2) in enumerate(keys[p:], start=p):
            prod = [{0: g_rot[j][o1[j]] * g_rot[j][o2[j]]} for j in range(D)]
            term = derivative_field(coef[n1] * coef[n2], prod, zero, transpose=True)
            diag = diag + (1.0 if p == q else 2.0) * sr**2 * term
    return orth, diag


def _apply_preconditioner(orth, diag, v):
    """``v -> P^{-1} v`` with ``P = O^T diag(O N O^T) O`` from :func:`_kron_jacobi`."""
    w = v
    for j, O in enumerate(orth):
        w = mode_product(O, w, j)
    w = w / diag
    for j, O in enumerate(orth):
        w = mode_product(O.T, w, j)
    return w


def _coefficients(z, gs, keys, jkeys, operator, data):
    """Residuals and the operator's pointwise coefficients on the grid at ``z``."""
    rc, rb, fields = _residuals(z, gs, keys, operator, data)
    coef = _linearisation(fields, data["points"], operator)
    return rc, rb, {name: coef[name].reshape(z.shape) for name, _ in jkeys}


def preconditioner(params, z, data, *, kind, keys, jkeys, operator, orders):
    """The Kronecker-Jacobi preconditioner ``(orth, diag)`` of the Gauss-Newton matrix at
    ``(params, z)`` (see :func:`_kron_jacobi`). It stays symmetric positive definite for any
    kernel, so a fit reuses it while the kernel moves little."""
    _, gs, _ = factors(params["kern"], data["axes"], kind, orders, data["jitter"])
    sr, sb = _sqrt_precisions(params, data)
    _, _, coef = _coefficients(z, gs, keys, jkeys, operator, data)
    return _kron_jacobi(gs, jkeys, coef, sr, sb, data["bmask"])


def _sqrt_precisions(params, data):
    sr = jnp.exp(0.5 * params["log_tau_r"])
    sb = jnp.sqrt(data["boundary_weight"]) * jnp.exp(0.5 * params["log_tau_b"])
    return sr, sb


def gn_solve(
    params,
    z,
    data,
    rtol,
    *,
    kind,
    keys,
    jkeys,
    operator,
    orders,
    n_steps,
    method,
    cg_iters,
    precond=None,
):
    """Gauss-Newton steps on ``z`` for fixed kernel parameters.

    Minimises ``|z|^2 / 2 + tau_r |L[u] - f|^2 / 2 + lambda_b tau_b |u_b - g|^2 / 2``. For
    a linear operator one step is exact (up to the linear solve). ``method="dense"`` (1-D
    only) solves the step's least-squares problem (normal equations ``(I + J^T J) dz = -(z +
    J^T r)``) by QR of the stacked rows ``[I; J]``; ``method="cg"`` runs at most
    ``cg_iters`` conjugate-gradient iterations on the normal equations with Kronecker matvecs
    to the relative tolerance ``rtol`` (traced), preconditioned by :func:`_kron_jacobi`
    (``precond``, or built here).

    ``jkeys`` are the derivative keys whose coefficient in the linearised operator is not
    identically zero (the matvecs skip the others); the boundary rows are evaluated on the
    boundary faces only. What one call leaves unsolved is recovered by calling again from the
    returned ``z``.
    """
    _, gs, _ = factors(params["kern"], data["axes"], kind, orders, data["jitter"])
    sr, sb = _sqrt_precisions(params, data)
    shape = z.shape
    faces = _faces(shape)

    def gn_step(_, z):
        rc, rb, coef = _coefficients(z, gs, keys, jkeys, operator, data)
        if method == "dense":
            Jc = sr * sum(coef[name][:, None] * gs[0][o[0]] for name, o in jkeys)
            Jb = sb * gs[0][0][data["bidx"]]
            # the step's least-squares problem |z + dz|^2 + |sr rc + Jc dz|^2 + |sb rb + Jb
            # dz|^2 by QR of the stacked rows: the normal matrix I + J^T J squares the
            # condition number and stops factorising in float64 once the precisions are large
            B = jnp.concatenate([jnp.eye(shape[0], dtype=z.dtype), Jc, Jb])
            b = -jnp.concatenate([z, sr * rc, sb * rb[data["bidx"]]])
            Qm, R = jnp.linalg.qr(B)
            dz = solve_triangular(R, Qm.T @ b, lower=False)
        else:

            def jc(v):
                return sum(coef[name] * derivative_field(v, gs, o) for name, o in jkeys)

            def jct(w):
                return sum(
                    derivative_field(coef[name] * w, gs, o, transpose=True) for name, o in jkeys
                )

            def normal(v):
                ub = boundary_values(v, gs, faces)
                return v + sr**2 * jct(jc(v)) + sb**2 * boundary_values_t(ub, gs, faces)

            rhs = -(
                z + sr**2 * jct(rc) + sb**2 * boundary_values_t(_take_faces(rb, faces), gs, faces)
            )
            orth, diag = (
                _kron_jacobi(gs, jkeys, coef, sr, sb, data["bmask"]) if precond is None else precond
            )
            dz, _ = cg(
                normal,
                rhs,
                tol=rtol,
                maxiter=cg_iters,
                M=functools.partial(_apply_preconditioner, orth, diag),
            )
        return z + dz

    return jax.lax.fori_loop(0, n_steps, gn_step, z)


_SOLVE_STATIC = ("kind", "keys", "jkeys", "operator", "orders", "n_gn", "method", "cg_iters")


@functools.partial(jax.jit, static_argnames=(*_SOLVE_STATIC, "n_steps", "learn_freqs"))
def fit_chunk(
    params,
    z,
    opt_state,
    data,
    learning_rate,
    n_active,
    rtol_bounds,
    *,
    kind,
    keys,
    jkeys,
    operator,
    orders,
    n_gn,
    method,
    cg_iters,
    n_steps,
    learn_freqs,
):
    """Up to ``n_steps`` outer iterations: solve for ``z``, then one Adam step on the kernel.

    Only the first ``n_active`` (traced) steps run; the rest leave the state unchanged, so a
    shorter last block reuses the compiled program. The inner conjugate-gradient tolerance
    follows a forcing sequence: the previous step's relative change of ``z``, clipped to
    ``rtol_bounds = (low, high)``, so the solves are loose while the kernel moves and tighten
    as the outer loop converges. The preconditioner is built once, at the block's first state.

    Returns the new ``(params, z, opt_state)``, the per-step loss and relative change of ``z``,
    and the per-step history of ``(params, z)`` (the state each loss was evaluated at).
    """
    opt = optax.adam(learning_rate)
    static = dict(kind=kind, keys=keys, operator=operator, orders=orders)
    solve = dict(static, jkeys=jkeys, n_steps=n_gn, method=method, cg_iters=cg_iters)
    precond = None
    if method == "cg":
        precond = preconditioner(params, z, data, jkeys=jkeys, **static)

    def one(carry):
        params, z, opt_state, dz_prev = carry
        rtol = jnp.clip(dz_prev, rtol_bounds[0], rtol_bounds[1])
        z_new = gn_solve(params, z, data, rtol, precond=precond, **solve)
        value, grads = jax.value_and_grad(loss)(params, z_new, data, **static)
        if not learn_freqs:
            grads["kern"] = tuple(dict(g, freqs=jnp.zeros_like(g["freqs"])) for g in grads["kern"])
        updates, new_opt_state = opt.update(grads, opt_state, params)
        new_params = optax.apply_updates(params, updates)
        if learn_freqs:
            kern = tuple(
                dict(p, freqs=fold_frequencies(p["freqs"], data["nyquist"][j]))
                for j, p in enumerate(new_params["kern"])
            )
            new_params = dict(new_params, kern=kern)
        dz = jnp.linalg.norm(z_new - z) / jnp.maximum(jnp.linalg.norm(z_new), 1e-300)
        return (new_params, z_new, new_opt_state, dz), (value, dz, params, z_new)

    def skip(carry):
        params, z, _, dz_prev = carry
        return carry, (jnp.asarray(jnp.nan, z.dtype), dz_prev, params, z)

    def step(carry, i):
        return jax.lax.cond(i < n_active, one, skip, carry)

    init = (params, z, opt_state, jnp.asarray(1.0, z.dtype))
    (params, z, opt_state, _), (values, dzs, p_hist, z_hist) = jax.lax.scan(
        step, init, jnp.arange(n_steps)
    )
    return params, z, opt_state, values, dzs, p_hist, z_hist


@functools.partial(jax.jit, static_argnames=_SOLVE_STATIC)
def final_solve(
    params, z, data, rtol, *, kind, keys, jkeys, operator, orders, n_gn, method, cg_iters
):
    """Solve for ``z`` at fixed kernel parameters to the tolerance ``rtol`` with a fresh
    preconditioner (for every state that is scored or returned). Returns ``z`` and its
    relative change."""
    z_new = gn_solve(
        params,
        z,
        data,
        rtol,
        kind=kind,
        keys=keys,
        jkeys=jkeys,
        operator=operator,
        orders=orders,
        n_steps=n_gn,
        method=method,
        cg_iters=cg_iters,
    )
    change = jnp.linalg.norm(z_new - z) / jnp.maximum(jnp.linalg.norm(z_new), 1e-300)
    return z_new, change


@functools.partial(jax.jit, static_argnames=("kind", "orders"))
def grid_field(kern, z, axes, jitter, *, kind, orders):
    """The conditional mean's derivative ``d^orders u`` on the collocation grid."""
    _, gs, _ = factors(kern, axes, kind, tuple((a,) for a in orders), jitter)
    return derivative_field(z, gs, orders)


@functools.partial(jax.jit, static_argnames=("operator",))
def linearisation(fields, points, operator):
    """Pointwise coefficients ``d operator / d field`` (jitted :func:`_linearisation`)."""
    return _linearisation(fields, points, operator)


def fold_frequencies(freqs, nyquist):
    """Map frequencies above the Nyquist frequency to their aliases in ``[0, nyquist]``.

    On a uniform grid of spacing ``h`` (``nyquist = 1 / (2 h)``, cycles per unit length) the
    frequencies ``f``, ``-f`` and ``f + k / h`` give the same samples, and the same
    spectral-mixture Gram matrix at every grid lag; only one with ``|f| <= nyquist``
    interpolates between the points without extra oscillation. Frequencies with ``|f| <=
    nyquist`` are returned unchanged (bit for bit; the kernels are even in ``f``, so a negative
    one needs no folding). Works with numpy and jax arrays.
    """
    xp = jnp if isinstance(freqs, jax.Array) else np
    g = xp.abs(freqs) % (2.0 * nyquist)
    folded = xp.where(g <= nyquist, g, 2.0 * nyquist - g)
    return xp.where(xp.abs(freqs) <= nyquist, freqs, folded)


def init_opt_state(params, learning_rate):
    """Adam state for ``params``."""
    return optax.adam(learning_rate).init(params)


def _alpha(chols, z):
    """``C^{-1} U = kron_j L_j^{-T} z`` (the representer weights on the grid)."""
    for j, L in enumerate(chols):
        Linv_t = solve_triangular(L.T, jnp.eye(L.shape[0], dtype=L.dtype), lower=False)
        z = mode_product(Linv_t, z, j)
    return z


@functools.partial(jax.jit, static_argnames=("kind", "orders"))
def predict_points(kern, z, axes, jitter, Xq, *, kind, orders):
    """Derivative ``d^orders u`` of the GP conditional mean at points ``Xq`` (n, D) -> (n,).

    ``u(x) = k(x, X) C^{-1} U``; ``k(x, X)`` is a Kronecker product of per-dimension rows,
    so the sum over the grid is done one dimension at a time (cost ``O(n M)``).
    """
    chols, _, _ = factors(kern, axes, kind, tuple(() for _ in axes), jitter)
    alpha = _alpha(chols, z)
    sms = mixtures_of(kern, kind)
    R = [gram(Xq[:, j], axes[j], sms[j], orders[j], 0) for j in range(len(axes))]
    T = jnp.tensordot(R[0], alpha, axes=([1], [0]))  # (n, M_2, ..., M_D)
    for Rj in R[1:]:
        T = jnp.einsum("nm...,nm->n...", T, Rj)
    return T


@functools.partial(jax.jit, static_argnames=("kind", "orders"))
def predict_grid(kern, z, axes, jitter, test_axes, *, kind, orders):
    """``d^orders u`` of the conditional mean on the tensor grid of ``test_axes``."""
    chols, _, _ = factors(kern, axes, kind, tuple(() for _ in axes), jitter)
    return _on_grid(_alpha(chols, z), mixtures_of(kern, kind), axes, test_axes, orders)


def _on_grid(alpha, sms, axes, test_axes, orders):
    """``kron_j k_j^{(orders_j)}(test_axes_j, axes_j)`` applied to the representer weights."""
    T = alpha
    for j, (xt, x) in enumerate(zip(test_axes, axes)):
        T = mode_product(gram(xt, x, sms[j], orders[j], 0), T, j)
    return T


@functools.partial(jax.jit, static_argnames=("kind", "keys", "operator"))
def heldout_residual(
    kern, z, axes, jitter, test_axes, test_points, test_source, *, kind, keys, operator
):
    """Root-mean-square PDE residual ``L[u] - f`` on the tensor grid of ``test_axes``
    (points off the collocation grid: a measure of the fit that uses the equation only)."""
    chols, _, _ = factors(kern, axes, kind, tuple(() for _ in axes), jitter)
    alpha = _alpha(chols, z)
    sms = mixtures_of(kern, kind)
    fields = {name: _on_grid(alpha, sms, axes, test_axes, o).reshape(-1) for name, o in keys}
    r = operator(fields, test_points) - test_source
    return jnp.sqrt(jnp.mean(r**2))


@functools.partial(jax.jit, static_argnames=("kind",))
def predict_var_points(kern, axes, jitter, Xq, *, kind):
    """GP conditional variance of ``u(x)`` given the grid values, at points ``Xq`` (n, D).

    ``k(x, x) - k(x, X) C^{-1} k(X, x)``, which factorises over dimensions:
    ``prod_j k_j(0) - prod_j r_j^T C_j^{-1} r_j``.
    """
    chols, _, _ = factors(kern, axes, kind, tuple(() for _ in axes), jitter)
    sms = mixtures_of(kern, kind)
    prior, quad = 1.0, 1.0
    for j, (L, x) in enumerate(zip(chols, axes)):
        r = gram(Xq[:, j], x, sms[j])  # (n, M_j)
        w = solve_triangular(L, r.T, lower=True)  # (M_j, n)
        quad = quad * jnp.sum(w**2, axis=0)
        prior = prior * kernel(jnp.zeros(()), sms[j])
    return jnp.maximum(prior - quad, 0.0)
