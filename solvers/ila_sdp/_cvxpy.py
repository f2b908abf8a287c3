"""Reference solver: the block SDP of :mod:`solvers.ila_sdp._core` written in cvxpy."""

from __future__ import annotations

import numpy as np

from mixtures.base import ConvergenceWarning, warn

# Clarabel (interior point) is accurate but its cost grows quickly with n; SCS (first order)
# is used above this size.
_CLARABEL_MAX_N = 60


def cvxpy_solve(C, trace, *, solver=None, eps=1e-7, max_iters=100_000, warn_inaccurate=True):
    """Solve ``min sum_b <C_b, Z_b>`` over the block constraint set with cvxpy.

    Parameters
    ----------
    C : (B, n, n) ndarray
        Cost blocks.
    trace : float
        Trace of each block.
    solver : {"CLARABEL", "SCS"} or None
        None chooses Clarabel for ``n <= 60`` and SCS above.
    eps : float
        SCS accuracy (``eps_abs`` and ``eps_rel``).
    max_iters : int
        SCS iteration limit.
    warn_inaccurate : bool
        Warn when the status is ``optimal_inaccurate`` (callers that report it otherwise
        turn this off).

    Returns
    -------
    Z : (B, n, n) ndarray
    status : str
        cvxpy's status string.

    Raises
    ------
    RuntimeError
        If the solver fails or reports an infeasible/unbounded problem.

    Warns
    -----
    ConvergenceWarning
        If the status is ``optimal_inaccurate`` (and ``warn_inaccurate``).
    """
    import cvxpy as cp  # slow to import: only when this reference solver is used

    C = np.asarray(C, dtype=np.float64)
    B, n, _ = C.shape
    if solver is None:
        solver = "CLARABEL" if n <= _CLARABEL_MAX_N else "SCS"
    Zs = [cp.Variable((n, n), PSD=True) for _ in range(B)]
    cons = [Z >= 0 for Z in Zs] + [cp.trace(Z) == trace for Z in Zs]
    cons.append(sum(Z @ np.ones(n) for Z in Zs) == np.ones(n))
    objective = cp.Minimize(sum(cp.sum(cp.multiply(C[b], Zs[b])) for b in range(B)))
    problem = cp.Problem(objective, cons)
    kwargs = {"eps_abs": eps, "eps_rel": eps, "max_iters": max_iters} if solver == "SCS" else {}
    try:
        problem.solve(solver=solver, **kwargs)
    except cp.error.SolverError as exc:
        raise RuntimeError(f"cvxpy/{solver} failed on the SDP: {exc}") from exc
    status = problem.status
    if status not in (cp.OPTIMAL, cp.OPTIMAL_INACCURATE):
        raise RuntimeError(f"cvxpy/{solver} did not solve the SDP: status {status!r}")
    if status == cp.OPTIMAL_INACCURATE and warn_inaccurate:
        warn(
            f"cvxpy/{solver} returned status {status!r}; the SDP solution may be inaccurate",
            ConvergenceWarning,
        )
    return np.stack([np.asarray(Z.value) for Z in Zs]), status
