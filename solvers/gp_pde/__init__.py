"""GP-HM: Gaussian-process PDE solver with spectral-mixture kernels on Kronecker grids.

Public names: :class:`PDEProblem`, the :mod:`~solvers.gp_pde.problems` module of benchmark
PDEs, and the estimator :class:`SpectralMixtureGPSolver`.
"""

from typing import TYPE_CHECKING

from mixtures.lazy import attach

# names load on first use, so `import solvers.gp_pde` stays cheap
__getattr__, __dir__, __all__ = attach(
    __name__,
    submodules=["problems"],
    attributes={
        "PDEProblem": "problems",
        "SpectralMixtureGPSolver": "estimator",
    },
)

if TYPE_CHECKING:
    from solvers.gp_pde import problems
    from solvers.gp_pde.estimator import SpectralMixtureGPSolver
    from solvers.gp_pde.problems import PDEProblem
