"""Two-class mixture of experts on the paper's simulation design: parameter recovery against
the true values, standard errors, classification and label switching."""

import numpy as np
import pytest

from mixtures import x64
from solvers.growth_moe import GrowthMixtureMoE, _core, datasets
from solvers.growth_moe.estimator import _canonical_order, _make_data, _permute, _to_jax


@pytest.fixture(scope="module")
def sim():
    return datasets.simulate(n=400, placement="full", random_state=11)


@pytest.fixture(scope="module")
def fit(sim):
    return GrowthMixtureMoE(2, n_init=2, n_initial=0, random_state=0).fit(sim.Y, sim.times, sim.X)


def _truth(sim):
    tp = sim.params
    return {
        "gating_intercept": tp["gating_intercept"],
        "gating_coef": tp["gating_coef"],
        "class_means": tp["class_means"],
        "expert_coef": tp["expert_coef"],
        "class_covariances": tp["class_covariances"],
        "residual_variance": tp["residual_variance"],
    }


def test_parameter_recovery_and_coverage(sim, fit):
    assert fit.converged_
    # knots (time units) and growth-factor means recovered
    np.testing.assert_allclose(fit.class_means_[:, 3], [3.5, 5.5], atol=0.35)
    # growth-factor means within 3.5 standard errors of the truth (eta0's SE is about 0.4,
    # the slopes' about 0.1: a class swapped or a slope lost fails)
    err = np.abs(fit.class_means_[:, :3] - sim.params["class_means"][:, :3])
    np.testing.assert_array_less(err, 3.5 * fit.stderr_["class_means"][:, :3])
    z = []
    for key, true in _truth(sim).items():
        est, se = getattr(fit, key + "_"), fit.stderr_[key]
        assert np.all(np.isfinite(se)) and np.all(se > 0)
        z.append(np.ravel((est - true) / se))
    z = np.concatenate(z)
    # 95 % Wald intervals: with ~60 parameters, about 3 miss; allow a generous margin
    assert np.mean(np.abs(z) < 1.96) >= 0.85
    assert np.max(np.abs(z)) < 4.5
    acc = np.mean(fit.predict(sim.Y, sim.times, sim.X) == sim.labels)
    assert acc > 0.8
    assert 0.0 < fit.entropy_ <= 1.0


def test_joint_form_parameter_count_and_criteria(fit):
    # gate 1 + 2; per class 3 means + 6 effects + 6 psi + theta + knot (both covariates sit
    # in the gate, so the joint form gives them no class-specific density)
    assert fit.density_columns_.size == 0
    assert fit.n_parameters_ == 3 + 2 * (3 + 6 + 6 + 1 + 1)
    assert np.isclose(fit.bic_, -2 * fit.loglik_ + np.log(400) * fit.n_parameters_)
    assert np.isclose(fit.aic_, -2 * fit.loglik_ + 2 * fit.n_parameters_)
    np.testing.assert_allclose(fit.weights_.sum(), 1.0)


def test_label_switching_is_canonicalised(sim, fit):
    K = 2
    p = {
        "gate_intercept": fit.gating_intercept_,
        "gate_coef": fit.gating_coef_,
        "alpha": fit.class_means_[:, :3],
        "beta": fit.expert_coef_,
        "psi": fit.class_covariances_,
        "theta": fit.residual_variance_,
        "curve": fit.curve_params_,
        "mux": fit.covariate_means_,
        "phi": fit.covariate_covariances_,
        "kappa": fit.time_varying_coef_,
    }
    # the label-switched solution: classes swapped, gate re-referenced to the new class 0
    sw = {k: v[::-1] for k, v in p.items() if v.shape[:1] == (K,)}
    sw["gate_intercept"], sw["gate_coef"] = -p["gate_intercept"], -p["gate_coef"]
    mask = ~np.isnan(sim.Y)
    with x64():
        data = _make_data(sim.Y, sim.times, mask, sim.X, sim.X, sim.X[:, :0], *fit.time_range_)
        ll = [
            float(np.sum(np.asarray(_core.posterior(_to_jax(q), data, "bilinear_spline")[1])))
            for q in (p, sw)
        ]
    np.testing.assert_allclose(ll[0], ll[1], rtol=1e-12)
    np.testing.assert_allclose(ll[0], fit.loglik_, rtol=1e-10)
    back = _permute(sw, _canonical_order(sw))
    for k in p:
        np.testing.assert_allclose(back[k], p[k], rtol=1e-12, atol=1e-12)
    # every start that reached the best log-likelihood was put in the same canonical order
    assert fit.n_best_starts_ >= 1
    assert fit.curve_params_[0, 0] < fit.curve_params_[1, 0]


def test_prediction_api(sim, fit):
    proba = fit.predict_proba(sim.Y[:20], sim.times[:20], sim.X[:20])
    assert proba.shape == (20, 2)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    traj = fit.predict_trajectories(np.arange(10.0), sim.X[:3])
    assert traj.shape == (3, 2, 10)
    # at t = 0 the trajectory equals eta0's mean shifted by the expert effects
    np.testing.assert_allclose(
        traj[:, :, 0],
        fit.class_means_[None, :, 0] + np.einsum("kp,np->nk", fit.expert_coef_[:, 0, :], sim.X[:3]),
    )
    with pytest.raises(ValueError, match="X has 1 features.*expecting 2"):
        fit.predict(sim.Y, sim.times, sim.X[:, :1])
