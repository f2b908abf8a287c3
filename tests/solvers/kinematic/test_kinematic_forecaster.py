"""KinematicForecaster and the synthetic traffic generator."""

import copy
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
    est = KinematicForecaster(
        n_modes=2,
        horizon=T,
        hidden=16,
        max_iter=100,
        batch_size=None,
        learning_rate=1e-2,
        random_state=0,
    )
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
    # training improved the fit
    assert fitted.loss_curve_[-10:].mean() < fitted.loss_curve_[:10].mean() - 1.0
    # min_ade_fde against a direct computation: per agent the best of the k most probable
    # modes, errors of the mode means
    for k in (1, 2):
        ade, fde = fitted.min_ade_fde(traffic.past, traffic.future, k=k)
        best = np.argsort(-gmm.log_weights[:, 0], axis=1, kind="stable")[:, :k]
        ades, fdes = [], []
        for i in range(120):
            err = [np.linalg.norm(gmm.means[i, :, j] - traffic.future[i], axis=1) for j in best[i]]
            ades.append(min(e.mean() for e in err))
            fdes.append(min(e[-1] for e in err))
        np.testing.assert_allclose([ade, fde], [np.mean(ades), np.mean(fdes)], rtol=1e-12)


def test_forecaster_generalises_better_than_the_fitted_baselines(fitted):
    """On fresh intersection tracks the trained forecaster beats both physics baselines,
    fitted on the same 120 tracks, in NLL and minADE: the intersection's turns are what the
    network adds. A forecaster that only memorises its training tracks (e.g. inputs scaled
    so that rounding-level variations become unit-variance features, or action corrections
    in units too small for a turn) scores far worse on new tracks than on its own."""
    from solvers.kinematic import ConstantVelocity, KinematicPropagation

    train = datasets.synthetic_traffic(120, horizon=T, noise=1.0, random_state=0)
    test = datasets.synthetic_traffic(200, horizon=T, noise=1.0, random_state=1)
    nll = fitted.nll(test.past, test.future)
    ade = fitted.min_ade_fde(test.past, test.future)[0]
    for base in (ConstantVelocity().fit(train.past, train.future), fitted.baseline_):
        assert isinstance(base, ConstantVelocity | KinematicPropagation)
        assert nll < base.nll(test.past, test.future) - 2.0, type(base).__name__
        assert ade < 0.8 * base.min_ade_fde(test.past, test.future)[0], type(base).__name__
    # and it generalises: held-out NLL within a few nats of the training NLL
    assert nll < fitted.nll(train.past, train.future) + 3.0


def test_zero_corrections_reproduce_the_kinematic_baseline(fitted, traffic):
    """With the output layer zeroed every mode is the fitted KinematicPropagation baseline,
    computed independently through the public ``propagate``."""
    from solvers.kinematic.estimator import _zero_head

    est = copy.deepcopy(fitted)
    est.params_ = _zero_head(fitted.params_)
    gmm, ref = est.predict(traffic.past), est.baseline_.predict(traffic.past)
    for k in range(2):
        np.testing.assert_allclose(gmm.means[:, :, k], ref.means[:, :, 0], rtol=1e-9, atol=1e-9)
        np.testing.assert_allclose(
            gmm.covariances[:, :, k], ref.covariances[:, :, 0], rtol=1e-8, atol=1e-12
        )
    np.testing.assert_allclose(
        est.score_samples(traffic.past, traffic.future),
        est.baseline_.score_samples(traffic.past, traffic.future),
        rtol=1e-9,
    )


def test_forecaster_bad_input(fitted, traffic):
    est = KinematicForecaster(horizon=T, max_iter=1)
    with pytest.raises(ValueError, match="past must be a 3-D array"):
        est.fit(traffic.past[0], traffic.future)
    with pytest.raises(ValueError, match="future must have shape"):
        est.fit(traffic.past, traffic.future[:, :-1])
    with pytest.raises(ValueError, match="must have the same length"):
        est.fit(traffic.past, traffic.future[:-1])
    bad = traffic.past.copy()
    bad[0, -1] = np.nan
    with pytest.raises(ValueError, match="past contains NaN at the present"):
        est.fit(bad, traffic.future)
    bad[0, -1], bad[0, 2, 1] = 0.0, np.nan
    with pytest.raises(ValueError, match="x and y must be missing"):
        est.fit(bad, traffic.future)
    with pytest.raises(ValueError, match="groups must have shape"):
        est.fit(traffic.past, traffic.future, groups=np.arange(3))
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
    est = KinematicForecaster(
        n_modes=2,
        horizon=T,
        hidden=16,
        max_iter=50,
        batch_size=None,
        learning_rate=1e-2,
        prior="none",
        tol=0.0,
        random_state=0,
    )
    with pytest.warns(ConvergenceWarning, match="did not converge"):
        est.fit(traffic.past, traffic.future)
    assert est.converged_ is False


def test_early_stopping_keeps_the_best_validation_parameters(traffic):
    """The held-out tracks are a reproducible random subset; training sees only the others;
    the kept parameters are those after ``best_iter_`` steps and score
    ``best_validation_score_`` on the held-out tracks."""
    kw = dict(
        n_modes=2,
        horizon=T,
        hidden=16,
        batch_size=None,
        learning_rate=3e-2,
        tol=0.0,
        random_state=0,
        prior="none",
    )
    est = KinematicForecaster(
        max_iter=1000, early_stopping=True, validation_fraction=0.25, n_iter_no_change=1, **kw
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est.fit(traffic.past, traffic.future)
    val = est.validation_indices_
    assert val.shape == (30,) and len(np.unique(val)) == 30  # ceil(0.25 * 120)
    assert val.min() >= 0 and val.max() < 120 and not np.array_equal(val, np.arange(30))
    train = np.setdiff1d(np.arange(120), val)
    assert len(train) == 90
    # the validation curve (log-likelihood, higher is better): one check per 50 steps; the
    # kept step is its maximum
    scores = est.validation_scores_
    assert scores.shape == (est.n_iter_ // 50,)
    assert est.best_validation_score_ == scores.max()
    assert est.best_iter_ == 50 * (int(np.argmax(scores)) + 1)
    # with tol=0 and patience 1 it stopped at the first check that did not improve
    assert est.converged_ and est.best_iter_ == est.n_iter_ - 50 < est.n_iter_
    np.testing.assert_allclose(
        est.score(traffic.past[val], traffic.future[val]), est.best_validation_score_, rtol=1e-12
    )
    # same seed: same split; other seed: other split
    other = KinematicForecaster(**{**est.get_params(), "random_state": 1, "max_iter": 50})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        other.fit(traffic.past, traffic.future)
    assert not np.array_equal(other.validation_indices_, val)
    # the same training on the other 90 tracks alone, stopped at best_iter_, gives the same
    # parameters (full batch, same keys): training used exactly the non-held-out tracks
    plain = KinematicForecaster(max_iter=est.best_iter_, **kw)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        plain.fit(traffic.past[train], traffic.future[train])
    assert plain.validation_indices_ is None and plain.best_iter_ is None
    for a, b in zip(plain.params_, est.params_):
        np.testing.assert_allclose(a["W"], b["W"], rtol=1e-10, atol=1e-12)


def test_weight_penalty_shrinks_the_weights(fitted, traffic):
    strong = KinematicForecaster(**{**fitted.get_params(), "alpha": 1e3})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        strong.fit(traffic.past, traffic.future)

    def sq(est):
        return sum(float(np.sum(p["W"] ** 2)) for p in est.params_)

    assert sq(strong) < 0.5 * sq(fitted)
    assert np.isfinite(strong.score(traffic.past, traffic.future))


def test_regularisation_parameters_are_validated(traffic):
    params = KinematicForecaster().get_params()
    assert params["alpha"] == 0.0 and params["early_stopping"] is False
    assert params["validation_fraction"] == 0.1 and params["n_iter_no_change"] == 10
    cases = [
        (dict(validation_fraction=0.0), "validation_fraction must be > 0"),
        (dict(validation_fraction=1.0), "validation_fraction must be < 1"),
        (dict(n_iter_no_change=0), "n_iter_no_change must be >= 1"),
        (dict(alpha=-1.0), "alpha must be >= 0"),
    ]
    for kw, msg in cases:
        with pytest.raises(ValueError, match=msg):
            KinematicForecaster(horizon=T, max_iter=1, **kw).fit(traffic.past, traffic.future)
    with pytest.raises(TypeError, match="early_stopping must be a bool"):
        KinematicForecaster(horizon=T, max_iter=1, early_stopping="yes").fit(
            traffic.past, traffic.future
        )
    with pytest.raises(ValueError, match="leaves none for training"):
        KinematicForecaster(
            horizon=T, max_iter=1, early_stopping=True, validation_fraction=0.6
        ).fit(traffic.past[:2], traffic.future[:2])


def test_validation_split_and_score_do_not_depend_on_alpha(traffic):
    """Selecting ``alpha`` by ``best_validation_score_`` (as benchmarks/bench_kinematic.py
    does) compares every alpha on the same held-out tracks, and on their plain NLL (the
    penalty is not part of the validation score)."""
    kw = dict(
        n_modes=2,
        horizon=T,
        hidden=16,
        batch_size=None,
        learning_rate=3e-2,
        tol=0.0,
        max_iter=100,
        early_stopping=True,
        validation_fraction=0.25,
        random_state=3,
        prior="none",
    )
    fits = {}
    for alpha in (0.0, 100.0):
        est = KinematicForecaster(alpha=alpha, **kw)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            fits[alpha] = est.fit(traffic.past, traffic.future)
    val = fits[0.0].validation_indices_
    np.testing.assert_array_equal(fits[100.0].validation_indices_, val)
    for est in fits.values():
        np.testing.assert_allclose(
            est.score(traffic.past[val], traffic.future[val]),
            est.best_validation_score_,
            rtol=1e-12,
        )
    assert fits[0.0].best_validation_score_ != fits[100.0].best_validation_score_
