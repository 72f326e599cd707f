"""Common types. Axis letters used across rlcore: B batch, T time, N samples, D features."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax

Params = Any
PRNGKey = jax.Array
Metrics = dict[str, jax.Array]


class Transition(NamedTuple):
    """One environment step, as stored in replay (leaves may carry leading B/T axes).

    `discount` is 0 where the episode terminated and 1 otherwise (truncation by a time limit
    bootstraps, Brax's convention); `next_obs` is the last observation of the step, before
    any auto-reset.
    """

    obs: jax.Array
    action: jax.Array
    reward: jax.Array
    cost: jax.Array
    discount: jax.Array
    next_obs: jax.Array
    extras: Any = ()


class PolicyParams(NamedTuple):
    """What an off-policy learner's policy function needs: observation statistics
    (`rlcore.normalize.NormalizerState`) and the policy network's parameters."""

    normalizer: Any
    policy: Params
