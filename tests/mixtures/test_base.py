"""The shared estimator base, its input checks, lazy imports and the compilation cache."""

from __future__ import annotations

import subprocess
import sys
import warnings

import numpy as np
import pytest
import scipy.sparse
from sklearn.exceptions import NotFittedError

from mixtures.base import (
    Bool,
    ConvergenceWarning,
    DivergenceError,
    Integer,
    MixturesEstimator,
    Options,
    Real,
    check_array,
    pad_axis,
    padded_length,
)


class _Toy(MixturesEstimator):
    _parameter_constraints = {"k": Integer(low=1), "tol": Real(low=0.0, low_open=True),
                              "kind": Options(("a", "b")), "verbose": Bool(), "other": None}

    def __init__(self, k=1, tol=1e-3, kind="a", verbose=False, other=None):
        self.k, self.tol, self.kind, self.verbose, self.other = k, tol, kind, verbose, other

    def fit(self, X):
        self._validate_params()
        self._check_table(X, reset=True)
        self.mean_ = np.mean(check_array(X), axis=0)
        return self

    def predict(self, X):
        self._check_fitted()
        return self._check_table(X, reset=False) @ self.mean_


@pytest.mark.parametrize("params,error,word", [
    ({"k": 0}, ValueError, "k"), ({"k": 1.5}, TypeError, "k"), ({"k": True}, TypeError, "k"),
    ({"tol": 0.0}, ValueError, "tol"), ({"tol": float("nan")}, ValueError, "tol"),
    ({"tol": 1j}, TypeError, "tol"), ({"kind": "c"}, ValueError, "kind"),
    ({"verbose": 1}, TypeError, "verbose"), ({"verbose": "yes"}, TypeError, "verbose"),
])
def test_declared_constraints_are_checked_at_fit(params, error, word):
    est = _Toy(**params)  # __init__ stores, fit checks
    with pytest.raises(error, match=word):
        est.fit(np.ones((3, 2)))


def test_not_fitted_then_fitted_and_feature_checks():
    pd = pytest.importorskip("pandas")
    est = _Toy()
    with pytest.raises(NotFittedError):
        est.predict(np.ones((2, 2)))
    df = pd.DataFrame({"a": [1.0, 2.0], "b": [3.0, 5.0]})
    est.fit(df)
    assert est.n_features_in_ == 2 and list(est.feature_names_in_) == ["a", "b"]
    np.testing.assert_allclose(est.predict(df), df.to_numpy() @ [1.5, 4.0])
    with pytest.raises(ValueError, match="3 features"):
        est.predict(np.ones((2, 3)))
    with pytest.raises(ValueError, match="feature names"):
        est.predict(df.rename(columns={"a": "z"}))
    est.fit(np.ones((2, 2)))  # refit on an array forgets the names
    assert not hasattr(est, "feature_names_in_")


@pytest.mark.parametrize("bad,word", [
    (np.ones((2, 2)) + 1j, "complex"), ("abc", "string"),
    (np.array([["a", "b"]], dtype=object), "numbers"), (np.array([["1", "2"]]), "string"),
    (scipy.sparse.csr_matrix(np.eye(2)), "sparse"), (None, "None"),
    (np.array([[1 + 0j, 2]], dtype=object), "numbers"),
])
def test_check_array_rejects_non_real_input_with_a_type_error(bad, word):
    with pytest.raises(TypeError, match="my_arg") as info:
        check_array(bad, "my_arg")
    assert word in str(info.value)


def test_check_array_accepts_object_arrays_of_real_numbers_and_bools():
    out = check_array(np.array([[1, 2.5]], dtype=object), "X")
    assert out.dtype == np.float64 and out.tolist() == [[1.0, 2.5]]
    assert check_array(np.array([[True, False]]), "X").tolist() == [[1.0, 0.0]]


def test_divergence_error_is_caught_by_the_former_error_types():
    for kind in (FloatingPointError, ValueError, RuntimeError):
        with pytest.raises(kind):
            raise DivergenceError("diverged")


def test_convergence_warning_points_at_the_users_line():
    from mixtures import GaussianMixture

    X = np.random.default_rng(0).normal(size=(50, 2))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        GaussianMixture(2, max_iter=1, tol=0.0, random_state=0).fit(X)
    conv = [w for w in caught if issubclass(w.category, ConvergenceWarning)]
    assert len(conv) == 1
    assert conv[0].filename == __file__


def test_set_convergence_caps_n_iter_and_warns_only_when_not_converged():
    est = _Toy()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        est._set_convergence(True, 5, 10)
    assert est.converged_ and est.n_iter_ == 5
    with pytest.warns(ConvergenceWarning, match="_Toy did not converge in 10"):
        est._set_convergence(False, 12, 10)
    assert not est.converged_ and est.n_iter_ == 10


@pytest.mark.parametrize("n", [1, 2, 31, 32, 33, 400, 437, 4096, 4097, 5000, 123_457])
def test_padded_length_buckets(n):
    m = padded_length(n)
    assert m >= max(n, 32)
    assert m <= max(32, 2 * n) and (n <= 4096 or m <= n * 1.0625 + 1)
    # a bucket is shared: every size between the previous bucket and m maps to m
    assert padded_length(m) == m


def test_pad_axis():
    x = np.arange(6.0).reshape(3, 2)
    out = pad_axis(x, 5, axis=0)
    assert out.shape == (5, 2) and (out[3:] == 0).all() and (out[:3] == x).all()
    assert pad_axis(x, 4, axis=1, value=-1.0)[:, 2:].tolist() == [[-1, -1]] * 3
    with pytest.raises(ValueError):
        pad_axis(x, 2)


def _run(code, env=None):
    import os

    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=dict(os.environ, **(env or {})))
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_imports_are_lazy():
    out = _run(
        "import sys, mixtures, solvers.ila_sdp, solvers.lightsb, solvers.chromatography, "
        "solvers.kinematic, solvers.growth_moe, solvers.gp_pde\n"
        "heavy = ['jax', 'sklearn', 'scipy', 'cvxpy', 'pandas', 'matplotlib', 'optax', 'tqdm']\n"
        "print(sorted(m for m in heavy if m in sys.modules))\n"
        "from solvers.ila_sdp import ILASDP\n"
        "print('cvxpy' in sys.modules, 'matplotlib' in sys.modules)"
    )
    first, second = out.strip().splitlines()
    assert first == "[]"
    assert second == "False False"


def test_lazy_names_resolve_and_unknown_names_raise():
    import mixtures
    import solvers.kinematic

    for module in (mixtures, solvers.kinematic):
        for name in module.__all__:
            assert getattr(module, name) is not None
        assert set(module.__all__) <= set(dir(module))
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        mixtures.nope  # noqa: B018


def test_cache_dir_is_opt_in_and_honours_the_environment(tmp_path):
    code = ("import jax, mixtures\n"
            "before = jax.config.jax_compilation_cache_dir\n"
            "with mixtures.x64():\n    pass\n"
            "print(before, jax.config.jax_compilation_cache_dir)")
    assert _run(code).split() == ["None", "None"]
    cache = tmp_path / "cache"
    assert _run(code, {"MIXTURES_CACHE_DIR": str(cache)}).split() == ["None", str(cache)]
    assert cache.is_dir()
