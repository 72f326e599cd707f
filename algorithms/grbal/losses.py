"""GrBAL's inner update and meta-objective (Nagabandi, Clavera et al. 2019, Sec. 4.1).

  inner (u_psi):  theta' = u_psi(D_past, theta) = theta - psi * grad_theta L(theta, D_past)
  outer (Sec. 4): min_{theta, psi} E_segments [ L(theta', D_future) ]

with L the MSE of normalised state deltas, D_past the M transitions before a point of a
trajectory and D_future the K after it; psi a per-parameter step size (Meta-SGD). With
`random_context_length`, D_past keeps only its most recent L transitions, L ~ U{1..M} per
segment: the short contexts of an episode's first steps (not in the paper).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from algorithms import dynamics as dyn
from rlcore.networks import FeedForwardNetwork


class GrBALParams(NamedTuple):
    theta: Any  # MLP parameters (the meta-learned prior)
    psi: Any  # per-parameter inner step sizes, same tree as theta


def inner_step(network: FeedForwardNetwork, params: GrBALParams, norm: dyn.Normalizer,
               context: dyn.Context, num_steps: int = 1, learn_step_size: bool = True,
               first_order: bool = False) -> Any:
    """theta' = u_psi(context, theta) from the context `(M, ...)` (padding rows masked out)."""
    psi = params.psi if learn_step_size else jax.lax.stop_gradient(params.psi)
    return dyn.sgd_adapt(network, params.theta, psi, norm, context, num_steps, first_order)


def meta_loss(network: FeedForwardNetwork, params: GrBALParams, norm: dyn.Normalizer,
              segments: dyn.Context, num_past: int, num_steps: int = 1,
              learn_step_size: bool = True, first_order: bool = False, *,
              key: jax.Array | None = None, random_context_length: bool = False
              ) -> tuple[jax.Array, dict[str, jax.Array]]:
    """The meta-objective (Sec. 4) on segments `(B, M+K, ...)`: mean over segments of the
    future-K loss of the model adapted on the past M; stats carry the loss before adaptation.

    With `random_context_length` (needs `key`), each segment adapts from only its most
    recent L past transitions, L uniform in 1..M (`dynamics.truncate_context`); the inner
    loss being a masked mean, L = 1 is one psi-scaled step on that transition's loss.
    """
    past, future = dyn.split_segment(segments, num_past)
    if random_context_length:
        if key is None:
            raise ValueError("random_context_length needs a key")
        keys = jax.random.split(key, past.mask.shape[0])
        past = jax.vmap(lambda c, k: dyn.truncate_context(c, k, min_length=1))(past, keys)

    def per_segment(past_b, future_b):
        theta_prime = inner_step(network, params, norm, past_b, num_steps, learn_step_size,
                                 first_order)
        post = dyn.mlp_context_loss(network, theta_prime, norm, future_b)
        pre = dyn.mlp_context_loss(network, params.theta, norm, future_b)
        return post, pre

    post, pre = jax.vmap(per_segment)(past, future)
    loss = jnp.mean(post)
    mean_psi = jnp.mean(jnp.concatenate([jnp.ravel(p) for p in jax.tree.leaves(params.psi)]))
    return loss, {"model_loss": loss, "pre_adapt_loss": jnp.mean(jax.lax.stop_gradient(pre)),
                  "mean_step_size": jax.lax.stop_gradient(mean_psi)}
