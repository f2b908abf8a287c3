"""Regression tests for the estimator contract: units, padding, errors, convergence flags.

The shared contract test (``tests/test_contract.py`` with ``contract_case.py`` here) checks
times x 1000 and Y x 1e6; these tests check the maps behind it against independent references
(the basis itself, the likelihood in the data's units, a NumPy softmax) and the defects of
issue 20 one by one.
"""

from __future__ import annotations

import warnings
from types import SimpleNamespace

import jax
import numpy as np
import pytest

from mixtures import x64
from mixtures.base import ConvergenceWarning, DivergenceError, NotFittedError
from solvers.growth_moe import GrowthMixtureMoE, _core, datasets
from solvers.growth_moe import estimator as est_mod
from tests.contract import count_compilations

CURVES = _core.CURVES


@pytest.fixture(scope="module")
def small():
    d = datasets.simulate(n=60, n_waves=5, placement="gating", random_state=0)
    return d.Y, d.times, d.X


@pytest.fixture(scope="module")
def frame_fit(small):
    pd = pytest.importorskip("pandas")
    Y, times, X = small
    Xdf = pd.DataFrame(X, columns=["age", "ses"])
    return GrowthMixtureMoE(2, curve="linear", n_init=1, n_initial=0, random_state=0).fit(
        Y, times, Xdf
    ), Xdf


def _curve_params(curve, rng, K):
    c = _core.N_CURVE_PARAMS[curve]
    g = rng.uniform(0.3, 0.9, (K, c))
    return -g if curve == "jenss_bayley" else g


# ------------------------------------------------------------------ the unit maps
@pytest.mark.parametrize("curve", CURVES)
def test_time_map_reproduces_the_basis(curve):
    """Lambda(tc + ts t'; g) eta == Lambda(t'; g') M(g) eta for every curve family."""
    rng = np.random.default_rng(0)
    K, q = 3, _core.N_FACTORS[curve]
    tc, ts = 1.7, 2.5
    s = _core.Scaling(tc, ts, 0.0, 1.0, *[np.zeros(0)] * 8)
    g = _curve_params(curve, rng, K) + (tc if curve == "bilinear_spline" else 0.0)
    t_std = np.linspace(-1.5, 1.5, 7)
    eta = rng.standard_normal((K, q))
    with x64():
        g_std = {"bilinear_spline": (g - tc) / ts, "linear": g, "quadratic": g}.get(curve, g * ts)
        np.testing.assert_allclose(np.asarray(_core.curve_to_original(g_std, s, curve)), g)
        M = np.asarray(_core.time_map(g, s, curve))
    lhs = np.einsum("ktq,kq->kt", _core.basis(tc + ts * t_std[None], g, curve, xp=np), eta)
    rhs = np.einsum(
        "ktq,kq->kt", _core.basis(t_std[None], g_std, curve, xp=np), np.einsum("kqr,kr->kq", M, eta)
    )
    np.testing.assert_allclose(rhs, lhs, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("curve", CURVES)
def test_to_original_is_the_same_model_in_the_data_units(curve):
    """The likelihood of the mapped parameters on the raw data equals the likelihood of the
    standardised parameters on the standardised data, shifted by the log-Jacobian (time-varying
    covariates ``Z`` included: their effects rescale and the intercept absorbs their centre)."""
    rng = np.random.default_rng(1)
    n, T, K, q, c = 9, 5, 2, _core.N_FACTORS[curve], _core.N_CURVE_PARAMS[curve]
    dims = (K, q, c, 2, 2, 1, 2, int(curve == "bilinear_spline"))
    w = 0.3 * rng.standard_normal(_core.n_params(dims))
    Y = rng.standard_normal((n, T))
    Y[0, 3] = np.nan
    times = np.sort(rng.uniform(-1.0, 1.0, (n, T)), axis=1)
    X = rng.standard_normal((n, 3))
    Z = rng.standard_normal((n, T, 2))
    mask = ~np.isnan(Y)
    tc = 0.0 if curve in est_mod._fitting._ORIGIN_CURVES else 4.0
    sc = {
        "tc": tc,
        "ts": 3.0,
        "yc": 50.0,
        "ys": 7.0,
        "gc": np.array([1.0, -2.0]),
        "gs": np.array([2.0, 0.5]),
        "ec": np.array([3.0, 1.0]),
        "es": np.array([4.0, 2.0]),
        "jc": np.array([-1.0]),
        "js": np.array([5.0]),
        "zc": np.array([2.0, -30.0]),
        "zs": np.array([0.5, 10.0]),
    }
    raw = lambda a, k: sc[k[0] + "c"] + sc[k[0] + "s"] * a  # noqa: E731
    lo, hi = times[mask].min(), times[mask].max()
    with x64():
        s = _core.Scaling(**{k: jax.numpy.asarray(sc[k]) for k in _core.Scaling._fields})
        p_std, p_orig, _ = _core.natural_params(w, lo, hi, s, dims, curve)
        std = est_mod._make_data(Y, times, mask, X[:, :2], X[:, 1:], X[:, 2:], lo, hi, Z=Z)
        orig = est_mod._make_data(
            raw(Y, "y"),
            raw(times, "t"),
            mask,
            raw(X[:, :2], "g"),
            raw(X[:, 1:], "e"),
            raw(X[:, 2:], "j"),
            lo,
            hi,
            Z=raw(Z, "z"),
        )
        loglik = jax.jit(_core.loglik, static_argnames="curve")
        ll_std = float(loglik(p_std, std, curve))
        ll_orig = float(loglik(p_orig, orig, curve))
    shift = -mask.sum() * np.log(sc["ys"]) - n * np.log(sc["js"]).sum()
    np.testing.assert_allclose(ll_orig, ll_std + shift, rtol=1e-10)


def test_covariate_units(small):
    """X x 1e4: gate and expert coefficients divide by 1e4, the covariate density's mean and
    covariance scale by 1e4 and 1e8, the log-likelihood shifts by -n log(1e4) per density
    column. (Parameters agree to the optimiser's tolerance: rounding in the standardised data
    moves the L-BFGS path slightly.)"""
    Y, times, X = small
    c = 1e4
    kw = dict(
        curve="linear",
        n_init=1,
        n_initial=0,
        gating_covariates=[0],
        expert_covariates=[1],
        covariate_density="joint",
        random_state=0,
    )
    ref = GrowthMixtureMoE(2, **kw).fit(Y, times, X)
    big = GrowthMixtureMoE(2, **kw).fit(Y, times, X * c)
    assert ref.density_columns_.tolist() == [1]
    np.testing.assert_allclose(big.loglik_, ref.loglik_ - len(Y) * np.log(c), rtol=1e-9)
    np.testing.assert_allclose(big.gating_coef_, ref.gating_coef_ / c, rtol=1e-4)
    np.testing.assert_allclose(big.gating_intercept_, ref.gating_intercept_, rtol=1e-4)
    np.testing.assert_allclose(big.expert_coef_, ref.expert_coef_ / c, rtol=1e-4)
    np.testing.assert_allclose(big.class_means_, ref.class_means_, rtol=1e-6)
    np.testing.assert_allclose(big.covariate_means_, c * ref.covariate_means_, rtol=1e-4)
    np.testing.assert_allclose(
        big.covariate_covariances_, c**2 * ref.covariate_covariances_, rtol=1e-4
    )
    np.testing.assert_array_equal(big.predict(Y, times, X * c), ref.predict(Y, times, X))


def test_knots_follow_the_time_unit(small):
    Y, times, X = small
    kw = dict(curve="bilinear_spline", n_init=1, n_initial=0, max_iter=60, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = GrowthMixtureMoE(1, **kw).fit(Y, times)
        days = GrowthMixtureMoE(1, **kw).fit(Y, times * 365.0)
    np.testing.assert_allclose(days.curve_params_, 365.0 * ref.curve_params_, rtol=1e-6)
    np.testing.assert_allclose(
        days.class_means_[:, 1:3], ref.class_means_[:, 1:3] / 365.0, rtol=1e-6
    )
    np.testing.assert_allclose(days.loglik_, ref.loglik_, rtol=1e-9)


# ------------------------------------------------------------------ shape buckets
def test_padding_rows_change_nothing(small):
    Y, times, X = small
    mask = ~np.isnan(Y)
    dims = (2, 2, 0, 2, 2, 0, 0, 0)
    w = 0.2 * np.random.default_rng(2).standard_normal(_core.n_params(dims))
    with x64():
        args = (Y, times, mask, X, X, X[:, :0], 0.0, 5.0)
        plain = _core.nll_and_grad(w, est_mod._make_data(*args), dims, "linear")
        padded = _core.nll_and_grad(w, est_mod._make_data(*args, length=128), dims, "linear")
    np.testing.assert_allclose(padded[0], plain[0], rtol=1e-13)
    np.testing.assert_allclose(padded[1], plain[1], rtol=1e-11, atol=1e-13)


def test_padded_fit_equals_unpadded_fit(small, monkeypatch):
    Y, times, X = small
    make = lambda: GrowthMixtureMoE(2, curve="linear", n_init=1, n_initial=0, random_state=0)  # noqa: E731
    padded = make().fit(Y, times, X)
    monkeypatch.setattr(est_mod, "_bucket", lambda n: n)
    plain = make().fit(Y, times, X)
    assert est_mod.padded_length(len(Y)) > len(Y)
    np.testing.assert_allclose(padded.loglik_, plain.loglik_, rtol=1e-12)
    np.testing.assert_allclose(padded.params_, plain.params_, rtol=1e-6, atol=1e-9)


def test_refit_inside_the_bucket_compiles_nothing(small):
    Y, times, X = small
    model = GrowthMixtureMoE(2, curve="linear", n_init=1, random_state=0)
    model.fit(Y, times, X)  # warm-up at n = 60
    with count_compilations() as counter:
        model.fit(Y[:45], times[:45], X[:45])  # n = 45: same bucket of 64 persons
        model.predict(Y[:40], times[:40], X[:40])
    assert counter.count == 0


# ------------------------------------------------------------------ errors and flags
def test_not_fitted_error_everywhere(small):
    Y, times, X = small
    model = GrowthMixtureMoE(2)
    for call in (
        lambda: model.predict(Y, times, X),
        lambda: model.score(Y, times, X),
        lambda: model.predict_trajectories(times[0]),
        model.summary,
    ):
        with pytest.raises(NotFittedError):
            call()


def test_feature_names_and_gate_weights(frame_fit, small):
    model, Xdf = frame_fit
    Y, times, X = small
    assert model.n_features_in_ == 2
    assert list(model.feature_names_in_) == ["age", "ses"]
    assert "gate.class1.age" in model.param_names_
    with pytest.raises(ValueError, match="feature names"):
        model.predict(Y, times, Xdf.rename(columns={"age": "AGE"}))
    # weights_: the gate's probabilities averaged over the persons (NumPy softmax reference)
    logits = np.column_stack([np.zeros(len(X)), model.gating_intercept_ + X @ model.gating_coef_.T])
    prob = np.exp(logits - logits.max(1, keepdims=True))
    np.testing.assert_allclose(
        model.weights_, (prob / prob.sum(1, keepdims=True)).mean(0), rtol=1e-10
    )
    # a refit without covariates forgets the names
    model2 = GrowthMixtureMoE(1, curve="linear", n_init=1, n_initial=0).fit(Y, times)
    assert model2.n_features_in_ == 0 and not hasattr(model2, "feature_names_in_")


@pytest.mark.parametrize(
    "curve, n_times", [("linear", 1), ("quadratic", 2), ("negative_exponential", 2)]
)
def test_too_few_distinct_times(small, curve, n_times):
    Y, times, X = small
    t = np.arange(n_times, dtype=float)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no divide-by-zero RuntimeWarning on the way
        with pytest.raises(ValueError, match="times must hold at least"):
            GrowthMixtureMoE(1, curve=curve).fit(Y[:, :n_times], t)


@pytest.mark.parametrize("pos, name", [(0, "Y"), (1, "times"), (2, "X")])
def test_complex_input_is_a_type_error(small, pos, name):
    args = list(small)
    args[pos] = args[pos] + 0.5j
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no ComplexWarning
        with pytest.raises(TypeError, match=name):
            GrowthMixtureMoE(2, curve="linear").fit(*args)


@pytest.mark.parametrize("value", ["yes", 1, None])
def test_verbose_must_be_a_bool(small, value):
    with pytest.raises(TypeError, match="verbose"):
        GrowthMixtureMoE(2, verbose=value).fit(*small)


def _fake_minimize(fun, nit, success, jac):
    def minimize(w0, *args):
        return SimpleNamespace(
            x=w0, fun=fun, nit=nit, success=success, jac=np.full_like(w0, jac), message="stub"
        )

    return minimize


def test_every_start_diverging_raises_divergence_error(small, monkeypatch):
    monkeypatch.setattr(est_mod._fitting, "_minimize", _fake_minimize(np.inf, 3, False, 1.0))
    with pytest.raises(DivergenceError, match="diverged"):
        GrowthMixtureMoE(2, curve="linear", n_init=2, n_initial=0, random_state=0).fit(*small)


@pytest.mark.filterwarnings("ignore:the observed information:RuntimeWarning")
def test_stop_at_first_iteration_is_not_convergence(small, monkeypatch):
    # L-BFGS-B may report success after one step when the objective barely moves; without
    # the gradient criterion that is not convergence
    monkeypatch.setattr(est_mod._fitting, "_minimize", _fake_minimize(5.0, 1, True, 0.3))
    with pytest.warns(ConvergenceWarning, match="did not converge"):
        model = GrowthMixtureMoE(2, curve="linear", n_init=1, n_initial=0, random_state=0).fit(
            *small
        )
    assert model.converged_ is False and model.n_iter_ == 1


@pytest.mark.filterwarnings("ignore:the observed information:RuntimeWarning")
def test_max_iter_reached_is_not_convergence(small):
    with pytest.warns(ConvergenceWarning, match="did not converge in 2 iteration"):
        model = GrowthMixtureMoE(2, curve="linear", n_init=1, max_iter=2, random_state=0).fit(
            *small
        )
    assert model.converged_ is False and model.n_iter_ <= 2


@pytest.mark.filterwarnings("ignore:the best log-likelihood:UserWarning")
def test_unit_contract_without_an_initial_stage(small):
    """The contract's unit cases hold when the starts go straight to the final stage
    (``n_initial=0``): L-BFGS-B's stopping point depends on its path, which a change of units
    perturbs by rounding; the Newton refinement of the best start removes that dependence."""
    from tests.solvers.growth_moe.contract_case import CASES

    make = lambda: GrowthMixtureMoE(2, curve="linear", n_init=2, n_initial=0, random_state=0)  # noqa: E731
    ref = make().fit(*small)
    for unit in CASES[0].units:
        scaled_args = unit.transform(small)
        unit.check(ref, make().fit(*scaled_args), small, scaled_args)


def test_units_property(small):
    """Any positive rescaling of Y and of times (hypothesis draws a few) gives the same fit
    with the parameters mapped and the log-likelihood shifted by -N_obs log(cy)."""
    hypothesis = pytest.importorskip("hypothesis")
    st = hypothesis.strategies
    Y, times, X = small
    make = lambda: GrowthMixtureMoE(2, curve="linear", n_init=1, n_initial=0, random_state=0)  # noqa: E731
    ref = make().fit(Y, times, X)
    n_obs = np.sum(~np.isnan(Y))

    @hypothesis.settings(max_examples=3, deadline=None, derandomize=True)
    @hypothesis.given(st.floats(-6, 6), st.floats(-4, 4))
    def check(log_cy, log_ct):
        cy, ct = 10.0**log_cy, 10.0**log_ct
        m = make().fit(Y * cy, times * ct, X)
        np.testing.assert_allclose(
            m.loglik_, ref.loglik_ - n_obs * np.log(cy), rtol=1e-8, atol=1e-6
        )
        np.testing.assert_allclose(
            m.class_means_, ref.class_means_ * cy * [1.0, 1.0 / ct], rtol=1e-5
        )
        np.testing.assert_array_equal(m.predict(Y * cy, times * ct, X), ref.predict(Y, times, X))

    check()


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.filterwarnings("ignore:the observed information:RuntimeWarning")
def test_verbose_shows_a_progress_bar(small, capsys):
    GrowthMixtureMoE(2, curve="linear", n_init=1, max_iter=50, verbose=True, random_state=0).fit(
        *small
    )
    assert "GrowthMixtureMoE" in capsys.readouterr().err
