"""Tests of mixtures.GaussianMixture against scikit-learn's GaussianMixture.

scikit-learn's estimator checks run in tests/test_contract.py (tests/mixtures/contract_case.py).
"""

import math
import warnings

import numpy as np
import pytest
from sklearn.mixture import GaussianMixture as SkGaussianMixture

from mixtures import ConvergenceWarning, GaussianMixture
from mixtures import estimators as E
from mixtures import gaussian as G
from mixtures.base import DivergenceError, MixturesEstimator

TYPES = ("full", "tied", "diag", "spherical")


@pytest.fixture(scope="module")
def X():
    rng = np.random.default_rng(0)
    return np.concatenate(
        [
            rng.normal(size=(120, 3)) + [3.0, 0.0, 1.0],
            rng.normal(size=(90, 3)) * 0.5 - 2.0,
            rng.normal(size=(90, 3)) * [1.5, 0.3, 1.0],
        ]
    )


def _sk_start(X, covariance_type):
    """Initial parameters: scikit-learn's one-iteration fit from random responsibilities."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        sk0 = SkGaussianMixture(
            3, covariance_type=covariance_type, max_iter=1, init_params="random", random_state=1
        ).fit(X)
    return dict(weights_init=sk0.weights_, means_init=sk0.means_, precisions_init=sk0.precisions_)


@pytest.mark.parametrize("covariance_type", TYPES)
def test_same_start_same_em_as_sklearn(X, covariance_type):
    init = _sk_start(X, covariance_type)
    kw = dict(covariance_type=covariance_type, tol=1e-6, max_iter=300, **init)
    ours = GaussianMixture(3, **kw).fit(X)
    # our reg_covar is relative to the mean feature variance; scikit-learn's is absolute
    ref = SkGaussianMixture(3, reg_covar=ours.reg_covar * X.var(axis=0).mean(), **kw).fit(X)
    np.testing.assert_allclose(ours.lower_bound_, ref.lower_bound_, rtol=1e-8)
    assert ours.n_iter_ == ref.n_iter_ and ours.converged_ and ref.converged_
    for name in ("weights_", "means_", "covariances_", "precisions_cholesky_", "precisions_"):
        np.testing.assert_allclose(
            getattr(ours, name), getattr(ref, name), rtol=1e-6, atol=1e-9, err_msg=name
        )
    np.testing.assert_allclose(ours.score_samples(X), ref.score_samples(X), rtol=1e-10)
    np.testing.assert_allclose(ours.predict_proba(X), ref.predict_proba(X), atol=1e-9)
    np.testing.assert_array_equal(ours.predict(X), ref.predict(X))
    np.testing.assert_allclose(ours.bic(X), ref.bic(X), rtol=1e-10)
    np.testing.assert_allclose(ours.aic(X), ref.aic(X), rtol=1e-10)


def test_multistart_as_good_as_sklearn(X):
    ours = GaussianMixture(3, n_init=4, init_params="kmeans", random_state=0).fit(X)
    ref = SkGaussianMixture(3, n_init=4, random_state=0).fit(X)
    assert ours.lower_bound_ >= ref.lower_bound_ - 1e-4
    assert ours.converged_
    np.testing.assert_allclose(np.sort(ours.weights_), np.sort(ref.weights_), atol=1e-2)


@pytest.mark.parametrize("init_params", ["k-means++", "random", "random_from_data"])
def test_other_initialisations_reach_the_mle(X, init_params):
    ref = SkGaussianMixture(3, n_init=4, random_state=0, tol=1e-6).fit(X)
    ours = GaussianMixture(
        3, init_params=init_params, n_init=4, random_state=0, max_iter=500, tol=1e-6
    ).fit(X)
    np.testing.assert_allclose(ours.lower_bound_, ref.lower_bound_, rtol=1e-6)


def test_outputs_are_float64(X):
    gm = GaussianMixture(3, random_state=0).fit(X.astype(np.float32))
    for name in ("weights_", "means_", "covariances_", "precisions_cholesky_", "precisions_"):
        assert getattr(gm, name).dtype == np.float64, name
    assert gm.score_samples(X).dtype == np.float64
    assert gm.predict_proba(X).dtype == np.float64
    assert gm.sample(5)[0].dtype == np.float64
    assert isinstance(gm.lower_bound_, float)


def test_same_seed_same_result(X):
    a = GaussianMixture(3, n_init=4, init_params="random", random_state=7).fit(X)
    b = GaussianMixture(3, n_init=4, init_params="random", random_state=7).fit(X)
    c = GaussianMixture(3, n_init=4, init_params="random", random_state=8).fit(X)
    np.testing.assert_array_equal(a.means_, b.means_)
    assert a.lower_bound_ == b.lower_bound_
    np.testing.assert_array_equal(a.sample(10)[0], b.sample(10)[0])
    assert not np.array_equal(a.sample(10)[0], c.sample(10)[0])
    assert a.lower_bound_ != c.lower_bound_


def test_convergence_warning_when_max_iter_too_small(X):
    with pytest.warns(ConvergenceWarning, match="did not converge"):
        gm = GaussianMixture(3, max_iter=1, random_state=0).fit(X)
    assert not gm.converged_ and gm.n_iter_ == 1


def test_sample_moments_match_mixture_moments(X):
    gm = GaussianMixture(3, random_state=0).fit(X)
    S, labels = gm.sample(20000)
    gmm = G.GMM(np.log(gm.weights_), gm.means_, gm.covariances_, "full")
    mean, cov = (np.asarray(a) for a in G.moments(gmm))
    se = np.sqrt(np.diag(cov) / len(S))
    assert (np.abs(S.mean(axis=0) - mean) < 5 * se).all()
    np.testing.assert_allclose(np.cov(S.T), cov, atol=0.1 * np.abs(cov).max())
    np.testing.assert_allclose(np.bincount(labels, minlength=3) / len(S), gm.weights_, atol=0.02)


def test_fit_predict_matches_predict(X):
    gm = GaussianMixture(3, random_state=0)
    labels = gm.fit_predict(X)
    np.testing.assert_array_equal(labels, gm.predict(X))


# ----------------------------------------------------------------------- bad input
def test_nan_in_X():
    X = np.random.default_rng(0).normal(size=(20, 2))
    X[3, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        GaussianMixture(2).fit(X)


def test_inf_in_X():
    X = np.random.default_rng(0).normal(size=(20, 2))
    X[3, 1] = np.inf
    with pytest.raises(ValueError, match="infinit"):
        GaussianMixture(2).fit(X)


@pytest.mark.parametrize("shape", [(20,), (4, 5, 2)])
def test_wrong_dimensionality(shape):
    with pytest.raises(ValueError, match="Expected 2D array|dim <= 2 is required"):
        GaussianMixture(2).fit(np.zeros(shape))


def test_predict_with_wrong_number_of_features(X):
    gm = GaussianMixture(3, random_state=0).fit(X)
    with pytest.raises(ValueError, match="X has 2 features, but GaussianMixture is expecting 3"):
        gm.predict(X[:, :2])


def test_fewer_samples_than_components():
    X = np.random.default_rng(0).normal(size=(4, 2))
    with pytest.raises(ValueError, match="n_samples=4, fewer than n_components=5"):
        GaussianMixture(5).fit(X)


def test_unknown_covariance_type(X):
    with pytest.raises(ValueError, match="covariance_type must be one of"):
        GaussianMixture(2, covariance_type="banana").fit(X)


@pytest.mark.parametrize("reg_covar", [0.0, -1e-3])
def test_non_positive_reg_covar(X, reg_covar):
    with pytest.raises(ValueError, match="reg_covar must be > 0"):
        GaussianMixture(2, reg_covar=reg_covar).fit(X)


def test_bad_initial_parameters(X):
    with pytest.raises(ValueError, match="weights_init must sum to 1"):
        GaussianMixture(2, weights_init=[0.5, 0.6]).fit(X)
    with pytest.raises(ValueError, match="means_init must have shape"):
        GaussianMixture(2, means_init=np.zeros((3, 3))).fit(X)
    with pytest.raises(ValueError, match="positive definite"):
        GaussianMixture(2, precisions_init=-np.stack([np.eye(3)] * 2)).fit(X)


def test_unknown_init_params(X):
    with pytest.raises(ValueError, match="init_params must be one of"):
        GaussianMixture(2, init_params="kmedoids").fit(X)


# ------------------------------------------------------------------ estimator contract
def test_derives_from_the_shared_base():
    assert isinstance(GaussianMixture(), MixturesEstimator)


def test_reg_covar_is_relative_to_the_mean_feature_variance(X):
    """One component: the MLE covariance plus reg_covar x mean per-feature variance."""
    for scale in (1e-3, 1.0, 1e3):
        Xs = X * scale
        gm = GaussianMixture(1, reg_covar=0.1).fit(Xs)
        ridge = 0.1 * Xs.var(axis=0).mean()
        expected = np.cov(Xs.T, bias=True) + ridge * np.eye(3)
        np.testing.assert_allclose(gm.covariances_[0], expected, rtol=1e-10)


@pytest.mark.parametrize("covariance_type", TYPES)
@pytest.mark.parametrize("c", [1e-4, 1e4])
def test_units_do_not_change_the_fit(X, covariance_type, c):
    """X -> cX: means x c, covariances x c^2, same labels, log-densities shifted by -d log c.

    Regression: reg_covar was absolute (units of X**2), so X x 1e-4 drowned every covariance
    in the ridge and X x 1e4 fitted a different model.
    """
    kw = dict(covariance_type=covariance_type, n_init=2, tol=1e-8, max_iter=500)
    ref = GaussianMixture(3, random_state=0, **kw).fit(X)
    scaled = GaussianMixture(3, random_state=0, **kw).fit(X * c)
    np.testing.assert_allclose(scaled.weights_, ref.weights_, rtol=1e-7)
    np.testing.assert_allclose(scaled.means_, ref.means_ * c, rtol=1e-7, atol=1e-9 * c)
    np.testing.assert_allclose(scaled.covariances_, ref.covariances_ * c**2, rtol=1e-7)
    np.testing.assert_allclose(
        scaled.precisions_cholesky_, ref.precisions_cholesky_ / c, rtol=1e-7, atol=1e-9 / c
    )
    shift = -X.shape[1] * math.log(c)
    np.testing.assert_allclose(scaled.score_samples(X * c), ref.score_samples(X) + shift, rtol=1e-9)
    np.testing.assert_allclose(scaled.lower_bound_, ref.lower_bound_ + shift, rtol=1e-9)
    np.testing.assert_array_equal(scaled.predict(X * c), ref.predict(X))


def test_divergence_raises_divergence_error():
    """Regression: every start singular raised a plain ValueError."""
    with pytest.raises(DivergenceError, match="singular"):
        GaussianMixture(1, reg_covar=1e-320).fit(np.ones((10, 2)))
    assert issubclass(DivergenceError, ValueError)


@pytest.mark.parametrize("verbose", [1, "yes", None])
def test_verbose_must_be_a_bool(X, verbose):
    """Regression: verbose was an int >= 0 (and "yes" raised nothing useful)."""
    with pytest.raises(TypeError, match="verbose"):
        GaussianMixture(2, verbose=verbose).fit(X)


def test_verbose_fit_is_the_same_fit(X):
    quiet = GaussianMixture(2, random_state=0).fit(X)
    loud = GaussianMixture(2, random_state=0, verbose=True).fit(X)
    np.testing.assert_array_equal(loud.means_, quiet.means_)


def test_bad_input_is_a_type_error_naming_x(X):
    import scipy.sparse

    gm = GaussianMixture(2, random_state=0).fit(X)
    for bad in (X + 1j, scipy.sparse.csr_matrix(X), np.full(X.shape, "a", dtype=object), "X"):
        with pytest.raises(TypeError, match="X"):
            GaussianMixture(2).fit(bad)
        with pytest.raises(TypeError, match="X"):
            gm.predict(bad)


def test_feature_names_in(X):
    pd = pytest.importorskip("pandas")
    df = pd.DataFrame(X, columns=["a", "b", "c"])
    gm = GaussianMixture(2, random_state=0).fit(df)
    np.testing.assert_array_equal(gm.feature_names_in_, ["a", "b", "c"])
    assert gm.n_features_in_ == 3
    with pytest.raises(ValueError, match="feature names"):
        gm.predict(df.rename(columns={"a": "z"}))
    assert not hasattr(GaussianMixture(2, random_state=0).fit(X), "feature_names_in_")


def test_grid_search_picks_the_number_of_components_as_sklearn(X):
    """score is higher-is-better, so GridSearchCV picks the model scikit-learn's picks."""
    from sklearn.model_selection import GridSearchCV, KFold

    grid = {"n_components": [1, 2, 3, 4]}
    cv = KFold(3, shuffle=True, random_state=0)  # X is sorted by cluster
    ours = GridSearchCV(GaussianMixture(random_state=0), grid, cv=cv).fit(X)
    ref = GridSearchCV(SkGaussianMixture(random_state=0), grid, cv=cv).fit(X)
    assert ours.best_params_ == ref.best_params_ == {"n_components": 3}
    np.testing.assert_allclose(
        ours.cv_results_["mean_test_score"], ref.cv_results_["mean_test_score"], atol=0.02
    )


# ------------------------------------------------------------------ padded components
@pytest.mark.parametrize("covariance_type", TYPES)
@pytest.mark.parametrize("init_params", ["kmeans", "random"])
def test_padded_components_and_starts_change_nothing(X, monkeypatch, covariance_type, init_params):
    """Padding the component and start axes (masked, weight zero) gives the unpadded fit."""
    kw = dict(
        covariance_type=covariance_type, init_params=init_params, n_init=3, random_state=0, tol=1e-6
    )
    for K in (1, 3):
        padded = GaussianMixture(K, **kw).fit(X)
        with monkeypatch.context() as m:
            m.setattr(E, "_component_bucket", lambda k: k)
            m.setattr(E, "_start_bucket", lambda s: s)
            plain = GaussianMixture(K, **kw).fit(X)
        assert padded.n_iter_ == plain.n_iter_
        for name in ("weights_", "means_", "covariances_", "precisions_"):
            np.testing.assert_allclose(
                getattr(padded, name), getattr(plain, name), rtol=1e-9, atol=1e-12, err_msg=name
            )
        np.testing.assert_allclose(padded.lower_bound_, plain.lower_bound_, rtol=1e-12)


def test_units_property(X):
    """Any positive scale c (hypothesis, a few examples): the same fit in other units."""
    from hypothesis import given, settings
    from hypothesis import strategies as st

    ref = GaussianMixture(3, covariance_type="diag", random_state=0, tol=1e-8).fit(X)

    @settings(max_examples=5, deadline=None)
    @given(st.floats(-6.0, 6.0))
    def check(log10_c):
        c = 10.0**log10_c
        scaled = GaussianMixture(3, covariance_type="diag", random_state=0, tol=1e-8).fit(X * c)
        np.testing.assert_allclose(scaled.means_, ref.means_ * c, rtol=1e-7, atol=1e-9 * c)
        np.testing.assert_allclose(scaled.covariances_, ref.covariances_ * c**2, rtol=1e-7)
        np.testing.assert_allclose(
            scaled.score(X * c), ref.score(X) - 3 * math.log(c), rtol=1e-9, atol=1e-9
        )
        np.testing.assert_array_equal(scaled.predict(X * c), ref.predict(X))

    check()
