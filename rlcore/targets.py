"""Target networks: the Polyak average of SAC, Lagrangian SAC and PEARL."""

from __future__ import annotations

import jax

from rlcore.types import Params


def polyak(target: Params, online: Params, tau: float) -> Params:
    """`(1 - tau) * target + tau * online`, leaf by leaf."""
    return jax.tree.map(lambda t, o: (1.0 - tau) * t + tau * o, target, online)
