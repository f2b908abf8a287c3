"""Reference method-of-lines solver of the column equations (NumPy/SciPy).

Mass balance and kinetics for every analyte i on ``0 <= x <= L``::

    dc_i/dt + d(u c_i)/dx = D d2c_i/dx2 - alpha dq_i/dt
    dq_i/dt = k_a,i c_i (1 - sum_j q_j / q_max) - k_d,i q_i

(``q_max = inf``: linear, independent analytes). Uniform nodes, third-order upwind-biased
differences for the advective flux ``u c`` (second order at the two end nodes), central
differences for dispersion. Boundaries: Dirichlet inlet ``c(0, t) = c_in(t)``, and for
``D > 0`` the domain is extended past the detector by ``40 D / u`` so that the zero-gradient
outflow mimics the semi-infinite column of the Laplace solution; or Danckwerts
(``u c_in = u c - D dc/dx`` at ``x = 0``, node 0 an unknown with a ghost node carrying the
flux condition; ``dc/dx = 0`` at the detector ``x = L``, no extension). Time stepping:
SciPy's variable-order BDF with the sparse analytic Jacobian, restarted at the injection's
discontinuities.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import integrate, sparse


def _advection_matrix(u, dx):
    """Matrix ``M`` (n x n+1) with ``(M @ c_full)[i-1] = d(u c)/dx`` at nodes 1..n."""
    n = u.size - 1
    rows, cols, vals = [], [], []

    def add(i, j, v):
        rows.append(i - 1)
        cols.append(j)
        vals.append(v * u[j] / dx)

    for i in range(1, n + 1):
        if i == 1:
            add(i, 0, -0.5)
            add(i, 2, 0.5)
        elif i == n:
            add(i, n, 1.5)
            add(i, n - 1, -2.0)
            add(i, n - 2, 0.5)
        else:
            for j, v in ((i - 2, 1.0), (i - 1, -6.0), (i, 3.0), (i + 1, 2.0)):
                add(i, j, v / 6.0)
    return sparse.csr_matrix((vals, (rows, cols)), shape=(n, n + 1))


def _dispersion_matrix(n, dx, D):
    """Matrix (n x n+1): central second difference, zero gradient at the last node."""
    to_left = np.ones(n)
    to_left[-1] = 2.0  # mirror ghost node past the outlet
    mat = sparse.diags([to_left, np.full(n, -2.0), np.ones(n - 1)], [0, 1, 2], shape=(n, n + 1))
    return (D / dx**2) * mat.tocsr()


def _inlet(kind, inj):
    if kind == "rectangular":
        duration, conc = inj[0], inj[1]
        return (lambda t: conc if 0.0 <= t < duration else 0.0), [duration], abs(conc)
    if kind == "gaussian":
        center, width, amount = inj
        height = amount / (math.sqrt(2.0 * math.pi) * width)
        return (lambda t: height * math.exp(-0.5 * ((t - center) / width) ** 2)), [], abs(height)
    raise ValueError("method='pde' cannot represent a Dirac injection; use a narrow gaussian.")


def solve(
    t,
    length,
    velocity_profile,
    dispersion,
    phase_ratio,
    k_a,
    k_d,
    kind,
    inj,
    n_cells=2000,
    q_max=None,
    rtol=1e-9,
    boundary="dirichlet",
    rates=None,
):
    """Outlet concentrations of all analytes by the method of lines.

    Parameters
    ----------
    t : ndarray, shape (n_t,)
        Increasing output times (s) since the injection start.
    length : float
        Column length (m).
    velocity_profile : callable
        ``u(x)`` (m/s) for ``x`` in m (vectorised).
    dispersion, phase_ratio : float
        Axial dispersion (m^2/s) and phase ratio.
    k_a, k_d : ndarray, shape (n_a,)
        Adsorption and desorption rates (1/s).
    kind, inj : str, ndarray (3,)
        Injection.
    n_cells : int
        Cells between inlet and detector.
    q_max : float or None
        Saturation capacity (competitive Langmuir) or None (linear).
    rtol : float
        Relative tolerance of the BDF integrator.
    boundary : {"dirichlet", "danckwerts"}
        Column boundary conditions (Danckwerts only changes anything when ``D > 0``).
    rates : callable or None
        Time-varying rates (linear model only): ``rates(t) -> (k_a, k_d)``, arrays of shape
        (n_a,), replacing ``k_a`` and ``k_d`` (a temperature programme).

    Returns
    -------
    ndarray, shape (n_a, n_t)
    """
    dx = length / n_cells
    danckwerts = boundary == "danckwerts" and dispersion > 0
    extra = int(np.ceil(40.0 * dispersion / velocity_profile(np.array([length]))[0] / dx))
    n = n_cells + (extra + 2 if dispersion > 0 and not danckwerts else 0)
    x = dx * np.arange(n + 1)
    u = velocity_profile(x)
    transport = -_advection_matrix(u, dx) + _dispersion_matrix(n, dx, dispersion)
    if danckwerts:
        # Node 0 is an unknown; the ghost node c_-1 = c_1 - 2 dx u0 (c_0 - c_in) / D carries the
        # inlet flux condition into central differences for advection and dispersion.
        u0, D = u[0], dispersion
        feed = u0**2 / D + 2.0 * u0 / dx
        first = sparse.csr_matrix(
            ([-feed - 2.0 * D / dx**2, 2.0 * D / dx**2], ([0, 0], [0, 1])), shape=(1, n + 1)
        )
        op = sparse.vstack([first, transport]).tocsr()
        inlet_col = np.zeros(n + 1)
        inlet_col[0] = feed
        detector = n_cells
        n = n + 1
    else:
        inlet_col = transport[:, 0].toarray().ravel()
        op = transport[:, 1:]
        detector = n_cells - 1
    n_a = k_a.size
    c_in, breaks, scale = _inlet(kind, inj)
    eye = sparse.identity(n, format="csr")
    lin_blocks = []
    for i in range(n_a):
        kin = sparse.bmat(
            [
                [-phase_ratio * k_a[i] * eye, phase_ratio * k_d[i] * eye],
                [k_a[i] * eye, -k_d[i] * eye],
            ]
        )
        lin_blocks.append(kin + sparse.bmat([[op, None], [None, sparse.csr_matrix((n, n))]]))
    lin = sparse.block_diag(lin_blocks, format="csr")
    forcing = np.zeros(2 * n * n_a)
    for i in range(n_a):
        forcing[2 * n * i : 2 * n * i + n] = inlet_col

    def split(y):
        y = y.reshape(n_a, 2, n)
        return y[:, 0], y[:, 1]

    if rates is not None:
        # lin(t) = transport + sum_i k_a,i(t) Ma_i + k_d,i(t) Md_i, one block per analyte
        zero = sparse.csr_matrix((n, n))
        ma = sparse.bmat([[-phase_ratio * eye, None], [eye, zero]])
        md = sparse.bmat([[zero, phase_ratio * eye], [None, -eye]])
        pick = [sparse.csr_matrix(([1.0], ([i], [i])), shape=(n_a, n_a)) for i in range(n_a)]
        ma_i = [sparse.kron(p, ma, format="csr") for p in pick]
        md_i = [sparse.kron(p, md, format="csr") for p in pick]
        transport_only = sparse.block_diag(
            [sparse.bmat([[op, None], [None, zero]]) for _ in range(n_a)], format="csr"
        )

        def jac(tt, y=None):
            ka, kd = rates(tt)
            out = transport_only.copy()
            for i in range(n_a):
                out = out + ka[i] * ma_i[i] + kd[i] * md_i[i]
            return out.tocsc()

        def rhs(tt, y):
            ka, kd = rates(tt)
            out = transport_only @ y + forcing * c_in(tt)
            for i in range(n_a):
                out += ka[i] * (ma_i[i] @ y) + kd[i] * (md_i[i] @ y)
            return out

    elif q_max is None:
        rhs = lambda tt, y: lin @ y + forcing * c_in(tt)
        jac = lin.tocsc()
    else:

        def nonlinear(y):
            c, q = split(y)
            free = 1.0 - q.sum(axis=0) / q_max
            rate = k_a[:, None] * c * (free[None, :] - 1.0)  # correction to the linear rate
            out = np.zeros((n_a, 2, n))
            out[:, 0] = -phase_ratio * rate
            out[:, 1] = rate
            return out.ravel(), c, free

        def rhs(tt, y):
            return lin @ y + forcing * c_in(tt) + nonlinear(y)[0]

        def jac(tt, y):
            _, c, free = nonlinear(y)
            zero = sparse.csr_matrix((n, n))
            blocks = []
            for i in range(n_a):
                row = []
                for j in range(n_a):
                    dc = sparse.diags(k_a[i] * (free - 1.0)) if i == j else zero
                    dq = sparse.diags(-k_a[i] * c[i] / q_max)
                    row.append(sparse.bmat([[-phase_ratio * dc, -phase_ratio * dq], [dc, dq]]))
                blocks.append(row)
            return (lin + sparse.bmat(blocks)).tocsc()

    t = np.asarray(t, dtype=float)
    out = np.zeros((n_a, t.size))
    pieces = _solve_piecewise(
        rhs, jac, np.zeros(2 * n * n_a), t, breaks, rtol, 1e-13 * max(scale, 1e-300)
    )
    for mask, states in pieces:
        out[:, mask] = states.reshape(n_a, 2, n, -1)[:, 0, detector]
    return out


def _solve_piecewise(rhs, jac, y0, t, breaks, rtol, atol):
    """Integrate ``y' = rhs(t, y)`` (BDF, sparse Jacobian) from ``y0`` at time 0 to ``t[-1]``,
    restarting at each of ``breaks`` (where the inlet switches, so the solution has a kink).
    Yields, per piece, the mask of the output times ``t`` it covers and the states there,
    shape (len(y0), mask.sum())."""
    edges = [0.0] + [b for b in breaks if 0.0 < b < t[-1]] + [max(t[-1], 0.0)]
    y = y0
    for a, b in zip(edges[:-1], edges[1:]):
        if b <= a:
            continue
        mask = (t >= a) & (t < b) if b < edges[-1] else (t >= a)
        sol = integrate.solve_ivp(
            rhs,
            (a, b),
            y,
            method="BDF",
            jac=jac,
            rtol=rtol,
            atol=atol,
            t_eval=np.union1d(t[mask], [b]),
            first_step=min(1e-3, (b - a) / 10),
        )
        if not sol.success:  # pragma: no cover - integrator failure
            raise RuntimeError(f"PDE integration failed: {sol.message}")
        yield mask, sol.y[:, : mask.sum()]
        y = sol.y[:, -1]


def solve_equilibrium_dispersive(
    t,
    length,
    velocity,
    dispersion,
    phase_ratio,
    henry,
    langmuir_b,
    kind,
    inj,
    n_cells=1000,
    rtol=1e-8,
):
    """Outlet concentration of one analyte of the equilibrium-dispersive model, Langmuir isotherm.

    ``d(c + F q(c))/dt + u dc/dx = D d2c/dx2`` with ``q(c) = a c / (1 + b c)`` (``F`` the phase
    ratio, ``a`` the Henry constant, ``b`` the Langmuir constant; ``b < 0`` is an
    anti-Langmuir isotherm, valid while ``1 + b c > 0``), Dirichlet inlet, semi-infinite
    column as in :func:`solve`. The state is the total concentration ``n = c + F q(c)``, from
    which ``c`` is the positive root of ``b c^2 + (1 + F a - b n) c - n = 0``.

    Parameters
    ----------
    t : ndarray, shape (n_t,)
        Increasing output times (s) since the injection start.
    length, velocity, dispersion, phase_ratio : float
        Column length (m), carrier velocity (m/s), axial dispersion (m^2/s), phase ratio.
    henry, langmuir_b : float
        Isotherm constants ``a`` (dimensionless) and ``b`` (1/concentration).
    kind, inj : str, ndarray (3,)
        Injection, as in :func:`solve`.
    n_cells : int
        Cells between inlet and detector.
    rtol : float
        Relative tolerance of the BDF integrator.

    Returns
    -------
    ndarray, shape (n_t,)
    """
    F, a, b = phase_ratio, henry, langmuir_b
    dx = length / n_cells
    extra = int(np.ceil(40.0 * dispersion / velocity / dx)) + 2
    n = n_cells + extra
    u = np.full(n + 1, float(velocity))
    transport = -_advection_matrix(u, dx) + _dispersion_matrix(n, dx, dispersion)
    inlet_col = transport[:, 0].toarray().ravel()
    op = transport[:, 1:].tocsr()
    c_in, breaks, scale = _inlet(kind, inj)

    def conc(total):
        if b == 0.0:
            return total / (1.0 + F * a)
        p = 1.0 + F * a - b * total
        # the positive root, written without cancellation for either sign of p
        disc = np.sqrt(np.maximum(p * p + 4.0 * b * total, 0.0))
        return np.where(p > 0, 2.0 * total / (p + disc), (disc - p) / (2.0 * b))

    def slope(c):  # dc/dn = 1 / (1 + F q'(c))
        return 1.0 / (1.0 + F * a / (1.0 + b * c) ** 2)

    def rhs(tt, y):
        return op @ conc(y) + inlet_col * c_in(tt)

    def jac(tt, y):
        return (op @ sparse.diags(slope(conc(y)))).tocsc()

    t = np.asarray(t, dtype=float)
    out = np.zeros(t.size)
    pieces = _solve_piecewise(rhs, jac, np.zeros(n), t, breaks, rtol, 1e-12 * max(scale, 1e-300))
    for mask, states in pieces:
        out[mask] = conc(states[n_cells - 1])
    return out
