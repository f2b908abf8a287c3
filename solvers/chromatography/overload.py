"""Overloaded peaks: the Haarhoff-van der Linde solution of the equilibrium-dispersive model.

At high loading the isotherm bends (Langmuir ``q = a c / (1 + b c)``): a Langmuir band runs
ahead of the linear peak with a steep front and a long tail, an anti-Langmuir one (``b < 0``)
fronts. Expanding the isotherm to second order and exchanging the time and space derivatives
at leading order gives Burgers' equation for the band, solved exactly by the Cole-Hopf
transform (Haarhoff and van der Linde, Anal. Chem. 1966). One loading ``R`` per peak,
besides its linear retention time, width and area, describes it; ``R = 0`` is the Gaussian.
"""

from __future__ import annotations

import jax
import numpy as np

from mixtures import x64
from mixtures.base import check_array, check_scalar
from solvers.chromatography import _core

__all__ = ["overload_profile", "langmuir_loading"]

# one compiled program per length instead of one per operation
_log_density = jax.jit(_core.overload_log_density)


def overload_profile(t, retention_time, sd, loading, area=1.0):
    """The Haarhoff-van der Linde peak.

    Parameters
    ----------
    t : array-like, shape (n_t,)
        Times (T).
    retention_time : float
        Linear (infinite-dilution) retention time ``t_R`` (T).
    sd : float
        Linear peak's standard deviation (T), > 0 (``t_R sqrt(2 / Pe)`` for the
        equilibrium-dispersive column, plus the injection's variance).
    loading : float
        ``R`` (dimensionless): < 0 Langmuir (tailing), > 0 anti-Langmuir (fronting); see
        :func:`langmuir_loading`.
    area : float, default 1
        Peak area (signal x T).

    Returns
    -------
    ndarray, shape (n_t,)
        ``area * f(t - t_R)`` with ``f`` of unit area (see
        :func:`~solvers.chromatography._core.overload_log_density`).
    """
    t = check_array(t, "t", ndim=1)
    sd = check_scalar(sd, "sd", low=0.0, low_open=True)
    loading = check_scalar(loading, "loading")
    retention_time = check_scalar(retention_time, "retention_time")
    with x64():
        log_f = np.asarray(_log_density(t - retention_time, sd, loading))
    return float(area) * np.exp(log_f)


def langmuir_loading(hold_up_time, peclet, retention_factor, langmuir_b, amount):
    """Loading ``R`` of an equilibrium-dispersive column with a Langmuir isotherm.

    ``R = -Pe K b m / ((1 + K)^2 t_M)``, from the Burgers' form of the model.

    Parameters
    ----------
    hold_up_time : float
        ``t_M = L / u`` (T), > 0.
    peclet : float
        ``Pe = u L / D``, > 0.
    retention_factor : float
        ``K = F a`` (phase ratio x Henry constant), >= 0.
    langmuir_b : float
        ``b`` of ``q = a c / (1 + b c)`` (1 / concentration); negative: anti-Langmuir.
    amount : float
        Injected amount as inlet concentration x time (concentration x T).

    Returns
    -------
    float
    """
    t_m = check_scalar(hold_up_time, "hold_up_time", low=0.0, low_open=True)
    pe = check_scalar(peclet, "peclet", low=0.0, low_open=True)
    K = check_scalar(retention_factor, "retention_factor", low=0.0)
    return float(-pe * K * langmuir_b * amount / ((1.0 + K) ** 2 * t_m))
