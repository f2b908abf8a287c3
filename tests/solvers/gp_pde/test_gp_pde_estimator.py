"""SpectralMixtureGPSolver: accuracy against exact solutions, pruning, dtypes, bad input.

Fits share grid sizes, component counts and operators so that each compiled fit is reused.
"""

import warnings

import jax.numpy as jnp
import numpy as np
import pytest

from mixtures import ConvergenceWarning
from mixtures._config import x64
from mixtures.spectral import SpectralMixture, gram
from solvers.gp_pde import PDEProblem, SpectralMixtureGPSolver, problems

TWO_PI = 2.0 * np.pi
F1, F2 = 2.0, 5.0  # cycles per unit length


def _two_freq(x):
    return jnp.sin(TWO_PI * F1 * x[:, 0]) + 0.5 * jnp.sin(TWO_PI * F2 * x[:, 0])


def _solver(**kw):
    base = dict(
        n_components=12,
        grid=61,
        max_iter=150,
        max_frequency=10.0,
        n_iter_no_change=None,
        random_state=0,
    )
    base.update(kw)
    return SpectralMixtureGPSolver(**base)


@pytest.fixture(scope="module")
def problem_1d():
    return problems.poisson(_two_freq, [(0.0, 1.0)], "two_freq")


@pytest.fixture(scope="module")
def fitted_1d(problem_1d):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return _solver().fit(problem_1d)


@pytest.fixture(scope="module")
def fitted_final(problem_1d):
    """The same fit, returning the last iterate (``checkpoint="final"``)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return _solver(checkpoint="final").fit(problem_1d)


def test_poisson_1d_accuracy(fitted_1d):
    """The paper's range initialisation (``max_frequency``) still solves a two-frequency
    problem in 150 iterations; the error on random points off the grid is as small as on the
    test grid. (The defaults' 1e-3 goal is tested in ``test_gp_pde_defaults.py``.)"""
    assert fitted_1d.relative_l2_error() < 5e-3
    X = np.random.default_rng(0).uniform(0, 1, (50, 1))
    assert fitted_1d.relative_l2_error(X) < 5e-3
    assert fitted_1d.n_iter_ == len(fitted_1d.loss_curve_) > 0
    assert fitted_1d.loss_curve_[-1] < fitted_1d.loss_curve_[0]


def test_pruning_keeps_true_frequencies(fitted_final):
    """After all 150 iterations the heaviest components sit at the solution's two frequencies
    (not strict sparsity: pruning is slow, see the docs)."""
    w, mu = fitted_final.weights_[0], fitted_final.frequencies_[0]
    top = mu[np.argsort(-w)[:4]]
    assert np.min(np.abs(top - F1)) < 0.3
    assert np.min(np.abs(top - F2)) < 0.3
    # the weight mass near the true frequencies dominates the rest (zero-frequency excluded)
    near = (np.abs(mu - F1) < 0.5) | (np.abs(mu - F2) < 0.5)
    assert w[near].sum() > w[~near & (mu > 0.5)].sum()


def test_derivative_and_std(fitted_1d):
    X = np.linspace(0.05, 0.95, 40)[:, None]
    d1 = fitted_1d.derivative(X, 1)
    exact = TWO_PI * F1 * np.cos(TWO_PI * F1 * X[:, 0]) + 0.5 * TWO_PI * F2 * np.cos(
        TWO_PI * F2 * X[:, 0]
    )
    assert np.linalg.norm(d1 - exact) / np.linalg.norm(exact) < 5e-2
    u, std = fitted_1d.predict(X, return_std=True)
    assert u.shape == std.shape == (40,)
    # the GP conditional variance given the grid values, from a dense numpy computation
    x = fitted_1d.grid_axes_[0]
    with x64():
        sm = SpectralMixture(
            jnp.log(fitted_1d.weights_[0]),
            jnp.asarray(fitted_1d.frequencies_[0]),
            jnp.log(fitted_1d.scales_[0]),
            fitted_1d.spectral,
        )
        C = np.asarray(gram(jnp.asarray(x), jnp.asarray(x), sm)) + fitted_1d.jitter * np.eye(x.size)
        R = np.asarray(gram(jnp.asarray(X[:, 0]), jnp.asarray(x), sm))
        prior = float(np.sum(fitted_1d.weights_[0]))
    var = prior - np.einsum("ij,ji->i", R, np.linalg.solve(C, R.T))
    expected = fitted_1d.solution_scale_ * np.sqrt(np.maximum(var, 0.0))
    np.testing.assert_allclose(std, expected, rtol=1e-5, atol=1e-8 * fitted_1d.solution_scale_)


def test_outputs_are_float64(fitted_1d):
    X = np.linspace(0, 1, 5)[:, None]
    u, std = fitted_1d.predict(X, return_std=True)
    for arr in (
        u,
        std,
        fitted_1d.derivative(X, 2),
        fitted_1d.weights_,
        fitted_1d.frequencies_,
        fitted_1d.loss_curve_,
        fitted_1d.grid_values_,
    ):
        assert isinstance(arr, np.ndarray) and arr.dtype == np.float64


def _poisson_minimiser(est, problem):
    """The grid values that minimise the GP-HM objective of a Poisson problem over ``U`` at
    the fitted kernel and precisions: a dense numpy solve in the unwhitened ``U`` (Kronecker
    products formed explicitly; small grids only). Returns the conditional mean on the grid."""
    cinv, mean, lap = np.ones((1, 1)), np.ones((1, 1)), 0.0
    with x64():
        for j, x in enumerate(est.grid_axes_):
            sm = SpectralMixture(
                jnp.log(est.weights_[j]),
                jnp.asarray(est.frequencies_[j]),
                jnp.log(est.scales_[j]),
                est.spectral,
            )
            K = np.asarray(gram(jnp.asarray(x), jnp.asarray(x), sm))
            K2 = np.asarray(gram(jnp.asarray(x), jnp.asarray(x), sm, 2, 0))
            Ci = np.linalg.inv(K + est.jitter * np.eye(x.size))
            # the Laplacian: d^2/dx_j^2 in dimension j, the conditional mean in the others
            lap = np.kron(lap, K @ Ci) + np.kron(mean, K2 @ Ci)
            cinv, mean = np.kron(cinv, Ci), np.kron(mean, K @ Ci)
    shape = est.grid_values_.shape
    on_boundary = np.zeros(shape, bool)
    for j in range(len(shape)):
        on_boundary[(slice(None),) * j + (0,)] = on_boundary[(slice(None),) * j + (-1,)] = True
    on_boundary = on_boundary.reshape(-1)
    X = np.stack(np.meshgrid(*est.grid_axes_, indexing="ij"), axis=-1).reshape(-1, len(shape))
    f = np.asarray(problem.source(X))
    g = np.asarray(problem.boundary(X[on_boundary]))
    tau_b, tau_r = est.tau_
    B = mean[on_boundary]  # boundary rows of the conditional mean
    lam = est.boundary_weight
    cinv = cinv / est.solution_scale_**2  # the prior covariance is solution_scale_**2 * C
    A = cinv + tau_r * lap.T @ lap + lam * tau_b * B.T @ B
    U = np.linalg.solve(A, tau_r * lap.T @ f + lam * tau_b * B.T @ g)
    return (mean @ U).reshape(shape)


def test_grid_values_minimise_the_objective_at_the_returned_kernel(fitted_final, problem_1d):
    """The returned grid values are the exact minimiser of the GP-HM objective over ``U`` at
    the returned kernel and precisions (a fit that took an Adam step on the kernel after its
    last solve would fail this)."""
    est = fitted_final
    assert est.best_iter_ == est.n_iter_ == 150
    u = _poisson_minimiser(est, problem_1d)
    assert np.linalg.norm(est.grid_values_ - u) <= 1e-6 * np.linalg.norm(u)
    # and they are what predict() returns at the grid points
    x = est.grid_axes_[0]
    np.testing.assert_allclose(est.predict(x[:, None]), est.grid_values_, rtol=0, atol=1e-9)


def test_checkpoint_is_the_smallest_heldout_residual(fitted_1d, problem_1d):
    """``checkpoint="residual"`` keeps the state with the smallest RMS PDE residual at the
    midpoints of the grid; the score is recomputed here through the public derivative."""
    est = fitted_1d
    scores = est.checkpoint_scores_
    assert scores.shape == (int(np.ceil(est.n_iter_ / 25)),)
    k = int(np.argmin(scores))
    assert est.best_iter_ == min(25 * (k + 1), est.n_iter_)
    x = est.grid_axes_[0]
    mid = 0.5 * (x[1:] + x[:-1])[:, None]
    rms = np.sqrt(np.mean((est.derivative(mid, 2) - problem_1d.source(mid)) ** 2))
    assert abs(rms - scores[k]) <= 1e-6 * scores[k]


def test_homogeneous_equation_returns_the_last_iterate():
    """With f = 0 the midpoint residual would prefer u = 0: the last iterate is returned."""
    p = problems.poisson(lambda x: x[:, 0] * (1.0 + 0.0 * x[:, 0]), [(0.0, 1.0)], "linear")
    assert not np.any(p.source(np.linspace(0, 1, 61)[:, None]))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est = _solver(max_iter=50).fit(p)
    assert est.best_iter_ == est.n_iter_ == 50
    assert est.relative_l2_error() < 0.1  # not the trivial u = 0 (error 1)


def test_init_residual_precision_trades_residual_for_boundary():
    """A smaller initial residual precision weights the boundary data more in the first solve
    (for a least-squares trade-off the boundary misfit cannot grow as the residual weight
    falls): on advection u_t + 200 u_x = 0 the default lets the solve miss the boundary."""
    p = problems.advection(200.0)
    misfit, taus = [], []
    for tau0 in (1.0, 1e-4):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            est = SpectralMixtureGPSolver(
                n_components=4,
                grid=(6, 16),
                max_iter=1,
                learning_rate=1e-12,  # the precisions stay at their initial values
                max_frequency=(2.5, 7.5),  # the grid's Nyquist frequencies
                boundary_weight=500.0,
                init_residual_precision=tau0,
                random_state=0,
            ).fit(p)
        ax = est.grid_axes_
        X = np.stack(np.meshgrid(*ax, indexing="ij"), axis=-1).reshape(-1, 2)
        truth = np.asarray(p.solution(X)).reshape(est.grid_values_.shape)
        b = np.zeros(truth.shape, bool)
        b[0, :] = b[-1, :] = b[:, 0] = b[:, -1] = True
        misfit.append(np.sqrt(np.mean((est.grid_values_ - truth)[b] ** 2)))
        taus.append(est.tau_[1])
    np.testing.assert_allclose(taus, [1.0, 1e-4], rtol=1e-6)
    assert misfit[1] < 0.5 * misfit[0]


@pytest.fixture(scope="module")
def problem_2d():
    return problems.poisson(
        lambda x: jnp.sin(2 * x[:, 0]) * jnp.cos(x[:, 1]), [(0.0, 2.0), (0.0, 1.5)]
    )


@pytest.fixture(scope="module")
def fitted_2d(problem_2d):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return SpectralMixtureGPSolver(
            n_components=3,
            grid=(12, 10),
            max_iter=50,
            learning_rate=0.1,
            checkpoint="final",  # the state after the last Adam step, re-solved
            random_state=0,
        ).fit(problem_2d)


def test_poisson_2d_kronecker_cg(fitted_2d):
    est = fitted_2d
    assert est.grid_values_.shape == (12, 10)
    assert est.frequencies_.shape == (2, 3)
    assert est.relative_l2_error() < 0.1


def test_2d_grid_values_minimise_the_objective_at_the_returned_kernel(fitted_2d, problem_2d):
    """In 2-D the grid values come from preconditioned conjugate gradients on Kronecker
    matvecs, warm-started across iterations: the returned state must still be the objective's
    minimiser at its kernel, here against a dense solve."""
    u = _poisson_minimiser(fitted_2d, problem_2d)
    assert np.linalg.norm(fitted_2d.grid_values_ - u) <= 1e-6 * np.linalg.norm(u)


# ------------------------------------------------------------------------- bad input
def _poisson_1d(source=None):
    return PDEProblem(
        [(0.0, 1.0)],
        lambda d, x: d["u_xx"],
        source or (lambda x: np.zeros(len(x))),
        lambda x: np.zeros(len(x)),
    )


def test_grid_too_small():
    with pytest.raises(ValueError, match="grid needs at least 3 points"):
        _solver(grid=2).fit(_poisson_1d())
    with pytest.raises(ValueError, match="one size per dimension"):
        _solver(grid=(10, 10)).fit(_poisson_1d())


def test_source_wrong_shape_or_nan():
    with pytest.raises(ValueError, match=r"source\(x\) must return an array of shape"):
        _solver().fit(_poisson_1d(lambda x: np.zeros((len(x), 2))))
    with pytest.raises(ValueError, match=r"source\(x\) returned NaN"):
        _solver().fit(_poisson_1d(lambda x: np.full(len(x), np.nan)))


def test_empty_domain():
    with pytest.raises(ValueError, match="domain is empty"):
        PDEProblem([(1.0, 1.0)], lambda d, x: d["u_xx"], np.sin, np.sin)
    with pytest.raises(ValueError, match="domain"):
        PDEProblem(np.zeros((0, 2)), lambda d, x: d["u_xx"], np.sin, np.sin)


def test_bad_hyperparameters(problem_1d):
    with pytest.raises(ValueError, match="n_components must be >= 1"):
        _solver(n_components=-3).fit(problem_1d)
    with pytest.raises(ValueError, match="spectral must be one of"):
        _solver(spectral="cauchy").fit(problem_1d)
    with pytest.raises(ValueError, match="init_residual_precision must be > 0"):
        _solver(init_residual_precision=0.0).fit(problem_1d)
    with pytest.raises(ValueError, match="checkpoint must be one of"):
        _solver(checkpoint="best").fit(problem_1d)
    with pytest.raises(TypeError, match="problem must be a PDEProblem"):
        _solver().fit("poisson")


def test_frequencies_above_nyquist_warn(problem_1d):
    """61 points on [0, 1] resolve frequencies up to (61 - 1) / 2 = 30 cycles per unit length;
    initial frequencies above that alias on the grid and get a warning, the default does not."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        with pytest.warns(UserWarning, match=r"max_frequency reaches 40 .*Nyquist.* = 30:"):
            est = _solver(max_frequency=40.0, max_iter=1).fit(problem_1d)
        # learned frequencies are folded to their aliases below Nyquist
        assert np.all(np.abs(est.frequencies_) <= 30.0) and est.frequencies_.max() > 20.0
        mu = np.linspace(0.0, 31.0, 12)
        with pytest.warns(UserWarning, match=r"init_frequencies reaches 31 .* = 30:"):
            _solver(init_frequencies=mu, max_iter=1).fit(problem_1d)
        with pytest.warns(UserWarning, match=r"init_frequencies reaches 31 .* = 30:"):
            est = _solver(init_frequencies=mu, learn_frequencies=False, max_iter=1).fit(problem_1d)
        np.testing.assert_array_equal(est.frequencies_[0], mu)  # fixed ones are left alone
        warnings.simplefilter("error", UserWarning)
        warnings.simplefilter("ignore", ConvergenceWarning)
        for top in (None, 30.0):
            est = _solver(max_frequency=top, max_iter=1).fit(problem_1d)
        assert est.n_iter_ == 1


def test_unknown_derivative_key():
    p = PDEProblem(
        [(0.0, 1.0)], lambda d, x: d["u_yy"], lambda x: np.zeros(len(x)), lambda x: np.zeros(len(x))
    )
    with pytest.raises(KeyError, match="u_yy"):
        _solver().fit(p)


def test_bad_prediction_input(fitted_1d):
    with pytest.raises(ValueError, match="X must have 1 column"):
        fitted_1d.predict(np.zeros((3, 2)))
    with pytest.raises(ValueError, match="order must give 1 derivative"):
        fitted_1d.derivative(np.zeros((3, 1)), (5,))
    with pytest.raises(ValueError, match="no exact solution"):
        fitted_1d.relative_l2_error(problem=_poisson_1d())
    with pytest.raises(TypeError, match="problem must be a PDEProblem"):
        fitted_1d.relative_l2_error(problem="poisson")


def test_diverging_fit_stops_and_warns(problem_1d):
    with pytest.warns(ConvergenceWarning, match="diverged"):
        est = _solver(learning_rate=1e4, max_iter=150).fit(problem_1d)
    assert est.n_iter_ < 150
    assert np.all(np.isfinite(est.grid_values_))
