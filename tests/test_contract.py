"""One contract for every estimator (see ``mixtures.base``), checked on each ``ContractCase``.

Cases live beside each estimator's tests in ``contract_case.py`` (see ``tests/contract.py``).
"""

from __future__ import annotations

import importlib.util
import pickle
from pathlib import Path

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError

from tests.contract import ContractCase

_ROOT = Path(__file__).parent


def _load_cases() -> list[ContractCase]:
    cases = []
    for path in sorted(_ROOT.rglob("contract_case.py")):
        spec = importlib.util.spec_from_file_location(
            "contract_case_" + "_".join(path.relative_to(_ROOT).parts[:-1]), path
        )
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        cases.extend(module.CASES)
    return cases


CASES = _load_cases()
IDS = [c.name for c in CASES]
UNIT_CASES = [(c, u) for c in CASES for u in c.units]


def _fitted(case, random_state=0):
    args = case.fit_args()
    est = case.make(random_state)
    assert est.fit(*args) is est
    return est, args


def test_every_estimator_has_a_case():
    import mixtures
    import solvers.chromatography
    import solvers.gp_pde
    import solvers.growth_moe
    import solvers.ila_sdp
    import solvers.kinematic
    import solvers.lightsb

    expected = {
        mixtures.GaussianMixture, solvers.chromatography.ChromatogramFit,
        solvers.gp_pde.SpectralMixtureGPSolver, solvers.growth_moe.GrowthMixtureMoE,
        solvers.ila_sdp.ILASDP, solvers.ila_sdp.SDPKMeans, solvers.kinematic.KinematicForecaster,
        solvers.lightsb.LightSB,
    }
    covered = {type(c.make(0)) for c in CASES}
    assert expected <= covered, expected - covered


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_derives_from_the_shared_base(case):
    from mixtures.base import MixturesEstimator

    assert isinstance(case.make(0), MixturesEstimator)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_clone_get_set_params_round_trip(case):
    est = case.make(0)
    params = est.get_params(deep=False)
    twin = clone(est)
    assert twin is not est
    assert set(twin.get_params(deep=False)) == set(params)
    for k, v in params.items():
        assert twin.get_params(deep=False)[k] is v or repr(twin.get_params()[k]) == repr(v), k
    assert est.set_params(**params) is est


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_not_fitted_error_before_fit(case):
    est = case.make(0)
    args = case.fit_args()
    assert case.methods, "a case names at least one method that needs a fit"
    for _name, call in case.methods:
        with pytest.raises(NotFittedError):
            call(est, args)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_fitted_attributes_are_numpy_float64_and_pickle(case):
    import jax

    est, args = _fitted(case)
    for name, value in vars(est).items():
        if not name.endswith("_"):
            continue
        assert not isinstance(value, jax.Array), f"{name} is a JAX array"
        assert not callable(value) or isinstance(value, type), f"{name} is a function"
        if isinstance(value, np.ndarray) and value.dtype.kind == "f":
            assert value.dtype == np.float64, f"{name} is {value.dtype}"
    out = np.asarray(case.output(est, args))
    again = pickle.loads(pickle.dumps(est))
    np.testing.assert_array_equal(np.asarray(case.output(again, args)), out)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_same_seed_same_result(case):
    a, args = _fitted(case, 0)
    b, _ = _fitted(case, 0)
    np.testing.assert_allclose(np.asarray(case.output(b, args)),
                               np.asarray(case.output(a, args)), rtol=1e-10, atol=0)


@pytest.mark.parametrize("case", [c for c in CASES if c.score is not None],
                         ids=[c.name for c in CASES if c.score is not None])
def test_score_is_a_finite_float(case):
    est, args = _fitted(case)
    s = case.score(est, args)
    assert isinstance(s, float) and np.isfinite(s)


@pytest.mark.parametrize("case,unit", UNIT_CASES, ids=[f"{c.name}-{u.name}" for c, u in UNIT_CASES])
def test_units_do_not_change_the_answer(case, unit):
    ref, args = _fitted(case)
    scaled_args = unit.transform(args)
    scaled = case.make(0)
    scaled.fit(*scaled_args)
    unit.check(ref, scaled, args, scaled_args)


def _bad_versions(value):
    arr = np.asarray(value, dtype=float)
    yield "complex", arr + 1j
    yield "string", "abc"
    yield "strings", np.full(arr.shape, "a", dtype=object)
    if arr.ndim == 2:
        import scipy.sparse

        yield "sparse", scipy.sparse.csr_matrix(arr)


@pytest.mark.parametrize("case", [c for c in CASES if c.array_args],
                         ids=[c.name for c in CASES if c.array_args])
def test_bad_input_is_a_type_error_naming_the_argument(case):
    args = case.fit_args()
    for pos, name in case.array_args:
        for kind, bad in _bad_versions(args[pos]):
            bad_args = list(args)
            bad_args[pos] = bad
            with pytest.raises(TypeError, match=name):
                case.make(0).fit(*bad_args)
            assert kind


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_verbose_is_a_validated_bool(case):
    est = case.make(0)
    if "verbose" not in est.get_params():
        pytest.skip("no verbose parameter")
    est.set_params(verbose="yes")
    with pytest.raises(TypeError, match="verbose"):
        est.fit(*case.fit_args())


def _sklearn_cases():
    return [c for c in CASES if c.sklearn_checks]


def _check_params():
    try:
        from sklearn.utils.estimator_checks import parametrize_with_checks
    except ImportError:  # pragma: no cover
        return []
    out = []
    for case in _sklearn_cases():
        out.append((case.make(0), case.expected_failed_checks))
    return out, parametrize_with_checks


_SK = _check_params()
if _SK and _SK[0]:
    _ests = [e for e, _ in _SK[0]]
    _expected = {type(e).__name__: x for e, x in _SK[0]}

    @_SK[1](_ests, expected_failed_checks=lambda e: _expected.get(type(e).__name__, {}))
    def test_scikit_learn_checks(estimator, check):
        check(estimator)


_TABLE_SCORED = [c for c in CASES if c.sklearn_checks and c.score is not None]


@pytest.mark.parametrize("case", _TABLE_SCORED, ids=[c.name for c in _TABLE_SCORED])
def test_model_selection_runs_on_table_estimators(case):
    from sklearn.model_selection import GridSearchCV, cross_val_score

    args = case.fit_args()
    scores = cross_val_score(case.make(0), *args, cv=3)
    assert scores.shape == (3,) and np.isfinite(scores).all()
    search = GridSearchCV(case.make(0), {"random_state": [0, 1]}, cv=2).fit(*args)
    assert np.isfinite(search.best_score_)
