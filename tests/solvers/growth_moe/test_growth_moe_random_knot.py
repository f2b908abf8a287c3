"""Random knots in the bilinear spline against a brute-force integration of the exact model.

The exact model: person ``i`` has growth factors ``u_i = (v_i, s1_i, s2_i)`` (value at the knot
and the slopes before and after it) and knot ``g + d_i``, jointly normal, and
``y_ij = v_i + s1_i min(t_ij - g - d_i, 0) + s2_i max(t_ij - g - d_i, 0) + e_ij``. Given
``d_i`` the outcome is normal (the curve is linear in ``u_i``), so its exact likelihood is a
one-dimensional integral over ``d_i``, done here by the trapezoid rule on a fine grid. The
estimator's model is the first-order Taylor expansion of that curve in ``d_i`` (Liu & Perera),
with the growth factors in the basis ``(1, min(t, g), max(t - g, 0))`` (so ``eta0 = v - g s1``).
"""

import numpy as np
import pytest
from scipy import stats

from mixtures._config import x64
from solvers.growth_moe import GrowthMixtureMoE, _core
from solvers.growth_moe._fitting import _make_data, _to_jax

KNOT = 4.5
# growth factors (eta0, eta1, eta2) and the knot's deviation; slope variances small against
# the slopes' means, the setting the linearisation is meant for
MEAN = np.array([100.0, -5.0, -2.6])
PSI = np.array(
    [[25.0, 0.5, 0.5, 0.2], [0.5, 0.25, 0.05, 0.0], [0.5, 0.05, 0.25, 0.0], [0.2, 0.0, 0.0, 1.0]]
)
THETA = 1.0


def _draw(rng, times, psi):
    """Outcomes (n, T) drawn from the exact random-knot model at ``times`` (n, T)."""
    A = np.eye(4)
    A[0, 1] = KNOT  # (eta0, eta1, eta2, d) -> (v, s1, s2, d)
    mean = np.append(A[:3, :3] @ MEAN, 0.0)
    u = rng.multivariate_normal(mean, A @ psi @ A.T, len(times))
    dt = times - KNOT - u[:, 3:]
    Y = u[:, :1] + u[:, 1:2] * np.minimum(dt, 0) + u[:, 2:3] * np.maximum(dt, 0)
    return Y + rng.normal(0.0, np.sqrt(THETA), times.shape)


@pytest.fixture(scope="module")
def tiny():
    """Six persons, seven occasions each at whole-number times (so every occasion lies at
    least 0.5 from the knot), one with two missing."""
    rng = np.random.default_rng(5)
    times = np.array([np.sort(rng.choice(np.arange(10.0), 7, replace=False)) for _ in range(6)])
    Y = _draw(rng, times, _psi(0.3))
    Y[1, 5:] = np.nan
    return Y, times


def _psi(knot_sd):
    """Random-effect covariance with the knot's standard deviation ``knot_sd`` (the knot's
    correlations with the growth factors kept)."""
    p = PSI.copy()
    p[3, :3] = p[:3, 3] = PSI[3, :3] * knot_sd
    p[3, 3] = knot_sd**2
    return p


def _ours(Y, times, psi):
    mask = ~np.isnan(Y)
    p = {
        "gate_intercept": np.zeros(0),
        "gate_coef": np.zeros((0, 0)),
        "alpha": MEAN[None],
        "beta": np.zeros((1, 3, 0)),
        "psi": psi[None],
        "theta": np.array([THETA]),
        "curve": np.array([[KNOT]]),
        "mux": np.zeros((1, 0)),
        "phi": np.zeros((1, 0, 0)),
        "kappa": np.zeros((1, 0)),
    }
    e = np.zeros((len(Y), 0))
    with x64():
        data = _make_data(Y, times, mask, e, e, e, 0.0, 10.0)
        # one class: the per-person log-likelihood is the class density (a compiled program)
        return np.asarray(_core.posterior(_to_jax(p), data, "bilinear_spline")[1])


def _exact(Y, times, psi, n_grid=4001):
    """Exact log-likelihood per person: the growth factors integrated in closed form given
    the knot's deviation d, then d by the trapezoid rule over +-9 standard deviations."""
    # (eta0, eta1, eta2, d) -> (v, s1, s2, d): v = eta0 + g eta1 is the value at the knot
    A = np.eye(4)
    A[0, 1] = KNOT
    mean, cov = A[:3, :3] @ MEAN, A @ psi @ A.T
    sd = np.sqrt(cov[3, 3])
    d = np.linspace(-9 * sd, 9 * sd, n_grid)
    reg = cov[:3, 3] / cov[3, 3]
    cond = cov[:3, :3] - np.outer(cov[:3, 3], cov[:3, 3]) / cov[3, 3]
    out = []
    for y, t in zip(Y, times):
        o = ~np.isnan(y)
        y, t = y[o], t[o]
        dt = t[None, :] - KNOT - d[:, None]  # (grid, T)
        lam = np.stack([np.ones_like(dt), np.minimum(dt, 0), np.maximum(dt, 0)], -1)
        cov_y = lam @ cond @ lam.transpose(0, 2, 1) + THETA * np.eye(t.size)
        L = np.linalg.cholesky(cov_y)
        r = y - lam @ mean - (lam @ reg) * d[:, None]
        z = np.linalg.solve(L, r[..., None])[..., 0]
        logdet = 2 * np.log(np.diagonal(L, axis1=1, axis2=2)).sum(-1)
        logp = -0.5 * (t.size * np.log(2 * np.pi) + logdet + (z * z).sum(-1))
        logp += stats.norm(0.0, sd).logpdf(d)
        top = logp.max()
        out.append(top + np.log(np.trapezoid(np.exp(logp - top), d)))
    return np.array(out)


def _fixed(Y, times):
    """The fixed-knot model (the knot's variance and covariances removed)."""
    return _ours(Y, times, _psi(0.0))


def test_brute_force_quadrature_is_converged(tiny):
    Y, times = tiny
    np.testing.assert_allclose(
        _exact(Y, times, _psi(0.3), 2001), _exact(Y, times, _psi(0.3), 8001), atol=1e-9
    )


def test_linearisation_is_exact_when_the_curve_is_linear_in_the_knot(tiny):
    """With the slopes fixed within the class (no slope variance) the exact curve is linear
    in the knot's deviation as long as no occasion is crossed: at a knot standard deviation
    of 0.1 every occasion is 5 standard deviations away, so the linearised likelihood must
    equal the exact integral up to that crossing probability (about 1e-7)."""
    Y, times = tiny
    psi = _psi(0.1)
    psi[1:3, :] = psi[:, 1:3] = 0.0
    psi[1, 1] = psi[2, 2] = 1e-10  # slopes fixed (a positive definite limit)
    np.testing.assert_allclose(_ours(Y, times, psi), _exact(Y, times, psi), atol=1e-5)


def test_linearised_likelihood_error_is_second_order(tiny):
    """With random slopes the linearisation drops the product of the slope's and the knot's
    deviations, a term of variance var(slope) s^2 for knot standard deviation s: the error of
    the log-likelihood must shrink at second order in s (a log-log slope near 2, first order
    being 1), and vanish with s (the fixed-knot model)."""
    Y, times = tiny
    s = np.array([0.2, 0.1, 0.05])
    err = [abs(_ours(Y, times, _psi(v)).sum() - _exact(Y, times, _psi(v)).sum()) for v in s]
    order = np.polyfit(np.log(s), np.log(err), 1)[0]
    assert order > 1.5
    np.testing.assert_allclose(_ours(Y, times, _psi(0.0)), _fixed(Y, times), rtol=1e-12)


def test_random_knot_fit_recovers_the_knot_spread():
    """Data drawn from the exact random-knot model (Liu & Perera's design, 10 waves with
    individual times) with a knot standard deviation of 0.3 occasion spacings: the linearised
    fit recovers the mean knot and the knot's variance (at twice that spread the
    linearisation underestimates it: see the method's documented limits)."""
    rng = np.random.default_rng(3)
    n, T, knot_sd = 1000, 10, 0.3
    times = np.arange(T) + rng.uniform(-0.25, 0.25, (n, T))
    Y = _draw(rng, times, _psi(knot_sd))
    m = GrowthMixtureMoE(1, random_knot=True, n_init=1, n_initial=0, random_state=0)
    m.fit(Y, times)
    assert m.converged_
    se = m.stderr_["class_covariances"][0, 3, 3]
    assert abs(m.curve_params_[0, 0] - KNOT) < 4 * m.stderr_["curve_params"][0, 0]
    assert abs(m.class_covariances_[0, 3, 3] - knot_sd**2) < 3 * se
    assert m.class_covariances_[0, 3, 3] > 3 * se  # the spread is detected
    assert "class0.psi.knot.knot" in m.param_names_
    with pytest.raises(ValueError, match="random_knot=True needs"):
        GrowthMixtureMoE(1, curve="linear", random_knot=True).fit(Y, times)
