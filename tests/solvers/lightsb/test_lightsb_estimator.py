"""The LightSB estimator: fits against the closed-form Gaussian bridge, sampling, validation."""

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError

from mixtures import gaussian
from mixtures._config import x64
from mixtures.gaussian import GMM
from solvers.lightsb import LightSB, benchmark, gaussian_bridge


def _gaussian_pair(d, seed=0):
    rng = np.random.default_rng(seed)
    A0, A1 = rng.standard_normal((2, d, d))
    S0 = A0 @ A0.T / d + 0.5 * np.eye(d)
    S1 = A1 @ A1.T / d + 0.5 * np.eye(d)
    m0, m1 = rng.standard_normal(d), rng.standard_normal(d)
    return m0, S0, m1, S1, rng


def _fit_gaussian(d, eps, max_iter):
    m0, S0, m1, S1, rng = _gaussian_pair(d)
    X0 = rng.multivariate_normal(m0, S0, 4000)
    X1 = rng.multivariate_normal(m1, S1, 4000)
    # the default covariance_type ("auto") must pick the full S that rotated covariances need
    model = LightSB(n_components=1, epsilon=eps, max_iter=max_iter, random_state=0).fit(X0, X1)
    assert model.covariance_type_ == "full"
    return model, (m0, S0, m1, S1), X0, X1


@pytest.fixture(scope="module")
def fitted_2d():
    return {eps: _fit_gaussian(2, eps, 2000) for eps in (0.1, 1.0)}


def _cbw2_uvp_vs_bridge(model, m0, S0, m1, S1, eps):
    d = len(m0)
    X = np.random.default_rng(1).multivariate_normal(m0, S0, 300)
    br = gaussian_bridge(m0, S0, m1, S1, eps)
    true = GMM(
        np.zeros((300, 1)),
        (X @ br.coef.T + br.intercept)[:, None, :],
        np.broadcast_to(br.cov, (300, 1, d, d)),
        "full",
    )
    return benchmark.cbw2_uvp(model.conditional(X), true, np.trace(S1))


@pytest.mark.parametrize("eps", [0.1, 1.0])
def test_gaussian_to_gaussian_matches_bridge_2d(fitted_2d, eps):
    model, moments, _, _ = fitted_2d[eps]
    assert _cbw2_uvp_vs_bridge(model, *moments, eps) < 1.0


def test_gaussian_to_gaussian_matches_bridge_8d():
    model, moments, _, _ = _fit_gaussian(8, 1.0, 3000)
    assert _cbw2_uvp_vs_bridge(model, *moments, 1.0) < 1.0


def test_fitted_attributes_loss_and_score(fitted_2d):
    model, _, X0, X1 = fitted_2d[1.0]
    assert model.log_weights_.shape == (1,)
    assert model.means_.shape == (1, 2)
    assert model.covariances_.shape == (1, 2, 2)
    assert model.n_iter_ == 2000 and model.loss_curve_.shape == (2000,)
    for a in (
        model.log_weights_,
        model.means_,
        model.covariances_,
        model.loss_curve_,
        model.predict(X0[:5]),
        model.sample(X0[:5]),
        model.drift(X0[:5], 0.5),
    ):
        assert isinstance(a, np.ndarray) and a.dtype == np.float64
    # the minibatch curve is in the same units as the full-sample objective
    assert abs(model.loss_curve_[-300:].mean() + model.score(X0, X1)) < 0.05
    assert model.loss_curve_[:20].mean() > model.loss_curve_[-300:].mean()
    # held-out score: close to the training score for a one-component model
    m0, S0, m1, S1, rng = _gaussian_pair(2, seed=0)
    Y0, Y1 = rng.multivariate_normal(m0, S0, 4000), rng.multivariate_normal(m1, S1, 4000)
    assert abs(model.score(Y0, Y1) - model.score(X0, X1)) < 0.2


@pytest.fixture(scope="module")
def mixture_model():
    """A LightSB with hand-set parameters (3 diagonal components): no fitting needed."""
    model = LightSB(n_components=3, epsilon=0.5, covariance_type="diag")
    model.log_weights_ = np.log([0.2, 0.5, 0.3])
    model.means_ = np.array([[-2.0, 0.0], [1.0, 2.0], [2.0, -1.5]])
    model.covariances_ = 0.5 * np.array([[0.5, 1.2], [0.8, 0.4], [1.0, 1.0]])
    model.covariance_type_ = "diag"
    model.n_features_in_ = 2
    return model


X_TEST = np.array([[0.3, -0.2], [-1.0, 1.0]])


def _conditional_moments(model, X):
    cond = model.conditional(X)
    with x64():
        out = [
            gaussian.moments(GMM(lw, m, c, cond.covariance_type))
            for lw, m, c in zip(cond.log_weights, cond.means, cond.covariances)
        ]
    return [(np.asarray(m), np.asarray(c)) for m, c in out]


def test_conditional_sample_predict_agree(mixture_model):
    cond = mixture_model.conditional(X_TEST)
    assert cond.log_weights.shape == (2, 3) and cond.means.shape == (2, 3, 2)
    np.testing.assert_allclose(np.exp(cond.log_weights).sum(1), 1.0)
    moments = _conditional_moments(mixture_model, X_TEST)
    Y = mixture_model.sample(X_TEST, n_samples=20000, random_state=0)
    assert Y.shape == (2, 20000, 2)
    pred = mixture_model.predict(X_TEST)
    for i, (mean, cov) in enumerate(moments):
        np.testing.assert_allclose(pred[i], mean, atol=1e-12)
        np.testing.assert_allclose(Y[i].mean(0), mean, atol=4 * np.sqrt(cov.max() / 20000))
        np.testing.assert_allclose(np.cov(Y[i].T), cov, atol=0.06 * np.abs(cov).max())
    np.testing.assert_array_equal(
        mixture_model.sample(X_TEST, 3, random_state=7),
        mixture_model.sample(X_TEST, 3, random_state=7),
    )


def test_trajectories_bridge_moments(mixture_model):
    eps, n, steps = 0.5, 20000, 10
    X = np.repeat(X_TEST[:1], n, axis=0)
    paths = mixture_model.sample_trajectory(X, n_steps=steps, random_state=1)
    assert paths.shape == (n, steps + 1, 2)
    np.testing.assert_array_equal(paths[:, 0], X)
    mean, cov = _conditional_moments(mixture_model, X_TEST[:1])[0]
    end = paths[:, -1]
    np.testing.assert_allclose(end.mean(0), mean, atol=4 * np.sqrt(cov.max() / n))
    np.testing.assert_allclose(np.cov(end.T), cov, atol=0.05 * np.abs(cov).max())
    # about the straight line x0 -> x1 the path is a Brownian bridge of variance eps:
    # Var = eps t (1 - t), Cov(s, t) = eps s (1 - t) for s < t, independent coordinates
    t = np.linspace(0, 1, steps + 1)
    resid = paths - X[:, None] - t[None, :, None] * (end - X)[:, None]
    for j in (3, 5):
        np.testing.assert_allclose(resid[:, j].var(0), eps * t[j] * (1 - t[j]), rtol=0.05)
    c = np.mean(resid[:, 3, 0] * resid[:, 7, 0])
    np.testing.assert_allclose(c, eps * t[3] * (1 - t[7]), rtol=0.1)
    assert abs(np.mean(resid[:, 5, 0] * resid[:, 5, 1])) < 0.01


def test_drift_integrates_to_the_plan(mixture_model):
    """Euler-Maruyama with the closed-form drift ends distributed as conditional(x)."""
    eps, n, steps = 0.5, 4000, 200
    rng = np.random.default_rng(3)
    x = np.repeat(X_TEST[1:], n, axis=0)
    np.testing.assert_allclose(
        mixture_model.drift(X_TEST, 0.0), mixture_model.predict(X_TEST) - X_TEST, atol=1e-12
    )
    dt = 1.0 / steps
    for k in range(steps):
        x = (
            x
            + mixture_model.drift(x, k * dt) * dt
            + np.sqrt(eps * dt) * rng.standard_normal(x.shape)
        )
    mean, cov = _conditional_moments(mixture_model, X_TEST[1:])[0]
    np.testing.assert_allclose(x.mean(0), mean, atol=0.08)
    np.testing.assert_allclose(np.cov(x.T), cov, atol=0.1 * np.abs(cov).max())


@pytest.mark.parametrize(
    "scale,eps", [(1e-3, 1e-3 * 1e-6), (1e3, 1e2 * 1e6), (1e3, 1e-3), (1e-3, 1e2)]
)
def test_scale_equivariance_and_finiteness(scale, eps):
    """Scaling the data by s and epsilon by s^2 scales the plan (same standardised problem);
    extreme epsilon / scale combinations stay finite."""
    rng = np.random.default_rng(5)
    X0 = rng.standard_normal((500, 2))
    X1 = 0.5 * rng.standard_normal((500, 2)) @ np.array([[1.0, 0.5], [0.0, 1.0]]) + [2.0, 0.0]
    shift = np.array([3.0, -1.0]) * scale
    kw = dict(n_components=2, max_iter=300, random_state=0)
    ref = LightSB(epsilon=eps / scale**2, **kw).fit(X0, X1)
    big = LightSB(epsilon=eps, **kw).fit(scale * X0 + shift, scale * X1 - shift)
    assert np.all(np.isfinite(big.loss_curve_)) and np.isfinite(
        big.score(scale * X0 + shift, scale * X1 - shift)
    )
    pred = big.predict(scale * X0[:50] + shift)
    assert np.all(np.isfinite(pred))
    np.testing.assert_allclose(
        pred, scale * ref.predict(X0[:50]) - shift, rtol=1e-6, atol=1e-6 * scale
    )


def test_bad_input():
    X = np.zeros((10, 2)) + np.arange(10)[:, None]
    with pytest.raises(ValueError, match="X1 has 3 features"):
        LightSB().fit(X, np.ones((10, 3)))
    Xn = X.copy()
    Xn[0, 0] = np.nan
    with pytest.raises(ValueError, match="X0 contains NaN"):
        LightSB().fit(Xn, X)
    with pytest.raises(ValueError, match="X1 contains NaN"):
        LightSB().fit(X, Xn)
    for eps in (0.0, -1.0):
        with pytest.raises(ValueError, match="epsilon must be > 0"):
            LightSB(epsilon=eps).fit(X, X)
    with pytest.raises(ValueError, match="n_components must be >= 1"):
        LightSB(n_components=0).fit(X, X)
    with pytest.raises(TypeError, match="n_components must be an int"):
        LightSB(n_components=2.5).fit(X, X)
    with pytest.raises(ValueError, match="covariance_type"):
        LightSB(covariance_type="spherical").fit(X, X)
    with pytest.raises(ValueError, match="learning_rate"):
        LightSB(learning_rate=0.0).fit(X, X)
    with pytest.raises(ValueError, match="X0 must be a 2-D array"):
        LightSB().fit(np.zeros(5), X)
    with pytest.raises(ValueError, match="anneal_factor must be >= 1"):
        LightSB(anneal_factor=0.5).fit(X, X)
    with pytest.raises(TypeError, match="anneal_factor"):
        LightSB(anneal_factor="fast").fit(X, X)
    with pytest.raises(NotFittedError):
        LightSB().predict(X)


def test_bad_input_after_fit(mixture_model):
    with pytest.raises(ValueError, match="X has 4 features"):
        mixture_model.predict(np.zeros((3, 4)))
    with pytest.raises(ValueError, match="t must be <= 1"):
        mixture_model.drift(X_TEST, 1.5)
    with pytest.raises(ValueError, match="n_samples must be >= 1"):
        mixture_model.sample(X_TEST, 0)


def test_clone_keeps_hyperparameters():
    model = LightSB(n_components=3, epsilon=0.3, covariance_type="full", random_state=2)
    assert clone(model).get_params() == model.get_params()


def test_annealed_epsilon_schedule():
    """Geometric from factor * eps to eps over anneal_steps, constant after."""
    from solvers.lightsb import _core

    with x64():
        steps = np.array([0.0, 50.0, 100.0, 150.0])
        got = np.asarray(_core.annealed_epsilon(0.1, steps, 100.0, 100.0))
        np.testing.assert_allclose(got, [10.0, 1.0, 0.1, 0.1], rtol=1e-12)
        np.testing.assert_allclose(_core.annealed_epsilon(0.1, steps, 1.0, 100.0), 0.1)


def test_annealing_loss_curve_units():
    """The loss curve is the objective at each step's annealed epsilon: at the last step
    (epsilon itself) it matches the full-sample objective at the fitted parameters, and the
    first steps differ from those of the unannealed fit."""
    rng = np.random.default_rng(3)
    X0 = rng.standard_normal((2000, 4)) + 2.0  # a.b / eps = 160: a wrong shift would show
    X1 = 0.7 * rng.standard_normal((2000, 4)) + 1.0
    kw = dict(
        n_components=1,
        epsilon=0.05,
        covariance_type="full",
        max_iter=600,
        batch_size=2000,
        random_state=0,
    )
    annealed = LightSB(anneal_factor=20.0, **kw).fit(X0, X1)
    # full batches with replacement: the last minibatch loss is close to the full objective
    np.testing.assert_allclose(annealed.loss_curve_[-1], -annealed.score(X0, X1), atol=0.2)
    plain = LightSB(**kw).fit(X0, X1)
    assert abs(plain.loss_curve_[0] - annealed.loss_curve_[0]) > 1.0
    assert np.all(np.isfinite(annealed.loss_curve_))
