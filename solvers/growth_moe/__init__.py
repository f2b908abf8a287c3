"""Covariate mixture-of-experts growth mixture models (Liu & Perera).

Public names: :class:`GrowthMixtureMoE` (wide arrays or ``fit_frame`` on a long-format
DataFrame; staged random starts; parameter, fit and class tables), :func:`compare_models`
(enumeration over classes and covariate placements with the (adjusted) Lo-Mendell-Rubin
tests), :func:`blrt` and :func:`blrt_test` (bootstrap likelihood-ratio test, fitting the
two models or from fitted ones), :func:`lmr_test`,
:func:`screen_covariates`, the :mod:`solvers.growth_moe.datasets` module (the paper's
simulation design and the ``egsingle`` mathematics-achievement data) and
:mod:`solvers.growth_moe.plotting`.
"""

from typing import TYPE_CHECKING

from mixtures.lazy import attach

# names load on first use, so `import solvers.growth_moe` stays cheap
__getattr__, __dir__, __all__ = attach(
    __name__,
    submodules=["datasets", "selection", "plotting"],
    attributes={
        "GrowthMixtureMoE": "estimator",
        "compare_models": "selection",
        "screen_covariates": "selection",
        "blrt": "selection",
        "blrt_test": "selection",
        "lmr_test": "selection",
    },
)

if TYPE_CHECKING:
    from solvers.growth_moe import datasets, plotting, selection
    from solvers.growth_moe.estimator import GrowthMixtureMoE
    from solvers.growth_moe.selection import (
        blrt,
        blrt_test,
        compare_models,
        lmr_test,
        screen_covariates,
    )
