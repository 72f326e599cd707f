"""SAC-Lagrangian losses, each a pure function -> (loss, stats).

The constrained problem (Ha et al. 2020, eq. 2-4; Altman 1999) is solved through its
Lagrangian, max_pi min_{lambda >= 0} J_r(pi) - lambda * (J_c(pi) - q_limit), by alternating
gradient steps: the policy descends on `actor_loss`, the multiplier ascends on the constraint
violation (`lambda_loss`, dual ascent). SAC's reward critic, temperature and their losses
are used unchanged (`algorithms.sac.losses`).

Shapes: B batch, A action size, C reward critics, K cost critics.
"""

from __future__ import annotations

from typing import NamedTuple

import chex
import jax
import jax.numpy as jnp

from algorithms.sac import losses as sac_losses
from rlcore.networks import FeedForwardNetwork
from rlcore.types import Params, Transition


class Networks(NamedTuple):
    sac: sac_losses.Networks  # policy, reward critics, action bounds
    cost_q: FeedForwardNetwork  # apply(params, obs (B, D), action (B, A)) -> (B, K)


def multiplier(lambda_param: jax.Array, parameterization: str,
               lambda_max: float | None = None) -> jax.Array:
    """lambda >= 0 from its unconstrained parameter: exp(p), softplus(p), or
    lambda_max * sigmoid(p) ("bounded": also at most lambda_max, still without a clip)."""
    if parameterization == "log":
        return jnp.exp(lambda_param)
    if parameterization == "softplus":
        return jax.nn.softplus(lambda_param)
    if parameterization == "bounded":
        return lambda_max * jax.nn.sigmoid(lambda_param)
    raise ValueError(f"Unknown lambda parameterization {parameterization!r}.")


def multiplier_param(lam: float, parameterization: str,
                     lambda_max: float | None = None) -> jax.Array:
    """The inverse of `multiplier`: the parameter p with multiplier(p) = lam (lam > 0)."""
    lam = jnp.asarray(lam, jnp.float32)
    if parameterization == "log":
        return jnp.log(lam)
    if parameterization == "softplus":
        return jnp.log(jnp.expm1(lam))
    if parameterization == "bounded":
        fraction = lam / lambda_max
        return jnp.log(fraction) - jnp.log1p(-fraction)
    raise ValueError(f"Unknown lambda parameterization {parameterization!r}.")


def pessimistic_cost_q(networks: Networks, cost_q_params: Params, obs: jax.Array,
                       action: jax.Array) -> jax.Array:
    """max_k Q_cost_k(s, a), `(B,)`: the larger twin, so cost is over- not under-estimated."""
    return networks.cost_q.apply(cost_q_params, obs, action).max(axis=-1)


class CostCriticStats(NamedTuple):
    cost_q_mean: jax.Array  # mean over B and K of Q_cost(s, a) on the batch's actions
    target_cost_q_mean: jax.Array


def cost_critic_loss(cost_q_params: Params, policy_params: Params,
                     target_cost_q_params: Params, batch: Transition, key: jax.Array,
                     networks: Networks, cost_discount: float
                     ) -> tuple[jax.Array, CostCriticStats]:
    """Bellman residual of the cost critics (Ha et al. 2020, sec. IV-B):

        y_c = c + gamma_c * d * max_k Qbar_cost_k(s', a'),  a' ~ pi(.|s')
        J_Qc = 1/2 * mean_B sum_k (Q_cost_k(s, a) - y_c)^2

    Unlike the reward critic's target: the *maximum* over the target twins (pessimistic
    about cost) and no entropy term (entropy is a bonus to reward, not a cost). d is the
    batch's `discount` (0 at termination, 1 otherwise, also at truncation).
    """
    chex.assert_rank([batch.obs, batch.action, batch.cost, batch.discount], [2, 2, 1, 1])
    next_action, _ = sac_losses.action_distribution(
        networks.sac, policy_params, batch.next_obs).sample_and_log_prob(key)
    next_cost_q = pessimistic_cost_q(networks, target_cost_q_params, batch.next_obs,
                                     next_action)
    target = jax.lax.stop_gradient(batch.cost + cost_discount * batch.discount * next_cost_q)
    cost_q = networks.cost_q.apply(cost_q_params, batch.obs, batch.action)  # (B, K)
    loss = 0.5 * jnp.mean(jnp.sum((cost_q - target[:, None]) ** 2, axis=-1))
    return loss, CostCriticStats(cost_q_mean=cost_q.mean(), target_cost_q_mean=target.mean())


def actor_loss(policy_params: Params, q_params: Params, cost_q_params: Params,
               alpha: jax.Array, lam: jax.Array, batch: Transition, key: jax.Array,
               networks: Networks) -> tuple[jax.Array, sac_losses.ActorStats]:
    """The Lagrangian's policy objective (Ha et al. 2020, eq. 4, with SAC's eq. 7):

        J_pi = mean_B [alpha * log pi(a~|s) - min_c Q_c(s, a~) + lambda * max_k Q_cost_k(s, a~)]

    with a~ = f(eps; s) reparameterised. Implemented as SAC's `actor_loss` on the penalised
    critic ensemble Q_c - lambda * max_k Q_cost_k: the penalty is the same for every c, so
    the minimum over c of the penalised ensemble is min_c Q_c - lambda * max_k Q_cost_k.
    lambda and alpha are constants here (their own losses move them).
    """
    chex.assert_rank([batch.obs, lam], [2, 0])
    lam = jax.lax.stop_gradient(lam)

    def penalised_q(params, obs, action):
        reward_q_params, cost_params = params
        q = networks.sac.q.apply(reward_q_params, obs, action)  # (B, C)
        cost_q = pessimistic_cost_q(networks, cost_params, obs, action)  # (B,)
        return q - lam * cost_q[..., None]

    penalised = networks.sac._replace(q=FeedForwardNetwork(init=None, apply=penalised_q))
    return sac_losses.actor_loss(policy_params, (q_params, cost_q_params),
                                 jax.lax.stop_gradient(alpha), batch, key, penalised)


class LambdaStats(NamedTuple):
    lam: jax.Array  # the multiplier before this step
    violation: jax.Array  # J_c - q_limit; > 0 while the constraint is violated


def lambda_loss(lambda_param: jax.Array, cost_q_mean: jax.Array, q_limit: float,
                parameterization: str = "log",
                lambda_max: float | None = None) -> tuple[jax.Array, LambdaStats]:
    """Dual ascent on the multiplier (Ha et al. 2020, eq. 5), as a loss to minimise:

        J(lambda) = -lambda * (J_c - q_limit),  J_c = mean_B max_k Q_cost_k(s, a~), a~ ~ pi

    `cost_q_mean` (scalar) carries no gradient. dJ/dlambda = -(J_c - q_limit): gradient
    descent raises lambda while the expected discounted cost exceeds the limit and lowers it
    toward 0 below it. lambda = multiplier(lambda_param) keeps lambda >= 0 without a clip.
    """
    chex.assert_rank([lambda_param, cost_q_mean], [0, 0])
    lam = multiplier(lambda_param, parameterization, lambda_max)
    violation = jax.lax.stop_gradient(cost_q_mean - q_limit)
    return -lam * violation, LambdaStats(lam=lam, violation=violation)
