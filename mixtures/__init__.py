"""mixtures: finite-mixture primitives in JAX, and the solvers built on them.

The numerical primitives live in submodules (:mod:`mixtures.gaussian`,
:mod:`mixtures.student_t`, :mod:`mixtures.spectral`, :mod:`mixtures.kronecker`,
:mod:`mixtures.gating`, :mod:`mixtures.em`); the scikit-learn-style estimator
:class:`mixtures.GaussianMixture` sits on them. Importing the package changes no global JAX
setting; call :func:`mixtures.enable_x64` to compute in float64 with the functional API (the
estimators always do).
"""

from mixtures import gating, gaussian, kronecker, spectral, student_t
from mixtures._config import as_generator, as_key, enable_x64, x64
from mixtures._validation import ConvergenceWarning
from mixtures.estimators import GaussianMixture
from mixtures.gaussian import GMM
from mixtures.spectral import SpectralMixture

__version__ = "0.1.0"

__all__ = [
    "ConvergenceWarning",
    "GMM",
    "GaussianMixture",
    "SpectralMixture",
    "as_generator",
    "as_key",
    "enable_x64",
    "gating",
    "gaussian",
    "kronecker",
    "spectral",
    "student_t",
    "x64",
]
