"""Temperature-programmed gas chromatography: retention and width under an oven programme.

The retention factor follows the van 't Hoff law ``ln K(T) = a + b / T`` (``b = -dH / R``,
``a = dS / R + ln(phase ratio)``; T in kelvin) and the desorption rate is constant or any
function of T. The oven temperature is uniform along the column, so the whole band moves at
the local velocity ``u / (1 + K(T(t)))`` (the hold-up time ``t_M`` is held constant:
constant-flow mode). A band's position ``z`` (fraction of the column length) and its spatial
variance ``s2`` (in column lengths squared) obey

    dz/dt  = 1 / (t_M (1 + K))
    ds2/dt = 2 K / (k_d t_M^2 (1 + K)^3) + 2 / (Pe t_M (1 + K))

(linear kinetic model: the plate-height contributions of slow desorption and of axial
dispersion, at leading order in ``1 / (k_d t)``), from ``z = 0`` and the injection's
variance; the band leaves at ``t_R`` (``z = 1``) with time standard deviation
``sqrt(s2) t_M (1 + K(T(t_R)))``. Isothermal, this is ``t_R = t_M (1 + K)`` and
``sd^2 = 2 t_M K / k_d + 2 t_R^2 / Pe``, the column model's cumulants.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import integrate, optimize

from mixtures.base import check_array, check_scalar

__all__ = ["OvenProgram", "programmed_peak", "fit_retention"]


@dataclass(frozen=True)
class OvenProgram:
    """A linear oven programme: hold, ramp, final hold.

    Parameters
    ----------
    initial : float
        Starting temperature (K), > 0.
    rate : float, default 0
        Ramp rate (K/s), >= 0; 0 is an isothermal run.
    hold : float, default 0
        Time at ``initial`` before the ramp starts (s), >= 0.
    final : float or None
        Temperature where the ramp stops (K), >= ``initial``; None: no limit.
    """

    initial: float
    rate: float = 0.0
    hold: float = 0.0
    final: float | None = None

    def __post_init__(self):
        check_scalar(self.initial, "initial", low=0.0, low_open=True)
        check_scalar(self.rate, "rate", low=0.0)
        check_scalar(self.hold, "hold", low=0.0)
        if self.final is not None:
            check_scalar(self.final, "final", low=float(self.initial))

    def temperature(self, t):
        """Oven temperature (K) at times ``t`` (s) since injection, any shape."""
        t = np.asarray(t, dtype=float)
        out = self.initial + self.rate * np.clip(t - self.hold, 0.0, None)
        return out if self.final is None else np.minimum(out, self.final)


def _positive_or_inf(value, name):
    """A float > 0, ``inf`` allowed (the limit without that broadening)."""
    if isinstance(value, (int, float, np.floating, np.integer)) and value == np.inf:
        return np.inf
    return check_scalar(value, name, low=0.0, low_open=True)


def _rate_function(k_d):
    if callable(k_d):
        return k_d
    value = _positive_or_inf(k_d, "k_d")
    return lambda T: value + 0.0 * T


def programmed_peak(hold_up_time, a, b, program, k_d=np.inf, peclet=np.inf, injection_sd=0.0):
    """Retention time and standard deviation of a peak under an oven programme.

    Parameters
    ----------
    hold_up_time : float
        ``t_M`` (s), > 0, constant during the run.
    a, b : float
        ``ln K = a + b / T`` (dimensionless, K).
    program : OvenProgram
    k_d : float or callable, default inf
        Desorption rate (1/s), or a function of the temperature (K) giving it; ``inf``: no
        kinetic broadening.
    peclet : float, default inf
        Column Peclet number ``u L / D``; ``inf``: no axial dispersion.
    injection_sd : float, default 0
        Standard deviation of the injection (s); it enters as a band of that many seconds
        at the inlet velocity.

    Returns
    -------
    t_r : float
        Retention time (s): when the band centre reaches the detector.
    sd : float
        Standard deviation of the peak in time (s).
    """
    t_m = check_scalar(hold_up_time, "hold_up_time", low=0.0, low_open=True)
    peclet = _positive_or_inf(peclet, "peclet")
    if not isinstance(program, OvenProgram):
        raise TypeError(f"program must be an OvenProgram, got {type(program).__name__}.")
    rate = _rate_function(k_d)
    inv_pe = 1.0 / float(peclet)

    def K(t):
        return np.exp(a + b / program.temperature(t))

    def rhs(t, y):
        k = K(t)
        kin = 2.0 * k / (rate(program.temperature(t)) * t_m**2 * (1.0 + k) ** 3)
        return [1.0 / (t_m * (1.0 + k)), kin + 2.0 * inv_pe / (t_m * (1.0 + k))]

    def arrived(t, y):
        return y[0] - 1.0

    arrived.terminal, arrived.direction = True, 1.0
    s2_inj = (injection_sd / (t_m * (1.0 + K(0.0)))) ** 2
    # the slowest possible passage bounds the integration: the largest K on the programme
    horizon = t_m * (1.0 + K(0.0)) * 1.01 + 1.0
    sol = integrate.solve_ivp(
        rhs, (0.0, horizon), [0.0, s2_inj], events=arrived, rtol=1e-10, atol=1e-14
    )
    if not sol.t_events[0].size:  # pragma: no cover - the horizon is an upper bound
        raise RuntimeError("the band did not reach the detector.")
    t_r = float(sol.t_events[0][0])
    sd = float(np.sqrt(sol.y_events[0][0][1]) * t_m * (1.0 + K(t_r)))
    return t_r, sd


def fit_retention(hold_up_time, retention_times, temperatures=None, programs=None):
    """Fit ``ln K = a + b / T`` to retention times from isothermal or programmed runs.

    Parameters
    ----------
    hold_up_time : float
        ``t_M`` (s), > 0.
    retention_times : array-like, shape (n_runs,)
        Retention times of one analyte (s), each > ``t_M``.
    temperatures : array-like of shape (n_runs,) or None
        Isothermal runs: their temperatures (K). ``ln(t_R / t_M - 1)`` is then linear in
        ``1 / T``, a weighted linear least-squares problem (weights from a constant error in
        ``t_R``).
    programs : sequence of OvenProgram or None
        Programmed runs (or a mix with isothermal ones as ``OvenProgram(T)``): nonlinear
        least squares in ``t_R`` (``scipy.optimize.least_squares``), started from the best
        of a grid of ``b`` with ``a`` matched to the first run.

    Returns
    -------
    params : ndarray, shape (2,)
        ``(a, b)``.
    stderr : ndarray, shape (2,)
        Their standard errors from the residuals (NaN with two runs: no degree of freedom).
    """
    t_m = check_scalar(hold_up_time, "hold_up_time", low=0.0, low_open=True)
    t_r = check_array(retention_times, "retention_times", ndim=1)
    if (temperatures is None) == (programs is None):
        raise ValueError("give exactly one of temperatures and programs.")
    if np.any(t_r <= t_m):
        raise ValueError("retention_times must all exceed hold_up_time.")
    if t_r.size < 2:
        raise ValueError("retention_times needs at least two runs to fit (a, b).")
    dof = t_r.size - 2
    if temperatures is not None:
        T = check_array(temperatures, "temperatures", ndim=1)
        if T.size != t_r.size:
            raise ValueError("temperatures and retention_times must have the same length.")
        K = t_r / t_m - 1.0
        # d ln K / d t_R = 1 / (t_R - t_M): a constant error in t_R weighs runs by that
        w = t_r - t_m
        X = np.column_stack([np.ones_like(T), 1.0 / T]) * w[:, None]
        coef, *_ = np.linalg.lstsq(X, np.log(K) * w, rcond=None)
        resid = X @ coef - np.log(K) * w
        jac = X / w[:, None] * w[:, None]
    else:
        programs = list(programs)
        if len(programs) != t_r.size:
            raise ValueError("programs and retention_times must have the same length.")

        def model(p):
            return np.array([programmed_peak(t_m, p[0], p[1], g)[0] for g in programs])

        def a_for(b):
            # a matching the first run: its retention time increases with a
            f = lambda a: programmed_peak(t_m, a, b, programs[0])[0] - t_r[0]
            lo, hi = -60.0, 10.0
            return optimize.brentq(f, lo, hi, xtol=1e-10) if f(lo) * f(hi) < 0 else np.nan

        best = None
        for b in np.geomspace(100.0, 2e4, 12):
            a = a_for(b)
            if np.isfinite(a):
                cost = np.sum((model([a, b]) - t_r) ** 2)
                if best is None or cost < best[0]:
                    best = (cost, np.array([a, b]))
        if best is None:
            raise ValueError("no (a, b) reproduces the first run's retention time.")
        res = optimize.least_squares(
            lambda p: model(p) - t_r, best[1], x_scale=np.array([1.0, 1000.0]), xtol=1e-12
        )
        coef, resid, jac = res.x, res.fun, res.jac
    if dof == 0:
        return coef, np.full(2, np.nan)
    cov = np.linalg.pinv(jac.T @ jac) * (resid @ resid / dof)
    return coef, np.sqrt(np.diag(cov))
