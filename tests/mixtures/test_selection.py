"""Parsimonious covariance types in GaussianMixture, hierarchical starts, BIC/ICL selection."""

import math

import numpy as np
import pytest
from sklearn.metrics import adjusted_rand_score

from mixtures import GaussianMixture, parsimonious, select_gaussian_mixture


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    A = np.array([[1.0, 0.6], [0.0, 0.5]])
    X = np.concatenate(
        [
            rng.normal(size=(60, 2)) @ A,
            rng.normal(size=(40, 2)) @ A * 2.0 + [6.0, 1.0],
            rng.normal(size=(50, 2)) @ A + [0.0, 5.0],
        ]
    )
    y = np.repeat([0, 1, 2], [60, 40, 50])
    return X, y


def test_aliases_fit_identically(data):
    X, _ = data
    a = GaussianMixture(3, covariance_type="full", init_params="hierarchical").fit(X)
    b = GaussianMixture(3, covariance_type="VVV", init_params="hierarchical").fit(X)
    np.testing.assert_array_equal(a.covariances_, b.covariances_)
    assert a.lower_bound_ == b.lower_bound_


def test_structured_fit_has_its_structure_and_bic(data):
    X, y = data
    g = GaussianMixture(
        3, covariance_type="VEE", init_params="hierarchical", tol=1e-8, max_iter=500
    ).fit(X)
    # common shape and orientation: the covariances are proportional to each other
    C = g.covariances_ / np.linalg.det(g.covariances_)[:, None, None] ** 0.5
    np.testing.assert_allclose(C, np.broadcast_to(C[0], C.shape), rtol=1e-6, atol=1e-9)
    assert adjusted_rand_score(y, g.predict(X)) > 0.9
    # BIC from the log-likelihood and mclust's parameter count (3 + 1 + 1 + 6 + 2)
    loglik = g.score(X) * len(X)
    assert g._n_parameters() == 13
    np.testing.assert_allclose(g.bic(X), -2 * loglik + 13 * math.log(len(X)))
    u = g.uncertainty(X)
    np.testing.assert_allclose(u, 1.0 - g.predict_proba(X).max(axis=1))
    assert u.min() >= 0.0 and u.max() <= 1.0 - 1.0 / 3


def test_selection_finds_the_components(data):
    X, y = data
    sel = select_gaussian_mixture(
        X, n_components=range(1, 6), covariance_types=["EEE", "VVV"], random_state=0
    )
    assert sel.best.n_components == 3
    assert adjusted_rand_score(y, sel.best.predict(X)) > 0.9
    t = sel.table
    assert len(t) == 10 and t["bic"].is_monotonic_increasing
    # ICL adds the classification entropy: never below BIC
    assert (t["icl"] >= t["bic"] - 1e-9).all()
    # the table's BIC is the fitted model's
    best = t.iloc[0]
    model = sel.models[int(best.n_components), best.covariance_type]
    np.testing.assert_allclose(best.bic, model.bic(X))
    assert best.n_parameters == parsimonious.n_parameters(best.covariance_type, 3, 2)
    wide = sel.pivot()
    assert list(wide.columns) == ["EEE", "VVV"] and list(wide.index) == [1, 2, 3, 4, 5]
    # the same fit as the estimator on its own
    single = GaussianMixture(
        int(best.n_components),
        covariance_type=best.covariance_type,
        init_params="hierarchical",
        tol=1e-4,
        max_iter=1000,
    ).fit(X)
    np.testing.assert_allclose(single.means_, model.means_, rtol=1e-6, atol=1e-8)
