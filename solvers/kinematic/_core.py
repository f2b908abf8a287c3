"""Pure JAX cores: kinematic steps and mean/covariance propagation through them.

Every function here works on ONE agent (unbatched arrays) and follows the ambient precision;
the public wrappers in :mod:`solvers.kinematic.propagation` broadcast and ``vmap`` them over
leading batch dimensions. State and action layouts per formulation:

======================== ====================== ==========================
formulation              state (4,)             action (2,)
======================== ====================== ==========================
``velocity``             (x, y, v_x, v_y)       (v_x, v_y)
``acceleration``         (x, y, v_x, v_y)       (a_x, a_y)
``speed_heading``        (x, y, theta, v)       (v, theta)
``acceleration_steering`` (x, y, theta, v)      (a, delta)
======================== ====================== ==========================
"""

from __future__ import annotations

import dataclasses
from functools import partial

import jax
import jax.numpy as jnp

FORMULATIONS = ("velocity", "acceleration", "speed_heading", "acceleration_steering")
REFERENCES = ("rear_axle", "centre_of_mass")


@dataclasses.dataclass(frozen=True)
class Params:
    """Numerical model parameters (a pytree): wheelbase L, rear-axle-to-CoM l_r, step dt."""

    wheelbase: jax.Array
    rear_length: jax.Array
    dt: jax.Array
    reference: str = "rear_axle"


jax.tree_util.register_dataclass(
    Params, data_fields=["wheelbase", "rear_length", "dt"], meta_fields=["reference"]
)


# --------------------------------------------------------------------------------------------
# deterministic one-step updates (explicit Euler)
# --------------------------------------------------------------------------------------------
def _step_velocity(s, u, p: Params):
    return jnp.stack([s[0] + p.dt * u[0], s[1] + p.dt * u[1], u[0], u[1]])


def _step_acceleration(s, u, p: Params):
    return jnp.stack(
        [s[0] + p.dt * s[2], s[1] + p.dt * s[3], s[2] + p.dt * u[0], s[3] + p.dt * u[1]]
    )


def _step_speed_heading(s, u, p: Params):
    v, th = u[0], u[1]
    return jnp.stack([s[0] + p.dt * v * jnp.cos(th), s[1] + p.dt * v * jnp.sin(th), th, v])


def step_bicycle(s, u, p: Params):
    x, y, th, v = s[0], s[1], s[2], s[3]
    a, delta = u[0], u[1]
    tan_d = jnp.tan(delta)
    if p.reference == "rear_axle":
        course, yaw_rate = th, v * tan_d / p.wheelbase
    else:  # centre of mass: slip angle beta between heading and velocity
        beta = jnp.arctan(p.rear_length * tan_d / p.wheelbase)
        course, yaw_rate = th + beta, v * jnp.cos(beta) * tan_d / p.wheelbase
    return jnp.stack(
        [
            x + p.dt * v * jnp.cos(course),
            y + p.dt * v * jnp.sin(course),
            th + p.dt * yaw_rate,
            v + p.dt * a,
        ]
    )


STEPS = {
    "velocity": _step_velocity,
    "acceleration": _step_acceleration,
    "speed_heading": _step_speed_heading,
    "acceleration_steering": step_bicycle,
}


# --------------------------------------------------------------------------------------------
# analytical moment steps
# --------------------------------------------------------------------------------------------
def _jacobians_bicycle(m, mu, p: Params):
    """F = ds'/ds and G = ds'/du of the rear-axle bicycle step, in closed form."""
    th, v = m[2], m[3]
    c, s, t = jnp.cos(th), jnp.sin(th), jnp.tan(mu[1])
    dt, L = p.dt, p.wheelbase
    z, o = jnp.zeros_like(th), jnp.ones_like(th)
    F = jnp.array(
        [
            [o, z, -dt * v * s, dt * c],
            [z, o, dt * v * c, dt * s],
            [z, z, o, dt * t / L],
            [z, z, z, o],
        ]
    )
    G = jnp.array([[z, z], [z, z], [z, dt * v * (1.0 + t * t) / L], [dt * o, z]])
    return F, G


def _jacobians_speed_heading(m, mu, p: Params):
    v, th = mu[0], mu[1]
    c, s = jnp.cos(th), jnp.sin(th)
    z, o = jnp.zeros_like(th), jnp.ones_like(th)
    F = jnp.array([[o, z, z, z], [z, o, z, z], [z, z, z, z], [z, z, z, z]])
    G = jnp.array([[p.dt * c, -p.dt * v * s], [p.dt * s, p.dt * v * c], [z, o], [o, z]])
    return F, G


def _linearised_step(formulation, m, P, mu, Q, p: Params):
    """First-order (EKF prediction) moments: m' = f(m, mu), P' = F P F^T + G Q G^T.

    Closed-form Jacobians where written out (cheaper to compile and run), automatic
    differentiation of the step otherwise (the centre-of-mass bicycle, the linear models).
    """
    step = STEPS[formulation]
    if formulation == "acceleration_steering" and p.reference == "rear_axle":
        F, G = _jacobians_bicycle(m, mu, p)
    elif formulation == "speed_heading":
        F, G = _jacobians_speed_heading(m, mu, p)
    else:
        F = jax.jacfwd(step, argnums=0)(m, mu, p)
        G = jax.jacfwd(step, argnums=1)(m, mu, p)
    return step(m, mu, p), F @ P @ F.T + G @ Q @ G.T


def polar_moments(m_v, m_th, var_v, var_th, cov_vth, dt):
    """Exact moments of the increment ``d = dt v (cos th, sin th)`` for Gaussian (v, th).

    Returns
    -------
    mean : (2,)
        ``E[d]``.
    cov : (2, 2)
        ``Cov(d)``.
    grad : (2, 2)
        ``E[dd/d(th, v)]``: column 0 the expected derivative in ``th``, column 1 in ``v``. By
        Stein's lemma ``Cov(z, d) = Sigma_{z,th} grad[:, 0] + Sigma_{z,v} grad[:, 1]`` for any
        ``z`` jointly Gaussian with ``(v, th)``.
    """
    c1, s1 = jnp.cos(m_th), jnp.sin(m_th)
    c2, s2 = jnp.cos(2.0 * m_th), jnp.sin(2.0 * m_th)
    e1, e2 = jnp.exp(-0.5 * var_th), jnp.exp(-2.0 * var_th)
    # A = E[v e^{i th}] = (m_v + i c) e^{i m_th - s^2/2}
    re_a = e1 * (m_v * c1 - cov_vth * s1)
    im_a = e1 * (m_v * s1 + cov_vth * c1)
    # B = E[v^2 e^{2 i th}] = (m_v^2 + s_v^2 - 4 c^2 + 4 i m_v c) e^{2 i m_th - 2 s^2}
    alpha = m_v**2 + var_v - 4.0 * cov_vth**2
    beta = 4.0 * m_v * cov_vth
    re_b = e2 * (alpha * c2 - beta * s2)
    im_b = e2 * (alpha * s2 + beta * c2)
    ev2 = m_v**2 + var_v
    mean = dt * jnp.stack([re_a, im_a])
    second = 0.5 * dt**2 * jnp.array([[ev2 + re_b, im_b], [im_b, ev2 - re_b]])
    cov = second - jnp.outer(mean, mean)
    grad = dt * jnp.array([[-im_a, e1 * c1], [re_a, e1 * s1]])
    return mean, cov, grad


def _exact_speed_heading(m, P, mu, Q, p: Params):
    # action (v, theta); independent of the state, so the state enters only through x, y.
    d_mean, d_cov, grad = polar_moments(mu[0], mu[1], Q[0, 0], Q[1, 1], Q[0, 1], p.dt)
    # Cov(d, u) = E[dd/du] Q with u = (v, theta): columns of grad are (theta, v)
    cov_du = grad[:, ::-1] @ Q  # (2, 2), columns (v, theta)
    cov_du = cov_du[:, ::-1]  # columns (theta, v) = new state's (theta', v')
    q_new = Q[::-1, ::-1]  # covariance of (theta', v')
    mean = jnp.concatenate([m[:2] + d_mean, mu[::-1]])
    top = jnp.concatenate([P[:2, :2] + d_cov, cov_du], axis=1)
    bottom = jnp.concatenate([cov_du.T, q_new], axis=1)
    return mean, jnp.concatenate([top, bottom], axis=0)


def _exact_bicycle(m, P, mu, Q, p: Params):
    """Exact trigonometric / product moments, with tan(delta) linearised (rear axle only)."""
    dt, L = p.dt, p.wheelbase
    d_mean, d_cov, grad = polar_moments(m[3], m[2], P[3, 3], P[2, 2], P[2, 3], dt)
    t0 = jnp.tan(mu[1])
    k = 1.0 + t0**2  # d tan / d delta
    var_g, cov_ga = k**2 * Q[1, 1], k * Q[0, 1]
    h = dt / L  # heading increment = h v g with g = tan(delta) ~ N(t0, var_g)
    inc_mean = jnp.concatenate([d_mean, jnp.stack([h * m[3] * t0, dt * mu[0]])])
    # Cov(s, increment), rows: state, columns: (d_x, d_y, dtheta, dv)
    cov_sd = jnp.outer(P[:, 2], grad[:, 0]) + jnp.outer(P[:, 3], grad[:, 1])
    cov_sh = h * t0 * P[:, 3]
    C = jnp.concatenate([cov_sd, cov_sh[:, None], jnp.zeros_like(cov_sh)[:, None]], axis=1)
    cov_d_v = grad[:, 0] * P[2, 3] + grad[:, 1] * P[3, 3]
    cov_d_h = h * t0 * cov_d_v
    var_h = h**2 * (m[3] ** 2 * var_g + t0**2 * P[3, 3] + P[3, 3] * var_g)
    cov_h_a = h * dt * m[3] * cov_ga
    V = jnp.zeros((4, 4), dtype=P.dtype)
    V = V.at[:2, :2].set(d_cov)
    V = V.at[:2, 2].set(cov_d_h).at[2, :2].set(cov_d_h)
    V = V.at[2, 2].set(var_h)
    V = V.at[2, 3].set(cov_h_a).at[3, 2].set(cov_h_a)
    V = V.at[3, 3].set(dt**2 * Q[0, 0])
    return m + inc_mean, P + C + C.T + V


def moment_step(m, P, mu, Q, p: Params, formulation: str, moments: str):
    """One analytical mean/covariance step of the chosen formulation (single agent)."""
    if moments == "exact" and formulation == "speed_heading":
        return _exact_speed_heading(m, P, mu, Q, p)
    if moments == "exact" and formulation == "acceleration_steering":
        return _exact_bicycle(m, P, mu, Q, p)
    # velocity / acceleration are linear: first-order propagation is exact for them
    return _linearised_step(formulation, m, P, mu, Q, p)


def _diag(P):
    return jnp.diag(jnp.diagonal(P))


@partial(jax.jit, static_argnames=("formulation", "covariance", "moments"))
def propagate_one(m0, P0, mus, Qs, p: Params, formulation, covariance, moments):
    """Unroll the analytical propagation over T steps for one agent.

    Shapes: m0 (4,), P0 (4, 4), mus (T, 2), Qs (T, 2, 2) -> means (T, 4), covs (T, 4, 4).
    ``covariance="independent"`` keeps only the diagonal of the state covariance.
    """
    keep = _diag if covariance == "independent" else (lambda P: P)

    def body(carry, xs):
        m, P = carry
        mu, Q = xs
        m, P = moment_step(m, keep(P), mu, Q, p, formulation, moments)
        P = keep(0.5 * (P + P.T))
        return (m, P), (m, P)

    _, (means, covs) = jax.lax.scan(body, (m0, P0), (mus, Qs))
    return means, covs


def _jittered_cholesky(S):
    d = S.shape[-1]
    eps = jnp.finfo(S.dtype).eps
    scale = jnp.trace(S) / d + 1.0
    return jnp.linalg.cholesky(S + (10.0 * eps * scale) * jnp.eye(d, dtype=S.dtype))


@partial(jax.jit, static_argnames=("dynamics", "n_samples"))
def monte_carlo_one(m0, P0, mus, Qs, p: Params, key, dynamics, n_samples):
    """Sampled reference: roll ``n_samples`` states out through the formulation's step.

    Returns the sample mean (T, 4) and the unbiased sample covariance (T, 4, 4).
    """
    step = jax.vmap(STEPS[dynamics], in_axes=(0, 0, None))
    k0, ku = jax.random.split(key)
    z0 = jax.random.normal(k0, (n_samples, 4), dtype=m0.dtype)
    s0 = m0 + z0 @ _jittered_cholesky(P0).T
    keys = jax.random.split(ku, mus.shape[0])

    def body(s, xs):
        mu, Q, k = xs
        z = jax.random.normal(k, (n_samples, 2), dtype=m0.dtype)
        s = step(s, mu + z @ _jittered_cholesky(Q).T, p)
        mean = jnp.mean(s, axis=0)
        c = s - mean
        return s, (mean, c.T @ c / (n_samples - 1))

    _, (means, covs) = jax.lax.scan(body, s0, (mus, Qs, keys))
    return means, covs


def _unscented_step(step, m, P, mu, Q, p: Params):
    """Unscented transform of the joint (state, action) Gaussian (alpha=1, beta=2, kappa=0)."""
    n = m.shape[0] + mu.shape[0]
    mean = jnp.concatenate([m, mu])
    S = jnp.zeros((n, n), dtype=P.dtype).at[:4, :4].set(P).at[4:, 4:].set(Q)
    L = _jittered_cholesky(S) * jnp.sqrt(float(n))
    points = jnp.concatenate([mean[None], mean + L.T, mean - L.T], axis=0)  # (2n+1, n)
    out = jax.vmap(lambda z: step(z[:4], z[4:], p))(points)
    w = jnp.full((2 * n + 1,), 1.0 / (2 * n), dtype=P.dtype).at[0].set(0.0)
    m_new = w @ out
    c = out - m_new
    wc = w.at[0].set(2.0)  # beta = 2 on the centre point (Gaussian prior)
    return m_new, (c * wc[:, None]).T @ c


@partial(jax.jit, static_argnames=("dynamics",))
def unscented_one(m0, P0, mus, Qs, p: Params, dynamics):
    """Unscented (sigma-point) propagation over T steps for one agent."""
    step = STEPS[dynamics]

    def body(carry, xs):
        m, P = _unscented_step(step, *carry, *xs, p)
        P = 0.5 * (P + P.T)
        return (m, P), (m, P)

    _, (means, covs) = jax.lax.scan(body, (m0, P0), (mus, Qs))
    return means, covs
