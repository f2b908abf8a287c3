"""The estimator contract's test harness (not a test module).

Each estimator describes itself once in a ``contract_case.py`` beside its tests, defining
``CASES``, a list of :class:`ContractCase`; ``tests/test_contract.py`` collects every such file
and runs the same checks on each case, so the contract is stated once for all estimators.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any


@dataclass
class UnitCase:
    """One change of units that must not change the answer.

    ``transform(args) -> args`` rescales the fit arguments (for example times x 1000);
    ``check(ref, scaled, args, scaled_args)`` asserts that the fitted estimator ``scaled`` is
    ``ref`` with its parameters transformed (and its log-likelihood shifted by the
    log-Jacobian); it raises AssertionError otherwise.
    """

    name: str
    transform: Callable[[tuple], tuple]
    check: Callable[[Any, Any, tuple, tuple], None]


@dataclass
class ContractCase:
    """How the contract test builds, fits and reads one estimator.

    Attributes
    ----------
    name : str
        Test id.
    make : callable
        ``make(random_state) -> estimator`` with small, fast settings.
    fit_args : callable
        ``fit_args() -> tuple`` of positional arguments of ``fit`` (small data).
    output : callable
        ``output(est, args) -> ndarray`` a result that identifies the fit (predictions,
        parameters); compared across refits with the same seed and across pickling.
    array_args : sequence of (int, str)
        Positions in ``fit_args()`` and names of the array arguments that the bad-input table
        corrupts (complex, sparse where 2-D, string, object); each must raise a TypeError
        naming the argument.
    methods : sequence of (str, callable)
        ``(method name, call(est, args))`` pairs that need a fitted estimator:
        before ``fit`` each must raise NotFittedError.
    score : callable or None
        ``score(est, args) -> float``, higher is better.
    units : sequence of UnitCase
    sklearn_checks : bool
        Whether ``fit`` takes an ordinary ``X`` (then ``parametrize_with_checks`` runs on it).
    expected_failed_checks : dict
        For ``sklearn_checks``: check name -> why it does not apply.
    """

    name: str
    make: Callable[[Any], Any]
    fit_args: Callable[[], tuple]
    output: Callable[[Any, tuple], Any]
    array_args: Sequence[tuple[int, str]] = ()
    methods: Sequence[tuple[str, Callable]] = ()
    score: Callable[[Any, tuple], float] | None = None
    units: Sequence[UnitCase] = ()
    sklearn_checks: bool = False
    expected_failed_checks: dict = field(default_factory=dict)


class count_compilations:
    """Context manager counting XLA backend compilations inside it (``.count``).

    Warm a fit up first: a refit at a new data size inside the same shape bucket must then
    show ``count == 0``.
    """

    _active: list = []
    _registered = False

    def __enter__(self):
        import jax

        if not count_compilations._registered:
            jax.monitoring.register_event_duration_secs_listener(_on_event)
            count_compilations._registered = True
        self.count = 0
        count_compilations._active.append(self)
        return self

    def __exit__(self, *exc):
        count_compilations._active.remove(self)
        return False


def _on_event(name, duration, **kwargs):
    if name == "/jax/core/compile/backend_compile_duration":
        for counter in count_compilations._active:
            counter.count += 1
