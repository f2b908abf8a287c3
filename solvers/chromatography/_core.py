"""Pure JAX core of the column model: Laplace-domain transfer function, its numerical
inversion on a vertical Bromwich line (Fourier series), and cumulants.

Every function follows the ambient precision (call them under ``mixtures._config.x64()``).
One analyte is described by four dimensionless/physical numbers:

``t_m``
    hold-up time (s), ``A = alpha k_a t_m`` (adsorption Damkohler number), ``k_d`` (1/s) and
    ``eps = 1 / Pe = D / (u L)`` (inverse Peclet number; 0 for the dispersion-free model).

An injection is a static kind (``"rectangular"``, ``"gaussian"``, ``"dirac"``) with a
parameter vector ``inj`` of length 3: rectangular ``(duration, concentration, 0)``,
gaussian ``(center, width, amount)``, dirac ``(0, 0, amount)``.
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp

# Inversion window, in standard deviations of the outlet peak (left, right of the mean), and
# the damping of the Bromwich line, gamma * period.
_LEFT, _RIGHT, _DAMP = 12.0, 40.0, 4.0
# Number of Poisson (adsorption-count) terms removed analytically when D = 0.
_N_SUBTRACT = 6
# The fitting cores are compiled without XLA's CPU fusion emitters and parallel code
# generation (CPU code-generation options, as GaussianMixture's): about three times faster
# to compile, and as fast to run on the long runs where run time matters.
_FIT_COMPILE = {"xla_cpu_use_fusion_emitters": False, "xla_cpu_parallel_codegen_split_count": 1}


def log_transfer(s, t_m, A, k_d, eps, boundary="dirichlet"):
    """Logarithm of the column transfer function with the transport delay removed.

    ``log G(s) + s t_m`` where ``G`` is the outlet/inlet ratio of the Laplace transforms.
    With ``psi = t_m s + A s / (s + k_d)`` and ``q = sqrt(1 + 4 eps psi)``:

    ``"dirichlet"``
        semi-infinite column, ``c(0, t) = c_in(t)``, read at ``x = L``:
        ``log G = -2 psi / (1 + q)`` (``eps = 0``: ``-psi``).
    ``"danckwerts"``
        finite column with ``u c_in = u c - D dc/dx`` at the inlet and ``dc/dx = 0`` at the
        outlet (the closed-closed vessel of CADET's lumped and general-rate models):
        ``G = 4 q exp((1 - q) / (2 eps)) / ((1 + q)^2 - (1 - q)^2 exp(-q / eps))``, i.e. the
        Dirichlet term plus ``log(1 - r^2) - log(1 - r^2 exp(-q / eps))`` with
        ``r = (1 - q) / (1 + q)``; identical to the Dirichlet model at ``eps = 0``.

    Parameters
    ----------
    s : complex or real array
        Laplace variable (1/s), any shape, ``Re s >= 0``.
    t_m, A, k_d, eps : float
        Hold-up time (s), Damkohler number, desorption rate (1/s), inverse Peclet number.
    boundary : {"dirichlet", "danckwerts"}
        Column boundary conditions (static).

    Returns
    -------
    array, same shape as ``s``
    """
    retained = A * s / (s + k_d)
    psi = t_m * s + retained
    root = jnp.sqrt(1.0 + 4.0 * eps * psi)
    # -2 psi / (1 + root) + t_m s, written so that eps = 0 gives -retained exactly.
    out = -retained + 4.0 * eps * psi**2 / (1.0 + root) ** 2
    if boundary == "danckwerts":
        # r = (1 - q) / (1 + q) without cancellation; |r| < 1 for Re s >= 0.
        r = -4.0 * eps * psi / (1.0 + root) ** 2
        safe = jnp.where(eps > 0.0, eps, 1.0)
        reflected = jnp.where(eps > 0.0, jnp.exp(-root / safe), 0.0)
        out = out + jnp.log1p(-(r**2)) - jnp.log1p(-(r**2) * reflected)
    return out


def injection_log_transform(s, kind, inj):
    """Log Laplace transform of the inlet profile, relative to its reference time.

    The reference time is 0 for rectangular and Dirac injections and the centre for a
    Gaussian one (whose transform is taken as two-sided, i.e. untruncated).
    """
    if kind == "rectangular":
        return jnp.log(inj[1] * (1.0 - jnp.exp(-s * inj[0])) / s)
    if kind == "gaussian":
        return jnp.log(inj[2]) + 0.5 * (s * inj[1]) ** 2
    return jnp.log(inj[2]) + 0.0 * s


def injection_profile(theta, kind, inj):
    """Inlet concentration at time ``theta`` after its reference time (Dirac: zero)."""
    if kind == "rectangular":
        return jnp.where((theta >= 0.0) & (theta < inj[0]), inj[1], 0.0)
    if kind == "gaussian":
        z = theta / inj[1]
        return inj[2] * jnp.exp(-0.5 * z * z) / (jnp.sqrt(2.0 * jnp.pi) * inj[1])
    return 0.0 * theta


def injection_cumulants(kind, inj):
    """Amount, mean (relative to t = 0) and variance of the inlet profile."""
    if kind == "rectangular":
        return inj[0] * inj[1], 0.5 * inj[0], inj[0] ** 2 / 12.0
    if kind == "gaussian":
        return inj[2], inj[0], inj[1] ** 2
    return inj[2], 0.0 * inj[2], 0.0 * inj[2]


def column_mean_var(t_m, A, k_d, eps):
    """Mean (beyond ``t_m``) and variance (s, s^2) of the column's impulse response.

    The variance is the semi-infinite (Dirichlet) one, an upper bound of the Danckwerts
    column's (which is smaller by ``2 eps^2 (t_m + mean)^2 (1 - exp(-1 / eps))``).
    """
    mean = A / k_d
    var = 2.0 * A / k_d**2 + 2.0 * eps * (t_m + mean) ** 2
    return mean, var


@partial(jax.jit, static_argnames=("kind", "n_terms", "boundary"))
def outlet_profile(t, t_m, A, k_d, eps, inj, kind, n_terms=512, boundary="dirichlet"):
    """Outlet concentration of one analyte by Fourier-series Laplace inversion.

    The transport delay ``t_m`` (and a Gaussian injection's centre) is removed analytically,
    and for ``eps = 0`` the unretained fraction ``exp(-A) c_in(t - t_m)`` is added in closed
    form, so the series only inverts a smooth, compactly concentrated peak. The series is
    the Fourier series of the damped, periodised peak on a window of
    ``[mean - 12 sd, mean + 40 sd]`` (one period), evaluated on the Bromwich line
    ``Re s = 4 / period``; outside the window the outlet is zero to double precision.

    Parameters
    ----------
    t : array, shape (n_t,)
        Times (s) since the start of the injection.
    t_m, A, k_d, eps : float
        Hold-up time (s), Damkohler number ``alpha k_a t_m``, desorption rate (1/s),
        inverse Peclet number.
    inj : array, shape (3,)
        Injection parameters (see the module docstring).
    kind : {"rectangular", "gaussian", "dirac"}
        Injection kind (static).
    n_terms : int
        Number of Fourier terms (static).
    boundary : {"dirichlet", "danckwerts"}
        Column boundary conditions (static), see :func:`log_transfer`.

    Returns
    -------
    c : array, shape (n_t,)
        Outlet concentration (inlet concentration units).
    """
    window = _window(t_m, A, k_d, eps, inj, kind)
    weights = _series_weights(t_m, A, k_d, eps, inj, kind, window, n_terms, boundary)
    singular = _singular_part(t - window[0], k_d, _poisson_weights(A, eps, kind), kind, inj)
    return _series_part(t, weights, window) + singular


def _window(t_m, A, k_d, eps, inj, kind):
    """Time shift (s), window start theta0 (s), period (s) and damping gamma (1/s)."""
    shift = t_m + (inj[0] if kind == "gaussian" else 0.0)
    _, inj_mean, inj_var = injection_cumulants(kind, inj)
    col_mean, col_var = column_mean_var(t_m, A, k_d, eps)
    ref_mean = col_mean + inj_mean - (inj[0] if kind == "gaussian" else 0.0)
    sd = jnp.sqrt(col_var + inj_var)
    period = (_LEFT + _RIGHT) * sd
    return shift, ref_mean - _LEFT * sd, period, _DAMP / period


def _poisson_weights(A, eps, kind):
    """Poisson probabilities of n = 0.._N_SUBTRACT adsorption events (zero when eps > 0).

    Their contributions are removed from the transform and added back in closed form for the
    D = 0 model; for a Gaussian injection only n = 0 is (the output is smooth anyway).
    """
    order = jnp.arange((0 if kind == "gaussian" else _N_SUBTRACT) + 1)
    log_poisson = order * jnp.log(A) - A - jax.scipy.special.gammaln(order + 1.0)
    return jnp.where(eps == 0.0, jnp.exp(log_poisson), 0.0)


def _series_weights(t_m, A, k_d, eps, inj, kind, window, n_terms, boundary="dirichlet"):
    """Fourier weights, shape (n_terms,) complex, of the smooth part of the outlet peak."""
    _, theta0, period, gamma = window
    k = jnp.arange(n_terms)
    s = gamma + 1j * (2.0 * jnp.pi / period) * k
    poisson = _poisson_weights(A, eps, kind)
    order = jnp.arange(poisson.shape[0])
    ratio = k_d / (s + k_d)
    singular = jnp.sum(poisson[:, None] * ratio[None, :] ** order[:, None], axis=0)
    transform = jnp.exp(injection_log_transform(s, kind, inj) + s * theta0) * (
        jnp.exp(log_transfer(s, t_m, A, k_d, eps, boundary)) - singular
    )
    return jnp.where(k == 0, 1.0, 2.0) * transform / period


def _series_part(t, weights, window):
    """The damped Fourier series on its window, zero outside; weights (..., n_terms)."""
    shift, theta0, period, gamma = window
    tau = t - shift - theta0
    series = _fourier_sum(weights, tau * (2.0 * jnp.pi / period))
    inside = (tau >= 0.0) & (tau < period)
    return jnp.where(inside, jnp.exp(gamma * jnp.clip(tau, 0.0, period)) * series, 0.0)


def _singular_part(theta, k_d, poisson, kind, inj):
    """Time-domain inlet profile convolved with ``sum_n poisson_n Gamma(n, k_d)`` (n = 0: delta)."""
    out = poisson[0] * injection_profile(theta, kind, inj)
    if kind == "gaussian":
        return out
    x = k_d * jnp.clip(theta, 0.0, None)
    n_max = poisson.shape[0] - 1
    if kind == "rectangular":
        x_end = k_d * jnp.clip(theta - inj[0], 0.0, None)
        # P(n, x) - P(n, x_end) = Q(n, x_end) - Q(n, x), Q(n, x) = sum_{m<n} x^m e^-x / m!.
        gam = jnp.cumsum(_poisson_terms(x_end, n_max) - _poisson_terms(x, n_max), axis=0)
        return out + inj[1] * (poisson[1:] @ gam)
    # Gamma(n, k_d) densities, n = 1..n_max, zero before the peak's start.
    pdf = jnp.where(theta[None, :] > 0.0, k_d * _poisson_terms(x, n_max), 0.0)
    return out + inj[2] * (poisson[1:] @ pdf)


def _poisson_terms(x, n):
    """``x^m exp(-x) / m!`` for m = 0..n-1, shape (n, len(x)), by a running product.

    One exponential per point, and a gradient that is safe at ``x = 0``.
    """
    m = jnp.arange(1, n, dtype=x.dtype)[:, None]
    steps = jnp.concatenate([jnp.ones((1,) + x.shape, x.dtype), x[None, :] / m], axis=0)
    return jnp.exp(-x)[None, :] * jnp.cumprod(steps, axis=0)


def _fourier_sum(weights, phase):
    """``Re sum_k weights[..., k] exp(i k phase)`` for every phase, shape (..., n_phase).

    Horner's rule in ``exp(i phase)``: one complex multiply-add per term and point, no
    (n_phase, n_terms) table of cosines and sines.
    """
    z = jnp.exp(1j * phase)

    def step(acc, w):
        return acc * z + w[..., None], None

    init = jnp.zeros(weights.shape[:-1] + z.shape, dtype=z.dtype)
    acc, _ = jax.lax.scan(step, init, jnp.moveaxis(weights, -1, 0)[::-1])
    return acc.real


def log_moment_function(s, t_m, A, k_d, eps, boundary="dirichlet"):
    """``log G(s)`` including the delay, for real ``s`` near 0 (cumulant generator)."""
    return log_transfer(s, t_m, A, k_d, eps, boundary) - s * t_m


@partial(jax.jit, static_argnames=("boundary",))
def column_cumulants(t_m, A, k_d, eps, boundary="dirichlet"):
    """First three cumulants of the column impulse response, by differentiating ``log G``.

    ``kappa_n = (-1)^n d^n/ds^n log G(s)`` at ``s = 0``.

    Returns
    -------
    array, shape (3,)
        Mean (s), variance (s^2) and third cumulant (s^3), delay included.
    """
    f = lambda s: log_moment_function(s, t_m, A, k_d, eps, boundary)
    d1 = jax.grad(f)
    d2 = jax.grad(d1)
    d3 = jax.grad(d2)
    zero = jnp.zeros_like(t_m)
    return jnp.stack([-d1(zero), d2(zero), -d3(zero)])


@partial(jax.jit, static_argnames=("kind", "n_terms", "boundary"))
def outlet_profiles(t, t_m, A, k_d, eps, inj, kind, n_terms=512, boundary="dirichlet"):
    """:func:`outlet_profile` for several analytes: ``A``, ``k_d`` of shape (n_a,) -> (n_a, n_t)."""
    one = lambda a, kd: outlet_profile(t, t_m, a, kd, eps, inj, kind, n_terms, boundary)
    return jax.vmap(one)(A, k_d)


@partial(jax.jit, static_argnames=("kind", "n_terms", "boundary"), compiler_options=_FIT_COMPILE)
def unit_peaks(t, z, t_m, eps, inj, kind, n_terms=256, boundary="dirichlet"):
    """Unit-area outlet peaks and their derivatives in the fit parametrisation.

    Each analyte is parametrised by ``z = (log m, log sd)`` with ``m = A / k_d`` the mean
    retention beyond the hold-up time (s) and ``sd = sqrt(2 A) / k_d`` the kinetic standard
    deviation (s), so ``k_d = 2 m / sd^2`` and ``A = m k_d``; these are nearly orthogonal for
    the peak's position and width.

    Parameters
    ----------
    t : array, shape (n_t,) or (n_a, n_t)
        Times shared by the analytes, or one row of times per analyte (each evaluated on
        its own row, so that a fit and per-peak grids share one compiled program).
    z : array, shape (n_a, 2)
    t_m, eps : float
    inj : array, shape (3,)
    kind : str (static)
    n_terms : int (static)
    boundary : {"dirichlet", "danckwerts"} (static)

    Returns
    -------
    peaks : array, shape (n_a, n_t)
        Outlet profiles divided by the injected amount (unit area).
    jac : array, shape (n_a, n_t, 2)
        Derivatives of ``peaks`` with respect to ``z``.
    """
    amount, _, _ = injection_cumulants(kind, inj)

    def natural(zi):
        m, sd = jnp.exp(zi[0]), jnp.exp(zi[1])
        k_d = 2.0 * m / sd**2
        return m * k_d, k_d

    def one(zi, t):
        # The window only decides where the series is valid, not its value: hold it fixed
        # and differentiate the Laplace-domain weights (one series pass for value and
        # tangents) and the closed-form part.
        window = jax.lax.stop_gradient(_window(t_m, *natural(zi), eps, inj, kind))

        def weights(zj):
            return _series_weights(t_m, *natural(zj), eps, inj, kind, window, n_terms, boundary)

        def singular(zj):
            A, k_d = natural(zj)
            val = _singular_part(t - window[0], k_d, _poisson_weights(A, eps, kind), kind, inj)
            return val, val

        stacked = jnp.concatenate([weights(zi)[None], jax.jacfwd(weights)(zi).T], axis=0)
        series = _series_part(t, stacked, window)
        d_singular, singular_val = jax.jacfwd(singular, has_aux=True)(zi)
        return (series[0] + singular_val) / amount, (series[1:].T + d_singular) / amount

    return jax.vmap(one, in_axes=(0, 0 if t.ndim == 2 else None))(z, t)


@partial(jax.jit, static_argnames=("n_terms", "n_local"), compiler_options=_FIT_COMPILE)
def unit_peaks_shared(t, z, shared, n_terms=256, n_local=None, n_real=None):
    """Unit-area peaks whose run-level parameters are fitted too, and their derivatives.

    The model of :func:`unit_peaks` with ``eps = 0``, a Gaussian injection centred at
    ``t = 0`` and a first-order extra-column (detector, dead-volume) lag ``tau_x``, whose
    transfer function ``1 / (1 + s tau_x)`` multiplies the column's. The run-level
    parameters ``shared = (log t_m, log w, log tau_x)`` (hold-up time, injection sd, lag) are
    common to all analytes.

    Parameters
    ----------
    t : array, shape (n_t,) or (n_a, n_t)
        Increasing times shared by the analytes, or one increasing row per analyte, as in
        :func:`unit_peaks`.
    z : array, shape (n_a, 2)
        ``(log m, log sd)`` per analyte, as in :func:`unit_peaks`.
    shared : array, shape (3,)
    n_terms : int (static)
    n_local : int or None (static)
        Evaluate each peak's Fourier series only on the ``n_local`` consecutive samples from
        the start of its window (where it is nonzero); ``None``: on all of ``t``. On a long
        run of narrow peaks this does a fraction of the work, with the same result whenever
        ``covered`` is true.
    n_real : int array or None
        Compute only the first ``n_real`` analytes (traced), one after the other; the other
        rows of ``peaks`` and ``jac`` are zero. A fit pads its analytes to a bucket, so that
        one program serves several counts: the padding then costs no evaluation. ``None``:
        all analytes, vectorised.

    Returns
    -------
    peaks : array, shape (n_a, n_t)
    jac : array, shape (n_a, n_t, 5)
        Derivatives with respect to ``(z_0, z_1, shared_0, shared_1, shared_2)``.
    covered : bool array, shape ()
        Whether every peak's window fits in its ``n_local`` samples (always true for
        ``n_local=None``); where it is false the result is truncated.
    """

    def natural(u):
        m, sd = jnp.exp(u[0]), jnp.exp(u[1])
        k_d = 2.0 * m / sd**2
        return m * k_d, k_d, jnp.exp(u[2]), jnp.exp(u[3]), jnp.exp(u[4])

    def window_of(u):
        A, k_d, t_m, w, lag = natural(u)
        sd = jnp.sqrt(2.0 * A / k_d**2 + w**2 + lag**2)
        mean = A / k_d + lag
        period = (_LEFT + _RIGHT) * sd
        return t_m, mean - _LEFT * sd, period, _DAMP / period

    def one(zi, t):
        u0 = jnp.concatenate([zi, shared])
        window = jax.lax.stop_gradient(window_of(u0))

        def weights(u):
            A, k_d, t_m, w, lag = natural(u)
            inj = jnp.stack([0.0 * w, w, 1.0 + 0.0 * w])
            base = _series_weights(t_m, A, k_d, 0.0, inj, "gaussian", window, n_terms)
            _, _, period, gamma = window
            s = gamma + 1j * (2.0 * jnp.pi / period) * jnp.arange(n_terms)
            # The window's delay is held fixed; a change of t_m is a phase factor.
            delay = jnp.exp(-s * (t_m - window[0]))
            lagged = base / (1.0 + s * lag)
            # The unretained part exp(-A) c_in(t - t_m) also passes through the lag:
            # its transform is removed from the series here and added in closed form below.
            return lagged * delay

        def singular(u):
            A, k_d, t_m, w, lag = natural(u)
            theta = t - t_m
            # Gaussian convolved with an exponential: the exponentially modified Gaussian.
            val = jnp.exp(-A) * _emg(theta, w, lag)
            return val, val

        stacked = jnp.concatenate([weights(u0)[None], jax.jacfwd(weights)(u0).T], axis=0)
        if n_local is None or n_local >= t.shape[0]:
            series, covered = _series_part(t, stacked, window), jnp.array(True)
        else:
            # Slice and paste back clamp the start identically, so the samples line up.
            start = jnp.searchsorted(t, window[0] + window[1])
            stop = jnp.searchsorted(t, window[0] + window[1] + window[2])
            start = jnp.clip(start, 0, t.shape[0] - n_local)
            local = _series_part(jax.lax.dynamic_slice(t, (start,), (n_local,)), stacked, window)
            series = jax.lax.dynamic_update_slice(
                jnp.zeros(stacked.shape[:1] + t.shape, local.dtype),
                local,
                (jnp.zeros_like(start), start),
            )
            # Covered when the window ends inside the slice or the slice reaches the last
            # time (past it, ``t`` only repeats its last value as padding).
            last = jnp.searchsorted(t, t[-1])
            covered = (stop <= start + n_local) | (start + n_local > last)
        d_singular, singular_val = jax.jacfwd(singular, has_aux=True)(u0)
        return series[0] + singular_val, series[1:].T + d_singular, covered

    if n_real is None:
        peaks, jac, covered = jax.vmap(one, in_axes=(0, 0 if t.ndim == 2 else None))(z, t)
        return peaks, jac, jnp.all(covered)
    rows = t if t.ndim == 2 else jnp.broadcast_to(t, z.shape[:1] + t.shape)

    def body(i, acc):
        peak, d_peak, inside = one(z[i], rows[i])
        return acc[0].at[i].set(peak), acc[1].at[i].set(d_peak), acc[2] & inside

    zero = jnp.zeros(rows.shape, z.dtype)
    init = (zero, jnp.zeros(rows.shape + (5,), z.dtype), jnp.array(True))
    return jax.lax.fori_loop(0, n_real, body, init)


def _emg(theta, w, lag):
    """Density of N(0, w^2) + Exp(mean lag) at ``theta``, without overflow on either side."""
    z = theta / w
    x = (w / lag - z) / jnp.sqrt(2.0)
    pos = x >= 0.0
    # x >= 0: exp(-z^2/2) erfcx(x); x < 0: exp(w^2/(2 lag^2) - theta/lag) erfc(x). Each
    # branch gets safe arguments so that neither it nor its gradient overflows.
    left = jnp.exp(-0.5 * z * z) * jax.scipy.special.erfcx(jnp.where(pos, x, 0.0))
    theta_r = jnp.where(pos, w**2 / lag, theta)
    right = jnp.exp(0.5 * (w / lag) ** 2 - theta_r / lag) * jax.scipy.special.erfc(
        jnp.where(pos, 0.0, x)
    )
    return jnp.where(pos, left, right) / (2.0 * lag)


def _log_erfc(x):
    """``log erfc(x)`` for any real ``x``, through ``erfcx`` where ``erfc`` underflows."""
    pos = x > 0.0
    xp = jnp.where(pos, x, 0.0)
    xn = jnp.where(pos, 0.0, x)
    # Past x = 25 the asymptotic series of erfcx (error below 1e-15 there); JAX's erfcx
    # returns 0 on part of [26.5, 26.7].
    far = xp > 25.0
    xf = jnp.where(far, xp, 25.0)
    v = 1.0 / (2.0 * xf * xf)
    series = 1.0 + v * (-1.0 + v * (3.0 + v * (-15.0 + v * (105.0 + v * (-945.0)))))
    log_erfcx = jnp.where(
        far,
        jnp.log(series) - jnp.log(xf) - 0.5 * jnp.log(jnp.pi),
        jnp.log(jax.scipy.special.erfcx(jnp.where(far, 0.0, xp))),
    )
    return jnp.where(pos, -xp * xp + log_erfcx, jnp.log(jax.scipy.special.erfc(xn)))


def overload_log_density(tau, sd, loading):
    """Log of the unit-area Haarhoff-van der Linde peak (equilibrium-dispersive, Langmuir).

    With the isotherm expanded to second order, ``q = a c - a b c^2``, and the time and space
    derivatives of the equilibrium-dispersive model exchanged at leading order, the band
    obeys Burgers' equation in the time since the linear peak; its Cole-Hopf solution for a
    narrow injection of unit area is

    ``f(tau) = phi(tau / sd) / sd * (e^R - 1) / R / (erfc(-x) / 2 + e^R erfc(x) / 2)``,
    ``x = tau / (sd sqrt(2))``,

    with ``tau`` the time since the linear (infinite-dilution) retention time, ``sd`` the
    linear peak's standard deviation and ``R`` the loading: ``R < 0`` for a Langmuir
    isotherm (steep front, tail: the band runs ahead of the linear peak), ``R > 0`` for an
    anti-Langmuir one (fronting), ``R = 0`` the Gaussian. Both denominator terms are
    positive, so the form has no cancellation for either sign.

    Parameters
    ----------
    tau : array
        Time since the linear retention time (s), any shape.
    sd : float or array
        Linear standard deviation (s), broadcastable with ``tau``.
    loading : float or array
        ``R`` (dimensionless), broadcastable with ``tau``; the physical value for a column is
        ``R = -Pe K b m / ((1 + K)^2 t_M)`` (``m`` the injected amount as concentration x
        time, ``b`` the Langmuir constant, ``K = F a``).

    Returns
    -------
    array, shape of ``tau``
    """
    x = tau / (sd * jnp.sqrt(2.0))
    # log((e^R - 1) / R) without overflow for either sign; its series R/2 near zero
    small = jnp.abs(loading) < 1e-6
    pos = jnp.where(small | (loading < 0.0), 1.0, loading)
    neg = jnp.where(small | (loading > 0.0), -1.0, loading)
    log_ratio = jnp.where(
        small,
        0.5 * loading,
        jnp.where(
            loading > 0.0,
            pos + jnp.log(-jnp.expm1(-pos)) - jnp.log(pos),
            jnp.log(-jnp.expm1(neg)) - jnp.log(-neg),
        ),
    )
    log_den = jnp.logaddexp(_log_erfc(-x), loading + _log_erfc(x)) - jnp.log(2.0)
    return -x * x - 0.5 * jnp.log(2.0 * jnp.pi) - jnp.log(sd) + log_ratio - log_den


@jax.jit
def overload_peaks_shared(t, z, shared):
    """Unit-area overloaded (Haarhoff-van der Linde) peaks of the free-run model, with Jacobian.

    The column's linear peak of :func:`unit_peaks_shared` is replaced by its moment-matched
    Gaussian (mean ``t_m + m``, variance ``sd^2 + w^2``), which the loading ``R`` distorts as
    in :func:`overload_log_density` (for the nearly Gaussian peaks of real columns, ``A`` of
    1e3 and more, the equilibrium-dispersive approximation of the kinetic model); the
    extra-column lag ``tau_x`` then acts on it as in the linear model, by the exact
    first-order recursion for an input linear between samples (so ``R = 0`` is the
    exponentially modified Gaussian, the linear model's large-``A`` limit).

    Parameters
    ----------
    t : array, shape (n_a, n_t)
        One row of times per analyte.
    z : array, shape (n_a, 3)
        ``(log m, log sd, R)`` per analyte.
    shared : array, shape (3,)
        ``(log t_m, log w, log tau_x)``.

    Returns
    -------
    peaks : array, shape (n_a, n_t)
    jac : array, shape (n_a, n_t, 6)
        Derivatives with respect to ``(z_0, z_1, z_2, shared_0, shared_1, shared_2)``.
    """

    def density(u, t):
        # A log-scale parameter with no effect (a vanishing lag) can take huge trial steps:
        # clipped far outside any time scale of a run, it stays finite.
        e = jnp.exp(jnp.clip(u, -100.0, 100.0))
        m, sd, loading, t_m, w, lag = e[0], e[1], u[2], e[3], e[4], e[5]
        x = jnp.exp(overload_log_density(t - t_m - m, jnp.sqrt(sd**2 + w**2), loading))
        # lag: y' = (x - y) / tau_x over each step h, x linear within it (h = 0 on padding)
        h = jnp.diff(t)
        a = jnp.exp(-h / lag)
        safe = jnp.where(h > 0.0, h, 1.0)
        c = jnp.where(h > 0.0, -jnp.expm1(-safe / lag) * lag / safe, 1.0)

        def step(y, k):
            a_k, c_k, x0, x1 = k
            y = a_k * y + x1 - a_k * x0 - c_k * (x1 - x0)
            return y, y

        _, ys = jax.lax.scan(step, x[0], (a, c, x[:-1], x[1:]))
        return jnp.concatenate([x[:1], ys])

    def one(zi, t):
        u = jnp.concatenate([zi, shared])
        return density(u, t), jax.jacfwd(density)(u, t)

    return jax.vmap(one)(z, t)
