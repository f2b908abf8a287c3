"""Deep stochastic kinematic models: mean and covariance propagation through kinematic models.

After Zheng et al., "Deep Stochastic Kinematic Models for Probabilistic Motion Forecasting in
Traffic" (IROS 2024). See :doc:`/methods/kinematic`.
"""

from solvers.kinematic import datasets
from solvers.kinematic.estimator import KinematicForecaster
from solvers.kinematic.propagation import (
    FORMULATIONS,
    METHODS,
    BicycleModel,
    propagate,
    propagate_mixture,
    trajectory_nll,
)

__all__ = [
    "FORMULATIONS",
    "METHODS",
    "BicycleModel",
    "KinematicForecaster",
    "datasets",
    "propagate",
    "propagate_mixture",
    "trajectory_nll",
]
