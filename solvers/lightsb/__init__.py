"""Light Schrödinger Bridge (LightSB): entropic OT with a Gaussian-mixture Schrödinger potential.

Public names: the estimator :class:`LightSB`, the closed-form Gaussian-to-Gaussian bridge
:func:`gaussian_bridge`, and the :mod:`~solvers.lightsb.benchmark` module (benchmark pairs
with known plans, BW2-UVP / cBW2-UVP metrics).
"""

from solvers.lightsb import benchmark
from solvers.lightsb.benchmark import gaussian_bridge
from solvers.lightsb.estimator import LightSB

__all__ = ["LightSB", "benchmark", "gaussian_bridge"]
