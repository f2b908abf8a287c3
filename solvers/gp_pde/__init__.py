"""GP-HM: Gaussian-process PDE solver with spectral-mixture kernels on Kronecker grids.

Public names: :class:`PDEProblem`, the :mod:`~solvers.gp_pde.problems` module of benchmark
PDEs, and the estimator :class:`SpectralMixtureGPSolver`.
"""

from solvers.gp_pde import problems
from solvers.gp_pde.estimator import SpectralMixtureGPSolver
from solvers.gp_pde.problems import PDEProblem

__all__ = ["PDEProblem", "SpectralMixtureGPSolver", "problems"]
