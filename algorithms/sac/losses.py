"""SAC losses (Haarnoja et al. 2018, arXiv:1812.05905), each a pure function -> (loss, stats).

Shapes: B batch, A action size, C critics. `networks` supplies the apply functions, so tests
can pass hand-made ones.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from rlcore import distributions
from rlcore.networks import FeedForwardNetwork
from rlcore.types import Params, Transition


class Networks(NamedTuple):
    policy: FeedForwardNetwork  # apply(params, obs (B, D)) -> (B, 2A)
    q: FeedForwardNetwork  # apply(params, obs (B, D), action (B, A)) -> (B, C)
    action_low: tuple[float, ...]
    action_high: tuple[float, ...]


def action_distribution(networks: Networks, policy_params: Params, obs: jax.Array
                        ) -> distributions.TanhGaussian:
    return distributions.tanh_gaussian(networks.policy.apply(policy_params, obs),
                                       jnp.asarray(networks.action_low),
                                       jnp.asarray(networks.action_high))


class CriticStats(NamedTuple):
    q_mean: jax.Array
    target_q_mean: jax.Array


def critic_loss(q_params: Params, policy_params: Params, target_q_params: Params,
                alpha: jax.Array, batch: Transition, key: jax.Array, networks: Networks,
                discount: float, reward_scale: float = 1.0) -> tuple[jax.Array, CriticStats]:
    """Soft Bellman residual, eq. (5)-(6), with clipped double-Q (eq. 7's min over critics):

        y = s * r + gamma * d * (min_c Qbar_c(s', a') - alpha * log pi(a'|s')),  a' ~ pi(.|s')
        J_Q = 1/2 * mean_B sum_c (Q_c(s, a) - y)^2

    d is the batch's `discount` (0 at termination, 1 otherwise, also at truncation).
    """
    next_action, next_log_prob = action_distribution(
        networks, policy_params, batch.next_obs).sample_and_log_prob(key)
    next_q = networks.q.apply(target_q_params, batch.next_obs, next_action).min(axis=-1)
    target = (reward_scale * batch.reward
              + discount * batch.discount * (next_q - alpha * next_log_prob))
    target = jax.lax.stop_gradient(target)
    q = networks.q.apply(q_params, batch.obs, batch.action)  # (B, C)
    loss = 0.5 * jnp.mean(jnp.sum((q - target[:, None]) ** 2, axis=-1))
    return loss, CriticStats(q_mean=q.mean(), target_q_mean=target.mean())


class ActorStats(NamedTuple):
    entropy: jax.Array  # -mean log pi, a Monte-Carlo estimate
    log_prob: jax.Array


def actor_loss(policy_params: Params, q_params: Params, alpha: jax.Array, batch: Transition,
               key: jax.Array, networks: Networks) -> tuple[jax.Array, ActorStats]:
    """Reparameterised policy objective, eq. (7)/(9):

        J_pi = mean_B [alpha * log pi(a~|s) - min_c Q_c(s, a~)],  a~ = f(eps; s)
    """
    action, log_prob = action_distribution(networks, policy_params,
                                           batch.obs).sample_and_log_prob(key)
    q = networks.q.apply(q_params, batch.obs, action).min(axis=-1)
    loss = jnp.mean(alpha * log_prob - q)
    return loss, ActorStats(entropy=-log_prob.mean(), log_prob=log_prob.mean())


class AlphaStats(NamedTuple):
    alpha: jax.Array


def alpha_loss(log_alpha: jax.Array, log_prob: jax.Array, target_entropy: float
               ) -> tuple[jax.Array, AlphaStats]:
    """Temperature objective, eq. (18), in log space:

        J(alpha) = mean_B [alpha * (-log pi(a|s) - H_target)],  alpha = exp(log_alpha)

    `log_prob` (B,) comes from the current policy and carries no gradient. The gradient
    raises alpha when the policy's entropy is below the target and lowers it above.
    """
    alpha = jnp.exp(log_alpha)
    loss = jnp.mean(alpha * jax.lax.stop_gradient(-log_prob - target_entropy))
    return loss, AlphaStats(alpha=alpha)
