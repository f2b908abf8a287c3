"""SDPKMeans / ILASDP: scikit-learn compliance, recovery, comparisons and bad input."""

import warnings

import numpy as np
import pytest
from scipy.optimize import linear_sum_assignment
from sklearn.cluster import KMeans
from sklearn.metrics import confusion_matrix
from sklearn.utils.estimator_checks import parametrize_with_checks

from mixtures import ConvergenceWarning
from solvers.ila_sdp import ILASDP, SDPKMeans, datasets, estimator


def misclustering(y, labels):
    cm = confusion_matrix(y, labels)
    r, c = linear_sum_assignment(-cm)
    return 1.0 - cm[r, c].sum() / len(y)


@parametrize_with_checks(
    # the checks fit dozens of times: SDPs on a 20-point sketch keep them cheap
    [SDPKMeans(3, solver="admm", random_state=0, sketch_size=20),
     ILASDP(3, covariance_type="spherical", max_iter=3, solver="admm", random_state=0,
            sketch_size=20, n_init=2)],
    expected_failed_checks=lambda est: {},
)
def test_sklearn_compatible(estimator, check):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        check(estimator)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_exact_recovery_well_separated(seed):
    X, y = datasets.make_heterogeneous(n_samples=45, separation=8.0, random_state=seed)
    model = ILASDP(3, random_state=seed).fit(X)
    assert misclustering(y, model.labels_) == 0.0
    assert model.converged_
    # the relaxation is tight: the SDP solution is the partition's membership matrix
    assert model.relaxation_gap_ < 1e-3
    np.testing.assert_array_equal(model.predict(X), model.labels_)


def test_beats_kmeans_on_heterogeneous_clusters():
    X, y = datasets.make_heterogeneous(n_samples=60, separation=3.0, random_state=2)
    ila = ILASDP(3, random_state=0).fit(X)
    sdp = SDPKMeans(3, random_state=0).fit(X)
    km = KMeans(3, n_init=10, random_state=0).fit(X)
    e_ila = misclustering(y, ila.labels_)
    assert e_ila <= misclustering(y, km.labels_)
    assert e_ila <= misclustering(y, sdp.labels_)
    assert e_ila < 0.05


def test_cvxpy_and_admm_agree_on_labels():
    X, y = datasets.make_heterogeneous(n_samples=30, separation=5.0, random_state=0)
    a = ILASDP(3, covariance_type="diag", solver="admm", random_state=0).fit(X)
    b = ILASDP(3, covariance_type="diag", solver="cvxpy", random_state=0).fit(X)
    assert misclustering(a.labels_, b.labels_) == 0.0
    np.testing.assert_allclose(a.objective_, b.objective_, rtol=1e-3)


def test_sketch_and_lift_recovers():
    X, y = datasets.make_heterogeneous(n_samples=300, separation=8.0, random_state=3)
    model = ILASDP(3, sketch_size=45, random_state=0).fit(X)
    assert model.sample_indices_.shape == (45,)
    assert misclustering(y, model.labels_) == 0.0


def test_outputs_float64_and_shapes():
    X, _ = datasets.make_heterogeneous(n_samples=30, separation=6.0, random_state=0)
    for ctype, shape in [("full", (3, 2, 2)), ("diag", (3, 2)), ("spherical", (3,))]:
        m = ILASDP(3, covariance_type=ctype, random_state=0).fit(X)
        assert m.covariances_.shape == shape
        for attr in (m.covariances_, m.means_, m.weights_, m.membership_):
            assert isinstance(attr, np.ndarray) and attr.dtype == np.float64
    s = SDPKMeans(3, random_state=0).fit(X)
    assert s.membership_.dtype == np.float64 and s.cluster_centers_.dtype == np.float64


@pytest.mark.parametrize("Est", [SDPKMeans, ILASDP])
def test_bad_input(Est):
    X, _ = datasets.make_heterogeneous(n_samples=12, random_state=0)
    with pytest.raises(ValueError, match="n_clusters=13 must be <= n_samples=12"):
        Est(13).fit(X)
    Xn = X.copy()
    Xn[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        Est(2).fit(Xn)
    with pytest.raises(ValueError, match="n_samples=1"):
        Est(1).fit(X[:1])
    with pytest.raises(ValueError, match="solver must be one of"):
        Est(2, solver="mosek").fit(X)
    with pytest.raises(TypeError, match="n_clusters must be an int"):
        Est(2.5).fit(X)


def test_constant_feature_rejected():
    X, _ = datasets.make_heterogeneous(n_samples=12, random_state=0)
    X[:, 1] = 3.0
    with pytest.raises(ValueError, match=r"constant feature\(s\) at column\(s\) \[1\]"):
        ILASDP(2).fit(X)
    with pytest.raises(ValueError, match="covariance_type must be one of"):
        ILASDP(2, covariance_type="tied").fit(X)


def test_admm_stall_warns_with_status(monkeypatch):
    X, _ = datasets.make_heterogeneous(n_samples=15, random_state=0)
    monkeypatch.setattr(estimator, "ADMM_MAX_ITER", 3)
    with pytest.warns(ConvergenceWarning, match="status: max_iter reached"):
        SDPKMeans(3, solver="admm", random_state=0).fit(X)


def _classification_nll(X, labels, n_clusters, reg):
    """-2 log L - n p log(2 pi) of a partition, with its MLE parameters (numpy, independent)."""
    n, p = X.shape
    scale2 = np.mean(np.var(X, axis=0))
    total = 0.0
    for k in range(n_clusters):
        Xk = X[labels == k]
        S = np.cov(Xk.T, bias=True) + reg * scale2 * np.eye(p)
        d = Xk - Xk.mean(axis=0)
        total += (np.sum(d @ np.linalg.inv(S) * d) + len(Xk) * np.linalg.slogdet(S)[1]
                  - 2 * len(Xk) * np.log(len(Xk) / n))
    return total


def test_adversarial_design_escapes_the_sdp_kmeans_start():
    # SDP K-means merges the two tight clusters and splits the broad one; iLA iterations from
    # that start keep the merge, the further starts find the true partition
    X, y = datasets.make_adversarial(n_samples=60, separation=2.0, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        one = ILASDP(3, n_init=1, random_state=0).fit(X)
        four = ILASDP(3, n_init=4, random_state=0).fit(X)
    assert misclustering(y, one.labels_) > 0.2
    assert misclustering(y, four.labels_) == 0.0
    assert four.init_objectives_.shape == (4,)
    assert four.init_objectives_[0] > four.init_objectives_.min()
    # the selection criterion is the classification likelihood of the partition, with the
    # parameters refitted: recomputed here from scratch; the chosen partition is the truth's
    nll = _classification_nll(X, four.labels_, 3, four.reg_covar)
    np.testing.assert_allclose(four.init_objectives_.min(), nll, rtol=1e-8)
    assert nll <= _classification_nll(X, y, 3, four.reg_covar) + 1e-8
    assert nll < _classification_nll(X, one.labels_, 3, four.reg_covar)
    # fitted parameters are those of the partition: predict agrees with labels_
    np.testing.assert_array_equal(four.predict(X), four.labels_)


def test_n_init_validated():
    X, _ = datasets.make_heterogeneous(n_samples=12, random_state=0)
    with pytest.raises(ValueError, match="n_init"):
        ILASDP(2, n_init=0).fit(X)
