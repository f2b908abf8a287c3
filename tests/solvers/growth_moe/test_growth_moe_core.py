"""Single-class checks of the growth mixture-of-experts model against independent references:
statsmodels' MixedLM (linear curve, and the bilinear spline at fixed knots) and a dense
per-person normal log-density on the observed occasions only."""

import numpy as np
import pytest
import statsmodels.api as sm
from scipy import stats

from mixtures._config import x64
from solvers.growth_moe import GrowthMixtureMoE, _core
from solvers.growth_moe.estimator import _make_data, _to_jax


def _long(Y, times):
    obs = ~np.isnan(Y)
    rows, cols = np.nonzero(obs)
    return Y[obs], times[obs], rows


def _mixedlm(y, t_basis, groups):
    exog = t_basis
    model = sm.MixedLM(y, exog, groups=groups, exog_re=exog)
    return model.fit(reml=False, method=["lbfgs"], maxiter=2000)


@pytest.fixture(scope="module")
def linear_data():
    rng = np.random.default_rng(3)
    n, T = 120, 5
    times = np.arange(T, dtype=float) + rng.uniform(-0.3, 0.3, (n, T))
    eta = rng.multivariate_normal([10.0, 2.0], [[4.0, 0.5], [0.5, 0.5]], n)
    Y = eta[:, :1] + eta[:, 1:] * times + rng.normal(0, 1.0, (n, T))
    Y[rng.random((n, T)) < 0.15] = np.nan  # missing occasions: full information
    Y[:, 0] = np.where(np.isnan(Y).all(axis=1), 10.0, Y[:, 0])
    return Y, times


@pytest.fixture(scope="module")
def linear_fit(linear_data):
    Y, times = linear_data
    return GrowthMixtureMoE(1, curve="linear", n_init=1, n_initial=0, tol=1e-8, random_state=0).fit(
        Y, times
    )


def test_linear_single_class_matches_mixedlm(linear_data, linear_fit):
    Y, times = linear_data
    y, t, g = _long(Y, times)
    ref = _mixedlm(y, np.column_stack([np.ones_like(t), t]), g)
    m = linear_fit
    assert m.converged_
    np.testing.assert_allclose(m.class_means_[0], ref.fe_params, rtol=1e-4)
    np.testing.assert_allclose(
        m.class_covariances_[0], np.asarray(ref.cov_re), rtol=1e-4, atol=1e-5
    )
    np.testing.assert_allclose(m.residual_variance_[0], ref.scale, rtol=1e-4)
    np.testing.assert_allclose(m.loglik_, ref.llf, rtol=1e-8)
    # standard errors of the fixed effects from the observed information
    np.testing.assert_allclose(m.stderr_["class_means"][0], ref.bse_fe, rtol=2e-2)


def test_outputs_are_float64(linear_data, linear_fit):
    Y, times = linear_data
    m = linear_fit
    for a in (
        m.class_means_,
        m.class_covariances_,
        m.residual_variance_,
        m.weights_,
        m.stderr_["class_means"],
        m.vcov_,
    ):
        assert isinstance(a, np.ndarray) and a.dtype == np.float64
    assert m.predict_proba(Y, times).dtype == np.float64
    traj = m.predict_trajectories(np.linspace(0, 4, 7))
    assert traj.shape == (1, 7) and traj.dtype == np.float64
    np.testing.assert_allclose(
        traj[0], m.class_means_[0, 0] + m.class_means_[0, 1] * np.linspace(0, 4, 7)
    )


def test_summary_table(linear_fit):
    tab = linear_fit.summary()
    assert list(tab.columns) == ["estimate", "std_err", "z", "p_value", "ci_lower", "ci_upper"]
    assert len(tab) == linear_fit.n_parameters_ == 2 + 3 + 1
    np.testing.assert_allclose(tab["z"], tab["estimate"] / tab["std_err"])
    assert tab.loc["class0.mean.eta1", "p_value"] < 1e-6


def test_full_information_loglik_matches_dense_reference():
    rng = np.random.default_rng(0)
    n, T, K = 9, 6, 2
    times = np.sort(rng.uniform(0, 5, (n, T)), axis=1)
    Y = rng.normal(50, 5, (n, T))
    Y[rng.random((n, T)) < 0.3] = np.nan
    Y[:, 2] = rng.normal(50, 5, n)
    X = rng.normal(size=(n, 2))
    mask = ~np.isnan(Y)
    p = {
        "gate_intercept": np.array([0.3]),
        "gate_coef": np.array([[0.5, -0.2]]),
        "alpha": np.array([[50.0, 1.0, -1.0], [48.0, 2.0, 0.5]]),
        "beta": rng.normal(size=(K, 3, 2)),
        "psi": np.stack([np.diag([9.0, 1.0, 0.5]) + 0.2, np.diag([4.0, 2.0, 1.0]) + 0.1]),
        "theta": np.array([1.5, 0.7]),
        "curve": np.array([[2.0], [3.5]]),
        "mux": np.array([[0.1, 0.0], [-0.2, 0.3]]),
        "phi": np.stack([np.eye(2), np.array([[1.0, 0.3], [0.3, 2.0]])]),
        "kappa": np.array([[0.8, -1.5], [2.0, 0.3]]),  # time-varying effects, class-specific
    }
    Z = rng.normal(size=(n, T, 2))
    Z[~mask] = np.nan  # only the observed occasions' values may matter
    with x64():
        data = _make_data(Y, times, mask, X, X, X, 0.0, 5.0, Z=Z)
        ours = np.asarray(_core.posterior(_to_jax(p), data, "bilinear_spline")[1])
    ref = np.zeros(n)
    for i in range(n):
        o = mask[i]
        t = times[i, o]
        terms = []
        logits = np.array([0.0, p["gate_intercept"][0] + p["gate_coef"][0] @ X[i]])
        logw = logits - np.logaddexp.reduce(logits)
        for k in range(K):
            g = p["curve"][k, 0]
            lam = np.column_stack([np.ones_like(t), np.minimum(t, g), np.maximum(t - g, 0)])
            mean = lam @ (p["alpha"][k] + p["beta"][k] @ X[i]) + Z[i, o] @ p["kappa"][k]
            cov = lam @ p["psi"][k] @ lam.T + p["theta"][k] * np.eye(o.sum())
            terms.append(
                logw[k]
                + stats.multivariate_normal(mean, cov).logpdf(Y[i, o])
                + stats.multivariate_normal(p["mux"][k], p["phi"][k]).logpdf(X[i])
            )
        ref[i] = np.logaddexp.reduce(terms)
    np.testing.assert_allclose(ours, ref, rtol=1e-10)


def test_bilinear_loglik_at_least_best_fixed_knot_profile():
    rng = np.random.default_rng(7)
    n, T, knot = 150, 7, 2.6
    times = np.arange(T, dtype=float) + rng.uniform(-0.25, 0.25, (n, T))
    times[:, 0] = 0.0
    eta = rng.multivariate_normal([20.0, 3.0, 0.5], np.diag([4.0, 0.4, 0.3]), n)
    Y = (
        eta[:, :1]
        + eta[:, 1:2] * np.minimum(times, knot)
        + eta[:, 2:] * np.maximum(times - knot, 0)
        + rng.normal(0, 0.8, (n, T))
    )
    m = GrowthMixtureMoE(
        1, curve="bilinear_spline", n_init=1, n_initial=0, tol=1e-8, random_state=0
    ).fit(Y, times)
    y, t, g = _long(Y, times)
    profile = []
    for k in (2.4, 2.8):  # fixed knots bracketing the true one
        basis = np.column_stack([np.ones_like(t), np.minimum(t, k), np.maximum(t - k, 0)])
        profile.append(_mixedlm(y, basis, g).llf)
    assert m.loglik_ >= max(profile) - 1e-6
    assert abs(m.curve_params_[0, 0] - knot) < 3 * m.stderr_["curve_params"][0, 0] + 0.05


def test_compare_models_and_screening_on_one_class_data(linear_data, linear_fit):
    from solvers.growth_moe import compare_models, screen_covariates

    Y, times = linear_data
    rng = np.random.default_rng(0)
    obs = ~np.isnan(Y)
    slope = np.array(
        [
            np.polyfit(times[i, obs[i]], Y[i, obs[i]], 1)[0] if obs[i].sum() > 1 else 2.0
            for i in range(len(Y))
        ]
    )
    X = np.column_stack(
        [rng.normal(size=len(Y)), slope + 0.1 * rng.normal(size=len(Y)), rng.normal(size=len(Y))]
    )
    # same shapes as ``linear_fit``: the compiled likelihood is reused
    tab = compare_models(
        Y,
        times,
        X,
        n_classes=(1,),
        curve="linear",
        placements=("none",),
        n_init=1,
        n_initial=0,
        tol=1e-8,
        random_state=0,
    )
    assert list(tab.columns) == [
        "n_classes",
        "placement",
        "loglik",
        "n_parameters",
        "aic",
        "bic",
        "sabic",
        "entropy",
        "n_best_starts",
        "converged",
        "vlmr_p",
        "lmr_p",
        "best_bic",
    ]
    np.testing.assert_allclose(tab.loglik[0], linear_fit.loglik_, rtol=1e-9)
    rank = screen_covariates(
        Y, times, X, feature_names=["noise1", "slope", "noise2"], n_estimators=50, random_state=0
    )
    assert rank.feature[0] == "slope"
    assert rank.importance[0] > 0.2 > abs(rank.importance[2])
