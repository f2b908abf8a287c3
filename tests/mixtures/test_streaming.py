"""Chunked exact EM and online EM (mixtures.streaming) against the in-memory EM."""

from __future__ import annotations

import jax
import numpy as np
import pytest

from mixtures import em, streaming
from mixtures._config import x64

N, D, K, CHUNK = 1000, 3, 3, 256  # 1000 rows: the last chunk is padded
TYPES = ("full", "tied", "diag", "spherical")


@pytest.fixture(scope="module")
def data():
    # overlapping components in units far from 1, so EM takes many iterations
    rng = np.random.default_rng(1)
    labels = rng.integers(0, K, N)
    X = rng.normal(size=(N, D)) * (1.0 + labels[:, None]) + 1.5 * labels[:, None]
    return 50.0 + 7.0 * X


def _params0(Xs, ct, n_starts, seed):
    """Initial parameters of ``n_starts`` starts (NumPy, nothing compiled): means at random
    rows of ``Xs``, covariances ``c I`` with a different ``c`` per component; and the
    in-memory EM data of ``Xs``."""
    rng = np.random.default_rng(seed)
    d = Xs.shape[1]
    c = 0.5 + rng.random((n_starts, K))  # per start and component
    means = Xs[rng.choice(len(Xs), (n_starts, K))]
    if ct == "full":
        cov = c[:, :, None, None] * np.eye(d)
        prec, half = np.linalg.inv(cov), -0.5 * d * np.log(c)
    elif ct == "tied":
        cov = c[:, 0, None, None] * np.eye(d)
        prec, half = np.linalg.inv(cov), np.repeat(-0.5 * d * np.log(c[:, :1]), K, axis=1)
    elif ct == "diag":
        cov = np.repeat(c[:, :, None], d, axis=2)
        prec, half = 1.0 / cov, -0.5 * d * np.log(c)
    else:
        cov = c
        prec, half = 1.0 / cov, -0.5 * d * np.log(c)
    weights = np.full((n_starts, K), 1.0 / K)
    with x64():
        data = em.GaussianEMData(em.gaussian_features(Xs, ct), np.ones(len(Xs)), np.float64(1e-6))
    return em.GaussianParams(weights, means, cov, prec, half), data


def _in_memory(params0, data, ct, max_iter, tol=0.0):
    with x64():
        e_step, m_step = em.gaussian_steps(ct)
        return jax.tree_util.tree_map(
            np.asarray, em.run_em(e_step, m_step, params0, data, tol, max_iter)
        )


@pytest.mark.parametrize("ct", TYPES)
def test_chunked_iterates_equal_in_memory(data, ct):
    center, scale = data.mean(axis=0), np.sqrt(np.mean((data - data.mean(axis=0)) ** 2))
    Xs = (data - center) / scale
    params0, mem_data = _params0(Xs, ct, 2, seed=0)
    for max_iter in (1, 12):
        ref = _in_memory(params0, mem_data, ct, max_iter)
        got = streaming.fit_em_chunked(
            data,
            params0,
            covariance_type=ct,
            center=center,
            scale=scale,
            reg_covar=1e-6,
            tol=0.0,
            max_iter=max_iter,
            chunk_size=CHUNK,
        )
        np.testing.assert_array_equal(got.n_iter, ref.n_iter)
        np.testing.assert_allclose(got.lower_bound, ref.lower_bound, rtol=0, atol=1e-10)
        for a, b in zip(got.params, ref.params):
            np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-10)


@pytest.mark.filterwarnings("ignore::mixtures.base.ConvergenceWarning")
def test_chunked_equals_gaussian_mixture(data):
    """The estimator started from given parameters (one start) and the chunked fit from the
    same parameters reach the same optimum, with the estimator's standardisation."""
    from mixtures import GaussianMixture

    rng = np.random.default_rng(3)
    means0 = data[rng.choice(N, K, replace=False)]
    prec0 = np.broadcast_to(np.eye(D) / np.var(data), (K, D, D)).copy()
    gm = GaussianMixture(
        K,
        weights_init=np.full(K, 1.0 / K),
        means_init=means0,
        precisions_init=prec0,
        tol=1e-7,
        max_iter=200,
    ).fit(data)
    sw, center, scale = streaming.standardization(data, chunk_size=CHUNK)
    assert sw == N
    np.testing.assert_allclose(center, data.mean(axis=0), rtol=1e-13)
    np.testing.assert_allclose(scale, np.sqrt(np.mean((data - data.mean(0)) ** 2)), rtol=1e-13)
    P = prec0 * scale**2
    params0 = em.GaussianParams(
        np.full(K, 1.0 / K),
        (means0 - center) / scale,
        np.linalg.inv(P),
        P,
        0.5 * np.linalg.slogdet(P)[1],
    )
    params0 = jax.tree_util.tree_map(lambda a: np.asarray(a)[None], params0)
    res = streaming.fit_em_chunked(
        data,
        params0,
        covariance_type="full",
        center=center,
        scale=scale,
        reg_covar=1e-6,
        tol=1e-7,
        max_iter=200,
        chunk_size=CHUNK,
    )
    assert int(res.n_iter[0]) == gm.n_iter_ and bool(res.converged[0]) == gm.converged_
    np.testing.assert_allclose(res.params.means[0] * scale + center, gm.means_, atol=1e-9)
    np.testing.assert_allclose(res.params.covariances[0] * scale**2, gm.covariances_, atol=1e-8)
    np.testing.assert_allclose(res.lower_bound[0] - D * np.log(scale), gm.lower_bound_, atol=1e-10)


def test_sources_give_the_same_fit(data, tmp_path):
    """Array, memmap, uneven list of chunks and a generator factory: one and the same fit."""
    path = tmp_path / "X.f64"
    mm = np.memmap(path, dtype=np.float64, mode="w+", shape=data.shape)
    mm[:] = data
    mm.flush()
    mm = np.memmap(path, dtype=np.float64, mode="r", shape=data.shape)
    cuts = [0, 7, 300, 301, 820, N]
    pieces = [data[a:b] for a, b in zip(cuts[:-1], cuts[1:])]

    def factory():
        return (p for p in pieces)

    center, scale = data.mean(axis=0), 7.0
    params0, _ = _params0((data - center) / scale, "diag", 1, seed=2)
    kw = dict(
        covariance_type="diag",
        center=center,
        scale=scale,
        reg_covar=1e-6,
        tol=0.0,
        max_iter=4,
        chunk_size=CHUNK,
    )
    ref = streaming.fit_em_chunked(data, params0, **kw)
    for source in (mm, pieces, factory):
        got = streaming.fit_em_chunked(source, params0, **kw)
        np.testing.assert_allclose(got.params.means, ref.params.means, rtol=0, atol=1e-12)
        np.testing.assert_allclose(got.lower_bound, ref.lower_bound, rtol=0, atol=1e-12)
    assert streaming.count_rows(factory) == (N, D)


def test_bad_sources():
    with pytest.raises(TypeError, match="one-shot iterator"):
        list(streaming.iter_chunks(iter([np.ones((3, 2))])))
    with pytest.raises(ValueError, match="NaN"):
        list(streaming.iter_chunks([np.ones((3, 2)), np.full((2, 2), np.nan)]))
    with pytest.raises(ValueError, match="columns"):
        list(streaming.iter_chunks([np.ones((3, 2)), np.ones((2, 3))]))
    with pytest.raises(ValueError, match="empty"):
        list(streaming.iter_chunks([np.ones((0, 2))]))
    with pytest.raises(TypeError, match="must be"):
        list(streaming.iter_chunks(3.0))
    chunks = list(streaming.iter_chunks(np.arange(10.0).reshape(5, 2), chunk_size=2))
    assert [c[0].shape for c in chunks] == [(2, 2)] * 3
    np.testing.assert_array_equal(chunks[-1][1], [1.0, 0.0])


def test_subsample_is_a_uniform_subset(data):
    sub = streaming.subsample(list(np.array_split(data, 7)), 100, random_state=0, chunk_size=CHUNK)
    assert sub.shape == (100, D)
    rows = {tuple(r) for r in data}
    assert all(tuple(r) in rows for r in sub) and len({tuple(r) for r in sub}) == 100
    # uniform: the mean of the subsample's first-half indicator is near 1/2 over seeds
    first = {tuple(r) for r in data[: N // 2]}
    share = np.mean(
        [
            np.mean(
                [
                    tuple(r) in first
                    for r in streaming.subsample(data, 50, random_state=s, chunk_size=CHUNK)
                ]
            )
            for s in range(20)
        ]
    )
    assert abs(share - 0.5) < 0.06


@pytest.mark.parametrize("ct", TYPES)
def test_stats_from_params_inverts_the_m_step(data, ct):
    Xs = (data - data.mean(0)) / 7.0
    params0, _ = _params0(Xs, ct, 1, seed=4)
    p = jax.tree_util.tree_map(lambda a: a[0], params0)
    state = streaming.online_em_init(p, covariance_type=ct, reg_covar=1e-3)
    with x64():
        back = em.gaussian_m_step(
            state.stats, streaming._m_data(state.stats.shape[1], 1e-3, None), ct
        )
    for a, b in zip(back, p):
        np.testing.assert_allclose(np.asarray(a), b, rtol=1e-9, atol=1e-12)


def test_online_step_one_is_an_em_iteration(data):
    center, scale = data.mean(axis=0), 7.0
    params0, mem_data = _params0((data - center) / scale, "full", 1, seed=5)
    with x64():  # one in-memory E- and M-step
        p0 = jax.tree_util.tree_map(lambda a: a[0], params0)
        ref_lower, stats = em.gaussian_e_step(p0, mem_data, "full")
        ref = em.gaussian_m_step(stats, mem_data, "full")
    state = streaming.online_em_init(
        jax.tree_util.tree_map(lambda a: a[0], params0), covariance_type="full", reg_covar=1e-6
    )
    state, lower = streaming.online_em_update(
        state, data, covariance_type="full", center=center, scale=scale, reg_covar=1e-6, gamma=1.0
    )
    assert state.n_updates == 1
    np.testing.assert_allclose(lower, float(ref_lower), atol=1e-12)
    for a, b in zip(state.params, ref):
        np.testing.assert_allclose(a, np.asarray(b), rtol=1e-10, atol=1e-10)


def test_online_em_recovers_a_mixture():
    """A stream of small batches from a known, well-separated mixture: the online estimate
    approaches the true means and weights (Robbins-Monro steps)."""
    rng = np.random.default_rng(6)
    means = np.array([[0.0, 0.0, 0.0], [6.0, 0.0, 0.0], [0.0, 6.0, 3.0]])
    weights = np.array([0.5, 0.3, 0.2])

    def batch(n):
        z = rng.choice(K, n, p=weights)
        return means[z] + rng.normal(size=(n, D))

    first = batch(CHUNK)
    center, scale = first.mean(0), float(np.sqrt(np.mean((first - first.mean(0)) ** 2)))
    # start: equal weights, unit covariances, each mean 1.5 units off the true one
    start = (means + rng.normal(scale=1.5 / np.sqrt(D), size=(K, D)) - center) / scale
    init = em.GaussianParams(
        np.full(K, 1.0 / K),
        start,
        np.broadcast_to(np.eye(D), (K, D, D)).copy(),
        np.broadcast_to(np.eye(D), (K, D, D)).copy(),
        np.zeros(K),
    )
    state = streaming.online_em_init(init, covariance_type="full", reg_covar=1e-6)
    for _ in range(60):
        state, _ = streaming.online_em_update(
            state, batch(CHUNK), covariance_type="full", center=center, scale=scale, reg_covar=1e-6
        )
    got = state.params.means * scale + center
    order = [int(np.argmin(np.linalg.norm(got - m, axis=1))) for m in means]
    assert sorted(order) == [0, 1, 2]
    np.testing.assert_allclose(got[order], means, atol=0.15)
    np.testing.assert_allclose(state.params.weights[order], weights, atol=0.03)


def test_step_size_checks():
    assert streaming.step_size(1, 1.0, 0.0) == 1.0
    assert streaming.step_size(10, 0.6, 2.0) == pytest.approx(12**-0.6)
    with pytest.raises(ValueError, match="exponent"):
        streaming.step_size(1, 0.4)


def test_chunked_gaussian_mixture_matches_scikit_learn():
    """The end-to-end chunked recipe (subsample k-means init) reaches scikit-learn's optimum."""
    from sklearn.mixture import GaussianMixture as SkGM

    rng = np.random.default_rng(7)
    labels = rng.integers(0, K, N)
    data = 7.0 * (rng.normal(size=(N, D)) + 4.0 * np.eye(K, D)[labels]) - 20.0

    sk = SkGM(
        K,
        tol=1e-8,
        max_iter=300,
        n_init=2,
        random_state=0,
        reg_covar=1e-6 * np.mean(data.var(axis=0)),
    ).fit(data)
    fit = streaming.fit_gaussian_mixture_chunked(
        data, K, tol=1e-8, max_iter=300, init_size=500, chunk_size=CHUNK, random_state=0
    )
    assert fit.converged
    assert fit.lower_bound >= sk.lower_bound_ - 1e-6
    order = [int(np.argmin(np.linalg.norm(fit.means - m, axis=1))) for m in sk.means_]
    np.testing.assert_allclose(fit.means[order], sk.means_, rtol=0, atol=1e-4)
    np.testing.assert_allclose(fit.covariances[order], sk.covariances_, rtol=1e-4)
