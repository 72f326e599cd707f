"""Flax MLPs as init/apply pairs; Q-ensembles via `nn.vmap` (one set of weights per member).

Shapes: inputs `(..., D)`; a Q-ensemble returns `(..., num_critics)`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp

Activation = Callable[[jax.Array], jax.Array]


class FeedForwardNetwork(NamedTuple):
    """`init(key) -> params`, `apply(params, *inputs) -> outputs` (Brax's pattern)."""

    init: Callable
    apply: Callable


class MLP(nn.Module):
    """Dense layers with `activation` between them; the last layer is linear."""

    layer_sizes: Sequence[int]
    activation: Activation = nn.relu
    kernel_init: Callable = nn.initializers.lecun_uniform()
    final_kernel_init: Callable | None = None
    activate_final: bool = False

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        for i, size in enumerate(self.layer_sizes):
            last = i == len(self.layer_sizes) - 1
            init = self.final_kernel_init if (last and self.final_kernel_init) else self.kernel_init
            x = nn.Dense(size, kernel_init=init, name=f"dense_{i}")(x)
            if not last or self.activate_final:
                x = self.activation(x)
        return x


class QEnsemble(nn.Module):
    """`num_critics` independent Q(s, a) MLPs evaluated in one vmapped call."""

    hidden_sizes: Sequence[int]
    num_critics: int = 2
    activation: Activation = nn.relu

    @nn.compact
    def __call__(self, obs: jax.Array, action: jax.Array) -> jax.Array:
        x = jnp.concatenate([obs, action], axis=-1)
        ensemble = nn.vmap(MLP, variable_axes={"params": 0}, split_rngs={"params": True},
                           in_axes=None, out_axes=-1, axis_size=self.num_critics)
        q = ensemble(layer_sizes=(*self.hidden_sizes, 1), activation=self.activation)(x)
        return q[..., 0, :]  # (..., 1, num_critics) -> (..., num_critics)


def make_mlp(input_size: int, hidden_sizes: Sequence[int], output_size: int,
             activation: Activation = nn.relu) -> FeedForwardNetwork:
    """A plain MLP `(..., input_size) -> (..., output_size)`."""
    module = MLP(layer_sizes=(*hidden_sizes, output_size), activation=activation)
    return FeedForwardNetwork(init=lambda key: module.init(key, jnp.zeros((1, input_size))),
                              apply=module.apply)


def make_q_network(obs_size: int, action_size: int, hidden_sizes: Sequence[int],
                   num_critics: int = 2, activation: Activation = nn.relu
                   ) -> FeedForwardNetwork:
    """Twin (or N) critics: `apply(params, obs, action) -> (..., num_critics)`."""
    module = QEnsemble(hidden_sizes=tuple(hidden_sizes), num_critics=num_critics,
                       activation=activation)
    return FeedForwardNetwork(
        init=lambda key: module.init(key, jnp.zeros((1, obs_size)), jnp.zeros((1, action_size))),
        apply=module.apply)


def make_policy_network(obs_size: int, param_size: int, hidden_sizes: Sequence[int],
                        activation: Activation = nn.relu) -> FeedForwardNetwork:
    """Policy torso + head: `apply(params, obs) -> (..., param_size)` distribution params."""
    return make_mlp(obs_size, hidden_sizes, param_size, activation)
