"""SDPKMeans / ILASDP: recovery, comparisons, bad input, convergence, units and buckets.

scikit-learn's checks and the rest of the estimator contract run in tests/test_contract.py
(the cases are in contract_case.py beside this file).
"""

import warnings

import numpy as np
import pytest
from scipy.optimize import linear_sum_assignment
from sklearn.cluster import KMeans
from sklearn.metrics import confusion_matrix

from mixtures import ConvergenceWarning
from solvers.ila_sdp import ILASDP, SDPKMeans, datasets, estimator


def misclustering(y, labels):
    cm = confusion_matrix(y, labels)
    r, c = linear_sum_assignment(-cm)
    return 1.0 - cm[r, c].sum() / len(y)


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
    # one start (SDP K-means): the comparison is of the two SDP solvers
    a = ILASDP(3, covariance_type="diag", solver="admm", n_init=1, random_state=0).fit(X)
    b = ILASDP(3, covariance_type="diag", solver="cvxpy", n_init=1, random_state=0).fit(X)
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
        ILASDP(2, covariance_type="bogus").fit(X)


def test_admm_stall_warns_with_status(monkeypatch):
    X, _ = datasets.make_heterogeneous(n_samples=15, random_state=0)
    monkeypatch.setattr(estimator, "ADMM_MAX_ITER", 3)
    with pytest.warns(ConvergenceWarning, match="status: max_iter reached"):
        model = SDPKMeans(3, solver="admm", random_state=0).fit(X)
    assert model.n_iter_ == 3 and not model.converged_


def _classification_nll(X, labels, n_clusters, reg):
    """-2 log L - n p log(2 pi) of a partition, with its MLE parameters (numpy, independent)."""
    n, p = X.shape
    scale2 = np.mean(np.var(X, axis=0))
    total = 0.0
    for k in range(n_clusters):
        Xk = X[labels == k]
        S = np.cov(Xk.T, bias=True) + reg * scale2 * np.eye(p)
        d = Xk - Xk.mean(axis=0)
        total += (
            np.sum(d @ np.linalg.inv(S) * d)
            + len(Xk) * np.linalg.slogdet(S)[1]
            - 2 * len(Xk) * np.log(len(Xk) / n)
        )
    return total


def test_adversarial_design_escapes_the_sdp_kmeans_start():
    # SDP K-means merges the two tight clusters and splits the broad one; iLA iterations from
    # that start keep the merge, the further starts find the true partition
    X, y = datasets.make_adversarial(n_samples=60, separation=2.0, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        one = ILASDP(3, covariance_type="full", n_init=1, random_state=0).fit(X)
        four = ILASDP(3, covariance_type="full", n_init=4, random_state=0).fit(X)
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


def test_n_iter_within_max_iter_and_converged_honest():
    # the doc example: the polished start used to run past max_iter (n_iter_=25 for 20)
    X, _ = datasets.make_heterogeneous(n_samples=45, separation=3.0, random_state=0)
    with pytest.warns(ConvergenceWarning, match="ILASDP did not converge in 2 iteration"):
        model = ILASDP(3, max_iter=2, random_state=0).fit(X)
    assert model.n_iter_ <= 2 and not model.converged_
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        model = ILASDP(3, random_state=0).fit(X)
    assert model.converged_ and model.n_iter_ <= model.max_iter


def test_non_finite_cost_raises_divergence_error(monkeypatch):
    from mixtures.base import DivergenceError

    X, _ = datasets.make_heterogeneous(n_samples=15, random_state=0)
    monkeypatch.setattr(
        estimator.ILASDP,
        "_cost",
        lambda self, Xs, full, w: np.full((len(w),) + (len(Xs),) * 2, np.nan),
    )
    with pytest.raises(DivergenceError, match="not finite"):
        ILASDP(3, n_init=1, random_state=0).fit(X)


def test_reg_covar_is_a_fraction_of_the_mean_feature_variance():
    # covariances_ = ML scatter of each final cluster + reg_covar * mean_j var(X[:, j]) * I,
    # recomputed here with NumPy from the labels; the same for X in other units
    X, _ = datasets.make_heterogeneous(n_samples=30, separation=8.0, random_state=0)
    X = X * np.array([1.0, 3.0])
    for c in (1.0, 1e3):
        Xc = X * c
        model = ILASDP(3, "full", reg_covar=0.05, n_init=1, random_state=0).fit(Xc)
        ridge = 0.05 * np.mean(np.var(Xc, axis=0))
        for k in range(3):
            ref = np.cov(Xc[model.labels_ == k].T, bias=True) + ridge * np.eye(2)
            np.testing.assert_allclose(model.covariances_[k], ref, rtol=1e-9)


def test_padded_fit_equals_unpadded(monkeypatch):
    X, _ = datasets.make_heterogeneous(n_samples=27, separation=4.0, random_state=1)
    assert estimator._sdp_length(27) > 27
    padded = ILASDP(3, n_init=2, random_state=0).fit(X)
    monkeypatch.setattr(estimator, "_PAD", False)
    plain = ILASDP(3, n_init=2, random_state=0).fit(X)
    np.testing.assert_array_equal(padded.labels_, plain.labels_)
    assert padded.n_iter_ == plain.n_iter_
    np.testing.assert_allclose(padded.objective_, plain.objective_, rtol=1e-7)
    np.testing.assert_allclose(padded.init_objectives_, plain.init_objectives_, rtol=1e-7)
    np.testing.assert_allclose(padded.membership_, plain.membership_, atol=1e-7)
    np.testing.assert_allclose(padded.covariances_, plain.covariances_, rtol=1e-10)
    a = SDPKMeans(3, random_state=0).fit(X)
    monkeypatch.setattr(estimator, "_PAD", True)
    b = SDPKMeans(3, random_state=0).fit(X)
    np.testing.assert_array_equal(a.labels_, b.labels_)
    np.testing.assert_allclose(a.objective_, b.objective_, rtol=1e-7)


def test_refit_at_a_new_size_in_the_bucket_compiles_nothing():
    from tests.contract import count_compilations

    X, _ = datasets.make_heterogeneous(n_samples=48, separation=8.0, random_state=0)
    assert estimator._sdp_length(41) == estimator._sdp_length(46)
    ILASDP(3, n_init=2, random_state=0).fit(X[:41]).predict(X[:41])
    SDPKMeans(3, random_state=0).fit(X[:41]).predict(X[:41])
    with count_compilations() as c:
        ila = ILASDP(3, n_init=2, random_state=1).fit(X[2:48])
        ila.predict(X[:45])
        ila.score(X[:43])
        SDPKMeans(3, random_state=1).fit(X[:46]).predict(X[:44])
    assert c.count == 0


def test_import_does_not_load_cvxpy_matplotlib_tqdm():
    # (pandas is loaded by scikit-learn's own base module, which the estimators build on)
    import subprocess
    import sys

    code = (
        "import sys, solvers.ila_sdp as s; s.ILASDP; s.datasets; "
        "print([m for m in ('cvxpy', 'matplotlib', 'tqdm') if m in sys.modules])"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert out == "[]"


def test_hierarchical_start_escapes_the_scales_trap():
    # two tight clusters on the edge of a broad one: the SDP K-means start cuts the broad
    # cluster; the second start, mclust's hierarchical partition, leads to a partition at
    # least as likely as the truth's (classification likelihood recomputed from scratch)
    X, y = datasets.make_scales(n_samples=60, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model = ILASDP(3, "full", n_init=2, random_state=0).fit(X)
    assert model.init_objectives_[1] < model.init_objectives_[0]
    nll = _classification_nll(X, model.labels_, 3, model.reg_covar)
    assert nll <= model.init_objectives_.min() + 1e-8 * abs(nll)
    assert nll <= _classification_nll(X, y, 3, model.reg_covar) + 1e-8 * abs(nll)
    # a broad point inside a tight cluster is the only kind of disagreement left
    assert misclustering(y, model.labels_) <= 0.05


@pytest.mark.parametrize(
    "name, proportions, variances",
    [
        ("unbalanced", [0.1, 0.45, 0.45], [0.25**2, 1.0, 1.0]),
        ("scales", [0.5, 0.25, 0.25], [9.0, 0.15**2, 0.15**2]),
        ("needles", [1 / 3] * 3, [9.0, 9.0, 9.0]),
    ],
)
def test_new_designs_have_the_stated_proportions_and_spreads(name, proportions, variances):
    X, y = datasets.make_design(name, n_samples=3000, random_state=0)
    np.testing.assert_array_equal(np.bincount(y), np.round(np.array(proportions) * 3000))
    # largest variance of each cluster (the needles' long axis), Monte Carlo within 10 %
    top = [np.linalg.eigvalsh(np.cov(X[y == k].T))[-1] for k in range(3)]
    np.testing.assert_allclose(top, variances, rtol=0.1)


# the covariances are checked on whatever partition the fit returns, converged or not
@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("model", ["EEI", "VII"])
def test_parsimonious_covariances_are_the_models_estimates_on_the_partition(model):
    # EEI: one diagonal matrix pooled over the clusters; VII: each cluster's mean variance;
    # both from the ridged scatter of the final partition, recomputed here with NumPy
    X, _ = datasets.make_needles(n_samples=60, random_state=0)
    fit = ILASDP(3, covariance_type=model, n_init=2, random_state=0).fit(X)
    assert fit.covariance_type_ == model
    ridge = fit.reg_covar * np.mean(np.var(X, axis=0))
    S = [np.cov(X[fit.labels_ == k].T, bias=True) + ridge * np.eye(2) for k in range(3)]
    n_k = np.bincount(fit.labels_, minlength=3)
    if model == "EEI":
        pooled = sum(n * np.diag(s) for n, s in zip(n_k, S)) / len(X)
        ref = np.tile(pooled, (3, 1))
    else:
        ref = np.array([np.trace(s) / 2 for s in S])
    np.testing.assert_allclose(fit.covariances_, ref, rtol=1e-9)


def test_auto_model_separates_thin_needles():
    # thin parallel needles (EM with full covariances from k-means starts cuts across them):
    # BIC picks a model with fewer parameters than VVV, and the needles are recovered
    X, y = datasets.make_needles(n_samples=60, random_state=1)
    auto = ILASDP(3, random_state=0).fit(X)
    assert auto.covariance_type_ != "VVV"
    assert misclustering(y, auto.labels_) <= 0.05
