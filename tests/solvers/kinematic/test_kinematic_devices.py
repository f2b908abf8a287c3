"""KinematicForecaster(devices=n): the training step on data split over simulated CPU
devices equals the one-device fit.

The device count is fixed when JAX starts, so the fits run in a subprocess with
``XLA_FLAGS=--xla_force_host_platform_device_count=4``; the rest of the suite keeps its
single device.
"""

from __future__ import annotations

import pytest

from tests._devices import run_with_devices

SCRIPT = r"""
import json, warnings
import jax, numpy as np
from mixtures import ConvergenceWarning
from solvers.kinematic import KinematicForecaster, datasets

from solvers.kinematic import _forecaster

# record the devices holding the training tracks at each compiled training chunk
seen, train_chunk = [], _forecaster.train_chunk
def spy(params, opt_state, key, feats, *args, **kwargs):
    seen.append(len(feats.sharding.device_set))
    return train_chunk(params, opt_state, key, feats, *args, **kwargs)
_forecaster.train_chunk = spy

d = datasets.synthetic_traffic(40, horizon=3, n_past=4, noise=1.0, random_state=0)
# minibatches of 8 gathered from 40 tracks in a bucket of 64 rows split over 3 devices
# (padded to 66 rows); early stopping on 8 held-out tracks
kw = dict(n_modes=2, horizon=3, hidden=4, learning_rate=1e-2, random_state=0, batch_size=8,
          max_iter=150, early_stopping=True, validation_fraction=0.2, n_iter_no_change=2)

def leaves(est):
    g = est.predict(d.past)
    return [np.asarray(x, float) for x in
            jax.tree_util.tree_leaves(est.params_) + [est.loss_curve_, g.means, g.covariances]]

out = {"n_devices": len(jax.devices())}
fits, devices_seen = [], []
for devices in (None, 3):
    seen.clear()
    est = KinematicForecaster(**kw, prior="none", devices=devices)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        fits.append(est.fit(d.past, d.future))
    devices_seen.append(sorted(set(seen)))
a, b = (leaves(f) for f in fits)
out["fit"] = {
    "diff": max(float(np.max(np.abs(x - y))) for x, y in zip(a, b)),
    "n_iter": [f.n_iter_ for f in fits],
    "moved": float(abs(fits[0].loss_curve_[-1] - fits[0].loss_curve_[0])),
    "devices_seen": devices_seen,
}
try:
    KinematicForecaster(devices=5).fit(d.past, d.future)
except ValueError as exc:
    out["error"] = str(exc)
print("RESULT" + json.dumps(out))
"""


@pytest.fixture(scope="module")
def results():
    return run_with_devices(SCRIPT, 4)


def test_training_on_devices_equals_the_one_device_fit(results):
    """Weights, training loss curve and predicted mixtures agree to 1e-10 after training
    that moved the loss, with the training tracks split over 3 of the 4 devices."""
    assert results["n_devices"] == 4
    res = results["fit"]
    assert res["devices_seen"] == [[1], [3]]
    assert res["n_iter"][0] == res["n_iter"][1]
    assert res["moved"] > 1e-3
    assert res["diff"] < 1e-10


def test_too_many_devices_is_a_value_error_naming_the_argument(results):
    assert results["error"].startswith("devices:")
