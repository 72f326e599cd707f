"""ReBAL's recurrent adaptation and its loss (Nagabandi, Clavera et al. 2019, Sec. 4.2).

  adapt:  h_M = GRU(h_{M-1}, [s_t, a_t, s_{t+1} - s_t]) over the past M transitions,
          h_0 = 0, padding rows (mask 0) leave h unchanged.
  model:  delta_n = MLP([s_n, a_n, h_M])
  loss:   the same outer loss as GrBAL (Sec. 4): MSE of normalised deltas on the K
          transitions after the M, trained end to end through the GRU.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp

from algorithms import dynamics as dyn
from rlcore.networks import FeedForwardNetwork


class ReBALParams(NamedTuple):
    gru: Any
    mlp: Any


class Adapted(NamedTuple):
    """The adapted model: the predictor's parameters and the recurrent state `(H,)`."""

    mlp: Any
    hidden: jax.Array


def context_inputs(norm: dyn.Normalizer, context: dyn.Context) -> jax.Array:
    """GRU inputs `(M, 2D + A)`: normalised state, action and state change."""
    obs_n, action_n = dyn.normalize_inputs(norm, context.obs, context.action)
    delta_n = dyn.normalize_delta(norm, context.obs, context.next_obs)
    return jnp.concatenate([obs_n, action_n, delta_n], axis=-1)


def adapt(cell: nn.GRUCell, params: ReBALParams, norm: dyn.Normalizer, context: dyn.Context
          ) -> Adapted:
    """Runs the GRU over the context `(M, ...)` (a `lax.scan`); masked rows are skipped."""
    hidden = jnp.zeros((cell.features,))

    def body(h, inputs):
        x, valid = inputs
        h_new, _ = cell.apply(params.gru, h, x)
        return jnp.where(valid > 0, h_new, h), None

    hidden, _ = jax.lax.scan(body, hidden, (context_inputs(norm, context), context.mask))
    return Adapted(mlp=params.mlp, hidden=hidden)


def predict(network: FeedForwardNetwork, adapted: Adapted, norm: dyn.Normalizer,
            obs: jax.Array, action: jax.Array) -> jax.Array:
    obs_n, action_n = dyn.normalize_inputs(norm, obs, action)
    hidden = jnp.broadcast_to(adapted.hidden, (*obs_n.shape[:-1], adapted.hidden.shape[-1]))
    return network.apply(adapted.mlp, jnp.concatenate([obs_n, action_n, hidden], axis=-1))


def truncate_context(context: dyn.Context, key: jax.Array) -> dyn.Context:
    """Keeps the most recent L rows, L uniform in 0..M (older rows masked out)."""
    num_past = context.mask.shape[-1]
    keep = jax.random.randint(key, (), 0, num_past + 1)
    recent = jnp.arange(num_past) >= num_past - keep
    return context._replace(mask=context.mask * recent)


def loss(cell: nn.GRUCell, network: FeedForwardNetwork, params: ReBALParams,
         norm: dyn.Normalizer, segments: dyn.Context, key: jax.Array, num_past: int,
         random_context_length: bool = True) -> tuple[jax.Array, dict[str, jax.Array]]:
    """Outer loss on segments `(B, M+K, ...)`; stats carry the loss with an empty context."""
    past, future = dyn.split_segment(segments, num_past)
    if random_context_length:
        keys = jax.random.split(key, past.mask.shape[0])
        past = jax.vmap(truncate_context)(past, keys)

    def per_segment(past_b, future_b):
        def future_loss(context):
            adapted = adapt(cell, params, norm, context)
            pred = predict(network, adapted, norm, future_b.obs, future_b.action)
            target = dyn.normalize_delta(norm, future_b.obs, future_b.next_obs)
            return dyn.masked_delta_mse(pred, target, future_b.mask)

        empty = past_b._replace(mask=jnp.zeros_like(past_b.mask))
        return future_loss(past_b), jax.lax.stop_gradient(future_loss(empty))

    post, pre = jax.vmap(per_segment)(past, future)
    value = jnp.mean(post)
    return value, {"model_loss": value, "pre_adapt_loss": jnp.mean(pre)}
