"""mixtures: finite-mixture primitives in JAX, and the solvers built on them.

Every estimator of the library derives from :class:`mixtures.base.MixturesEstimator`.
Importing the package loads nothing heavy (names are imported on first use) and changes no
global JAX setting; call :func:`mixtures.enable_x64` to compute in float64 with the functional
API (the estimators always do), and :func:`mixtures.set_cache_dir` to keep compiled programs
across Python sessions.

Where is what (each piece of mixture math lives once, here; the solvers call it):

=====================  ==========================================================================
``gaussian``           Gaussian mixtures: log-densities, responsibilities, sampling, moments,
                       marginals/conditionals, precision Cholesky factors, NumPyro conversion
``linalg``             LAPACK-free Cholesky and triangular solves for small batched matrices
``student_t``          Student-t densities and mixtures (also the Matern spectra of ``spectral``)
``gating``             softmax gates ``log pi_k(x)`` and their weighted NLL (mixtures of experts)
``em``                 EM loop (multi-start, masks, convergence) and Gaussian E/M-steps
``parsimonious``       the 14 Celeux-Govaert covariance models and their M-steps
``hierarchical``       model-based agglomerative clustering (initial partitions)
``selection``          BIC/ICL model search over components and covariance models
``spectral``           spectral-mixture kernels, their derivatives and spectral densities
``kronecker``          Kronecker matvecs, solves, log-determinants and Gaussian log-densities
``streaming``          chunked exact EM from memmaps or chunk streams; online EM
``sharding``           ``devices=`` parsing and data-parallel placement over devices and hosts
``estimators``         :class:`GaussianMixture` (scikit-learn API)
``base``               the estimator contract: validation, fitted checks, convergence, buckets
``plotting``           covariance ellipses, density and criterion plots
=====================  ==========================================================================
"""

from typing import TYPE_CHECKING

from mixtures.lazy import attach

__version__ = "0.1.0"

__getattr__, __dir__, __all__ = attach(
    __name__,
    submodules=[
        "base",
        "em",
        "gating",
        "gaussian",
        "hierarchical",
        "kronecker",
        "linalg",
        "parsimonious",
        "plotting",
        "selection",
        "sharding",
        "spectral",
        "streaming",
        "student_t",
    ],
    attributes={
        "ConvergenceWarning": "base",
        "DivergenceError": "base",
        "GMM": "gaussian",
        "GaussianMixture": "estimators",
        "SpectralMixture": "spectral",
        "as_generator": "_config",
        "as_key": "_config",
        "enable_x64": "_config",
        "hierarchical_labels": "hierarchical",
        "select_gaussian_mixture": "selection",
        "set_cache_dir": "_config",
        "x64": "_config",
    },
)

if TYPE_CHECKING:  # static analysers and IDEs see the eager imports
    from mixtures import (
        base,
        em,
        gating,
        gaussian,
        hierarchical,
        kronecker,
        linalg,
        parsimonious,
        plotting,
        selection,
        sharding,
        spectral,
        streaming,
        student_t,
    )
    from mixtures._config import as_generator, as_key, enable_x64, set_cache_dir, x64
    from mixtures.base import ConvergenceWarning, DivergenceError
    from mixtures.estimators import GaussianMixture
    from mixtures.gaussian import GMM
    from mixtures.hierarchical import hierarchical_labels
    from mixtures.selection import select_gaussian_mixture
    from mixtures.spectral import SpectralMixture
