"""Bad input gets clear errors (no model is fitted, so these are cheap)."""

import numpy as np
import pytest

from solvers.growth_moe import GrowthMixtureMoE, compare_models, datasets, screen_covariates


@pytest.fixture(scope="module")
def small():
    d = datasets.simulate(n=30, n_waves=5, random_state=0)
    return d.Y, d.times, d.X


def test_times_not_increasing(small):
    Y, times, X = small
    bad = times.copy()
    bad[4, 2] = bad[4, 1]
    with pytest.raises(ValueError, match="times must be strictly increasing.*person 4"):
        GrowthMixtureMoE(2).fit(Y, bad, X)


def test_all_missing_rows(small):
    Y, times, X = small
    bad = Y.copy()
    bad[[3, 7]] = np.nan
    with pytest.raises(ValueError, match=r"all-missing rows \(persons \[3, 7\]\)"):
        GrowthMixtureMoE(2).fit(bad, times, X)


def test_n_classes_exceeds_n(small):
    Y, times, X = small
    with pytest.raises(ValueError, match="n_classes must not exceed the number of persons"):
        GrowthMixtureMoE(31).fit(Y, times, X)
    with pytest.raises(TypeError, match="n_classes must be an int"):
        GrowthMixtureMoE(2.5).fit(Y, times, X)
    with pytest.raises(ValueError, match="max_starts_factor"):
        GrowthMixtureMoE(2, max_starts_factor=0).fit(Y, times, X)


@pytest.mark.parametrize("value, word", [(np.nan, "NaN"), (np.inf, "infinite")])
def test_non_finite_covariates(small, value, word):
    Y, times, X = small
    bad = X.copy()
    bad[0, 1] = value
    with pytest.raises(ValueError, match=f"X contains {word}"):
        GrowthMixtureMoE(2).fit(Y, times, bad)


def test_other_bad_input(small):
    Y, times, X = small
    with pytest.raises(ValueError, match="curve must be one of"):
        GrowthMixtureMoE(2, curve="cubic").fit(Y, times, X)
    with pytest.raises(ValueError, match="times must have shape"):
        GrowthMixtureMoE(2).fit(Y, times[:, :3], X)
    bad = times.copy()
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match="times must be finite wherever Y is observed"):
        GrowthMixtureMoE(2).fit(Y, bad, X)
    with pytest.raises(ValueError, match="Y and X must have the same length"):
        GrowthMixtureMoE(2).fit(Y, times, X[:-1])
    with pytest.raises(ValueError, match="gating_covariates indexes columns of X"):
        GrowthMixtureMoE(2, gating_covariates=[5]).fit(Y, times, X)
    with pytest.raises(ValueError, match="covariate_density must be one of"):
        GrowthMixtureMoE(2, covariate_density="both").fit(Y, times, X)
    with pytest.raises(AttributeError, match="not fitted"):
        GrowthMixtureMoE(2).predict(Y, times, X)
    with pytest.raises(ValueError, match="placements must be drawn from"):
        compare_models(Y, times, X, placements=("gate",))
    with pytest.raises(ValueError, match="at least one candidate covariate"):
        screen_covariates(Y, times, X[:, :0])


def test_simulation_design_true_parameters():
    tp = datasets.true_parameters("gating")
    assert np.all(tp["expert_coef"] == 0) and np.any(tp["gating_coef"] != 0)
    np.testing.assert_allclose(tp["class_means"][:, 3], [3.5, 5.5])
    d = datasets.simulate(n=2000, n_waves=10, placement="none", missing_rate=0.2, random_state=1)
    assert d.Y.shape == (2000, 10) and not np.isnan(d.Y[:, 0]).any()
    assert 0.15 < np.isnan(d.Y).mean() < 0.2
    assert abs(d.labels.mean() - 0.5) < 0.05
    assert np.all(np.diff(d.times, axis=1) > 0)
