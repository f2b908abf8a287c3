"""Covariate mixture-of-experts growth mixture models (Liu & Perera).

Public names: :class:`GrowthMixtureMoE`, :func:`compare_models`, :func:`screen_covariates`
and the :mod:`solvers.growth_moe.datasets` module (the paper's simulation design and the
``egsingle`` mathematics-achievement data).
"""

from solvers.growth_moe import datasets
from solvers.growth_moe.estimator import GrowthMixtureMoE
from solvers.growth_moe.selection import compare_models, screen_covariates

__all__ = ["GrowthMixtureMoE", "compare_models", "datasets", "screen_covariates"]
