"""The GP-HM estimator: a spectral-mixture Gaussian-process PDE solver on a tensor grid."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from mixtures import as_generator, x64
from mixtures.base import (
    Bool,
    DivergenceError,
    Integer,
    MixturesEstimator,
    Options,
    Real,
    check_array,
    check_scalar,
    warn,
)
from solvers.gp_pde import _core, _init
from solvers.gp_pde.problems import PDEProblem, parse_key

__all__ = ["SpectralMixtureGPSolver"]

# outer iterations per compiled call: divergence, checkpoints and the stopping rule are
# checked between calls
_CHUNK = 25
# Every scored and returned state is re-solved for its grid values at its fixed kernel (warm
# started, a larger conjugate-gradient budget, to a tight tolerance, until z stops changing):
# the loop's inexact solves can leave smooth errors that the residual hardly sees.
_POLISH_PASSES = 3
_POLISH_CG_FACTOR = 5
_POLISH_RTOL = 1e-8
_EXACT_RTOL = 1e-10
# the loop's conjugate-gradient tolerance: the previous iteration's relative change of z,
# clipped to these bounds (a forcing sequence: loose while the kernel moves)
_LOOP_RTOL = (1e-10, 1e-2)
# stopping rule: a relative improvement of the best held-out residual smaller than this over
# n_iter_no_change iterations ends the fit
_STALL_RTOL = 0.5
# operator probes (key discovery, linearity, symbol) use this many random points
_PROBE_POINTS = 8
# share of the components that start at frequency zero (trends), see _init
_TREND_SHARE = 0.125
_SCALE_LOW = 0.4


def _check_grid(value, name):
    """``grid``: an int or a sequence of ints, each at least 3 (the length is checked at fit)."""
    sizes = (value,) if isinstance(value, int | np.integer) else value
    try:
        sizes = tuple(sizes)
    except TypeError:
        raise TypeError(f"{name} must be an int or a tuple of ints, got {value!r}.") from None
    for s in sizes:
        check_scalar(s, name, kind="int")
        if s < 3:
            raise ValueError(
                f"{name} needs at least 3 points per dimension (two boundary points and one "
                f"interior collocation point), got {value!r}."
            )


def _tensor_grid(axes):
    """Points of the tensor grid of ``axes``, shape (prod M_j, D), in NumPy (row-major, as
    :func:`mixtures.kronecker.grid`; no JAX operation, so no grid size compiles anything)."""
    mesh = np.meshgrid(*[np.asarray(a, dtype=np.float64) for a in axes], indexing="ij")
    return np.stack([m.reshape(-1) for m in mesh], axis=-1)


def _tree_index(tree, i):
    """Entry ``i`` of every leaf of a stacked pytree (indexed in NumPy: no compilation)."""
    return jax.tree_util.tree_map(lambda a: jnp.asarray(np.asarray(a)[i]), tree)


class _KeyRecorder(dict):
    """Dict handed to the operator once to discover which derivative keys it reads."""

    def __init__(self, variables, n):
        super().__init__()
        self.variables = variables
        self.n = n
        self.orders = {}

    def __missing__(self, key):
        orders = parse_key(key, self.variables)
        if orders is None or max(orders) > 4 or sum(orders) > 4 * len(orders):
            raise KeyError(
                f"operator asked for derivative {key!r}; keys are 'u' or 'u_' followed by "
                f"variable letters from {self.variables} (at most 4 per variable)."
            )
        self.orders[key] = orders
        return jnp.zeros(self.n)


class SpectralMixtureGPSolver(MixturesEstimator):
    """Solve a PDE with a Gaussian process whose kernel is a learned spectral mixture (GP-HM).

    The solution gets a GP prior with a product (over dimensions) of spectral-mixture kernels;
    its values ``U`` on a tensor grid of collocation points are fitted, together with the
    kernel's log-weights, frequencies and scales, by maximising the GP-HM log joint (prior,
    boundary fit, PDE residual at every grid point). All linear algebra uses the Kronecker
    structure of the grid (per-dimension factors only).

    Parameters
    ----------
    n_components : int, default=30
        Number Q of spectral-mixture components per dimension.
    spectral : {"gaussian", "student_t"}, default="student_t"
        Spectral density of the components: Gaussian (GP-HM-GM, spectral-mixture kernel) or
        Student-t (GP-HM-StM, Matern-5/2 envelopes).
    grid : int or tuple of int, default=(100,)
        Number of uniform grid points per dimension (boundary included); an int is used for
        every dimension. Each needs at least 3 points.
    boundary_weight : float, default=200.0
        Weight ``lambda_b`` of the boundary term (the paper uses 200, and 500 for advection).
    max_iter : int, default=2000
        Upper bound on the number of outer iterations (one solve for ``U`` and one Adam step
        each); the stopping rule (``n_iter_no_change``) usually ends the fit before it.
    learning_rate : float, default=0.01
        Adam step size for the kernel parameters and log-precisions.
    max_frequency : float or sequence of float, optional
        Selects the paper's range initialisation: initial frequencies ``linspace(0, 1, Q) *
        max_frequency`` (cycles per unit length, per dimension; with ``init_frequencies=
        "range"`` and no ``max_frequency``, the grid's Nyquist frequency ``(M_j - 1) / (2
        (high - low))``). Larger values than Nyquist warn: components above it alias on the
        grid. Learned frequencies are folded to their aliases below it (see
        ``learn_frequencies``).
    init_frequencies : None, "spectrum", "range" or array-like of shape (Q,), default=None
        How the mixture starts. ``None`` (unless ``max_frequency`` is given) or
        ``"spectrum"``: from the data, the power spectrum of the source divided by the
        operator's symbol plus, in 2-D and higher, the spectra of the boundary data along the
        faces; components at its peaks, weights from its power, a few zero-frequency
        components for the trend (see the method page). ``"range"``: the paper's
        ``linspace(0, 1, Q) * max_frequency`` with weights ``1 / Q``, jittered by
        ``random_state``. An array: these frequencies (cycles per unit length) in every
        dimension, with the paper's weights and scales.
    learn_frequencies : bool, default=True
        Whether the frequencies are optimised. ``n_components=1, init_frequencies=[0],
        learn_frequencies=False`` gives the squared-exponential (``spectral="gaussian"``) or
        Matern-5/2 (``"student_t"``) GP baselines. Learned frequencies keep ``|mu| <=``
        Nyquist: at the start and after each Adam step, a frequency above a dimension's
        Nyquist frequency is replaced by its alias below it (the same samples and the same
        Gram matrix on the grid; the alias above oscillates between the points). Without it, a
        learned frequency can settle on the alias above Nyquist of the solution's frequency:
        the fit then matches the collocation points with the wrong function between them.
    jitter : float, default=1e-6
        Added to each per-dimension kernel matrix's diagonal.
    init_residual_precision : float or None, default=None
        Initial value of the learned residual precision ``tau_r``. ``None``: both precisions
        start from the data. The grid values are solved once at the initial kernel with
        ``tau_b = tau_r = 1`` (the paper's start). Then ``tau_b`` starts at its conditional
        optimum ``N_b / |u_b - g|^2`` and ``tau_r`` at one over the mean-square PDE residual
        at the midpoints. Neither starts below 1. The log joint keeps rising as the
        precisions grow, and Adam moves a log-precision by about ``learning_rate`` per step,
        so this start saves the hundreds of steps the climb would take. For a homogeneous
        equation (``f = 0``) ``None`` means 1. A float fixes ``tau_r``'s start; ``tau_b``
        then starts at 1, as in the paper. For a
        homogeneous equation with a large operator, such as advection ``u_t + 200 u_x = 0``,
        the first solves can return ``u = 0`` (zero residual, boundary data missed) and the
        fit stays there, because the residual precision keeps growing; a small start (such as
        ``1e-4``, see ``problems.BENCHMARK_SOLVER_OPTIONS``) lets the first solves fit the
        boundary data and the kernel learn its frequencies from them. In units of the
        rescaled solution ``u / solution_scale_`` (see Notes).
    tol : float, default=1e-9
        Also stop when the relative change of the grid solution per iteration, averaged over a
        block of 25 iterations, falls below ``tol``.
    n_iter_no_change : int or None, default=200
        The stopping rule: after each block of 25 iterations the state is scored by the
        held-out residual (see ``checkpoint``); the fit stops (``converged_=True``) when the
        best score of the last ``n_iter_no_change`` iterations is less than a factor 2 below
        the best one before them and the score is not falling fast either. For a homogeneous
        equation the loss per grid point is used instead. ``None``: run to ``max_iter``.
    cg_iters : int, default=1000
        Upper bound on the conjugate-gradient iterations per solve for ``U`` in 2-D and higher
        (1-D solves exactly). Inside the loop the solves stop at a relative tolerance that
        follows the outer loop's progress (see the Notes).
    checkpoint : {"residual", "final"}, default="residual"
        Which state is returned. ``"final"``: the last iterate. ``"residual"``: of the states
        checked every 25 iterations (and the last one; each re-solved at its kernel, see
        Notes), the one with the smallest
        root-mean-square PDE residual ``L[u] - f`` at the midpoints between collocation points
        (points the fit never saw; the score uses the equation only, never the exact
        solution). Long fits can drift once the learned precisions grow large; this keeps the
        best state a user could have identified. For a homogeneous equation (``f = 0`` at
        every collocation point, e.g. advection) the score would favour the trivial solution
        ``u = 0``, so the last iterate is returned there.
    random_state : None, int, numpy Generator or JAX key
        Seeds the random probes of the operator and, for the range initialisation, a small
        jitter of the initial frequencies (a quarter of their spacing).
    verbose : bool, default=False
        Show a progress bar (tqdm).

    Attributes
    ----------
    weights_ : ndarray, shape (D, Q)
        Learned mixture weights per dimension.
    frequencies_ : ndarray, shape (D, Q)
        Learned frequencies ``mu_q`` (cycles per unit length).
    scales_ : ndarray, shape (D, Q)
        Learned spectral scales ``sigma_q`` (cycles per unit length).
    grid_axes_ : list of D ndarrays (M_j,)
        The collocation grid.
    grid_values_ : ndarray, shape (M_1, ..., M_D)
        The fitted solution on the grid: the conditional mean there (what ``predict`` returns
        at the grid points; it differs from the latent grid values ``U`` of the prior by
        ``jitter * C^{-1} U``).
    n_iter_ : int
    converged_ : bool
    loss_curve_ : ndarray, shape ``(n_iter_,)``
        The objective at each iteration (after the solve for ``U``, before that iteration's
        Adam step).
    tau_ : ndarray, shape (2,)
        Learned precisions of the boundary and the residual terms (units of ``1 / u**2`` and
        ``1 / f**2``).
    solution_scale_ : float
        The power of ten the problem was divided by before the fit (1 for nonlinear or
        non-homogeneous operators and for solutions of order one; see Notes).
    n_features_in_ : int
        Number D of input dimensions (columns of ``X`` in ``predict``).
    checkpoint_scores_ : ndarray, shape ``(ceil(n_iter_ / 25),)``
        RMS PDE residual at the grid midpoints (units of the source ``f``) of each checked
        state.
    best_iter_ : int
        Iteration of the returned state (``n_iter_`` when ``checkpoint="final"``).

    Notes
    -----
    Every returned state is a matched pair: the grid values are solved for the returned
    kernel and precisions (after the last Adam step they are solved again). Inside the loop
    the conjugate-gradient solves are inexact (relative tolerance: the previous iteration's
    relative change of the grid values, clipped to ``[1e-10, 1e-2]``) and reuse one
    preconditioner per block of 25 iterations; each scored and returned state is re-solved
    at its fixed kernel, warm-started, to relative tolerance 1e-10 (up to three times, with
    five times the ``cg_iters`` budget, until the grid values change by less than 1e-8).

    Units. For a linear operator, ``(c f, c g)`` has the solution ``c u``. The fit divides
    ``f`` and ``g`` by ``solution_scale_ = 10**k``, where a first estimate of the solution's
    RMS (the larger of the boundary data's and of the grid values solved at the initial kernel)
    lies in ``[0.4, 4) * 10**k``, so that the initial kernel amplitude 1 and precisions suit
    it; grid values, predictions, standard deviations and ``checkpoint_scores_`` are mapped
    back, ``tau_`` is divided by ``solution_scale_**2`` and ``loss_curve_`` is shifted by the
    log-Jacobian ``(2 M + lambda_b N_b) log solution_scale_`` (M grid points, N_b on the
    boundary). The prior covariance of the grid values is ``solution_scale_**2 * kron_j (K_j
    + jitter I)`` with ``K_j`` built from ``weights_``, ``frequencies_`` and ``scales_``. A
    change of units of the data by a power of ten therefore gives the same fit with the
    solution scaled; any other factor changes the answer only through this rounding.
    Rescaling the domain is a different problem (the operator's coefficients change) and is
    not standardised.

    The fitted estimator keeps no reference to the problem's functions in its pickled state
    (they are often lambdas): ``predict``, ``derivative`` and ``predict_grid`` need only the
    fitted attributes, and :meth:`relative_l2_error` of an unpickled estimator takes the
    problem as an argument.
    """

    def __init__(
        self,
        n_components=30,
        spectral="student_t",
        grid=(100,),
        boundary_weight=200.0,
        max_iter=2000,
        learning_rate=0.01,
        max_frequency=None,
        init_frequencies=None,
        learn_frequencies=True,
        jitter=1e-6,
        init_residual_precision=None,
        tol=1e-9,
        n_iter_no_change=200,
        cg_iters=1000,
        checkpoint="residual",
        random_state=None,
        verbose=False,
    ):
        self.n_components = n_components
        self.spectral = spectral
        self.grid = grid
        self.boundary_weight = boundary_weight
        self.max_iter = max_iter
        self.learning_rate = learning_rate
        self.max_frequency = max_frequency
        self.init_frequencies = init_frequencies
        self.learn_frequencies = learn_frequencies
        self.jitter = jitter
        self.init_residual_precision = init_residual_precision
        self.tol = tol
        self.n_iter_no_change = n_iter_no_change
        self.cg_iters = cg_iters
        self.checkpoint = checkpoint
        self.random_state = random_state
        self.verbose = verbose

    _parameter_constraints = {
        "n_components": Integer(low=1),
        "spectral": Options(("gaussian", "student_t")),
        "grid": _check_grid,
        "boundary_weight": Real(low=0.0, low_open=True),
        "max_iter": Integer(low=1),
        "learning_rate": Real(low=0.0, low_open=True),
        "max_frequency": None,  # per dimension: checked at fit, against the grid
        "init_frequencies": None,  # an array of n_components values: checked at fit
        "learn_frequencies": Bool(),
        "jitter": Real(low=0.0, low_open=True),
        "init_residual_precision": Real(low=0.0, low_open=True, allow_none=True),
        "tol": Real(low=0.0),
        "n_iter_no_change": Integer(low=1, allow_none=True),
        "cg_iters": Integer(low=1),
        "checkpoint": Options(("residual", "final")),
        "random_state": None,  # as_generator checks it
        "verbose": Bool(),
    }

    # ------------------------------------------------------------------ validation helpers
    def _check_params(self, problem):
        """Validate ``problem`` against the (validated) hyper-parameters; return ``(D, Q, grid
        sizes)``."""
        if not isinstance(problem, PDEProblem):
            raise TypeError(f"problem must be a PDEProblem, got {type(problem).__name__}.")
        D = problem.n_dims
        sizes = (self.grid,) * D if isinstance(self.grid, int | np.integer) else tuple(self.grid)
        if len(sizes) != D:
            raise ValueError(
                f"grid must give one size per dimension ({D}), got {len(sizes)}: {self.grid!r}."
            )
        return D, int(self.n_components), tuple(int(s) for s in sizes)

    @staticmethod
    def _warn_above_nyquist(top, nyquist, name):
        above = np.flatnonzero(top > nyquist * (1.0 + 1e-12))
        if above.size:
            j = int(above[0])
            warn(
                f"{name} reaches {top[j]:.4g} cycles per unit length in dimension {j}, above "
                f"the Nyquist frequency of its collocation grid, (M - 1) / (2 (high - low)) = "
                f"{nyquist[j]:.4g}: components above it alias on the grid (a learned "
                f"frequency is folded to its alias below it; a fixed one fits the collocation "
                f"points with oscillations between them). Use a finer grid or a smaller "
                f"{name}.",
                UserWarning,
            )

    def _spectral_init(self, problem, grid, ops, Q):
        """Initial frequencies, log-weights and log-scales estimated from the source and the
        boundary data through the operator's symbol (see :mod:`solvers.gp_pde._init`)."""
        axes, bvalues = grid["axes"], grid["bvalues"]
        sizes = grid["source"].shape
        D = len(sizes)
        faces = []
        if D > 1:  # in 1-D the boundary is two points: no spectrum
            faces = [(j, np.take(bvalues, side, axis=j)) for j in range(D) for side in (0, -1)]
        spacings = [a[1] - a[0] for a in axes]
        spectra = _init.marginal_spectra(grid["source"], faces, spacings, ops["symbol"])
        n_low = min(Q, max(1, int(round(Q * _TREND_SHARE))))
        mu, lw, ls = [], [], []
        for j in range(D):
            f, w, sc = _init.initial_mixture(spectra[j], sizes[j] * spacings[j], Q, n_low)
            mu.append(f)
            lw.append(np.log(w))
            ls.append(np.log(sc))
        return np.array(mu), np.array(lw), np.array(ls)

    def _initial_frequencies(self, D, Q, nyquist, rng):
        if isinstance(self.init_frequencies, str):
            if self.init_frequencies not in ("spectrum", "range"):
                raise ValueError(
                    f"init_frequencies must be 'spectrum', 'range', None or an array of "
                    f"n_components frequencies, got {self.init_frequencies!r}."
                )
        elif self.init_frequencies is not None:
            mu = check_array(self.init_frequencies, "init_frequencies", ndim=1)
            if mu.shape[0] != Q or np.any(mu < 0):
                raise ValueError(
                    f"init_frequencies must hold n_components={Q} non-negative frequencies, "
                    f"got {mu.tolist()}."
                )
            self._warn_above_nyquist(np.full(D, mu.max()), nyquist, "init_frequencies")
            return np.tile(mu, (D, 1))
        spectrum = self.init_frequencies == "spectrum" or (
            self.init_frequencies is None and self.max_frequency is None
        )
        if spectrum:
            return None  # estimated from the data (see _spectral_init)
        if self.max_frequency is None:
            top = nyquist
        else:
            top = check_array(np.broadcast_to(self.max_frequency, (D,)), "max_frequency", ndim=1)
            if np.any(top <= 0):
                raise ValueError(f"max_frequency must be > 0, got {self.max_frequency!r}.")
            self._warn_above_nyquist(top, nyquist, "max_frequency")
        base = np.linspace(0.0, 1.0, Q)[None, :] * top[:, None]
        if Q > 1:
            shake = rng.uniform(-0.25, 0.25, size=(D, Q)) * (top[:, None] / (Q - 1))
            shake[:, 0] = 0.0  # keep a zero-frequency component (trends)
            base = np.abs(base + shake)
        return base

    def _discover_keys(self, problem, n):
        rec = _KeyRecorder(problem.variables, n)
        out = problem.operator(rec, jnp.zeros((n, problem.n_dims)))
        if jnp.shape(out) != (n,):
            raise ValueError(
                f"operator must return an array of shape (N,) = ({n},), got {jnp.shape(out)}."
            )
        keys = {"u": (0,) * problem.n_dims}
        keys.update(rec.orders)
        return tuple((k, tuple(o)) for k, o in keys.items())

    @staticmethod
    def _eval(fun, name, X):
        vals = np.asarray(fun(X), dtype=np.float64)
        if vals.shape not in ((X.shape[0],), (X.shape[0], 1)):
            raise ValueError(
                f"{name}(x) must return an array of shape (N,) = ({X.shape[0]},) for x of shape "
                f"{X.shape}, got shape {vals.shape}."
            )
        if not np.all(np.isfinite(vals)):
            raise ValueError(f"{name}(x) returned NaN or infinite values on the grid.")
        return vals.reshape(-1)

    # ------------------------------------------------------------------ fit
    def fit(self, problem):
        """Fit the GP solution of ``problem``.

        Parameters
        ----------
        problem : PDEProblem

        Returns
        -------
        self

        Raises
        ------
        DivergenceError
            If the very first iterations are non-finite (no finite state to keep).
        """
        self._validate_params()
        D, Q, sizes = self._check_params(problem)
        rng = as_generator(self.random_state)
        grid = self._collocation_grid(problem, sizes)
        with x64():
            ops = self._analyse_operator(problem, rng)
            params = self._initial_params(problem, grid, ops, Q, rng)
            data = self._problem_data(grid, problem.nyquist_frequency(sizes))
            static = dict(
                kind=self.spectral,
                keys=ops["keys"],
                jkeys=ops["jkeys"],
                operator=problem.operator,
                orders=ops["orders"],
                n_gn=1 if ops["affine"] else 3,
                method="dense" if D == 1 else "cg",
                cg_iters=int(self.cg_iters),
            )
            heldout = self._heldout_grid(problem, grid["axes"])
            scale = 1.0
            if ops["linear"]:
                scale = self._solution_scale(params, data, static, grid["bvalues"][grid["bmask"]])
                data = dict(
                    data,
                    source=jnp.asarray(grid["source"] / scale),
                    bvalues=jnp.asarray(grid["bvalues"] / scale),
                )
                heldout = (*heldout[:2], jnp.asarray(np.asarray(heldout[2]) / scale))
            homogeneous = not np.any(grid["source"])
            if self.init_residual_precision is None and not homogeneous:
                params = self._profiled_precisions(params, data, static, heldout)
            run = self._optimise(params, data, static, heldout, homogeneous)
            params, z = run["state"]
            u = _core.grid_field(
                params["kern"], z, data["axes"], data["jitter"], kind=self.spectral, orders=(0,) * D
            )
            self.grid_values_ = scale * np.asarray(u)
        self._store(problem, grid, params, z, scale, run)
        return self

    # ------------------------------------------------------------------ fit steps
    def _collocation_grid(self, problem, sizes):
        """The tensor grid, its boundary mask, and the source and boundary data on it."""
        D = len(sizes)
        axes = [np.linspace(lo, hi, m) for (lo, hi), m in zip(problem.domain, sizes)]
        points = _tensor_grid(axes)
        bmask = np.zeros(sizes, dtype=bool)
        for j in range(D):
            idx = [slice(None)] * D
            for side in (0, -1):
                idx[j] = side
                bmask[tuple(idx)] = True
        source = self._eval(problem.source, "source", points).reshape(sizes)
        bvalues = np.zeros(sizes)
        bvalues[bmask] = self._eval(problem.boundary, "boundary", points[bmask.reshape(-1)])
        return dict(axes=axes, points=points, bmask=bmask, source=source, bvalues=bvalues)

    def _analyse_operator(self, problem, rng):
        """Derivative keys the operator reads, per-dimension orders, the keys with a
        coefficient that is not identically zero, and whether it is affine / linear.

        Probed on a few random points (a fixed number, so that no grid size compiles anything
        here)."""
        n = _PROBE_POINTS
        keys = self._discover_keys(problem, n)
        D = problem.n_dims
        orders = tuple(tuple(sorted({o[j] for _, o in keys})) for j in range(D))
        lo, hi = problem.domain[:, 0], problem.domain[:, 1]
        x = jnp.asarray(lo + (hi - lo) * rng.uniform(size=(n, D)))
        nonzero = set()
        for _ in range(2):
            fields = {k: jnp.asarray(rng.normal(size=n)) for k, _ in keys}
            coef = _core.linearisation(fields, x, problem.operator)
            nonzero |= {k for k, _ in keys if bool(jnp.any(coef[k] != 0.0))}
        jkeys = tuple((k, o) for k, o in keys if k in nonzero) or keys[:1]
        # the symbol's coefficients: the operator linearised at u = 0, averaged over the domain
        coef = _core.linearisation({k: jnp.zeros(n) for k, _ in keys}, x, problem.operator)
        symbol = [(float(jnp.mean(coef[k])), o) for k, o in keys]
        affine, linear = self._is_affine(problem, keys, x, rng)
        return dict(
            keys=keys, orders=orders, jkeys=jkeys, symbol=symbol, affine=affine, linear=linear
        )

    def _initial_params(self, problem, grid, ops, Q, rng):
        """Initial kernel parameters and log-precisions (see ``init_frequencies``)."""
        sizes = grid["source"].shape
        D = len(sizes)
        nyquist = problem.nyquist_frequency(sizes)
        mu0 = self._initial_frequencies(D, Q, nyquist, rng)
        if mu0 is None:
            mu0, log_w0, log_scale0 = self._spectral_init(problem, grid, ops, Q)
        else:
            # the paper's initial length-scale 1 in its parametrisation
            sigma = 1.0 / (np.sqrt(2.0) * np.pi) if self.spectral == "gaussian" else 0.5 / np.pi
            log_scale0 = np.full((D, Q), np.log(sigma))
            log_w0 = np.full((D, Q), -np.log(Q))
        if self.learn_frequencies:  # learned frequencies stay below Nyquist: start from aliases
            mu0 = _core.fold_frequencies(mu0, nyquist[:, None])
        return {
            "kern": tuple(
                {
                    "log_weights": jnp.asarray(log_w0[j]),
                    "freqs": jnp.asarray(mu0[j]),
                    "log_scales": jnp.asarray(log_scale0[j]),
                }
                for j in range(D)
            ),
            "log_tau_b": jnp.asarray(0.0),
            "log_tau_r": jnp.asarray(
                0.0
                if self.init_residual_precision is None
                else np.log(float(self.init_residual_precision))
            ),
        }

    @classmethod
    def _profiled_precisions(cls, params, data, static, heldout):
        """Initial precisions estimated from a first solve at the initial kernel and
        precisions: the boundary precision at its conditional optimum ``N_b / |u_b - g|^2``,
        the residual precision at one over the mean-square held-out residual (at the
        midpoints, which the solve did not fit; the collocation residual itself is fitted
        almost exactly and would overstate it). Neither starts below its initial value.

        The log joint is unbounded in the precisions (a closer fit raises them, which
        tightens the fit) and Adam moves a log-precision by about one learning rate per
        step, so the accuracy a fit reaches is set by how far they have climbed; starting at
        the level the data support skips most of that climb.
        """
        z, _ = _core.final_solve(
            params,
            jnp.asarray(np.zeros(data["source"].shape)),
            data,
            jnp.asarray(_EXACT_RTOL),
            **static,
        )
        # the boundary misfit from the grid values (a program the fit compiles anyway)
        u = _core.grid_field(
            params["kern"],
            z,
            data["axes"],
            data["jitter"],
            kind=static["kind"],
            orders=(0,) * z.ndim,
        )
        bmask = np.asarray(data["bmask"]) > 0
        sb = float(np.sum((np.asarray(u) - np.asarray(data["bvalues"]))[bmask] ** 2))
        n_b = float(np.sum(np.asarray(data["bmask"])))
        rms = cls._heldout(params, z, data, heldout, static)
        with np.errstate(divide="ignore", invalid="ignore"):
            targets = {
                "log_tau_b": np.log(np.float64(n_b) / sb),
                "log_tau_r": -2.0 * np.log(np.float64(rms)),
            }
        out = dict(params)
        for name, value in targets.items():
            if np.isfinite(value) and value > float(params[name]):
                out[name] = jnp.asarray(value)
        return out

    def _problem_data(self, grid, nyquist):
        """The arrays the jitted core reads (JAX, float64)."""
        bmask = grid["bmask"]
        return {
            "axes": tuple(jnp.asarray(a) for a in grid["axes"]),
            "points": jnp.asarray(grid["points"]),
            "source": jnp.asarray(grid["source"]),
            "bvalues": jnp.asarray(grid["bvalues"]),
            "bmask": jnp.asarray(bmask.astype(np.float64)),
            "bidx": jnp.asarray(np.flatnonzero(bmask.reshape(-1))),
            "jitter": jnp.asarray(float(self.jitter)),
            "boundary_weight": jnp.asarray(float(self.boundary_weight)),
            "nyquist": jnp.asarray(nyquist),
        }

    def _polish(self, params, z, data, static):
        """Re-solve for ``z`` at fixed parameters until it stops changing (at most
        ``_POLISH_PASSES`` exact solves, see the Notes); keeps the last finite ``z``."""
        solve = dict(static, cg_iters=_POLISH_CG_FACTOR * static["cg_iters"])
        rtol = jnp.asarray(_EXACT_RTOL)
        for _ in range(_POLISH_PASSES):
            z_new, change = _core.final_solve(params, z, data, rtol, **solve)
            change = float(change)
            if not np.isfinite(change):
                break
            z = z_new
            if change <= _POLISH_RTOL:
                break
        return z

    def _optimise(self, params, data, static, heldout, homogeneous):
        """The outer loop: blocks of ``_CHUNK`` iterations, a scored checkpoint after each,
        the stopping rule, divergence handling and the choice of the returned state."""
        opt_state = _core.init_opt_state(params, jnp.asarray(float(self.learning_rate)))
        lr = jnp.asarray(float(self.learning_rate))
        rtol_bounds = jnp.asarray(_LOOP_RTOL)
        z = jnp.asarray(np.zeros(data["source"].shape))
        chunk_static = dict(static, n_steps=_CHUNK, learn_freqs=bool(self.learn_frequencies))
        losses, scores, candidates, stop_scores = [], [], [], []
        n_iter, converged, diverged, diverged_at, dzs = 0, False, False, 0, np.zeros(1)
        patience = None
        if self.n_iter_no_change is not None:
            patience = max(1, int(np.ceil(self.n_iter_no_change / _CHUNK)))
        bar = None
        if self.verbose:
            from tqdm.auto import tqdm

            bar = tqdm(total=self.max_iter, desc="GP-HM fit")
        while n_iter < self.max_iter:
            steps = min(_CHUNK, self.max_iter - n_iter)
            new = _core.fit_chunk(
                params, z, opt_state, data, lr, jnp.asarray(steps), rtol_bounds, **chunk_static
            )
            values, dzs = np.asarray(new[3])[:steps], np.asarray(new[4])[:steps]
            finite = np.isfinite(values) & np.isfinite(dzs)
            if not finite.all():
                good = int(np.argmin(finite))  # steps before the first non-finite one
                if good > 0:
                    params = _tree_index(new[5], good - 1)
                    z_good = jnp.asarray(np.asarray(new[6])[good - 1])
                    z = self._polish(params, z_good, data, static)
                    losses.extend(values[:good].tolist())
                    n_iter += good
                    score = self._heldout(params, z, data, heldout, static)
                    candidates.append((score, (params, z), n_iter))
                    scores.append(score)
                if not candidates:  # nothing finite to keep
                    raise DivergenceError(
                        f"the GP-HM loss is not finite from iteration {n_iter + 1} on and "
                        f"no earlier state is finite; try a smaller learning_rate."
                    )
                diverged_at = n_iter + 1
                if good == 0:  # the last checkpoint: a kernel and its own grid values
                    params, z = candidates[-1][1]
                diverged = True
                break
            params, z, opt_state = new[:3]
            losses.extend(values.tolist())
            n_iter += steps
            # a checkpoint: the last (kernel, grid values) pair of the block that belong
            # together (the kernel before its last Adam step, z solved for it)
            params_k = _tree_index(new[5], steps - 1)
            z_k = jnp.asarray(np.asarray(new[6])[steps - 1])
            state = (params_k, self._polish(params_k, z_k, data, static))
            score = self._heldout(*state, data, heldout, static)
            candidates.append((score, state, n_iter))
            if len(candidates) > 2:  # keep the best earlier one and the latest
                candidates.pop(int(candidates[0][0] <= candidates[1][0]))  # the worse one
            scores.append(score)
            # with f = 0 the held-out residual prefers u = 0: the loss per grid point decides
            stop_scores.append(float(values[-1]) / values.size if homogeneous else score)
            if bar is not None:
                bar.update(steps)
                bar.set_postfix(loss=f"{values[-1]:.4g}")
            if float(np.mean(dzs)) < self.tol or self._stalled(stop_scores, patience, homogeneous):
                converged = True
                break
        if bar is not None:
            bar.close()
        if not diverged:
            # the last Adam step moved the kernel after the last solve: solve for the grid
            # values again so that U and the kernel belong together
            z = self._polish(params, z, data, static)
            score = self._heldout(params, z, data, heldout, static)
            # the final state replaces the last block's checkpoint (same iteration count)
            candidates[-1] = (score, (params, z), n_iter)
            scores[-1] = score
        best_iter = n_iter
        if self.checkpoint == "residual" and candidates and not homogeneous:
            _, (params, z), best_iter = min(candidates, key=lambda c: c[0])
        return dict(
            state=(params, z),
            losses=losses,
            scores=scores,
            n_iter=n_iter,
            best_iter=best_iter,
            converged=converged,
            diverged=diverged,
            diverged_at=diverged_at,
            dz=float(np.mean(dzs)),
        )

    @staticmethod
    def _stalled(history, patience, homogeneous):
        """The stopping rule on the checkpoint scores (lower is better).

        Stalled when (i) the best of the last ``patience`` scores improves on the best one
        before them by less than ``_STALL_RTOL`` and (ii) the last score improves on the score
        ``patience // 2`` checkpoints earlier by less than half of that, so that a score that
        rose and is falling again is not cut off. Improvements are relative to the earlier
        value (for the loss per grid point, which can change sign, to its magnitude plus one).
        """
        if patience is None or len(history) <= patience:
            return False

        def gain(old, new):
            size = abs(old) + 1.0 if homogeneous else abs(old)
            return (old - new) / size if size > 0 else 0.0

        before, recent = min(history[:-patience]), min(history[-patience:])
        if not (np.isfinite(before) and np.isfinite(recent)):
            return False
        half = max(1, patience // 2)
        falling = gain(history[-half - 1], history[-1]) >= 0.5 * _STALL_RTOL
        return gain(before, recent) < _STALL_RTOL and not falling

    def _store(self, problem, grid, params, z, scale, run):
        """Fitted attributes in the problem's units (see the Notes on units)."""
        D = len(grid["axes"])
        bmask = grid["bmask"]
        self._problem = problem  # not pickled (see __getstate__): only relative_l2_error uses it
        self.n_dims_ = D
        self.n_features_in_ = D
        self.grid_axes_ = grid["axes"]
        self.solution_scale_ = scale
        self._z = scale * np.asarray(z)  # whitened grid values of the prior scale**2 * C
        self._kern = [{k: np.asarray(v) for k, v in p.items()} for p in params["kern"]]
        self.weights_ = np.exp(np.stack([p["log_weights"] for p in self._kern]))
        self.frequencies_ = np.stack([p["freqs"] for p in self._kern])
        self.scales_ = np.exp(np.stack([p["log_scales"] for p in self._kern]))
        log_tau = np.array([float(params["log_tau_b"]), float(params["log_tau_r"])])
        self.tau_ = np.exp(log_tau) / scale**2
        # the objective in the problem's units: prior covariance scale**2 C, precisions
        # tau / scale**2 (the log-Jacobian of the change of units)
        n_b = int(bmask.sum())
        shift = (2 * bmask.size + float(self.boundary_weight) * n_b) * np.log(scale)
        self.loss_curve_ = np.asarray(run["losses"], dtype=np.float64) + shift
        self.checkpoint_scores_ = scale * np.asarray(run["scores"], dtype=np.float64)
        self.best_iter_ = int(run["best_iter"])
        if run["diverged"]:
            hint = (
                f"the loss diverged (non-finite) at iteration {run['diverged_at']}, so the fit "
                f"stopped and kept the last finite state; try a smaller learning_rate"
            )
        else:
            hint = (
                f"the held-out residual was still improving and the relative change of the grid "
                f"solution is {run['dz']:.2e} > tol={self.tol}; increase max_iter"
            )
        self._set_convergence(run["converged"], run["n_iter"], self.max_iter, hint=hint)

    def __getstate__(self):
        # the problem holds user functions (often lambdas, which do not pickle); nothing but
        # relative_l2_error needs it, and that takes the problem as an argument
        state = dict(super().__getstate__())  # a copy: the fitted estimator keeps its problem
        state.pop("_problem", None)
        return state

    def _heldout_grid(self, problem, axes):
        """The midpoints between collocation points (a tensor grid) and the source there."""
        mid = [0.5 * (a[1:] + a[:-1]) for a in axes]
        pts = _tensor_grid(mid)
        return (
            tuple(jnp.asarray(a) for a in mid),
            jnp.asarray(pts),
            jnp.asarray(self._eval(problem.source, "source", pts)),
        )

    @staticmethod
    def _heldout(params, z, data, heldout, static):
        value = _core.heldout_residual(
            params["kern"],
            z,
            data["axes"],
            data["jitter"],
            *heldout,
            kind=static["kind"],
            keys=static["keys"],
            operator=static["operator"],
        )
        value = float(value)
        return value if np.isfinite(value) else np.inf

    @staticmethod
    def _is_affine(problem, keys, x, rng):
        """Whether the operator is affine in the derivative fields (numerical check) and
        linear (affine with no constant term). ``x``: probe points (n, D), or their number
        (drawn uniformly in the unit box)."""
        if isinstance(x, int | np.integer):
            x = jnp.asarray(rng.uniform(size=(int(x), problem.n_dims)))
        n = x.shape[0]
        a = {k: jnp.asarray(rng.normal(size=n)) for k, _ in keys}
        b = {k: jnp.asarray(rng.normal(size=n)) for k, _ in keys}
        zero = {k: jnp.zeros(n) for k, _ in keys}
        ab = {k: a[k] + b[k] for k, _ in keys}
        op = problem.operator
        gap = op(ab, x) - op(a, x) - op(b, x) + op(zero, x)
        scale = jnp.abs(op(ab, x)) + jnp.abs(op(a, x)) + jnp.abs(op(b, x)) + 1.0
        affine = bool(jnp.all(jnp.abs(gap) <= 1e-10 * scale))
        return affine, affine and bool(jnp.all(op(zero, x) == 0.0))

    @staticmethod
    def _solution_scale(params, data, static, boundary_values):
        """A power of ten for the size of the solution (linear operators only): ``10**k``
        where a first estimate of the solution's RMS lies in ``[0.4, 4) * 10**k``.

        The estimate is the larger of the RMS of the boundary data and of the grid values
        solved at the initial kernel; both scale with the data ``(f, g)``, so after dividing
        by the scale a change of units of the data by a power of ten changes nothing. The
        initial kernel and precisions suit solutions of order one, so problems in such units
        are fitted unchanged.
        """
        z0, _ = _core.final_solve(
            params,
            jnp.asarray(np.zeros(data["source"].shape)),
            data,
            jnp.asarray(_EXACT_RTOL),
            **static,
        )
        D = z0.ndim
        u0 = _core.grid_field(
            params["kern"], z0, data["axes"], data["jitter"], kind=static["kind"], orders=(0,) * D
        )
        u0 = np.asarray(u0)
        rms = max(
            float(np.sqrt(np.mean(u0**2))) if np.all(np.isfinite(u0)) else 0.0,
            float(np.sqrt(np.mean(boundary_values**2))),
        )
        if not (np.isfinite(rms) and rms > 0.0):
            return 1.0
        # decades [0.4, 4) * 10**k: the solutions of order one that the defaults were set on
        # keep the scale 1
        return float(10.0 ** np.round(np.log10(rms / _SCALE_LOW) - 0.5))

    # ------------------------------------------------------------------ prediction
    def _check_X(self, X):
        X = check_array(X, "X", ndim=2)
        if X.shape[1] != self.n_dims_:
            raise ValueError(
                f"X must have {self.n_dims_} column(s) (one per dimension), got shape {X.shape}."
            )
        return X

    def _check_orders(self, order):
        if isinstance(order, int | np.integer) and not isinstance(order, bool):
            if self.n_dims_ != 1:
                raise ValueError(
                    f"order must be a tuple of {self.n_dims_} ints for a {self.n_dims_}-D "
                    f"problem, got {order!r}."
                )
            order = (order,)
        try:
            order = tuple(int(o) for o in order)
        except TypeError:
            raise TypeError(f"order must be an int or a tuple of ints, got {order!r}.") from None
        if len(order) != self.n_dims_ or any(o < 0 or o > 4 for o in order):
            raise ValueError(
                f"order must give {self.n_dims_} derivative order(s) in 0..4, got {order!r}."
            )
        return order

    def _args(self):
        return (
            tuple({k: jnp.asarray(v) for k, v in p.items()} for p in self._kern),
            jnp.asarray(self._z),
            tuple(jnp.asarray(a) for a in self.grid_axes_),
            jnp.asarray(float(self.jitter)),
        )

    def _points(self, X, orders, block=4096):
        kern, z, axes, jit = self._args()
        out = [
            np.asarray(
                _core.predict_points(
                    kern,
                    z,
                    axes,
                    jit,
                    jnp.asarray(X[i : i + block]),
                    kind=self.spectral,
                    orders=orders,
                )
            )
            for i in range(0, X.shape[0], block)
        ]
        return np.concatenate(out)

    def predict(self, X, return_std=False):
        """The solution (GP conditional mean) at points ``X``.

        Parameters
        ----------
        X : array-like, shape (n, D)
        return_std : bool, default=False
            Also return the GP conditional standard deviation of ``u(x)`` given the fitted grid
            values (the interpolation uncertainty between collocation points; it does not
            include the uncertainty of the grid values themselves).

        Returns
        -------
        u : ndarray, shape (n,)
        std : ndarray, shape (n,), only if ``return_std``
        """
        self._check_fitted()
        X = self._check_X(X)
        with x64():
            u = self._points(X, (0,) * self.n_dims_)
            if not return_std:
                return u
            kern, _, axes, jit = self._args()
            var = _core.predict_var_points(kern, axes, jit, jnp.asarray(X), kind=self.spectral)
            return u, self.solution_scale_ * np.sqrt(np.asarray(var))

    def derivative(self, X, order):
        """A derivative of the solution at points ``X``.

        Parameters
        ----------
        X : array-like, shape (n, D)
        order : int (1-D problems) or tuple of D ints
            Derivative order per dimension, each in 0..4 (e.g. ``(2, 0)`` is ``u_xx``).

        Returns
        -------
        ndarray, shape (n,)
        """
        self._check_fitted()
        X = self._check_X(X)
        order = self._check_orders(order)
        with x64():
            return self._points(X, order)

    def test_grid(self):
        """The default test grid: ``2 M_j - 1`` uniform points per dimension (the collocation
        points and the midpoints between them). Returns a list of D arrays."""
        self._check_fitted()
        return [np.linspace(a[0], a[-1], 2 * a.size - 1) for a in self.grid_axes_]

    def predict_grid(self, axes, order=None):
        """The solution (or a derivative) on the tensor grid of ``axes`` (list of D 1-D arrays).

        Returns an array of shape ``(len(axes[0]), ..., len(axes[D-1]))``.
        """
        self._check_fitted()
        axes = [check_array(a, f"axes[{j}]", ndim=1) for j, a in enumerate(axes)]
        if len(axes) != self.n_dims_:
            raise ValueError(f"axes must hold {self.n_dims_} arrays, got {len(axes)}.")
        order = (0,) * self.n_dims_ if order is None else self._check_orders(order)
        with x64():
            kern, z, grid_axes, jit = self._args()
            return np.asarray(
                _core.predict_grid(
                    kern,
                    z,
                    grid_axes,
                    jit,
                    tuple(jnp.asarray(a) for a in axes),
                    kind=self.spectral,
                    orders=order,
                )
            )

    def relative_l2_error(self, X=None, problem=None):
        """Relative L2 error ``|u_hat - u| / |u|`` against the problem's exact solution.

        Parameters
        ----------
        X : array-like, shape (n, D), optional
            Test points; default the tensor grid of :meth:`test_grid`.
        problem : PDEProblem, optional
            The problem with the exact solution. Default: the problem given to ``fit`` (not
            kept by a pickled estimator, whose problem functions may not pickle).

        Returns
        -------
        float
        """
        self._check_fitted()
        if problem is None:
            problem = getattr(self, "_problem", None)
            if problem is None:
                raise ValueError(
                    "this estimator no longer holds the problem it was fitted on (it is not "
                    "pickled with it); pass problem=."
                )
        elif not isinstance(problem, PDEProblem):
            raise TypeError(f"problem must be a PDEProblem, got {type(problem).__name__}.")
        if problem.solution is None:
            raise ValueError("the problem has no exact solution to compare with.")
        if X is None:
            axes = self.test_grid()
            pred = self.predict_grid(axes).reshape(-1)
            X = _tensor_grid(axes)
        else:
            X = self._check_X(X)
            pred = self.predict(X)
        truth = np.asarray(problem.solution(X), dtype=np.float64).reshape(-1)
        return float(np.linalg.norm(pred - truth) / np.linalg.norm(truth))
