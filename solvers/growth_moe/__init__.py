"""Covariate mixture-of-experts growth mixture models (Liu & Perera).

Public names: :class:`GrowthMixtureMoE`, :func:`compare_models`, :func:`screen_covariates`
and the :mod:`solvers.growth_moe.datasets` module (the paper's simulation design and the
``egsingle`` mathematics-achievement data).
"""

from typing import TYPE_CHECKING

from mixtures.lazy import attach

# names load on first use, so `import solvers.growth_moe` stays cheap
__getattr__, __dir__, __all__ = attach(
    __name__,
    submodules=["datasets", "selection"],
    attributes={
        "GrowthMixtureMoE": "estimator",
        "compare_models": "selection",
        "screen_covariates": "selection",
    },
)

if TYPE_CHECKING:
    from solvers.growth_moe import datasets, selection
    from solvers.growth_moe.estimator import GrowthMixtureMoE
    from solvers.growth_moe.selection import compare_models, screen_covariates
