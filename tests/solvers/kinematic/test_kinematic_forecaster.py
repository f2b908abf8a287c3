"""KinematicForecaster and the synthetic traffic generator."""

import warnings

import numpy as np
import pytest

from mixtures import ConvergenceWarning, x64
from solvers.kinematic import BicycleModel, KinematicForecaster, datasets

T = 6


@pytest.fixture(scope="module")
def traffic():
    return datasets.synthetic_traffic(120, horizon=T, noise=1.0, random_state=0)


@pytest.fixture(scope="module")
def fitted(traffic):
    est = KinematicForecaster(n_modes=2, horizon=T, hidden=16, max_iter=100, batch_size=None,
                              learning_rate=1e-2, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est.fit(traffic.past, traffic.future)
    return est


def test_synthetic_traffic_follows_the_bicycle_model():
    data = datasets.synthetic_traffic(50, horizon=8, noise=0.5, random_state=3)
    assert data.past.shape == (50, 8, 2) and data.future.shape == (50, 8, 2)
    assert data.states.shape == (50, 16, 4) and data.actions.shape == (50, 15, 2)
    model = BicycleModel(wheelbase=data.wheelbase, dt=data.dt)
    with x64():
        nxt = np.asarray(model.step(data.states[:, :-1], data.actions))
    moving = data.states[:, 1:, 3] > 0  # the generator stops vehicles at zero speed
    np.testing.assert_allclose(nxt[moving], data.states[:, 1:][moving], atol=1e-10)
    np.testing.assert_array_equal(data.states[:, 8:, :2], data.future)
    again = datasets.synthetic_traffic(50, horizon=8, noise=0.5, random_state=3)
    np.testing.assert_array_equal(again.past, data.past)
    # the manoeuvre is chosen at the present: left turns end left of right turns
    turn, ahead = data.future[:, -1] - data.past[:, -1], data.past[:, -1] - data.past[:, -2]
    lat = turn[:, 0] * ahead[:, 1] - turn[:, 1] * ahead[:, 0]
    assert np.mean(lat[data.manoeuvre == 0]) < 0 < np.mean(lat[data.manoeuvre == 2])


def test_forecaster_outputs(fitted, traffic):
    gmm = fitted.predict(traffic.past)
    assert gmm.means.shape == (120, T, 2, 2) and gmm.covariances.shape == (120, T, 2, 2, 2)
    for arr in (gmm.means, gmm.covariances, gmm.log_weights):
        assert isinstance(arr, np.ndarray) and arr.dtype == np.float64
    np.testing.assert_allclose(np.exp(gmm.log_weights).sum(-1), 1.0)
    assert np.all(np.linalg.eigvalsh(gmm.covariances) > 0)
    assert all(isinstance(p["W"], np.ndarray) for p in fitted.params_)
    assert fitted.loss_curve_.dtype == np.float64 and fitted.n_iter_ == 100
    # training improved the fit, and the metrics are consistent with the means
    assert fitted.loss_curve_[-10:].mean() < fitted.loss_curve_[:10].mean() - 1.0
    ade, fde = fitted.min_ade_fde(traffic.past, traffic.future, k=2)
    ade1, _ = fitted.min_ade_fde(traffic.past, traffic.future, k=1)
    assert 0 < ade <= ade1 and fde > 0
    assert np.isfinite(fitted.score(traffic.past, traffic.future))


def test_kinematic_prior_beats_free_head_on_little_data(fitted, traffic):
    """With 120 training tracks the kinematic prior generalises better than a free head."""
    test = datasets.synthetic_traffic(120, horizon=T, noise=1.0, random_state=1)  # same shape
    free = KinematicForecaster(n_modes=2, horizon=T, hidden=16, max_iter=100, batch_size=None,
                               learning_rate=1e-2, prior="none", random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        free.fit(traffic.past, traffic.future)
    assert fitted.score(test.past, test.future) < free.score(test.past, test.future)


def test_forecaster_bad_input(fitted, traffic):
    est = KinematicForecaster(horizon=T, max_iter=1)
    with pytest.raises(ValueError, match="past must be a 3-D array"):
        est.fit(traffic.past[0], traffic.future)
    with pytest.raises(ValueError, match="future must have shape"):
        est.fit(traffic.past, traffic.future[:, :-1])
    with pytest.raises(ValueError, match="must have the same length"):
        est.fit(traffic.past, traffic.future[:-1])
    bad = traffic.past.copy()
    bad[0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="past contains NaN"):
        est.fit(bad, traffic.future)
    with pytest.raises(ValueError, match="prior must be one of"):
        KinematicForecaster(prior="physics", horizon=T).fit(traffic.past, traffic.future)
    with pytest.raises(ValueError, match="dt must be > 0"):
        KinematicForecaster(dt=0.0, horizon=T).fit(traffic.past, traffic.future)
    with pytest.raises(ValueError, match="past must have 8 steps"):
        fitted.predict(traffic.past[:, 1:])
    with pytest.raises(ValueError, match="k must be <= 2"):
        fitted.min_ade_fde(traffic.past, traffic.future, k=3)
    with pytest.raises(ValueError, match="noise must be >= 0"):
        datasets.synthetic_traffic(10, noise=-1.0)


def test_convergence_warning(traffic):
    # same settings as the free head above (shares its compiled training chunk)
    est = KinematicForecaster(n_modes=2, horizon=T, hidden=16, max_iter=50, batch_size=None,
                              learning_rate=1e-2, prior="none", tol=0.0, random_state=0)
    with pytest.warns(ConvergenceWarning, match="did not converge"):
        est.fit(traffic.past, traffic.future)
    assert est.converged_ is False
