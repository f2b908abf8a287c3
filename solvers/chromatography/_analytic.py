"""Closed-form outlet profiles of the dispersion-free linear kinetic model (NumPy/SciPy).

With ``theta = t - t_M`` the impulse response is
``exp(-A) delta(theta) + exp(-(sqrt(A) - sqrt(k_d theta))^2) sqrt(A k_d / theta)
i1e(2 sqrt(A k_d theta))`` and the step response is the Marcum Q function
``Q_1(sqrt(2 k_d theta), sqrt(2 A)) = ncx2.sf(2 A, 2, 2 k_d theta)``.
"""

from __future__ import annotations

import numpy as np
from scipy import special, stats


def step_response(theta, A, k_d):
    """Outlet fraction after a unit concentration step at the inlet (``theta`` after t_M)."""
    theta = np.asarray(theta, dtype=float)
    out = stats.ncx2.sf(2.0 * A, 2.0, 2.0 * k_d * np.clip(theta, 0.0, None))
    return np.where(theta >= 0.0, out, 0.0)


def impulse_response(theta, A, k_d):
    """Continuous part of the impulse response (1/s); the ``exp(-A)`` spike is excluded."""
    theta = np.asarray(theta, dtype=float)
    pos = np.clip(theta, 1e-300, None)
    root = np.sqrt(k_d * pos)
    val = (
        np.exp(-((np.sqrt(A) - root) ** 2))
        * np.sqrt(A * k_d / pos)
        * special.i1e(2.0 * np.sqrt(A) * root)
    )
    return np.where(theta > 0.0, val, 0.0)


def outlet(theta, A, k_d, kind, inj, n_nodes=400):
    """Closed-form (or, for a Gaussian injection, quadrature of closed forms) outlet profile.

    Parameters
    ----------
    theta : ndarray, shape (n_t,)
        Time after the hold-up time (s), measured from the injection start (rectangular,
        Dirac) or centre (Gaussian).
    A, k_d : float
        Damkohler number and desorption rate (1/s).
    kind : str
        Injection kind.
    inj : ndarray, shape (3,)
        Injection parameters (see :mod:`._core`).
    n_nodes : int
        Gauss-Legendre nodes for the Gaussian-injection convolution.

    Returns
    -------
    ndarray, shape (n_t,)
    """
    theta = np.asarray(theta, dtype=float)
    if kind == "rectangular":
        duration, conc = inj[0], inj[1]
        return conc * (step_response(theta, A, k_d) - step_response(theta - duration, A, k_d))
    if kind == "dirac":
        return inj[2] * impulse_response(theta, A, k_d)
    # Gaussian: c = int g'(theta - x) S(x) dx over x in [max(0, theta - 12 w), theta + 12 w].
    width, amount = inj[1], inj[2]
    lo = np.maximum(theta - 12.0 * width, 0.0)
    hi = np.maximum(theta + 12.0 * width, 0.0)
    x, w = np.polynomial.legendre.leggauss(n_nodes)
    half = 0.5 * (hi - lo)
    nodes = lo[:, None] + half[:, None] * (x[None, :] + 1.0)
    u = (theta[:, None] - nodes) / width
    dg = -u * np.exp(-0.5 * u * u) / (np.sqrt(2.0 * np.pi) * width**2)
    return amount * half * ((dg * step_response(nodes, A, k_d)) @ w)
