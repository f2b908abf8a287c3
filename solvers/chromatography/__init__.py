"""Gas-chromatography column model: Laplace-transform solution, reference PDE solver, fitting.

Public names: :class:`Column`, :class:`Analyte`, :class:`Injection`,
:func:`outlet_concentration`, :func:`moments`, :class:`ChromatogramFit`,
:func:`read_chromatogram` and :class:`Chromatogram` (vendor files and text exports),
:func:`calibrate` and :class:`Calibration` (area against concentration),
:func:`overload_profile` and :func:`langmuir_loading` (overloaded peaks),
:class:`OvenProgram`, :func:`programmed_peak` and :func:`fit_retention` (temperature
programmes), the
:mod:`~solvers.chromatography.datasets` module (``btex``) and the plot helpers
:func:`plot_chromatogram` and :func:`plot_components`.
"""

from typing import TYPE_CHECKING

from mixtures.lazy import attach

# names load on first use, so `import solvers.chromatography` stays cheap
__getattr__, __dir__, __all__ = attach(
    __name__,
    submodules=["datasets", "io", "model", "overload", "plotting", "temperature"],
    attributes={
        "Analyte": "model",
        "Calibration": "calibration",
        "Chromatogram": "io",
        "ChromatogramFit": "estimator",
        "Column": "model",
        "Injection": "model",
        "Moments": "model",
        "OvenProgram": "temperature",
        "calibrate": "calibration",
        "fit_retention": "temperature",
        "langmuir_loading": "overload",
        "moments": "model",
        "outlet_concentration": "model",
        "overload_profile": "overload",
        "plot_chromatogram": "plotting",
        "plot_components": "plotting",
        "programmed_peak": "temperature",
        "read_chromatogram": "io",
    },
)

if TYPE_CHECKING:
    from solvers.chromatography import datasets, io, model, overload, plotting, temperature
    from solvers.chromatography.calibration import Calibration, calibrate
    from solvers.chromatography.estimator import ChromatogramFit
    from solvers.chromatography.io import Chromatogram, read_chromatogram
    from solvers.chromatography.model import (
        Analyte,
        Column,
        Injection,
        Moments,
        moments,
        outlet_concentration,
    )
    from solvers.chromatography.overload import langmuir_loading, overload_profile
    from solvers.chromatography.plotting import plot_chromatogram, plot_components
    from solvers.chromatography.temperature import OvenProgram, fit_retention, programmed_peak
