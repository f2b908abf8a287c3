"""Light Schrödinger Bridge (LightSB): entropic OT with a Gaussian-mixture Schrödinger potential.

Public names: the estimator :class:`LightSB`, the closed-form Gaussian-to-Gaussian bridge
:func:`gaussian_bridge`, and the :mod:`~solvers.lightsb.benchmark` module (benchmark pairs
with known plans, BW2-UVP / cBW2-UVP metrics).
"""

from typing import TYPE_CHECKING

from mixtures.lazy import attach

# names load on first use, so `import solvers.lightsb` stays cheap
__getattr__, __dir__, __all__ = attach(
    __name__,
    submodules=["benchmark"],
    attributes={
        "LightSB": "estimator",
        "gaussian_bridge": "benchmark",
    },
)

if TYPE_CHECKING:
    from solvers.lightsb import benchmark
    from solvers.lightsb.benchmark import gaussian_bridge
    from solvers.lightsb.estimator import LightSB
