"""Data-parallel fits on 8 simulated CPU devices equal the one-device fits.

The device count is fixed when JAX starts, so the checks run in a subprocess with
``XLA_FLAGS=--xla_force_host_platform_device_count=8``; the rest of the suite keeps its
single device.
"""

from __future__ import annotations

import numpy as np
import pytest

from tests._devices import run_with_devices

SCRIPT = r"""
import json, sys
import jax, numpy as np
from mixtures import em, sharding, streaming
from mixtures._config import x64

out = {"n_devices": len(jax.devices())}

def errors(fn):
    try:
        fn()
    except (ValueError, TypeError) as e:
        return type(e).__name__
    return None

out["resolve"] = [len(sharding.resolve_devices(v)) for v in (None, 8, 3, "all", "local")]
out["errors"] = [errors(lambda v=v: sharding.resolve_devices(v)) for v in (9, 0, "x", 1.5, [])]

rng = np.random.default_rng(0)
N, D, K = 1001, 3, 3  # not a multiple of 8: the sharded rows are padded
labels = rng.integers(0, K, N)
X = 20.0 + 3.0 * (rng.normal(size=(N, D)) * (1.0 + labels[:, None]) + 1.5 * labels[:, None])
center = X.mean(0)
scale = float(np.sqrt(np.mean((X - center) ** 2)))
Xs = (X - center) / scale

def maxdiff(a, b):
    la, lb = jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b)
    return max(float(np.max(np.abs(np.asarray(x, float) - np.asarray(y, float))))
               for x, y in zip(la, lb))

with x64():
    data = em.GaussianEMData(em.gaussian_features(Xs, "full"), np.ones(N), np.float64(1e-6))
    resp = rng.random((2, N, K))
    resp /= resp.sum(-1, keepdims=True)
    p0 = jax.vmap(lambda r: em.gaussian_params_from_resp(r, data, "full"))(resp)
    params0 = jax.tree_util.tree_map(np.asarray, p0)
    e_step, m_step = em.gaussian_steps("full")
    ref = jax.tree_util.tree_map(np.asarray, em.run_em(e_step, m_step, params0, data, 0.0, 10))
    mesh = sharding.sample_mesh(8)
    sharded = em.run_em(e_step, m_step, params0, sharding.shard_em_data(data, mesh), 0.0, 10)
    out["in_memory_sharded"] = maxdiff(sharding.to_host(sharded), ref)
    out["in_memory_sharded_spec"] = str(sharding.shard_em_data(data, mesh).F.sharding.spec)

kw = dict(covariance_type="full", center=center, scale=scale, reg_covar=1e-6, tol=0.0,
          max_iter=10, chunk_size=256)
one = streaming.fit_em_chunked(X, params0, **kw)
out["chunked_vs_in_memory"] = maxdiff(one, ref)
out["chunked"] = {str(n): maxdiff(streaming.fit_em_chunked(X, params0, devices=n, **kw), one)
                  for n in (8, 3)}

p1 = jax.tree_util.tree_map(lambda a: a[0], params0)
state = streaming.online_em_init(p1, covariance_type="full", reg_covar=1e-6)
ukw = dict(covariance_type="full", center=center, scale=scale, reg_covar=1e-6)
s1, l1 = streaming.online_em_update(state, X[:300], **ukw)
s8, l8 = streaming.online_em_update(state, X[:300], devices=8, **ukw)
out["online"] = max(maxdiff(s1.params, s8.params), abs(l1 - l8))

import warnings
import mixtures.estimators as estimators
from mixtures import GaussianMixture
gkw = dict(n_init=2, random_state=1, max_iter=10, tol=0.0, init_params="kmeans")
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    ref_gm = GaussianMixture(K, **gkw).fit(X)
    def gm_diff(est):
        return max(maxdiff(est.means_, ref_gm.means_), maxdiff(est.weights_, ref_gm.weights_),
                   maxdiff(est.covariances_, ref_gm.covariances_),
                   abs(est.lower_bound_ - ref_gm.lower_bound_))
    out["gm"] = {
        "in_memory_8": gm_diff(GaussianMixture(K, devices=8, **gkw).fit(X)),
        "streamed_8": gm_diff(
            GaussianMixture(K, devices=8, chunk_size=256, **gkw).fit([X[:500], X[500:]])
        ),
    }
    estimators._POINTS_ROWS = 1  # the large-data path, on small data
    out["gm"]["points_8"] = gm_diff(GaussianMixture(K, devices=8, **gkw).fit(X))
    out["gm"]["points_1"] = gm_diff(GaussianMixture(K, **gkw).fit(X))

from solvers.lightsb import LightSB
X0 = rng.standard_normal((120, 2))
X1 = 0.5 * rng.standard_normal((90, 2)) + [2.0, -1.0]
lkw = dict(n_components=3, max_iter=30, batch_size=37, random_state=0)
ref_sb = LightSB(**lkw).fit(X0, X1)
out["lightsb"] = {}
for n in (8,):  # batch 37 is padded to 40 rows
    sb = LightSB(devices=n, **lkw).fit(X0, X1)
    out["lightsb"][str(n)] = max(maxdiff(sb.means_, ref_sb.means_),
                                 maxdiff(sb.covariances_, ref_sb.covariances_),
                                 maxdiff(sb.log_weights_, ref_sb.log_weights_),
                                 maxdiff(sb.loss_curve_, ref_sb.loss_curve_))
print("RESULT" + json.dumps(out))
"""


@pytest.fixture(scope="module")
def results():
    return run_with_devices(SCRIPT, 8)


def test_devices_argument(results):
    assert results["n_devices"] == 8
    assert results["resolve"] == [1, 8, 3, 8, 8]
    assert results["errors"] == [
        "ValueError",
        "ValueError",
        "ValueError",
        "TypeError",
        "ValueError",
    ]


def test_in_memory_em_on_sharded_data(results):
    assert "data" in results["in_memory_sharded_spec"]
    assert results["in_memory_sharded"] < 1e-10


def test_chunked_em_on_devices(results):
    assert results["chunked_vs_in_memory"] < 1e-10
    for n, diff in results["chunked"].items():
        assert diff < 1e-10, n


def test_online_em_on_devices(results):
    assert results["online"] < 1e-10


def test_gaussian_mixture_on_devices(results):
    """GaussianMixture(devices=8): in memory (feature and large-data paths) and streamed,
    the one-device fit to 1e-10."""
    assert set(results["gm"]) == {"in_memory_8", "streamed_8", "points_8", "points_1"}
    for name, diff in results["gm"].items():
        assert diff < 1e-10, name


def test_lightsb_on_devices(results):
    for n, diff in results["lightsb"].items():
        assert diff < 1e-10, n
    assert np.isfinite(list(results["lightsb"].values())).all()
