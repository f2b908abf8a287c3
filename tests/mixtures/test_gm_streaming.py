"""GaussianMixture on streamed data (fit on a memmap, chunks or a callable), online EM
(partial_fit), and the large-data path that forms the features block by block."""

from __future__ import annotations

import pickle
import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning

import mixtures.estimators as estimators
from mixtures import GaussianMixture

N, D, K, CHUNK = 1000, 3, 3, 256  # the last chunk is padded


@pytest.fixture(scope="module")
def data():
    # overlapping components in units far from 1, so EM takes many iterations
    rng = np.random.default_rng(11)
    labels = rng.integers(0, K, N)
    X = rng.normal(size=(N, D)) * (1.0 + labels[:, None]) + 1.5 * labels[:, None]
    return 50.0 + 7.0 * X


@pytest.fixture(scope="module")
def sources(data, tmp_path_factory):
    """The same data as a read-only memmap, uneven chunks and a generator factory."""
    path = tmp_path_factory.mktemp("gm") / "X.f64"
    mm = np.memmap(path, dtype=np.float64, mode="w+", shape=data.shape)
    mm[:] = data
    mm.flush()
    cuts = [0, 7, 300, 301, 820, N]
    pieces = [data[a:b] for a, b in zip(cuts[:-1], cuts[1:])]
    return {
        "memmap": np.memmap(path, dtype=np.float64, mode="r", shape=data.shape),
        "chunks": pieces,
        "callable": lambda: (p for p in pieces),
    }


def _given_start(data):
    rng = np.random.default_rng(3)
    return dict(
        weights_init=np.full(K, 1.0 / K),
        means_init=data[rng.choice(N, K, replace=False)],
        precisions_init=np.broadcast_to(np.eye(D) / np.var(data), (K, D, D)).copy(),
    )


def _assert_same_fit(got, ref, atol=1e-10):
    assert got.n_iter_ == ref.n_iter_ and got.converged_ == ref.converged_
    assert got.n_features_in_ == ref.n_features_in_
    for name in ("weights_", "means_", "covariances_", "precisions_", "precisions_cholesky_"):
        a, b = getattr(got, name), getattr(ref, name)
        scale = max(1.0, float(np.max(np.abs(b))))
        np.testing.assert_allclose(a, b, rtol=0, atol=atol * scale, err_msg=name)
    np.testing.assert_allclose(got.lower_bound_, ref.lower_bound_, rtol=0, atol=atol)


@pytest.mark.parametrize("kind", ["memmap", "chunks", "callable"])
def test_streamed_fit_equals_in_memory_fit(data, sources, kind):
    """Same initial parameters: the streamed EM gives the in-memory iterates (converged)."""
    kw = dict(tol=1e-6, max_iter=500, **_given_start(data))
    ref = GaussianMixture(K, **kw).fit(data)
    assert ref.converged_ and ref.n_iter_ > 10
    got = GaussianMixture(K, chunk_size=CHUNK, **kw).fit(sources[kind])
    _assert_same_fit(got, ref)
    np.testing.assert_array_equal(got.predict(data), ref.predict(data))
    np.testing.assert_allclose(got.score(data), ref.score(data), rtol=1e-12)
    back = pickle.loads(pickle.dumps(got))
    np.testing.assert_array_equal(back.predict_proba(data[:20]), got.predict_proba(data[:20]))


def test_streamed_fit_warns_when_not_converged(data, sources):
    kw = dict(tol=1e-12, max_iter=4, **_given_start(data))
    with pytest.warns(ConvergenceWarning):
        ref = GaussianMixture(K, **kw).fit(data)
    with pytest.warns(ConvergenceWarning):
        got = GaussianMixture(K, chunk_size=CHUNK, **kw).fit(sources["memmap"])
    assert not got.converged_ and got.n_iter_ == 4
    _assert_same_fit(got, ref)


def test_streamed_fit_with_random_starts(data, sources):
    """A stream no longer than the initialisation subsample starts where the in-memory fit
    does (k-means on all rows, two starts), so the whole fit agrees."""
    kw = dict(init_params="kmeans", n_init=2, random_state=0, tol=1e-6, max_iter=500)
    ref = GaussianMixture(K, covariance_type="diag", **kw).fit(data)
    got = GaussianMixture(K, covariance_type="diag", chunk_size=CHUNK, **kw).fit(sources["chunks"])
    _assert_same_fit(got, ref, atol=1e-8)


def test_streamed_input_errors_name_the_argument(data):
    with pytest.raises(TypeError, match="X.*one-shot iterator"):
        GaussianMixture(K).fit(iter([data]))
    with pytest.raises(ValueError, match="X.*columns"):
        GaussianMixture(K).fit([data[:10], data[10:20, :2]])
    with pytest.raises(ValueError, match="X.*NaN"):
        GaussianMixture(K).fit([data[:10], np.full((3, D), np.nan)])
    with pytest.raises(ValueError, match="n_components"):
        GaussianMixture(K).fit([data[:2]])
    with pytest.raises(ValueError, match="chunk_size"):
        GaussianMixture(K, chunk_size=0).fit(data)
    with pytest.raises(TypeError, match="chunk_size"):
        GaussianMixture(K, chunk_size=1.5).fit(data)
    with pytest.raises(ValueError, match="devices"):
        GaussianMixture(K, devices="everywhere").fit(data)
    with pytest.raises(ValueError, match="devices"):
        GaussianMixture(K, devices=10**6).fit(data)


def _mixture_batches(rng, n):
    """Draws from a known three-component mixture in units far from 1."""
    means = np.array([[0.0, 0.0, 0.0], [6.0, 0.0, 0.0], [0.0, 6.0, 3.0]]) * 100.0 + 1e3
    weights = np.array([0.5, 0.3, 0.2])
    z = rng.choice(K, n, p=weights)
    return means[z] + 100.0 * rng.normal(size=(n, D)), means, weights


def test_partial_fit_recovers_a_mixture():
    """Online EM from a rough start (a fit of 60 points) approaches the true mixture."""
    rng = np.random.default_rng(5)
    first, means, weights = _mixture_batches(rng, 60)
    gm = GaussianMixture(K, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        gm.partial_fit(first)
    assert gm.n_updates_ == 0

    def error(est):
        order = [int(np.argmin(np.linalg.norm(est.means_ - m, axis=1))) for m in means]
        assert sorted(order) == [0, 1, 2]
        return (
            np.abs(est.means_[order] - means).max(),
            np.abs(est.weights_[order] - weights).max(),
            np.abs(est.covariances_[order] - 1e4 * np.eye(D)).max(),
        )

    assert error(gm)[0] > 25.0  # the start is rough (the component sd is 100)
    for _ in range(60):
        gm.partial_fit(_mixture_batches(rng, 256)[0])
    assert gm.n_updates_ == 60 and gm.converged_ is False
    mean_err, weight_err, cov_err = error(gm)
    assert mean_err < 12.0 and weight_err < 0.02 and cov_err < 1.5e3
    # the online model predicts, scores and pickles like a batch fit
    X, _, _ = _mixture_batches(rng, 500)
    assert np.isfinite(gm.score(X)) and gm.predict(X).shape == (500,)
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(gm)).predict(X), gm.predict(X))


def test_partial_fit_after_fit_continues_and_checks_input(data):
    gm = GaussianMixture(K, covariance_type="diag", random_state=0).fit(data)
    before = gm.means_.copy()
    gm.partial_fit(data[:100])
    assert gm.n_updates_ == 1 and not gm.converged_
    assert not np.allclose(gm.means_, before)
    with pytest.raises(ValueError, match="X has 2 features"):
        gm.partial_fit(data[:10, :2])
    with pytest.raises(ValueError, match="X contains NaN"):
        gm.partial_fit(np.full((4, D), np.nan))
    with pytest.raises(TypeError, match="X"):
        gm.partial_fit(data[:4] + 1j)
    assert gm.n_updates_ == 1
    gm.fit(data)  # a new fit starts the online state again
    assert gm.n_updates_ == 0
    np.testing.assert_allclose(gm.means_, before, rtol=1e-12)


@pytest.mark.parametrize("ct", ["full", "spherical"])
def test_large_data_path_equals_feature_path(data, ct, monkeypatch):
    """The path for large data (points, features formed block by block, hard starts as
    labels, aligned buffers) gives the iterates of the feature-matrix path, forced here on
    small data."""
    kw = dict(covariance_type=ct, n_init=2, random_state=2, init_params="k-means++")
    kw.update(tol=0.0, max_iter=15)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ref = GaussianMixture(K, **kw).fit(data)
        monkeypatch.setattr(estimators, "_POINTS_ROWS", 1)
        got = GaussianMixture(K, **kw).fit(data)
    _assert_same_fit(got, ref, atol=1e-10)
