"""Time-varying covariates in the experts (``y_ij = Lambda_ij eta_i + kappa_k^T z_ij + e_ij``):
one class against statsmodels' MixedLM (ML) with the covariate as a fixed effect, the routing
of within-person-varying expert columns by ``fit_frame``, the unit contract for ``Z`` and the
within-person start value. The two-class likelihood with class-specific effects is checked
against a dense SciPy density in test_growth_moe_core and test_growth_moe_lapack_free."""

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

from solvers.growth_moe import GrowthMixtureMoE
from solvers.growth_moe._starts import within_effect

KAPPA = (1.5, -0.8)


@pytest.fixture(scope="module")
def frame():
    rng = np.random.default_rng(11)
    n, T = 90, 5
    times = np.arange(T, dtype=float) + rng.uniform(-0.3, 0.3, (n, T))
    eta = rng.multivariate_normal([10.0, 2.0], [[4.0, 0.5], [0.5, 0.5]], n)
    # the first covariate is correlated with the random intercept (a between-person part),
    # as time-varying covariates usually are
    z1 = 0.5 * (eta[:, :1] - 10.0) + rng.normal(0.0, 1.0, (n, T))
    z2 = rng.normal(3.0, 2.0, (n, T))
    Y = eta[:, :1] + eta[:, 1:] * times + KAPPA[0] * z1 + KAPPA[1] * z2
    Y = Y + rng.normal(0, 1.0, (n, T))
    keep = rng.random((n, T)) > 0.15
    keep[:, 0] = True
    i, j = np.nonzero(keep)
    x = rng.normal(size=n)  # a baseline expert covariate
    Y = Y + 0.7 * x[:, None] - 0.3 * x[:, None] * times
    miss = np.where(keep, 1.0, np.nan)
    wide = {
        "Y": Y * miss,
        "times": times * miss,
        "X": x[:, None],
        "Z": np.stack([z1, z2], -1) * miss[..., None],
    }
    df = pd.DataFrame(
        {
            "id": i,
            "t": times[i, j],
            "y": Y[i, j],
            "z1": z1[i, j],
            "z2": z2[i, j],
            "x": x[i],
        }
    )
    return df, wide


@pytest.fixture(scope="module")
def fit(frame):
    frame, _ = frame
    m = GrowthMixtureMoE(
        1, curve="linear", covariate_density="conditional", n_init=1, n_initial=0, tol=1e-8
    )
    return m.fit_frame(frame, id="id", time="t", y="y", experts=["z1", "x", "z2"])


def test_one_class_matches_mixedlm(frame, fit):
    frame, _ = frame
    t, x = frame["t"], frame["x"]
    exog = np.column_stack([np.ones(len(frame)), t, x, x * t, frame["z1"], frame["z2"]])
    ref = sm.MixedLM(frame["y"], exog, groups=frame["id"], exog_re=exog[:, :2]).fit(
        reml=False, method=["lbfgs"], maxiter=2000
    )
    m = fit
    assert m.converged_
    # the columns that vary within persons are routed to Z, the baseline one to X
    assert list(m.time_varying_names_) == ["z1", "z2"]
    assert list(m.feature_names_in_) == ["x"] and list(m.expert_columns_) == [0]
    np.testing.assert_allclose(m.class_means_[0], ref.fe_params[:2], rtol=1e-4)
    np.testing.assert_allclose(m.expert_coef_[0, :, 0], ref.fe_params[2:4], rtol=1e-4)
    np.testing.assert_allclose(m.time_varying_coef_[0], ref.fe_params[4:], rtol=1e-4)
    np.testing.assert_allclose(m.class_covariances_[0], np.asarray(ref.cov_re), rtol=1e-4)
    np.testing.assert_allclose(m.residual_variance_[0], ref.scale, rtol=1e-4)
    np.testing.assert_allclose(m.loglik_, ref.llf, rtol=1e-8)
    se = m.to_frame()["std_err"]
    np.testing.assert_allclose([se["class0.y~z1"], se["class0.y~z2"]], ref.bse_fe[4:], rtol=2e-2)
    assert "class0.eta1~x" in m.param_names_


def test_wide_input_and_units_of_z(frame, fit):
    """fit(Y, times, Z=...) gives the fit_frame model; Z in other units (z1 x 100, z2 + 50)
    divides its effect by 100, moves only the intercept and leaves the log-likelihood."""
    m0 = fit
    Y, times, X, Z = (frame[1][k] for k in ("Y", "times", "X", "Z"))
    m1 = GrowthMixtureMoE(**m0.get_params())
    m1.fit(Y, times, X, Z=Z * np.array([100.0, 1.0]) + np.array([0.0, 50.0]))
    np.testing.assert_allclose(m1.loglik_, m0.loglik_, rtol=1e-10)
    np.testing.assert_allclose(
        m1.time_varying_coef_, m0.time_varying_coef_ / np.array([100.0, 1.0]), rtol=1e-5
    )
    shift = -50.0 * m0.time_varying_coef_[0, 1]
    np.testing.assert_allclose(m1.class_means_[0, 0], m0.class_means_[0, 0] + shift, rtol=1e-5)
    np.testing.assert_allclose(m1.class_means_[0, 1], m0.class_means_[0, 1], rtol=1e-5)
    assert m1.param_names_[-2:] == ["class0.y~z0", "class0.y~z1"]
    # predictions need the covariates they were fitted with
    with pytest.raises(ValueError, match="Z must hold the 2"):
        m1.score(Y, times, X)


def test_prediction_from_frames_and_arrays(frame, fit):
    """score() with the wide arrays and Z reproduces the fitted log-likelihood;
    predict_proba_frame accepts the rows in any order; a varying gating column is rejected."""
    df, wide = frame
    m = fit
    n = wide["Y"].shape[0]
    score = m.score(wide["Y"], wide["times"], wide["X"], wide["Z"])
    np.testing.assert_allclose(n * score, m.loglik_, rtol=1e-10)
    proba = m.predict_proba_frame(df.sample(frac=1.0, random_state=1))
    assert proba.shape == (n, 1) and np.allclose(proba, 1.0)
    with pytest.raises(ValueError, match="gating covariates must be baseline"):
        GrowthMixtureMoE(2, curve="linear").fit_frame(df, id="id", time="t", y="y", gating=["z1"])


def test_within_person_start_is_unbiased_where_pooled_ols_is_not(frame):
    """The start value residualises on each person's own curve, so a covariate correlated
    with the random intercept does not bias it (pooled least squares is biased)."""
    _, wide = frame
    mask = ~np.isnan(wide["Y"])
    times = np.where(mask, wide["times"], 0.0)
    Z = np.where(mask[..., None], wide["Z"], 0.0)
    Y0 = np.where(mask, wide["Y"] - KAPPA[1] * Z[..., 1], 0.0)
    Z0 = Z[..., :1]
    k = within_effect(Y0, Z0, mask, times, np.zeros(1), "linear")
    X = np.column_stack([np.ones(mask.sum()), times[mask], Z0[mask][:, 0]])
    pooled = np.linalg.lstsq(X, Y0[mask], rcond=None)[0][2]
    assert abs(k[0] - KAPPA[0]) < 0.1 < abs(pooled - KAPPA[0])
