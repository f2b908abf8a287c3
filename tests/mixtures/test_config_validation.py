import jax
import jax.numpy as jnp
import numpy as np
import pytest

import mixtures
from mixtures import base as V
from mixtures._config import as_generator, as_key, x64


def test_import_changes_no_global_precision():
    assert not jax.config.jax_enable_x64
    assert jnp.ones(1).dtype == jnp.float32
    with x64():
        assert jnp.ones(1).dtype == jnp.float64
    assert jnp.ones(1).dtype == jnp.float32


@pytest.mark.parametrize("rs", [0, 7, np.random.default_rng(3), jax.random.PRNGKey(4)])
def test_random_state_normalisation_is_deterministic(rs):
    import copy

    a = jax.random.normal(as_key(copy.deepcopy(rs)), (3,))
    b = jax.random.normal(as_key(copy.deepcopy(rs)), (3,))
    np.testing.assert_array_equal(a, b)
    ga, gb = as_generator(copy.deepcopy(rs)), as_generator(copy.deepcopy(rs))
    np.testing.assert_array_equal(ga.normal(size=3), gb.normal(size=3))


def test_random_state_rejects_bad_types():
    with pytest.raises(TypeError, match="random_state"):
        as_key("seed")
    with pytest.raises(ValueError, match="non-negative"):
        as_generator(-1)


def test_check_array_messages():
    with pytest.raises(ValueError, match="X contains NaN"):
        V.check_array([[1.0, np.nan]])
    with pytest.raises(ValueError, match="infinite"):
        V.check_array([[1.0, np.inf]])
    with pytest.raises(ValueError, match="Y must be a 2-D array"):
        V.check_array([1.0, 2.0], "Y")
    with pytest.raises(ValueError, match="at least 3 row"):
        V.check_array([[1.0], [2.0]], min_rows=3)
    with pytest.raises(TypeError, match="numbers"):
        V.check_array([["a", "b"]])
    assert V.check_array([[1, 2]]).dtype == np.float64


def test_check_scalar_and_option():
    with pytest.raises(ValueError, match="tol must be > 0"):
        V.check_scalar(0.0, "tol", low=0, low_open=True)
    with pytest.raises(TypeError, match="n_components must be an int"):
        V.check_scalar(2.5, "n_components", kind="int")
    with pytest.raises(TypeError, match="must be an int"):
        V.check_scalar(True, "n", kind="int")
    assert V.check_scalar(3, "n", kind="int", low=1) == 3
    with pytest.raises(ValueError, match="kind must be one of"):
        V.check_option("x", "kind", ("a", "b"))


def test_check_spd():
    V.check_spd(np.eye(2))
    with pytest.raises(ValueError, match="symmetric"):
        V.check_spd(np.array([[1.0, 0.5], [0.0, 1.0]]), "S")
    with pytest.raises(ValueError, match="positive semi-definite"):
        V.check_spd(np.array([[1.0, 2.0], [2.0, 1.0]]), "S")
    with pytest.raises(ValueError, match=r"\(\.\.\., d, d\)"):
        V.check_spd(np.ones((2, 3)), "S")


def test_public_names():
    for name in ("GMM", "SpectralMixture", "enable_x64", "ConvergenceWarning"):
        assert hasattr(mixtures, name)
