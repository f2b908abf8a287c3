"""Propagation through the kinematic models: accuracy vs Monte Carlo and closed forms."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.stats import multivariate_normal

from mixtures import gaussian, x64
from solvers.kinematic import (
    FORMULATIONS,
    BicycleModel,
    propagate,
    propagate_mixture,
    trajectory_nll,
)

T = 12
MODEL = BicycleModel(wheelbase=2.8, dt=0.1)
# state layouts: (x, y, theta, v) for the heading models, (x, y, v_x, v_y) for the others
M0 = {
    "velocity": [1.0, -2.0, 8.0, 3.0],
    "acceleration": [1.0, -2.0, 8.0, 3.0],
    "speed_heading": [1.0, -2.0, 0.3, 10.0],
    "acceleration_steering": [1.0, -2.0, 0.3, 10.0],
}
P0 = np.diag([0.04, 0.02, 0.01, 0.2])
P0[2, 3] = P0[3, 2] = 0.01
ACT = {
    "velocity": ([8.0, 3.0], [[1.0, 0.3], [0.3, 0.5]]),
    "acceleration": ([0.5, -0.3], [[0.8, 0.2], [0.2, 0.4]]),
    "speed_heading": ([10.0, 0.4], [[1.0, 0.05], [0.05, 0.09]]),
    "acceleration_steering": ([0.5, 0.05], [[0.5, 0.0], [0.0, 0.01]]),
}


@pytest.fixture(autouse=True)
def _float64():
    with x64():
        yield


def _actions(name, scale=1.0):
    mu, Q = ACT[name]
    return np.tile(mu, (T, 1)), np.tile(np.asarray(Q) * scale, (T, 1, 1))


def _numpy_step(name, s, u, dt=0.1, L=2.8):
    """Independent NumPy implementation of the four deterministic updates, (..., 4)."""
    x, y, a, b = np.moveaxis(s, -1, 0)
    u0, u1 = np.moveaxis(u, -1, 0)
    if name == "velocity":
        out = [x + dt * u0, y + dt * u1, u0, u1]
    elif name == "acceleration":
        out = [x + dt * a, y + dt * b, a + dt * u0, b + dt * u1]
    elif name == "speed_heading":
        out = [x + dt * u0 * np.cos(u1), y + dt * u0 * np.sin(u1), u1, u0]
    else:
        out = [
            x + dt * b * np.cos(a),
            y + dt * b * np.sin(a),
            a + dt * b * np.tan(u1) / L,
            b + dt * u0,
        ]
    return np.stack(np.broadcast_arrays(*out), axis=-1)


def _numpy_rollout(name, s, actions):
    out = []
    s = np.asarray(s, dtype=float)
    for u in actions:
        s = _numpy_step(name, s, u)
        out.append(s)
    return np.array(out)


def _cov_tolerance(P_ref, n):
    """Elementwise 5-sigma Monte Carlo error of a sample covariance (Gaussian approx.)."""
    d = np.diagonal(P_ref, axis1=-2, axis2=-1)
    return 5.0 * np.sqrt((d[..., :, None] * d[..., None, :] + P_ref**2) / n)


# --------------------------------------------------------------------------------- model
def test_bicycle_step_matches_formulas():
    s = np.array([[0.0, 1.0, 0.4, 7.0], [2.0, -1.0, -1.0, 3.0]])
    u = np.array([[1.0, 0.2], [-0.5, -0.3]])
    got = np.asarray(MODEL.step(s, u))
    want = _numpy_step("acceleration_steering", s, u)
    np.testing.assert_allclose(got, want, rtol=1e-12)
    com = BicycleModel(wheelbase=2.8, dt=0.1, reference="centre_of_mass", rear_length=1.2)
    beta = np.arctan(1.2 * np.tan(u[:, 1]) / 2.8)
    got = np.asarray(com.step(s, u))
    np.testing.assert_allclose(got[:, 0], s[:, 0] + 0.1 * s[:, 3] * np.cos(s[:, 2] + beta))
    np.testing.assert_allclose(got[:, 2], s[:, 2] + 0.1 * s[:, 3] / 1.2 * np.sin(beta))


# ------------------------------------------------------------------ exactness (closed forms)
@pytest.mark.parametrize("name", FORMULATIONS)
def test_zero_action_noise_mean_is_deterministic_rollout(name):
    mus, _ = _actions(name)
    zeros2, zeros4 = np.zeros((T, 2, 2)), np.zeros((4, 4))
    want = _numpy_rollout(name, M0[name], mus)
    for moments in ("linear", "exact"):
        if name in ("velocity", "acceleration") and moments == "exact":
            continue  # identical code path
        m, P = propagate(M0[name], zeros4, mus, zeros2, MODEL, name, moments=moments)
        np.testing.assert_allclose(np.asarray(m), want, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(np.asarray(P), 0.0, atol=1e-14)


@pytest.mark.parametrize("moments", ["linear", "exact"])
def test_zero_heading_noise_is_linear_gaussian(moments):
    """Straight bicycle with certain heading: x_T is linear in (v, a) -> Kalman prediction."""
    dt, th = 0.1, 0.3
    m0 = np.array([1.0, -2.0, th, 10.0])
    S0 = np.diag([0.04, 0.02, 0.0, 0.2])
    S0[0, 3] = S0[3, 0] = 0.01
    mus = np.tile([0.5, 0.0], (T, 1))
    Qs = np.tile(np.diag([0.5, 0.0]), (T, 1, 1))
    A = np.eye(4)
    A[0, 3], A[1, 3] = dt * np.cos(th), dt * np.sin(th)
    B = np.zeros((4, 2))
    B[3, 0] = dt
    m, P = m0, S0
    want_m, want_P = [], []
    for t in range(T):
        m, P = A @ m + B @ mus[t], A @ P @ A.T + B @ Qs[t] @ B.T
        want_m.append(m)
        want_P.append(P)
    got_m, got_P = propagate(m0, S0, mus, Qs, MODEL, "acceleration_steering", moments=moments)
    np.testing.assert_allclose(np.asarray(got_m), want_m, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(np.asarray(got_P), want_P, rtol=1e-10, atol=1e-12)
    # speed-heading with a certain heading: increments dt v (cos th, sin th) are linear in v
    mus = np.tile([10.0, th], (T, 1))
    Qs = np.tile(np.diag([1.0, 0.0]), (T, 1, 1))
    got_m, got_P = propagate(m0, S0, mus, Qs, MODEL, "speed_heading", moments=moments)
    e = np.array([np.cos(th), np.sin(th)])
    k = np.arange(1, T + 1)[:, None, None]
    want_pos = S0[:2, :2] + k * dt**2 * np.outer(e, e)
    np.testing.assert_allclose(np.asarray(got_P)[:, :2, :2], want_pos, rtol=1e-12)
    np.testing.assert_allclose(np.asarray(got_m)[:, :2], m0[:2] + k[:, :, 0] * dt * 10 * e)


# ------------------------------------------------------------------- Monte Carlo reference
N_MC = 40_000


def _numpy_monte_carlo(name, m0, S0, mus, Qs, n, seed):
    """Independent NumPy Monte Carlo: sample, roll out with _numpy_rollout's formulas."""
    rng = np.random.default_rng(seed)
    s = rng.multivariate_normal(m0, S0, size=n)
    means, covs = [], []
    for mu, Q in zip(mus, Qs):
        s = _numpy_step(name, s, rng.multivariate_normal(mu, Q, size=n))
        means.append(s.mean(axis=0))
        covs.append(np.cov(s.T))
    return np.array(means), np.array(covs)


@pytest.fixture(scope="module")
def mc_reference():
    out = {}
    for name in FORMULATIONS:
        mus, Qs = _actions(name)
        out[name] = _numpy_monte_carlo(name, M0[name], P0, mus, Qs, N_MC, seed=1)
    return out


def _heading_bias_bound(P_mc, m_mc):
    """Paper's bound on the linearised mean: sum_t dt |v_t| Var(theta_t) / 2 (per coordinate)."""
    var_th = np.concatenate([[P0[2, 2]], P_mc[:-1, 2, 2]])
    v = np.concatenate([[M0["acceleration_steering"][3]], m_mc[:-1, 3]])
    return np.cumsum(0.1 * np.abs(v) * var_th / 2)


CASES = [
    # (formulation, moments, relative model-error allowance on the covariance)
    ("velocity", "linear", 0.0),
    ("acceleration", "linear", 0.0),
    ("speed_heading", "exact", 0.0),
    ("acceleration_steering", "linear", 0.02),
    ("acceleration_steering", "exact", 0.03),
]


@pytest.mark.parametrize("name, moments, allow", CASES)
def test_formulation_matches_monte_carlo(mc_reference, name, moments, allow):
    mus, Qs = _actions(name)
    m, P = map(np.asarray, propagate(M0[name], P0, mus, Qs, MODEL, name, moments=moments))
    m_mc, P_mc = mc_reference[name]
    sd = np.sqrt(np.diagonal(P_mc, axis1=-2, axis2=-1))
    mean_allow = np.zeros_like(m)
    if name == "acceleration_steering":  # linearised: heading bias; exact: 2 % of an sd
        bias = _heading_bias_bound(P_mc, m_mc)
        mean_allow[:, :2] = bias[:, None] if moments == "linear" else 0.02 * sd[:, :2]
    assert np.all(np.abs(m - m_mc) <= 5 * sd / np.sqrt(N_MC) + mean_allow)
    tol = _cov_tolerance(P_mc, N_MC) + allow * sd[..., :, None] * sd[..., None, :]
    assert np.all(np.abs(P - P_mc) <= tol)


def test_jax_monte_carlo_matches_numpy(mc_reference):
    mus, Qs = _actions("acceleration_steering")
    m, P = map(
        np.asarray,
        propagate(
            M0["acceleration_steering"],
            P0,
            mus,
            Qs,
            MODEL,
            "monte_carlo",
            n_samples=N_MC,
            random_state=0,
        ),
    )
    m_mc, P_mc = mc_reference["acceleration_steering"]
    sd = np.sqrt(np.diagonal(P_mc, axis1=-2, axis2=-1))
    assert np.all(np.abs(m - m_mc) <= 5 * np.sqrt(2) * sd / np.sqrt(N_MC))
    assert np.all(np.abs(P - P_mc) <= np.sqrt(2) * _cov_tolerance(P_mc, N_MC))


def test_unscented_matches_monte_carlo(mc_reference):
    mus, Qs = _actions("acceleration_steering")
    m, P = map(np.asarray, propagate(M0["acceleration_steering"], P0, mus, Qs, MODEL, "unscented"))
    m_mc, P_mc = mc_reference["acceleration_steering"]
    np.testing.assert_allclose(m, m_mc, atol=0.02)
    rel = np.linalg.norm(P - P_mc, axis=(-2, -1)) / np.linalg.norm(P_mc, axis=(-2, -1))
    assert rel.max() < 0.03


def test_linearisation_bias_and_bound(mc_reference):
    """Speed-heading: linear mean error within T dt |mu_v| s^2 / 2; exact moments unbiased."""
    mus, Qs = _actions("speed_heading")
    m_lin, P_lin = map(
        np.asarray,
        propagate(M0["speed_heading"], P0, mus, Qs, MODEL, "speed_heading", moments="linear"),
    )
    m_mc, P_mc = mc_reference["speed_heading"]
    k = np.arange(1, T + 1)
    bound = k * 0.1 * 10.0 * 0.09 / 2
    err = np.linalg.norm(m_lin[:, :2] - m_mc[:, :2], axis=1)
    se = np.sqrt(np.trace(P_mc[:, :2, :2], axis1=1, axis2=2) / N_MC)
    assert np.all(err <= bound + 5 * se)
    assert np.all(err >= 0.8 * bound - 5 * se)  # the bound is tight for small heading noise
    # independent (diagonal) propagation misses the position-heading correlation
    _, P_ind = propagate(
        M0["speed_heading"],
        P0,
        mus,
        Qs,
        MODEL,
        "speed_heading",
        moments="exact",
        covariance="independent",
    )
    assert np.all(np.asarray(P_ind)[:, 0, 1] == 0.0)
    assert np.abs(P_mc[-1, 0, 1]) > 10 * _cov_tolerance(P_mc, N_MC)[-1, 0, 1]


def test_monte_carlo_is_reproducible():
    mus, Qs = _actions("acceleration_steering")
    a = propagate(
        M0["acceleration_steering"],
        P0,
        mus,
        Qs,
        MODEL,
        "monte_carlo",
        n_samples=N_MC,
        random_state=3,
    )
    b = propagate(
        M0["acceleration_steering"],
        P0,
        mus,
        Qs,
        MODEL,
        "monte_carlo",
        n_samples=N_MC,
        random_state=3,
    )
    np.testing.assert_array_equal(np.asarray(a[1]), np.asarray(b[1]))


# --------------------------------------------------------------------- batching, gradients
def test_batched_leading_dimensions_and_jit():
    rng = np.random.default_rng(0)
    m0 = np.array(M0["acceleration_steering"]) + 0.1 * rng.standard_normal((2, 3, 4))
    mus = np.array(ACT["acceleration_steering"][0]) + 0.1 * rng.standard_normal((3, T, 2))
    Qs = np.tile(np.asarray(ACT["acceleration_steering"][1]), (T, 1, 1))
    m, P = propagate(m0, P0, mus, Qs, MODEL)
    assert m.shape == (2, 3, T, 4) and P.shape == (2, 3, T, 4, 4)
    m11, P11 = propagate(m0[1, 2], P0, mus[2], Qs, MODEL)
    np.testing.assert_allclose(np.asarray(m[1, 2]), np.asarray(m11), rtol=1e-13)
    np.testing.assert_allclose(np.asarray(P[1, 2]), np.asarray(P11), rtol=1e-13)
    jitted = jax.jit(lambda a: propagate(a, P0, mus, Qs, MODEL)[1])
    np.testing.assert_allclose(np.asarray(jitted(m0)), np.asarray(P), rtol=1e-13)


@pytest.mark.parametrize("moments", ["linear", "exact"])
def test_gradients_match_finite_differences(moments):
    mus0, Qs = _actions("acceleration_steering")
    m0 = jnp.asarray(M0["acceleration_steering"])

    def f(mus, m0, qscale):
        m, P = propagate(m0, P0, mus, Qs * qscale, MODEL, moments=moments)
        return jnp.sum(m[:, :2] ** 2) * 1e-3 + jnp.sum(jnp.log(jnp.linalg.det(P[:, :2, :2])))

    args = (jnp.asarray(mus0), m0, jnp.asarray(1.3))
    grads = jax.grad(f, argnums=(0, 1, 2))(*args)
    rng = np.random.default_rng(1)
    h = 1e-6
    for i, g in enumerate(grads):
        direction = rng.standard_normal(np.shape(args[i]))
        plus = list(args)
        minus = list(args)
        plus[i] = args[i] + h * direction
        minus[i] = args[i] - h * direction
        fd = (f(*plus) - f(*minus)) / (2 * h)
        np.testing.assert_allclose(float(jnp.sum(g * direction)), float(fd), rtol=1e-5)


# ------------------------------------------------------------------------ mixture output
def test_propagate_mixture_and_trajectory_nll():
    mus, Qs = _actions("acceleration_steering")
    modes = np.stack([mus, mus + [0.0, 0.1], mus - [0.0, 0.1]])  # (K=3, T, 2)
    covs = np.stack([Qs, Qs, 2 * Qs])
    w = np.array([0.5, 0.3, 0.2])
    gmm = propagate_mixture(
        M0["acceleration_steering"], P0, w, modes, covs, MODEL, min_variance=1e-3
    )
    assert isinstance(gmm, gaussian.GMM)
    assert gmm.means.shape == (T, 3, 2) and gmm.covariances.shape == (T, 3, 2, 2)
    m1, P1 = propagate(M0["acceleration_steering"], P0, modes[1], covs[1], MODEL)
    np.testing.assert_allclose(np.asarray(gmm.means[:, 1]), np.asarray(m1[:, :2]))
    np.testing.assert_allclose(
        np.asarray(gmm.covariances[:, 1]), np.asarray(P1[:, :2, :2]) + 1e-3 * np.eye(2)
    )
    y = np.asarray(gmm.means[:, 0]) + 0.3
    mu, S = np.asarray(gmm.means), np.asarray(gmm.covariances)
    logp = np.array(
        [[multivariate_normal(mu[t, k], S[t, k]).logpdf(y[t]) for k in range(3)] for t in range(T)]
    )  # (T, K)
    joint = -np.log(np.sum(w * np.exp(logp.sum(axis=0))))
    marginal = -np.sum(np.log(np.exp(logp) @ w))
    np.testing.assert_allclose(float(trajectory_nll(gmm, y)), joint, rtol=1e-10)
    np.testing.assert_allclose(float(trajectory_nll(gmm, y, joint=False)), marginal, rtol=1e-10)


# ------------------------------------------------------------------------------ bad input
def test_bad_model_parameters():
    with pytest.raises(ValueError, match="dt must be > 0"):
        BicycleModel(wheelbase=2.8, dt=0.0)
    with pytest.raises(ValueError, match="dt must be > 0"):
        BicycleModel(wheelbase=2.8, dt=-0.1)
    with pytest.raises(ValueError, match="wheelbase must be > 0"):
        BicycleModel(wheelbase=0.0, dt=0.1)
    with pytest.raises(ValueError, match="reference must be one of"):
        BicycleModel(reference="front")
    with pytest.raises(ValueError, match="rear_length must be <="):
        BicycleModel(wheelbase=2.0, reference="centre_of_mass", rear_length=3.0)


def test_bad_propagate_inputs():
    m0 = M0["acceleration_steering"]
    mus, Qs = _actions("acceleration_steering")
    not_psd = P0.copy()
    not_psd[0, 0] = -1.0
    with pytest.raises(ValueError, match="state_cov must be positive semi-definite"):
        propagate(m0, not_psd, mus, Qs, MODEL)
    asym = Qs.copy()
    asym[3, 0, 1] += 0.5
    with pytest.raises(ValueError, match="action_covs must be symmetric"):
        propagate(m0, P0, mus, asym, MODEL)
    with pytest.raises(ValueError, match=r"action_covs must have shape \(\.\.\., 12, 2, 2\)"):
        propagate(m0, P0, mus, Qs[:-1], MODEL)
    with pytest.raises(ValueError, match=r"state_mean must have shape \(\.\.\., 4\)"):
        propagate(m0[:3], P0, mus, Qs, MODEL)
    with pytest.raises(ValueError, match="do not broadcast"):
        propagate(np.tile(m0, (3, 1)), P0, np.tile(mus, (2, 1, 1)), Qs, MODEL)
    nan = mus.copy()
    nan[2, 1] = np.nan
    with pytest.raises(ValueError, match="action_means contains NaN"):
        propagate(m0, P0, nan, Qs, MODEL)
    with pytest.raises(ValueError, match="formulation must be one of"):
        propagate(m0, P0, mus, Qs, MODEL, "bicycle")
    with pytest.raises(TypeError, match="model must be a BicycleModel"):
        propagate(m0, P0, mus, Qs, 0.1)
    with pytest.raises(ValueError, match="n_samples must be >= 2"):
        propagate(m0, P0, mus, Qs, MODEL, "monte_carlo", n_samples=1)
    com = BicycleModel(reference="centre_of_mass")
    with pytest.raises(ValueError, match="needs reference='rear_axle'"):
        propagate(m0, P0, mus, Qs, com, moments="exact")
    with pytest.raises(ValueError, match="action_weights must be non-negative"):
        propagate_mixture(m0, P0, [0.5, -0.5], np.stack([mus, mus]), np.stack([Qs, Qs]), MODEL)
    gmm = propagate_mixture(m0, P0, [1.0], mus[None], Qs[None], MODEL)
    with pytest.raises(ValueError, match="observed must have shape"):
        trajectory_nll(gmm, np.zeros((T - 1, 2)))
