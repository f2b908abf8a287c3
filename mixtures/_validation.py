"""Former home of the input checks; they live in :mod:`mixtures.base` now."""

from mixtures.base import (  # noqa: F401
    ConvergenceWarning,
    check_array,
    check_option,
    check_random_state,
    check_same_length,
    check_scalar,
    check_spd,
)
