"""Lazy package attributes: a package's public names load on first use, not at import.

``import mixtures`` and ``import solvers.X`` would otherwise import JAX, scikit-learn, SciPy,
optax, cvxpy and matplotlib before the user has asked for anything; with :func:`attach` a
package's ``__init__`` declares where each public name lives and the module holding it is
imported when the name is first read.
"""

from __future__ import annotations

import importlib

__all__ = ["attach"]


def attach(package: str, submodules=(), attributes: dict[str, str] | None = None):
    """Make the names of a package load lazily.

    Parameters
    ----------
    package : str
        The package's ``__name__``.
    submodules : iterable of str
        Submodules exposed as attributes (``package.sub``).
    attributes : dict of str to str
        Public name -> module (relative to ``package``, e.g. ``"estimators"``) defining it.

    Returns
    -------
    __getattr__, __dir__, __all__
        To assign in the package's ``__init__``.
    """
    submodules = set(submodules)
    attributes = dict(attributes or {})
    names = sorted(submodules | set(attributes))

    def __getattr__(name):
        if name in submodules:
            return importlib.import_module(f"{package}.{name}")
        if name in attributes:
            module = importlib.import_module(f"{package}.{attributes[name]}")
            return getattr(module, name)
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    def __dir__():
        return names

    return __getattr__, __dir__, list(names)
