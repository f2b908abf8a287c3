"""Pure JAX core of the Light Schrödinger Bridge (LightSB).

Notation (``K`` potential components, ``d`` features, ``n`` points):

* the adjusted Schrödinger potential ``v(y) = sum_k alpha_k N(y | r_k, eps S_k)``, a Gaussian
  mixture (:class:`mixtures.gaussian.GMM` with covariances ``eps S_k``);
* the log-normaliser ``log c(x) = logsumexp_k [log alpha_k + x^T S_k x / (2 eps)
  + r_k^T x / eps]``;
* the conditional plan ``pi(y | x) = sum_k alpha_k(x) N(y | r_k + S_k x, eps S_k)`` with
  ``alpha_k(x)`` the softmax of the terms of ``log c(x)``.

``S_k`` is parametrised by its log-diagonal (``"diag"``, shape ``(K, d)``) or by a
lower-triangular factor ``L_k`` with log-diagonal (``"full"``, shape ``(K, d, d)``,
``S_k = L_k L_k^T``). Everything is computed in the log domain; nothing here converts to
NumPy, prints, or holds state.
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
from jax.scipy.special import logsumexp
from jax.sharding import NamedSharding, PartitionSpec

from mixtures import gaussian
from mixtures.gaussian import GMM

__all__ = [
    "scale_matrices",
    "scale_factors",
    "tril_inverse",
    "potential",
    "log_normaliser_terms",
    "log_normaliser",
    "log_potential",
    "objective",
    "loss",
    "conditional_plan",
    "conditional_mean",
    "sample_conditional",
    "sample_trajectory",
    "drift",
    "unpack_params",
    "init_params",
    "init_opt_state",
    "annealed_epsilon",
    "minibatch",
    "train_chunk",
]


def scale_factors(s_raw):
    """Lower-triangular ``L_k`` (positive diagonal) with ``S_k = L_k L_k^T``, ``(K, d, d)``."""
    return jnp.tril(s_raw, -1) + jnp.exp(jnp.diagonal(s_raw, axis1=-2, axis2=-1))[..., None] * (
        jnp.eye(s_raw.shape[-1], dtype=s_raw.dtype)
    )


def scale_matrices(s_raw, covariance_type):
    """``S_k`` from its unconstrained parametrisation.

    Returns shape ``(K, d)`` (diagonals) for ``"diag"`` and ``(K, d, d)`` for ``"full"``.
    """
    if covariance_type == "diag":
        return jnp.exp(s_raw)
    L = scale_factors(s_raw)
    return L @ jnp.swapaxes(L, -1, -2)


def tril_inverse(L):
    """Inverse of batched lower-triangular matrices with matrix products only, ``(..., d, d)``.

    Writes ``L = D (I + N)`` with ``N`` strictly lower triangular (nilpotent, ``N^d = 0``), so
    ``(I + N)^{-1} = (I - N)(I + N^2)(I + N^4) ...`` with ``ceil(log2 d)`` factors is exact.
    Used in the training step instead of batched LAPACK solves, which XLA:CPU may run
    concurrently and which can then deadlock its intra-op thread pool on few cores.
    """
    d = L.shape[-1]
    eye = jnp.eye(d, dtype=L.dtype)
    inv_diag = 1.0 / jnp.diagonal(L, axis1=-2, axis2=-1)
    P = -(inv_diag[..., :, None] * L - eye)  # -N
    M = eye + P
    power = 2
    while power < d:
        P = P @ P
        M = M @ (eye + P)
        power *= 2
    return M * inv_diag[..., None, :]


def _inverse_and_logdet(L):
    """``(L L^T)^{-1}`` and ``log det(L L^T)`` from a lower-triangular factor, products only."""
    L_inv = tril_inverse(L)
    log_det = 2.0 * jnp.sum(jnp.log(jnp.diagonal(L, axis1=-2, axis2=-1)), axis=-1)
    return jnp.swapaxes(L_inv, -1, -2) @ L_inv, log_det


def _apply(S, X, covariance_type):
    """``S_k x_i`` for every component and point: shape ``(n, K, d)``."""
    if covariance_type == "diag":
        return X[:, None, :] * S[None, :, :]
    return jnp.einsum("kij,nj->nki", S, X)


def potential(log_alpha, r, S, eps, covariance_type):
    """The adjusted potential ``v`` as a :class:`~mixtures.gaussian.GMM` (covariances ``eps S``)."""
    return GMM(log_alpha, r, eps * S, covariance_type)


def log_normaliser_terms(log_alpha, r, S, X, eps, covariance_type):
    """``log alpha_k + x^T S_k x / (2 eps) + r_k^T x / eps``, shape ``(n, K)``."""
    SX = _apply(S, X, covariance_type)
    quad = jnp.einsum("nkd,nd->nk", SX, X)
    return log_alpha[None, :] + (0.5 * quad + X @ r.T) / eps


@partial(jax.jit, static_argnames=("covariance_type",))
def log_normaliser(log_alpha, r, S, X, eps, covariance_type):
    """``log c(x) = log int exp(<x, y> / eps) v(y) dy``, shape ``(n,)`` (logsumexp)."""
    return logsumexp(log_normaliser_terms(log_alpha, r, S, X, eps, covariance_type), axis=1)


def _unpack(params, covariance_type):
    return params["log_alpha"], params["r"], scale_matrices(params["s_raw"], covariance_type)


@partial(jax.jit, static_argnames=("covariance_type",))
def unpack_params(params, covariance_type):
    """``(log alpha, r, S)`` from the unconstrained parameters (one compiled call)."""
    return _unpack(params, covariance_type)


@partial(jax.jit, static_argnames=("covariance_type",))
def objective(log_alpha, r, S, X0, X1, eps, covariance_type, L=None, w0=None, w1=None):
    """LightSB objective ``mean_x log c(x) - mean_y log v(y)`` (a scalar).

    Up to a constant this is ``KL(pi* || pi_theta)``; it is invariant to rescaling ``v``.
    ``w0`` (n0,) and ``w1`` (n1,) replace the means by weighted sums (weights summing to one;
    a zero weight masks a padded row); ``None`` means equal weights.
    """
    log_c = log_normaliser(log_alpha, r, S, X0, eps, covariance_type)
    log_v = log_potential(log_alpha, r, S, X1, eps, covariance_type, L)
    term0 = jnp.mean(log_c) if w0 is None else jnp.sum(w0 * log_c)
    term1 = jnp.mean(log_v) if w1 is None else jnp.sum(w1 * log_v)
    return term0 - term1


def log_potential(log_alpha, r, S, Y, eps, covariance_type, L=None):
    """``log v(y)``, shape ``(n,)``.

    ``"full"`` works from the lower-triangular factor ``L_k`` of ``S_k`` (passed by the
    training step, else the Cholesky factor of ``S``): the log-determinant is read off its
    diagonal and ``L_k^{-1}`` comes from :func:`tril_inverse` (matrix products only).
    """
    if covariance_type == "diag":
        return gaussian.log_prob(potential(log_alpha, r, S, eps, covariance_type), Y)
    if L is None:
        L = jnp.linalg.cholesky(S)
    S_inv, log_det_S = _inverse_and_logdet(L)
    log_det = log_det_S + S.shape[-1] * jnp.log(eps)
    comp = gaussian.component_log_prob_precision(r, S_inv / eps, log_det, Y)
    return logsumexp(comp + log_alpha[None, :], axis=1)


@partial(jax.jit, static_argnames=("covariance_type",))
def loss(params, X0, X1, eps, covariance_type, w0=None, w1=None):
    """:func:`objective` as a function of the unconstrained parameters (a dict)."""
    L = None if covariance_type == "diag" else scale_factors(params["s_raw"])
    return objective(*_unpack(params, covariance_type), X0, X1, eps, covariance_type, L, w0, w1)


@partial(jax.jit, static_argnames=("covariance_type",))
def conditional_plan(log_alpha, r, S, X, eps, covariance_type):
    """Conditional plans ``pi(. | x_i)``: normalised log-weights ``(n, K)`` and means ``(n, K, d)``.

    The covariances ``eps S_k`` do not depend on ``x``.
    """
    terms = log_normaliser_terms(log_alpha, r, S, X, eps, covariance_type)
    log_w = jax.nn.log_softmax(terms, axis=1)
    means = r[None, :, :] + _apply(S, X, covariance_type)
    return log_w, means


@partial(jax.jit, static_argnames=("covariance_type",))
def conditional_mean(log_alpha, r, S, X, eps, covariance_type):
    """``E[y | x]``, shape ``(n, d)``."""
    log_w, means = conditional_plan(log_alpha, r, S, X, eps, covariance_type)
    return jnp.einsum("nk,nkd->nd", jnp.exp(log_w), means)


@partial(jax.jit, static_argnames=("n_samples", "covariance_type"))
def sample_conditional(key, log_alpha, r, S, X, eps, *, n_samples, covariance_type):
    """Draw ``n_samples`` points from each ``pi(. | x_i)``: shape ``(n, n_samples, d)``."""
    log_w, means = conditional_plan(log_alpha, r, S, X, eps, covariance_type)
    cov = eps * S  # shared by every x: vmap leaves its Cholesky factorisation unbatched

    def one(lw, mu, k):
        return gaussian.sample(GMM(lw, mu, cov, covariance_type), k, n_samples)[0]

    keys = jax.random.split(key, X.shape[0])
    return jax.vmap(one)(log_w, means, keys)


@partial(jax.jit, static_argnames=("n_steps", "covariance_type"))
def sample_trajectory(key, log_alpha, r, S, X, eps, *, n_steps, covariance_type):
    """Exact SB paths on the grid ``t_j = j / n_steps``: shape ``(n, n_steps + 1, d)``.

    ``x_1 ~ pi(. | x_0)``, then a Brownian bridge of volatility ``eps`` from ``x_0`` to ``x_1``:
    ``x_t = x_0 + t (x_1 - x_0) + sqrt(eps) (W_t - t W_1)`` with ``W`` a standard Wiener process.
    """
    k1, k2 = jax.random.split(key)
    x1 = sample_conditional(
        k1, log_alpha, r, S, X, eps, n_samples=1, covariance_type=covariance_type
    )[:, 0]
    n, d = X.shape
    t = jnp.linspace(0.0, 1.0, n_steps + 1, dtype=X.dtype)
    dW = jax.random.normal(k2, (n, n_steps, d), dtype=X.dtype) * jnp.sqrt(1.0 / n_steps)
    W = jnp.concatenate([jnp.zeros((n, 1, d), X.dtype), jnp.cumsum(dW, axis=1)], axis=1)
    tt = t[None, :, None]
    bridge = W - tt * W[:, -1:, :]
    return X[:, None, :] + tt * (x1 - X)[:, None, :] + jnp.sqrt(eps) * bridge


@partial(jax.jit, static_argnames=("covariance_type",))
def drift(log_alpha, r, S, X, t, eps, covariance_type):
    """SB drift ``g(x, t) = eps grad_x log h(x, t)`` at one time ``t`` in ``[0, 1]``, ``(n, d)``.

    With ``M_k = (1 - t) I + t S_k`` (no inverse of ``S_k`` or ``eps`` needed):
    ``g = sum_k softmax(l)_k M_k^{-1} ((S_k - I) x + r_k)`` and
    ``l_k = log alpha_k - log|M_k| / 2 + [x^T M_k^{-1} r_k - t r_k^T M_k^{-1} r_k / 2
    + x^T (S_k - I) M_k^{-1} x / 2] / eps``; ``softmax(l)_k`` is the posterior weight of
    component ``k`` for ``x_1`` given ``x_t = x``. At ``t = 0`` this is ``E[y | x] - x``.
    """
    if covariance_type == "diag":
        M = (1.0 - t) + t * S  # (K, d)
        Mr = r / M
        MX = X[:, None, :] / M[None]  # (n, K, d)
        logdet = jnp.sum(jnp.log(M), axis=-1)
        SmI_MX = (S - 1.0)[None] * MX
    else:
        d = X.shape[1]
        eye = jnp.eye(d, dtype=X.dtype)
        M = (1.0 - t) * eye + t * S  # (K, d, d)
        # one LAPACK call (Cholesky), then matrix products only (see tril_inverse)
        M_inv, logdet = _inverse_and_logdet(jnp.linalg.cholesky(M))
        Mr = jnp.einsum("kij,kj->ki", M_inv, r)
        MX = jnp.einsum("kij,nj->nki", M_inv, X)  # (n, K, d)
        SmI_MX = jnp.einsum("kij,nkj->nki", S - eye, MX)
    quad = jnp.einsum("nkd,nd->nk", SmI_MX, X)
    l = (
        log_alpha
        - 0.5 * logdet
        + (X @ Mr.T - 0.5 * t * jnp.sum(r * Mr, axis=-1) + 0.5 * quad) / eps
    )
    w = jax.nn.softmax(l, axis=1)
    return jnp.einsum("nk,nkd->nd", w, SmI_MX + Mr[None])


@partial(jax.jit, static_argnames=("n_components", "covariance_type"))
def init_params(key, X1, n1, n_components, s_init, covariance_type):
    """Initial parameters: uniform weights, ``r_k`` drawn from ``X1``, ``S_k = s_init I``.

    ``X1`` may be padded: only its first ``n1`` rows (traced) are drawn from, without
    replacement when ``n1 >= n_components``. The draw is a sort of uniform keys (not
    ``jax.random.choice``, whose shuffle compiles slowly and depends on the padded length).
    """
    P, d = X1.shape
    rows = jnp.arange(P)
    u = jnp.where(rows < n1, jax.random.uniform(key, (P,), dtype=X1.dtype), 2.0)
    order = jnp.argsort(u)
    idx = order[jnp.arange(n_components) % jnp.maximum(n1, 1)]
    if covariance_type == "diag":
        s_raw = jnp.full((n_components, d), jnp.log(s_init), dtype=X1.dtype)
    else:
        s_raw = jnp.broadcast_to(
            0.5 * jnp.log(s_init) * jnp.eye(d, dtype=X1.dtype), (n_components, d, d)
        )
    params = {
        "log_alpha": jnp.zeros(n_components, dtype=X1.dtype),
        "r": X1[idx],
        "s_raw": s_raw,
    }
    return params, init_opt_state(params)


def _adam(learning_rate, total_steps):
    """Adam with a cosine decay of the step size from ``learning_rate`` to 1 % of it."""
    import optax  # lazily: importing the package should not pay for optax

    def schedule(count):
        frac = jnp.minimum(count, total_steps) / total_steps
        return learning_rate * (0.01 + 0.99 * 0.5 * (1.0 + jnp.cos(jnp.pi * frac)))

    return optax.adam(schedule)


def init_opt_state(params):
    """Adam state for ``params`` (independent of the step sizes)."""
    return _adam(1.0, 1.0).init(params)


def annealed_epsilon(eps, step, factor, anneal_steps):
    """Entropy weight at ``step``: ``eps * factor ** max(0, 1 - step / anneal_steps)``.

    Decreases geometrically from ``factor * eps`` at step 0 to ``eps`` at ``anneal_steps``
    and stays there (``factor = 1``: constant ``eps``).
    """
    frac = jnp.clip(1.0 - step / jnp.maximum(anneal_steps, 1.0), 0.0, 1.0)
    return eps * factor**frac


def minibatch(u, n, batch):
    """Row indices ``(batch,)`` and weights ``(batch,)`` of one step's minibatch.

    ``batch`` (static) is at most the padded length of the sample, whose first ``n`` rows
    (traced) are real. When ``batch >= n`` the whole sample is used once (rows ``0..batch-1``,
    padded rows weighted zero): drawing more points than the sample holds adds only noise.
    Otherwise ``batch`` rows are drawn with replacement (``floor(u n)``, ``u`` uniform
    ``(batch,)``) with equal weights.
    """
    rows = jnp.arange(batch)
    full = batch >= n
    drawn = jnp.minimum(jnp.floor(u * n).astype(rows.dtype), n - 1)
    idx = jnp.where(full, rows, drawn)
    w = jnp.where(full, (rows < n) / n, 1.0 / batch)
    return idx, w.astype(u.dtype)


def _shard_batch(idx, w, mesh):
    """Minibatch rows and weights padded (weight zero) to a multiple of the mesh's devices
    and split over them: the per-point loss terms and their gradients are computed where the
    rows live and the compiler reduces the sums. ``mesh=None``: unchanged, one device."""
    if mesh is None:
        return idx, w
    m = mesh.devices.size
    extra = -(-idx.shape[0] // m) * m - idx.shape[0]
    idx = jnp.concatenate([idx, jnp.zeros(extra, idx.dtype)])
    w = jnp.concatenate([w, jnp.zeros(extra, w.dtype)])
    rows = NamedSharding(mesh, PartitionSpec(mesh.axis_names[0]))
    return (jax.lax.with_sharding_constraint(idx, rows), jax.lax.with_sharding_constraint(w, rows))


@partial(jax.jit, static_argnames=("n_steps", "batch0", "batch1", "covariance_type", "mesh"))
def train_chunk(
    params,
    opt_state,
    key,
    chunk,
    X0,
    n0,
    X1,
    n1,
    eps,
    learning_rate,
    total_steps,
    n_active,
    anneal_factor=1.0,
    anneal_steps=1.0,
    *,
    n_steps,
    batch0,
    batch1,
    covariance_type,
    mesh=None,
):
    """Run ``n_active`` (traced, ``<= n_steps``) Adam steps on minibatches of both samples.

    ``X0`` (P0, d) and ``X1`` (P1, d) may be padded; their first ``n0`` / ``n1`` rows are the
    samples (see :func:`minibatch`, with ``batch0 <= P0`` and ``batch1 <= P1``). This is
    chunk number ``chunk`` (traced) of a fit; step ``t = chunk * n_steps + i`` draws its
    minibatches from ``fold_in(key, t)``, uses the entropy weight :func:`annealed_epsilon`
    ``(eps, t, anneal_factor, anneal_steps)`` and the step size ``learning_rate`` decayed
    (cosine) over ``total_steps`` steps. Everything but the shapes and the covariance type is
    traced, so one compiled program serves every ``max_iter``, step size, annealing and
    sample size within the padded lengths. Returns the new parameters and optimiser state and
    the minibatch losses, shape ``(n_steps,)`` (entries past ``n_active`` are zero).

    ``mesh`` (a one-dimensional :class:`jax.sharding.Mesh`, static) splits each minibatch
    over its devices (data parallel; the inputs should be replicated on the mesh). The
    minibatches drawn do not depend on it, so the result equals the one-device result up to
    the summation order.
    """
    opt = _adam(learning_rate, total_steps)
    grad_fn = jax.value_and_grad(loss)
    start = chunk * n_steps

    def step(i, carry):
        p, s, losses = carry
        t = start + i
        u = jax.random.uniform(jax.random.fold_in(key, t), (batch0 + batch1,), dtype=X0.dtype)
        i0, w0 = minibatch(u[:batch0], n0, batch0)
        i1, w1 = minibatch(u[batch0:], n1, batch1)
        i0, w0 = _shard_batch(i0, w0, mesh)
        i1, w1 = _shard_batch(i1, w1, mesh)
        eps_t = annealed_epsilon(eps, t, anneal_factor, anneal_steps)
        value, g = grad_fn(p, X0[i0], X1[i1], eps_t, covariance_type, w0, w1)
        upd, s = opt.update(g, s, p)
        p = jax.tree.map(lambda a, b: a + b, p, upd)
        return p, s, losses.at[i].set(value)

    losses = jnp.zeros(n_steps, dtype=X0.dtype)
    # a while loop with a traced trip count: steps past n_active cost nothing
    params, opt_state, losses = jax.lax.fori_loop(0, n_active, step, (params, opt_state, losses))
    return params, opt_state, losses
