import numpy as np
import pytest
from scipy import stats

from mixtures.student_t import mvt_logpdf, t_mixture_log_prob

pytestmark = pytest.mark.usefixtures("x64_context")


@pytest.mark.parametrize("df", [1.5, 4.0, 30.0])
def test_mvt_logpdf_matches_scipy(df):
    rng = np.random.default_rng(0)
    A = rng.normal(size=(3, 3))
    shape = A @ A.T + np.eye(3)
    loc = rng.normal(size=3)
    X = rng.normal(size=(20, 3)) * 4
    ref = stats.multivariate_t(loc, shape, df=df).logpdf(X)
    np.testing.assert_allclose(mvt_logpdf(X, loc, shape, df), ref, rtol=1e-11)


def test_t_mixture_matches_scipy_sum():
    rng = np.random.default_rng(1)
    K, d = 3, 2
    w = rng.dirichlet(np.ones(K))
    locs = rng.normal(size=(K, d)) * 2
    shapes = np.stack([np.eye(d) * s for s in (0.5, 1.0, 2.0)])
    dfs = np.array([2.5, 5.0, 10.0])
    X = rng.normal(size=(30, d)) * 3
    ref = np.log(sum(w[k] * stats.multivariate_t(locs[k], shapes[k], df=dfs[k]).pdf(X)
                     for k in range(K)))
    np.testing.assert_allclose(t_mixture_log_prob(np.log(w), locs, shapes, dfs, X), ref,
                               rtol=1e-11)
