"""The names the commands accept, as `--help` text: algorithms, envs by family, presets.

Computed from the registries when a command defines its flags, so `--help` is never stale.
"""

from __future__ import annotations

import re


def algorithms_text() -> str:
    import algorithms

    return "one of " + ", ".join(algorithms.available())


def envs_text(prefix: str = "") -> str:
    """Env names grouped by family (`classic/`, `glucose/`, `mjx/`); numbered patients are
    folded into ranges (`adult#001..010`)."""
    import envs

    families: dict[str, list[str]] = {}
    for name in envs.names():
        if name.startswith(prefix):
            family, _, rest = name.partition("/")
            families.setdefault(family, []).append(rest)
    parts = []
    for family, names in families.items():
        numbered: dict[str, list[str]] = {}
        plain = []
        for n in names:
            match = re.fullmatch(r"(.+#)(\d+)", n)
            if match:
                numbered.setdefault(match.group(1), []).append(match.group(2))
            else:
                plain.append(n)
        folded = [f"{stem}{nums[0]}..{nums[-1]}" for stem, nums in numbered.items()]
        parts.append(f"{family}/: " + ", ".join(folded + plain))
    return "; ".join(parts)


def presets_text() -> str:
    from launch import presets

    return "; ".join(f"{name} ({p.algo} on {p.env})" for name, p in presets.PRESETS.items())
