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
import optax
from jax.scipy.special import logsumexp

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
    "init_params",
    "init_opt_state",
    "annealed_epsilon",
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
    Used in the training step instead of LAPACK solves: with jaxlib 0.10 on CPU, two batched
    LAPACK calls that XLA runs concurrently can deadlock its intra-op thread pool when the
    machine has few cores (observed with 2 cores: every thread idle in ``futex_wait`` inside
    ``lapack_dtrsm_ffi`` / ``ParallelBatchMap``).
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
def objective(log_alpha, r, S, X0, X1, eps, covariance_type, L=None):
    """LightSB objective ``mean_x log c(x) - mean_y log v(y)`` (a scalar).

    Up to a constant this is ``KL(pi* || pi_theta)``; it is invariant to rescaling ``v``.
    """
    log_c = log_normaliser(log_alpha, r, S, X0, eps, covariance_type)
    return jnp.mean(log_c) - jnp.mean(log_potential(log_alpha, r, S, X1, eps, covariance_type, L))


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
def loss(params, X0, X1, eps, covariance_type):
    """:func:`objective` as a function of the unconstrained parameters (a dict)."""
    L = None if covariance_type == "diag" else scale_factors(params["s_raw"])
    return objective(*_unpack(params, covariance_type), X0, X1, eps, covariance_type, L)


@partial(jax.jit, static_argnames=("covariance_type",))
def conditional_plan(log_alpha, r, S, X, eps, covariance_type):
    """Conditional plans ``pi(. | x_i)``: normalised log-weights ``(n, K)`` and means ``(n, K, d)``.

    The covariances ``eps S_k`` do not depend on ``x``.
    """
    terms = log_normaliser_terms(log_alpha, r, S, X, eps, covariance_type)
    log_w = terms - logsumexp(terms, axis=1, keepdims=True)
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


def init_params(key, X1, n_components, s_init, covariance_type):
    """Initial parameters: uniform weights, ``r_k`` drawn from ``X1``, ``S_k = s_init I``."""
    idx = jax.random.choice(key, X1.shape[0], (n_components,), replace=X1.shape[0] < n_components)
    d = X1.shape[1]
    if covariance_type == "diag":
        s_raw = jnp.full((n_components, d), jnp.log(s_init), dtype=X1.dtype)
    else:
        s_raw = jnp.broadcast_to(0.5 * jnp.log(s_init) * jnp.eye(d, dtype=X1.dtype),
                                 (n_components, d, d))
    return {
        "log_alpha": jnp.zeros(n_components, dtype=X1.dtype),
        "r": X1[idx],
        "s_raw": s_raw,
    }


def _adam(learning_rate, total_steps):
    """Adam with a cosine decay of the step size from ``learning_rate`` to 1 % of it."""

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


@partial(jax.jit, static_argnames=("n_steps", "batch_size", "covariance_type"))
def train_chunk(params, opt_state, key, X0, X1, eps, learning_rate, total_steps, n_active,
                start=0, anneal_factor=1.0, anneal_steps=1.0, *, n_steps, batch_size,
                covariance_type):
    """Run ``n_steps`` Adam steps on minibatches (drawn with replacement) of both samples.

    The step size decays from ``learning_rate`` (cosine) over ``total_steps`` steps counted
    from the start of the fit. Step ``start + i`` of the fit uses the entropy weight
    :func:`annealed_epsilon` ``(eps, start + i, anneal_factor, anneal_steps)``. Only the first
    ``n_active`` steps update the parameters (so one compiled chunk length serves any
    ``max_iter``). Returns the new parameters and optimiser state and the minibatch losses,
    shape ``(n_steps,)``.
    """
    opt = _adam(learning_rate, total_steps)
    grad_fn = jax.value_and_grad(loss)

    def step(carry, inp):
        p, s = carry
        k, i = inp
        k0, k1 = jax.random.split(k)
        b0 = X0[jax.random.randint(k0, (batch_size,), 0, X0.shape[0])]
        b1 = X1[jax.random.randint(k1, (batch_size,), 0, X1.shape[0])]
        eps_i = annealed_epsilon(eps, start + i, anneal_factor, anneal_steps)
        value, g = grad_fn(p, b0, b1, eps_i, covariance_type)
        upd, s_new = opt.update(g, s, p)
        p_new = optax.apply_updates(p, upd)
        keep = i < n_active
        p, s = jax.tree.map(lambda a, b: jnp.where(keep, a, b), (p_new, s_new), (p, s))
        return (p, s), value

    keys = jax.random.split(key, n_steps)
    (params, opt_state), losses = jax.lax.scan(
        step, (params, opt_state), (keys, jnp.arange(n_steps))
    )
    return params, opt_state, losses
