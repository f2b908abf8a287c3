"""GaussianMixture compiles once per shape bucket (issue 21): a refit at a new sample count,
another n_components or n_init inside their buckets, another init_params, tol or max_iter,
and prediction compile nothing."""

import numpy as np
import pytest

from mixtures import GaussianMixture
from tests.contract import count_compilations


@pytest.fixture(scope="module")
def X():
    rng = np.random.default_rng(1)
    centres = np.array([[3.0, 0.0], [-2.0, -2.0], [0.0, 3.0]])
    return centres[rng.integers(0, 3, 120)] + rng.normal(size=(120, 2))


@pytest.mark.parametrize("covariance_type", ["full", "spherical"])
def test_refits_inside_the_buckets_compile_nothing(X, covariance_type):
    kw = dict(covariance_type=covariance_type, random_state=0)
    GaussianMixture(2, n_init=3, **kw).fit(X[:100])  # warm-up: 128 rows, 4 slots, 4 starts
    with count_compilations() as c:
        GaussianMixture(2, n_init=3, **kw).fit(X[:110])  # new n, same bucket
        GaussianMixture(3, n_init=3, **kw).fit(X[:110])  # another K, same component bucket
        GaussianMixture(4, n_init=4, **kw).fit(X[:120])
        GaussianMixture(1, n_init=3, tol=1e-6, max_iter=7, **kw).fit(X[:99])
        for init_params in ("k-means++", "random", "random_from_data"):
            gm = GaussianMixture(3, n_init=3, init_params=init_params, **kw).fit(X)
        gm.score(X[:17])
        gm.predict_proba(X[:50])
    assert c.count == 0


def test_grid_search_over_n_components_compiles_once_per_size_bucket(X):
    from sklearn.model_selection import GridSearchCV

    GaussianMixture(2, random_state=0).fit(X[:96])  # warms the 128-row program
    with count_compilations() as c:
        # 5 folds of 120 points: train on 96, refit the best on 120 (both 128 rows)
        GridSearchCV(GaussianMixture(random_state=0), {"n_components": [1, 2, 3, 4]},
                     cv=5).fit(X)
    assert c.count == 0


def test_verbose_fits_share_their_program(X):
    GaussianMixture(2, verbose=True, random_state=0).fit(X)
    with count_compilations() as c:
        GaussianMixture(3, verbose=True, random_state=1).fit(X[:100])
    assert c.count == 0
