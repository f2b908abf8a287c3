"""Regression tests of LightSB's estimator contract (issue 20) and shape buckets (issue 21)."""

import subprocess
import sys
import warnings

import numpy as np
import pytest

from mixtures import x64
from mixtures.base import DivergenceError, MixturesEstimator, padded_length
from solvers.lightsb import LightSB, _core
from tests.contract import count_compilations


def _data(n0=40, n1=36, d=2, seed=0):
    rng = np.random.default_rng(seed)
    X0 = rng.standard_normal((n0, d))
    X1 = 0.5 * rng.standard_normal((n1, d)) + 1.0
    return X0, X1


FAST = dict(n_components=2, epsilon=0.5, max_iter=30, random_state=0)


def test_derives_from_the_base_and_validates_verbose():
    assert isinstance(LightSB(), MixturesEstimator)
    with pytest.raises(TypeError, match="verbose"):
        LightSB(verbose="yes", **FAST).fit(*_data())
    with pytest.raises(TypeError, match="verbose"):
        LightSB(verbose=1, **FAST).fit(*_data())


def test_verbose_bar_runs(capsys):
    LightSB(verbose=True, **FAST).fit(*_data())
    assert "LightSB" in capsys.readouterr().err


def test_feature_names_in_from_dataframes():
    pd = pytest.importorskip("pandas")
    X0, X1 = _data()
    cols = ["height", "weight"]
    model = LightSB(**FAST).fit(pd.DataFrame(X0, columns=cols), pd.DataFrame(X1, columns=cols))
    assert list(model.feature_names_in_) == cols and model.n_features_in_ == 2
    # same fit as from the arrays, which set no names
    plain = LightSB(**FAST).fit(X0, X1)
    assert not hasattr(plain, "feature_names_in_")
    np.testing.assert_allclose(model.means_, plain.means_, rtol=1e-12)
    with pytest.raises(ValueError, match="feature names of X1"):
        LightSB(**FAST).fit(
            pd.DataFrame(X0, columns=cols), pd.DataFrame(X1, columns=["weight", "height"])
        )
    with pytest.raises(ValueError, match="feature names of X"):
        model.predict(pd.DataFrame(X0, columns=["a", "b"]))


@pytest.mark.parametrize("pos,name", [(0, "X0"), (1, "X1")])
def test_complex_input_is_a_type_error(pos, name):
    args = list(_data())
    args[pos] = args[pos] + 1j
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no ComplexWarning path left
        with pytest.raises(TypeError, match=name):
            LightSB(**FAST).fit(*args)


def test_batch_size_is_capped_at_the_sample_sizes():
    """batch_size=10**6 on 60 points uses each point once per step: the same fit as
    batch_size = the sample size (both full batches), and as fast."""
    X0, X1 = _data(60, 50)
    huge = LightSB(batch_size=10**6, **FAST).fit(X0, X1)
    exact = LightSB(batch_size=60, **FAST).fit(X0, X1)
    np.testing.assert_allclose(huge.means_, exact.means_, rtol=1e-10)
    np.testing.assert_allclose(huge.loss_curve_, exact.loss_curve_, rtol=1e-10)
    # a full batch gives the exact objective: the first loss is -score at the initial
    # parameters, so it is not a noisy draw (independent check with NumPy moments below)
    with x64():
        idx, w = _core.minibatch(np.full(64, 0.3), 60, 64)
    idx, w = np.asarray(idx), np.asarray(w)
    np.testing.assert_array_equal(idx, np.arange(64))
    np.testing.assert_allclose(w, np.r_[np.full(60, 1 / 60), np.zeros(4)])
    with x64():
        idx, w = _core.minibatch(np.linspace(0, 0.999, 16), 60, 16)
    np.testing.assert_array_equal(np.asarray(idx), np.floor(np.linspace(0, 0.999, 16) * 60))
    np.testing.assert_allclose(np.asarray(w), 1 / 16)


def test_divergence_raises_and_leaves_no_fit():
    model = LightSB(n_components=2, epsilon=0.5, max_iter=20, learning_rate=1e300, random_state=0)
    with pytest.raises(DivergenceError, match="learning_rate"):
        model.fit(*_data())
    assert not hasattr(model, "means_") and not hasattr(model, "n_features_in_")


def test_auto_covariance_follows_the_dimension():
    X0, X1 = _data(d=2)
    assert LightSB(**FAST).fit(X0, X1).covariances_.shape == (2, 2, 2)
    assert LightSB(**FAST).fit(X0, X1).covariance_type_ == "full"
    X0, X1 = _data(d=65)
    model = LightSB(**FAST).fit(X0, X1)
    assert model.covariance_type_ == "diag" and model.covariances_.shape == (2, 65)
    assert model.conditional(X0[:3]).covariance_type == "diag"
    assert model.get_params()["covariance_type"] == "auto"  # the hyper-parameter is kept


def test_no_recompilation_within_a_bucket():
    """A refit at new sample sizes in the same bucket, with another max_iter, learning rate,
    epsilon and annealing, compiles nothing; nor do predict/score at new sizes."""
    X0, X1 = _data(50, 45)
    warm = LightSB(**FAST).fit(X0[:40], X1[:36])
    warm.predict(X0[:40])
    warm.score(X0[:40], X1[:36])
    assert padded_length(40) == padded_length(50) and padded_length(36) == padded_length(45)
    model = LightSB(
        n_components=2,
        epsilon=0.7,
        max_iter=37,
        learning_rate=3e-3,
        anneal_factor=5.0,
        random_state=1,
    )
    with count_compilations() as c:
        model.fit(X0, X1)
        model.predict(X0[:45])
        model.score(X0[:33], X1)
    assert c.count == 0
    assert model.n_iter_ == 37 and model.loss_curve_.shape == (37,)


@pytest.mark.parametrize("batch", [16, 128])
def test_padded_training_equals_unpadded(batch):
    """Padding rows (weight zero, never drawn) leaves a training chunk unchanged; batch 16 draws
    minibatches, 128 >= n uses the whole samples."""
    X0, X1 = _data(50, 45)
    kw = dict(n_steps=20, covariance_type="full")
    out = []
    with x64():
        for P0, P1 in ((50, 45), (64, 64)):
            Z0 = np.pad(X0, ((0, P0 - 50), (0, 0)))
            Z1 = np.pad(X1, ((0, P1 - 45), (0, 0)))
            params, state = _core.init_params(np.array([0, 7], np.uint32), X1, 45, 3, 0.6, "full")
            params, _, losses = _core.train_chunk(
                params,
                state,
                np.array([0, 3], np.uint32),
                0,
                Z0,
                50,
                Z1,
                45,
                0.5,
                1e-2,
                100.0,
                20,
                batch0=min(batch, P0),
                batch1=min(batch, P1),
                **kw,
            )
            out.append((params, np.asarray(losses)))
    for key in out[0][0]:
        np.testing.assert_allclose(
            np.asarray(out[1][0][key]), np.asarray(out[0][0][key]), rtol=1e-10, atol=1e-12
        )
    np.testing.assert_allclose(out[1][1], out[0][1], rtol=1e-10)


def test_optax_and_tqdm_load_lazily():
    code = (
        "import sys; from solvers.lightsb import LightSB, benchmark; "
        "print([m for m in ('optax', 'tqdm') if m in sys.modules])"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert out.stdout.strip() == "[]", out.stdout
