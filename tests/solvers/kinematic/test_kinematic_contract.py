"""KinematicForecaster against the estimator contract: score sign, model selection, units,
input checks, shape buckets and divergence (issue 20 and 21 regressions)."""

import copy
import warnings

import numpy as np
import pytest
from scipy.special import logsumexp
from scipy.stats import multivariate_normal

from mixtures import ConvergenceWarning, x64
from mixtures.base import DivergenceError, padded_length
from solvers.kinematic import KinematicForecaster, _forecaster, datasets
from tests.contract import count_compilations

H, N_PAST = 3, 4
KW = dict(n_modes=2, horizon=H, hidden=4, batch_size=None, learning_rate=1e-2)
# the physics baseline's noise levels are fitted iteratively (L-BFGS-B): rescaled inputs
# reach the same optimum up to the optimiser's tolerance, not to rounding
RTOL = 1e-4


def _data(n, seed=0):
    return datasets.synthetic_traffic(n, horizon=H, n_past=N_PAST, noise=1.0, random_state=seed)


def _fit(data, **kw):
    est = KinematicForecaster(**{**KW, "max_iter": 5, "random_state": 0, **kw})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return est.fit(data.past, data.future)


@pytest.fixture(scope="module")
def data():
    return _data(24)


@pytest.fixture(scope="module")
def fitted(data):
    return _fit(data, max_iter=60)


def _reference_loglik(gmm, future):
    """log sum_k w_k prod_t N(y_t | mu_tk, S_tk) per track, from the predicted mixture."""
    n, T, K = gmm.log_weights.shape
    out = np.empty(n)
    for i in range(n):
        terms = [
            gmm.log_weights[i, 0, k]
            + sum(
                multivariate_normal(gmm.means[i, t, k], gmm.covariances[i, t, k]).logpdf(
                    future[i, t]
                )
                for t in range(T)
            )
            for k in range(K)
        ]
        out[i] = logsumexp(terms)
    return out


def test_score_is_the_mean_log_likelihood_higher_is_better(fitted, data):
    test = _data(10, seed=5)
    ref = _reference_loglik(fitted.predict(test.past), test.future)
    np.testing.assert_allclose(fitted.score_samples(test.past, test.future), ref, rtol=1e-9)
    assert fitted.score(test.past, test.future) == pytest.approx(ref.mean(), rel=1e-10)
    assert fitted.nll(test.past, test.future) == -fitted.score(test.past, test.future)
    # training raised the log-likelihood of the training tracks: higher is better
    untrained = _fit(data, learning_rate=1e-12)
    assert fitted.score(data.past, data.future) > untrained.score(data.past, data.future) + 0.5


def test_grid_search_and_cross_validation_pick_the_better_model():
    from sklearn.model_selection import GridSearchCV, KFold, cross_val_score

    data = _data(40, seed=1)
    cv = KFold(2, shuffle=True, random_state=0)
    # untrained (learning_rate 1e-12): the kinematic prior is its physics baseline, the
    # free head predicts no motion, far worse on every held-out fold
    kw = {**KW, "learning_rate": 1e-12, "max_iter": 5, "random_state": 0}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        search = GridSearchCV(
            KinematicForecaster(**kw), {"prior": ["none", "kinematic"]}, cv=cv
        ).fit(data.past, data.future)
        s_good = cross_val_score(KinematicForecaster(**kw), data.past, data.future, cv=cv)
    fold0, fold1 = (search.cv_results_[f"split{i}_test_score"] for i in range(2))
    assert np.all(np.isfinite(s_good)) and search.best_params_ == {"prior": "kinematic"}
    assert fold0[1] > fold0[0] and fold1[1] > fold1[0]  # the kinematic prior, both folds
    np.testing.assert_allclose(search.cv_results_["mean_test_score"][1], s_good.mean())


def test_n_features_in_counts_the_coordinates_of_a_past_track(fitted, data):
    assert fitted.n_features_in_ == 2 * N_PAST == 2 * fitted.n_past_ * fitted.n_channels_ / 2
    with pytest.raises(ValueError, match="past must have 4 steps"):
        fitted.predict(data.past[:, 1:])


@pytest.mark.parametrize("method", ["fit", "score", "predict"])
def test_complex_input_is_a_type_error_naming_the_argument(fitted, data, method):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no ComplexWarning path
        for name, args in (
            ("past", (data.past + 1j, data.future)),
            ("future", (data.past, data.future + 1j)),
        ):
            if method == "predict" and name == "future":
                continue
            call = getattr(KinematicForecaster(**KW) if method == "fit" else fitted, method)
            with pytest.raises(TypeError, match=name):
                call(*args[: 1 if method == "predict" else 2])


@pytest.mark.parametrize("c", [3.28084, 0.15, 1000.0])
def test_positions_in_other_units_give_the_same_model(data, c):
    """Feet instead of metres, or walking-speed tracks (a car's tracks shrunk by 0.15): the
    same model, predictions scaled by ``c`` and log-likelihoods shifted by -2 H log c."""
    ref = _fit(data)
    scaled = _fit(type(data)(past=data.past * c, future=data.future * c))
    a, b = ref.predict(data.past), scaled.predict(data.past * c)
    np.testing.assert_allclose(b.log_weights, a.log_weights, rtol=RTOL, atol=1e-10)
    np.testing.assert_allclose(b.means, c * a.means, rtol=RTOL, atol=RTOL * c)
    np.testing.assert_allclose(
        b.covariances,
        c**2 * a.covariances,
        rtol=RTOL,
        atol=RTOL * c**2 * np.abs(a.covariances).max(),
    )
    np.testing.assert_allclose(
        scaled.score_samples(data.past * c, data.future * c),
        ref.score_samples(data.past, data.future) - 2 * H * np.log(c),
        rtol=RTOL,
    )
    # an explicit wheelbase is a length in the positions' unit
    ref_l = _fit(data, wheelbase=2.8)
    scaled_l = _fit(type(data)(past=data.past * c, future=data.future * c), wheelbase=2.8 * c)
    np.testing.assert_allclose(
        scaled_l.predict(data.past * c).means,
        c * ref_l.predict(data.past).means,
        rtol=RTOL,
        atol=RTOL * c,
    )
    assert ref_l.wheelbase_ == 2.8 and scaled_l.wheelbase_ == 2.8 * c


def test_time_step_does_not_change_the_model(data):
    a, b = _fit(data, dt=0.25), _fit(data, dt=250.0)  # seconds or milliseconds
    np.testing.assert_array_equal(a.predict(data.past).means, b.predict(data.past).means)
    assert b.speed_scale_ == pytest.approx(a.speed_scale_ / 1000)


def test_refit_at_a_new_size_max_iter_or_batch_size_compiles_nothing(data):
    big = _data(31, seed=2)
    _fit(big, max_iter=3)  # warm up the bucket of 32 tracks
    _fit(big, max_iter=3, early_stopping=True, validation_fraction=0.2)
    _fit(big, max_iter=3, batch_size=5)
    with count_compilations() as c:
        est = _fit(type(data)(past=big.past[:20], future=big.future[:20]), max_iter=7)
        _fit(type(data)(past=big.past[:27], future=big.future[:27]), max_iter=61)
        _fit(
            type(data)(past=big.past[:25], future=big.future[:25]),
            max_iter=12,
            early_stopping=True,
            validation_fraction=0.2,
        )
        _fit(big, max_iter=9, batch_size=7)  # same batch bucket (8 rows)
        est.predict(big.past[:9])
        est.score(big.past[3:16], big.future[3:16])
    assert c.count == 0
    assert padded_length(31) == padded_length(20) == 32


@pytest.mark.parametrize("batch_size", [0, 8])
def test_padded_agents_change_nothing(fitted, data, batch_size):
    """A training chunk on the agents padded to their bucket (zero-weight rows) equals the
    same chunk on the unpadded agents."""
    import jax
    import jax.numpy as jnp
    import optax

    from solvers.kinematic import _tracks
    from solvers.kinematic.estimator import _padded

    n = 20
    past, future = data.past[:n], data.future[:n]
    with x64():
        origin, R, feats, m0, P0 = fitted._inputs(past)
    local = _tracks.to_agent(future, origin, R, fitted.length_scale_)
    # the free head: the padding logic lives in train_chunk, and this head compiles faster
    cfg = _forecaster.Config(2, H, "none", "acceleration_steering", 4)
    with x64():
        params0 = _forecaster.init_params(jax.random.PRNGKey(0), feats.shape[1], cfg, jnp.float64)
        runs = []
        for arrays, mask in (
            ([feats, m0, P0, local], np.ones(n)),
            _padded([feats, m0, P0, local], n),
        ):
            args = [jnp.asarray(a) for a in (*arrays, mask)]
            out = _forecaster.train_chunk(
                params0,
                optax.adam(1e-2).init(params0),
                jax.random.PRNGKey(1),
                *args,
                jnp.asarray(fitted._phys),
                17,
                1e-2,
                3.0,
                float(batch_size or 1),
                cfg=cfg,
                chunk=20,
                batch_bucket=batch_size,
            )
            runs.append(jax.tree_util.tree_map(np.asarray, (out[0], out[2])))
    assert len(runs[1][0][0]["W"]) == len(feats[0])
    for x, y in zip(jax.tree_util.tree_leaves(runs[0]), jax.tree_util.tree_leaves(runs[1])):
        np.testing.assert_allclose(y, x, rtol=1e-11, atol=1e-13)
    assert np.all(runs[0][1][17:] == 0) and np.all(runs[0][1][:17] > -np.inf)


def test_non_finite_loss_raises_the_divergence_error(data, monkeypatch):
    real = _forecaster.train_chunk

    def poisoned(*args, **kwargs):
        params, state, values = real(*args, **kwargs)
        return params, state, values * np.nan

    monkeypatch.setattr(_forecaster, "train_chunk", poisoned)
    with pytest.raises(DivergenceError, match="diverged"):
        _fit(data)
    with pytest.raises(FloatingPointError):  # old handlers still catch it
        _fit(data)


def test_converged_only_when_the_criterion_holds(data):
    with pytest.warns(ConvergenceWarning, match="did not converge in 60"):
        est = KinematicForecaster(**KW, max_iter=60, tol=0.0, random_state=0).fit(
            data.past, data.future
        )
    assert not est.converged_ and est.n_iter_ == 60 == len(est.loss_curve_)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        est = KinematicForecaster(**KW, max_iter=500, tol=1e6, random_state=0).fit(
            data.past, data.future
        )
    assert est.converged_ and est.n_iter_ == 100  # two windows of 50 steps


def test_grouped_split_and_defensive_baseline_component(data):
    """Early stopping holds out whole tracks; the physics baseline that scores best on the
    held-out track (each fitted here independently on the training rows), refitted on every
    training window, is the last mode of the forecast, with the posterior-mean weight of the
    two-component mixture given that track (computed here by quadrature); the forecast's
    log-likelihood is that of the predicted mixture and never more than log(g + 2) below the
    baseline's, g = 1 held-out track."""
    from scipy.integrate import quad

    from solvers.kinematic import (
        ConstantVelocity,
        ConstantVelocityKalman,
        KinematicPropagation,
    )

    groups = np.repeat([3, 5], [18, 6])
    est = KinematicForecaster(
        **{
            **KW,
            "max_iter": 100,
            "learning_rate": 3e-2,
            "early_stopping": True,
            "validation_fraction": 0.5,
            "random_state": 0,
        }
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est.fit(data.past, data.future, groups)
    val = est.validation_indices_
    held = groups[val]
    assert len(np.unique(held)) == 1 and np.sum(groups == held[0]) == len(held)
    train = np.setdiff1d(np.arange(len(groups)), val)
    classes = (ConstantVelocity, ConstantVelocityKalman, KinematicPropagation)
    fits = {
        cls.__name__: cls(dt=est.dt).fit(data.past[train], data.future[train]) for cls in classes
    }
    scores = {k: f.score(data.past[val], data.future[val]) for k, f in fits.items()}
    np.testing.assert_allclose(
        [est.baseline_validation_scores_[k] for k in scores], list(scores.values()), rtol=1e-8
    )
    best = max(scores, key=scores.get)
    assert type(est.defensive_).__name__ == best
    # the weight: posterior mean under a uniform prior, the track's mean log-likelihood
    network = copy.copy(est)
    network.defensive_ = None
    ll_net = network.score_samples(data.past[val], data.future[val])
    ll_base = fits[best].score_samples(data.past[val], data.future[val])
    top = max(ll_net.max(), ll_base.max())

    def lik(w):
        return np.exp(np.mean(np.log(w * np.exp(ll_base - top) + (1 - w) * np.exp(ll_net - top))))

    w_ref = quad(lambda w: w * lik(w), 0, 1)[0] / quad(lik, 0, 1)[0]
    w = est.defensive_weight_
    assert w == pytest.approx(w_ref, rel=1e-5)
    assert 1 / 3 <= w <= 2 / 3
    # the forecast: network modes weighted 1 - w, then the refitted baseline weighted w
    ref = dict(zip(scores, classes))[best](dt=est.dt).fit(data.past, data.future)
    gmm, rgmm, ngmm = est.predict(data.past), ref.predict(data.past), network.predict(data.past)
    K = KW["n_modes"]
    assert gmm.means.shape[2] == K + 1
    np.testing.assert_allclose(gmm.means[:, :, K], rgmm.means[:, :, 0], rtol=1e-9)
    np.testing.assert_allclose(gmm.covariances[:, :, K], rgmm.covariances[:, :, 0], rtol=1e-8)
    np.testing.assert_allclose(gmm.means[:, :, :K], ngmm.means, rtol=1e-12)
    np.testing.assert_allclose(gmm.log_weights[..., K], np.log(w), rtol=1e-12)
    np.testing.assert_allclose(gmm.log_weights[..., :K], np.log1p(-w) + ngmm.log_weights)
    ll = est.score_samples(data.past, data.future)
    np.testing.assert_allclose(ll, _reference_loglik(gmm, data.future), rtol=1e-9)
    assert np.all(ll >= ref.score_samples(data.past, data.future) + np.log(w) - 1e-9)
    assert est.min_ade_fde(data.past, data.future, k=K + 1)[0] <= min(
        ref.min_ade_fde(data.past, data.future)[0], network.min_ade_fde(data.past, data.future)[0]
    )
