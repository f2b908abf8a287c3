"""Gas-chromatography column model: Laplace-transform solution, reference PDE solver, fitting.

Public names: :class:`Column`, :class:`Analyte`, :class:`Injection`,
:func:`outlet_concentration`, :func:`moments`, :class:`ChromatogramFit`, the
:mod:`~solvers.chromatography.datasets` module (``btex``) and the plot helpers
:func:`plot_chromatogram` and :func:`plot_components`.
"""

from solvers.chromatography import datasets
from solvers.chromatography.estimator import ChromatogramFit
from solvers.chromatography.model import (
    Analyte,
    Column,
    Injection,
    Moments,
    moments,
    outlet_concentration,
)
from solvers.chromatography.plotting import plot_chromatogram, plot_components

__all__ = [
    "Analyte",
    "ChromatogramFit",
    "Column",
    "Injection",
    "Moments",
    "datasets",
    "moments",
    "outlet_concentration",
    "plot_chromatogram",
    "plot_components",
]
