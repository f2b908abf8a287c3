"""Column, analytes, injections, and the outlet profile by three methods."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

import jax.numpy as jnp
import numpy as np

from mixtures import x64
from mixtures.base import check_array, check_option, check_scalar, pad_axis, padded_length
from solvers.chromatography import _analytic, _core, _pde

__all__ = ["Column", "Analyte", "Injection", "Moments", "outlet_concentration", "moments"]


@dataclass(frozen=True)
class Column:
    """A chromatographic column with a carrier gas flowing through it.

    Parameters
    ----------
    length : float
        Column length L (m), > 0.
    velocity : float
        Carrier velocity u (m/s), > 0. With pressures given this is the outlet velocity
        ``u_o``; the velocity then varies along the column as ``u(x) = u_o p_o / p(x)``.
    dispersion : float, default 0
        Axial dispersion coefficient D (m^2/s), >= 0.
    phase_ratio : float, default 1
        Phase ratio alpha (stationary/mobile volume), > 0.
    inlet_pressure, outlet_pressure : float or None
        Inlet and outlet pressures (any common unit, ``p_i >= p_o > 0``) for a compressible
        ideal-gas carrier in laminar flow: ``p(x) = sqrt(p_i^2 - (p_i^2 - p_o^2) x / L)``.
        Both or neither.
    boundary : {"dirichlet", "danckwerts"}, default "dirichlet"
        Boundary conditions of the dispersive model (no effect when ``dispersion = 0``).
        ``"dirichlet"``: semi-infinite column with ``c(0, t) = c_in(t)``, read at ``x = L``.
        ``"danckwerts"``: finite column, ``u c_in = u c - D dc/dx`` at the inlet and
        ``dc/dx = 0`` at the outlet (CADET's lumped and general-rate models). Same mean; the
        finite column's variance is smaller by ``2 t_R^2 (1 - exp(-Pe)) / Pe^2``,
        ``t_R = t_M (1 + K)``.
    """

    length: float
    velocity: float | None = None
    dispersion: float = 0.0
    phase_ratio: float = 1.0
    inlet_pressure: float | None = None
    outlet_pressure: float | None = None
    boundary: str = "dirichlet"

    def __post_init__(self):
        check_scalar(self.length, "length", low=0.0, low_open=True)
        if self.velocity is None:
            raise ValueError("velocity must be given (m/s; the outlet velocity if pressures are).")
        check_scalar(self.velocity, "velocity", low=0.0, low_open=True)
        check_scalar(self.dispersion, "dispersion", low=0.0)
        check_scalar(self.phase_ratio, "phase_ratio", low=0.0, low_open=True)
        check_option(self.boundary, "boundary", ("dirichlet", "danckwerts"))
        if (self.inlet_pressure is None) != (self.outlet_pressure is None):
            raise ValueError("inlet_pressure and outlet_pressure must be given together.")
        if self.inlet_pressure is not None:
            p_o = check_scalar(self.outlet_pressure, "outlet_pressure", low=0.0, low_open=True)
            check_scalar(self.inlet_pressure, "inlet_pressure", low=p_o)

    @property
    def pressure_ratio(self) -> float:
        """P = p_i / p_o (1 for an incompressible carrier)."""
        if self.inlet_pressure is None:
            return 1.0
        return float(self.inlet_pressure) / float(self.outlet_pressure)

    @property
    def james_martin_factor(self) -> float:
        """j = 1.5 (P^2 - 1) / (P^3 - 1) (1 when P = 1)."""
        P = self.pressure_ratio
        if P - 1.0 < 1e-8:
            return 1.0 - 0.5 * (P - 1.0)
        return 1.5 * (P**2 - 1.0) / (P**3 - 1.0)

    @property
    def hold_up_time(self) -> float:
        """t_M = integral_0^L dx / u(x) = L / (j u_o) (s)."""
        return float(self.length) / (self.james_martin_factor * float(self.velocity))

    @property
    def peclet(self) -> float:
        """Pe = u L / D (inf when D = 0)."""
        if self.dispersion == 0.0:
            return math.inf
        return float(self.velocity) * float(self.length) / float(self.dispersion)

    @property
    def detector_factor(self) -> float:
        """u_in / u_out = 1 / P: a concentration detector's factor relative to the flux."""
        return 1.0 / self.pressure_ratio

    def velocity_at(self, x):
        """Carrier velocity u(x) (m/s) at positions ``x`` (m), array-like."""
        x = np.asarray(x, dtype=float)
        P = self.pressure_ratio
        ratio = np.sqrt(P**2 - (P**2 - 1.0) * np.clip(x, 0.0, self.length) / self.length)
        return float(self.velocity) / ratio


@dataclass(frozen=True)
class Analyte:
    """A compound with linear adsorption kinetics ``dq/dt = k_a c - k_d q``.

    Parameters
    ----------
    k_a : float
        Adsorption rate (1/s), > 0.
    k_d : float
        Desorption rate (1/s), > 0.
    name : str or None
    """

    k_a: float
    k_d: float
    name: str | None = None

    def __post_init__(self):
        check_scalar(self.k_a, "k_a", low=0.0, low_open=True)
        check_scalar(self.k_d, "k_d", low=0.0, low_open=True)

    def retention_factor(self, column: Column) -> float:
        """K = alpha k_a / k_d (dimensionless); retention time t_R = t_M (1 + K)."""
        return column.phase_ratio * self.k_a / self.k_d

    def damkohler(self, column: Column) -> float:
        """A = alpha k_a t_M, the mean number of adsorption events during the passage."""
        return column.phase_ratio * self.k_a * column.hold_up_time


class Injection:
    """Inlet concentration profile c_in(t); build it with the class methods.

    Attributes
    ----------
    kind : {"rectangular", "gaussian", "dirac"}
    params : tuple of 3 floats
        rectangular ``(duration, concentration, 0)``, gaussian ``(center, width, amount)``,
        dirac ``(0, 0, amount)``.
    """

    def __init__(self, kind, params):
        self.kind = check_option(kind, "kind", ("rectangular", "gaussian", "dirac"))
        self.params = tuple(float(p) for p in params)

    @classmethod
    def rectangular(cls, duration, concentration=1.0):
        """Concentration ``concentration`` for ``0 <= t < duration`` (s)."""
        check_scalar(duration, "duration", low=0.0, low_open=True)
        check_scalar(concentration, "concentration", low=0.0, low_open=True)
        return cls("rectangular", (duration, concentration, 0.0))

    @classmethod
    def gaussian(cls, center, width, amount=1.0):
        """Gaussian pulse (centre and width in s, amount in concentration x s).

        The pulse should start well after t = 0 (``center >= 5 width``): it is treated as
        untruncated by the Laplace path and truncated at t = 0 by the PDE solver.
        """
        check_scalar(center, "center", low=0.0)
        check_scalar(width, "width", low=0.0, low_open=True)
        check_scalar(amount, "amount", low=0.0, low_open=True)
        return cls("gaussian", (center, width, amount))

    @classmethod
    def dirac(cls, amount=1.0):
        """Instantaneous injection of ``amount`` (concentration x s) at t = 0."""
        check_scalar(amount, "amount", low=0.0, low_open=True)
        return cls("dirac", (0.0, 0.0, amount))

    @property
    def amount(self) -> float:
        """Injected amount, integral of c_in (concentration x s)."""
        return self.params[0] * self.params[1] if self.kind == "rectangular" else self.params[2]

    @property
    def mean(self) -> float:
        """Mean injection time (s)."""
        return {"rectangular": 0.5 * self.params[0], "gaussian": self.params[0]}.get(self.kind, 0.0)

    @property
    def variance(self) -> float:
        """Variance of the injection profile (s^2)."""
        if self.kind == "rectangular":
            return self.params[0] ** 2 / 12.0
        return self.params[1] ** 2 if self.kind == "gaussian" else 0.0

    def __repr__(self):
        names = {
            "rectangular": ("duration", "concentration"),
            "gaussian": ("center", "width", "amount"),
            "dirac": ("amount",),
        }[self.kind]
        vals = (
            self.params[:2]
            if self.kind == "rectangular"
            else (self.params if self.kind == "gaussian" else self.params[2:])
        )
        args = ", ".join(f"{n}={v:g}" for n, v in zip(names, vals))
        return f"Injection.{self.kind}({args})"


class Moments(NamedTuple):
    """Outlet peak moments: area (concentration x s), mean (s), variance (s^2), skewness."""

    area: float
    mean: float
    variance: float
    skewness: float


def _check_times(t):
    t = check_array(t, "t", ndim=1)
    if t.size > 1 and np.any(np.diff(t) <= 0):
        raise ValueError("t must be strictly increasing.")
    return t


def _as_analyte_list(analytes):
    single = isinstance(analytes, Analyte)
    items = [analytes] if single else list(analytes)
    if not items or not all(isinstance(a, Analyte) for a in items):
        raise TypeError("analytes must be an Analyte or a non-empty list of Analyte.")
    return items, single


def _check_objects(column, injection):
    if not isinstance(column, Column):
        raise TypeError(f"column must be a Column, got {type(column).__name__}.")
    if not isinstance(injection, Injection):
        raise TypeError(f"injection must be an Injection, got {type(injection).__name__}.")


def _pad_analytes(n: int) -> int:
    """Bucketed analyte count (powers of two), so a new count reuses compiled programs."""
    return padded_length(n, minimum=1)


def laplace_profiles(t, t_m, A, k_d, eps, inj, kind, n_terms, boundary="dirichlet"):
    """:func:`_core.outlet_profiles` on shape buckets, as NumPy, shape (n_a, n_t).

    The time axis is padded to :func:`mixtures.base.padded_length` (with its last time) and
    the analytes to a power of two (with copies of the first), so a new signal length or
    analyte count reuses the compiled program; each time point and analyte is computed
    independently, so the padded entries are simply dropped (weight zero).
    """
    t = np.asarray(t, dtype=float)
    A, k_d = np.atleast_1d(np.asarray(A, float)), np.atleast_1d(np.asarray(k_d, float))
    n_t, n_a = t.size, A.size
    t_pad = pad_axis(t, padded_length(n_t), value=t[-1])
    n_pad = _pad_analytes(n_a)
    A_pad, kd_pad = pad_axis(A, n_pad, value=A[0]), pad_axis(k_d, n_pad, value=k_d[0])
    with x64():
        out = _core.outlet_profiles(
            jnp.asarray(t_pad),
            float(t_m),
            jnp.asarray(A_pad),
            jnp.asarray(kd_pad),
            float(eps),
            jnp.asarray(np.asarray(inj, float)),
            kind,
            n_terms,
            boundary,
        )
        return np.asarray(out)[:n_a, :n_t]


def _boundary(column):
    """The core's static boundary option: both conditions coincide without dispersion."""
    return column.boundary if column.dispersion > 0.0 else "dirichlet"


def _core_params(column, items):
    t_m = column.hold_up_time
    eps = 0.0 if column.dispersion == 0.0 else 1.0 / column.peclet
    A = np.array([a.damkohler(column) for a in items])
    k_d = np.array([a.k_d for a in items])
    return t_m, A, k_d, eps


def outlet_concentration(
    column,
    analytes,
    injection,
    t,
    method="laplace",
    competitive=False,
    q_max=None,
    n_terms=512,
    n_cells=1000,
):
    """Concentration at the column outlet.

    Parameters
    ----------
    column : Column
    analytes : Analyte or list of Analyte
    injection : Injection
    t : array-like, shape (n_t,)
        Strictly increasing times (s) since the start of the injection.
    method : {"laplace", "analytic", "pde"}
        ``"analytic"``: closed form of the dispersion-free model (Marcum Q step response,
        Bessel impulse response; ``D = 0`` only). ``"laplace"``: Fourier-series inversion of
        the Laplace-domain solution on a vertical Bromwich line (``D >= 0``; variable velocity
        only with ``D = 0``). ``"pde"``: reference method-of-lines solver (any case; the only
        one for ``competitive=True``).
    competitive : bool, default False
        Competitive Langmuir kinetics ``dq_i/dt = k_a,i c_i (1 - sum_j q_j / q_max) - k_d,i q_i``
        (``method="pde"`` only).
    q_max : float or None
        Saturation capacity (concentration units of q) for ``competitive=True``.
    n_terms : int, default 512
        Fourier terms of the Laplace inversion.
    n_cells : int, default 1000
        Grid cells between inlet and detector for the PDE solver.

    Returns
    -------
    ndarray, shape (n_t,) for one analyte or (n_analytes, n_t) for a list
        Outlet concentration (inlet concentration units). With a pressure drop this is the
        concentration, i.e. the outlet flux divided by the outlet velocity.
    """
    _check_objects(column, injection)
    items, single = _as_analyte_list(analytes)
    t = _check_times(t)
    method = check_option(method, "method", ("laplace", "analytic", "pde"))
    if competitive and method != "pde":
        raise ValueError("competitive=True needs method='pde'.")
    if competitive:
        q_max = check_scalar(q_max, "q_max", low=0.0, low_open=True)
    variable = column.pressure_ratio != 1.0
    if method == "analytic" and column.dispersion > 0:
        raise ValueError("method='analytic' is the D = 0 closed form; use 'laplace' for D > 0.")
    if method == "laplace" and column.dispersion > 0 and variable:
        raise ValueError("method='laplace' with dispersion needs constant velocity; use 'pde'.")
    t_m, A, k_d, eps = _core_params(column, items)
    inj = np.array(injection.params)
    if method == "pde":
        n_cells = check_scalar(n_cells, "n_cells", kind="int", low=10)
        k_a = np.array([a.k_a for a in items])
        out = _pde.solve(
            t,
            column.length,
            column.velocity_at,
            column.dispersion,
            column.phase_ratio,
            k_a,
            k_d,
            injection.kind,
            inj,
            n_cells=n_cells,
            q_max=q_max if competitive else None,
            boundary=column.boundary,
        )
    elif method == "analytic":
        shift = t_m + (inj[0] if injection.kind == "gaussian" else 0.0)
        out = (
            np.stack(
                [_analytic.outlet(t - shift, a, kd, injection.kind, inj) for a, kd in zip(A, k_d)]
            )
            * column.detector_factor
        )
    else:
        n_terms = check_scalar(n_terms, "n_terms", kind="int", low=8)
        out = laplace_profiles(t, t_m, A, k_d, eps, inj, injection.kind, n_terms, _boundary(column))
        out = out * column.detector_factor
    return out[0] if single else out


def moments(column, analyte, injection):
    """Area, mean, variance and skewness of the outlet peak, from the Laplace transform.

    The column's cumulants are derivatives of ``log G(s)`` at ``s = 0`` (automatic
    differentiation); the injection's are added.

    Parameters
    ----------
    column : Column
    analyte : Analyte
    injection : Injection

    Returns
    -------
    Moments
        ``area`` (concentration x s), ``mean`` (s, from the injection start), ``variance``
        (s^2), ``skewness`` (dimensionless).
    """
    _check_objects(column, injection)
    if not isinstance(analyte, Analyte):
        raise TypeError(f"analyte must be an Analyte, got {type(analyte).__name__}.")
    t_m, A, k_d, eps = _core_params(column, [analyte])
    with x64():
        kappa = np.asarray(
            _core.column_cumulants(
                jnp.float64(t_m),
                jnp.float64(A[0]),
                jnp.float64(k_d[0]),
                jnp.float64(eps),
                _boundary(column),
            )
        )
    mean = kappa[0] + injection.mean
    var = kappa[1] + injection.variance
    return Moments(
        area=injection.amount * column.detector_factor,
        mean=float(mean),
        variance=float(var),
        skewness=float(kappa[2] / var**1.5),
    )
