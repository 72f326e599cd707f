"""One package per algorithm; `algorithms.get(name)` returns the package."""

from __future__ import annotations

import importlib
from types import ModuleType

ALGORITHMS = ("sac", "sac_lagrangian", "mpo", "pearl", "grbal", "rebal", "mb", "mbde")


def available() -> list[str]:
    """Algorithm names whose package exists in this checkout."""
    out = []
    for name in ALGORITHMS:
        try:
            importlib.import_module(f"algorithms.{name}")
        except ModuleNotFoundError as err:
            if err.name != f"algorithms.{name}":
                raise
            continue
        out.append(name)
    return out


def get(name: str) -> ModuleType:
    """The package of algorithm `name`.

    Raises:
      ValueError: unknown name, listing the available ones.
    """
    if name not in available():
        raise ValueError(f"Unknown algorithm {name!r}. Available: {', '.join(available())}")
    return importlib.import_module(f"algorithms.{name}")
