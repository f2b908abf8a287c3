"""Deep stochastic kinematic models: mean and covariance propagation through kinematic models.

After Zheng et al., "Deep Stochastic Kinematic Models for Probabilistic Motion Forecasting in
Traffic" (IROS 2024). See :doc:`/methods/kinematic`.
"""

from typing import TYPE_CHECKING

from mixtures.lazy import attach

# names load on first use, so `import solvers.kinematic` stays cheap
__getattr__, __dir__, __all__ = attach(
    __name__,
    submodules=["baselines", "datasets", "propagation"],
    attributes={
        "BicycleModel": "propagation",
        "ConstantVelocity": "baselines",
        "ConstantVelocityKalman": "baselines",
        "KinematicPropagation": "baselines",
        "FORMULATIONS": "propagation",
        "KinematicForecaster": "estimator",
        "METHODS": "propagation",
        "propagate": "propagation",
        "propagate_mixture": "propagation",
        "trajectory_nll": "propagation",
    },
)

if TYPE_CHECKING:
    from solvers.kinematic import baselines, datasets, propagation
    from solvers.kinematic.baselines import (
        ConstantVelocity,
        ConstantVelocityKalman,
        KinematicPropagation,
    )
    from solvers.kinematic.estimator import KinematicForecaster
    from solvers.kinematic.propagation import (
        FORMULATIONS,
        METHODS,
        BicycleModel,
        propagate,
        propagate_mixture,
        trajectory_nll,
    )
