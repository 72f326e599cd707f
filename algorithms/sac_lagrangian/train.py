"""SAC-Lagrangian: training state, one update, the policy, and the driver.

    state = init(key, config, spec)
    state, metrics = update(state, batch, key)      # pure, jittable
    policy = make_policy(config, spec)              # SAC's policy: the same networks
    result = train(env, config, seed=0, workdir=None)

The reward critics, temperature, policy network, observation normaliser, Polyak averaging
and the policy function are SAC's (`algorithms.sac`); this module adds the cost critics,
their targets and the multiplier.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax
from flax import struct

from algorithms import off_policy, sac
from algorithms.sac import losses as sac_losses
from algorithms.sac_lagrangian import losses
from algorithms.sac_lagrangian.config import Config
from envs.base import Env, EnvSpec
from rlcore import loop, normalize
from rlcore.gradients import make_gradient_step
from rlcore.networks import make_q_network
from rlcore.normalize import NormalizerState
from rlcore.program import Program
from rlcore.replay import ReplayState
from rlcore.targets import polyak
from rlcore.types import Params, Transition

# SAC's policy and its params (normaliser + policy network): the same networks, and these
# functions read only `state.normalizer` and `state.params.policy`.
PolicyParams = sac.PolicyParams
make_policy = sac.make_policy
policy_params = sac.policy_params


class LagrangianParams(NamedTuple):
    policy: Params
    q: Params
    target_q: Params
    log_alpha: jax.Array
    cost_q: Params
    target_cost_q: Params
    lambda_param: jax.Array  # lambda = losses.multiplier(lambda_param, parameterization)


@struct.dataclass
class TrainingState:
    params: LagrangianParams
    policy_opt_state: optax.OptState
    q_opt_state: optax.OptState
    alpha_opt_state: optax.OptState
    cost_q_opt_state: optax.OptState
    lambda_opt_state: optax.OptState
    buffer: ReplayState
    normalizer: NormalizerState
    env_steps: jax.Array  # int32, env steps over all envs
    grad_steps: jax.Array  # int32
    config: Config = struct.field(pytree_node=False)
    spec: EnvSpec = struct.field(pytree_node=False)


def make_networks(config: Config, spec: EnvSpec) -> losses.Networks:
    return losses.Networks(
        sac=sac.make_networks(config, spec),
        cost_q=make_q_network(spec.obs_size, spec.action_size, config.hidden_sizes,
                              config.num_cost_critics))


def episode_length(config: Config, spec: EnvSpec) -> int:
    """T of the limit conversion: the loop's time limit (config, else the env's)."""
    return config.episode_length or spec.episode_length


def _optimizers(config: Config):
    return (optax.adam(config.actor_lr), optax.adam(config.critic_lr),
            optax.adam(config.alpha_lr), optax.adam(config.cost_critic_lr),
            optax.adam(config.lambda_lr))


def recent_cost_rate(buffer: ReplayState, window: int) -> jax.Array:
    """Mean cost per step of the last `min(window, size)` transitions added to `buffer`.

    The buffer is a ring written in collection order, all envs of an iteration together, so
    these are the latest steps of the behaviour policy (the current policy, once past the
    random warm-up). 0 for an empty buffer.
    """
    window = min(int(window), buffer.capacity)
    age = jnp.arange(window)
    indices = (buffer.insert_position - 1 - age) % buffer.capacity
    valid = (age < buffer.size).astype(jnp.float32)
    total = jnp.sum(buffer.data.cost[indices] * valid)
    return total / jnp.maximum(valid.sum(), 1.0)


def current_lambda(state: TrainingState) -> jax.Array:
    """The multiplier the actor uses: the fixed penalty, or the learned one."""
    config = state.config
    if not config.learns_lambda:
        return jnp.asarray(config.fixed_lambda, jnp.float32)
    return losses.multiplier(state.params.lambda_param, config.lambda_parameterization,
                             config.lambda_max)


def init(key: jax.Array, config: Config, spec: EnvSpec) -> TrainingState:
    """Fresh networks (targets = online), optimisers, empty replay."""
    networks = make_networks(config, spec)
    key_policy, key_q, key_cost_q = jax.random.split(key, 3)
    policy_params = networks.sac.policy.init(key_policy)
    q_params = networks.sac.q.init(key_q)
    cost_q_params = networks.cost_q.init(key_cost_q)
    log_alpha = jnp.asarray(jnp.log(config.init_alpha), jnp.float32)
    lambda_param = losses.multiplier_param(config.init_lambda, config.lambda_parameterization,
                                           config.lambda_max)
    policy_opt, q_opt, alpha_opt, cost_q_opt, lambda_opt = _optimizers(config)
    buffer, normalizer = loop.init_buffers(config, spec.obs_size, spec.action_size)
    params = LagrangianParams(policy=policy_params, q=q_params, target_q=q_params,
                              log_alpha=log_alpha, cost_q=cost_q_params,
                              target_cost_q=cost_q_params, lambda_param=lambda_param)
    return TrainingState(
        params=params, policy_opt_state=policy_opt.init(policy_params),
        q_opt_state=q_opt.init(q_params), alpha_opt_state=alpha_opt.init(log_alpha),
        cost_q_opt_state=cost_q_opt.init(cost_q_params),
        lambda_opt_state=lambda_opt.init(lambda_param), buffer=buffer, normalizer=normalizer,
        env_steps=jnp.zeros((), jnp.int32), grad_steps=jnp.zeros((), jnp.int32),
        config=config, spec=spec)


def update(state: TrainingState, batch: Transition, key: jax.Array
           ) -> tuple[TrainingState, dict[str, jax.Array]]:
    """One step: temperature and multiplier, reward and cost critics, actor on the penalised
    critic, then both target ensembles. The multiplier ascends on J_c - q_limit, J_c from
    `config.constraint_estimate` (the recent cost rate of collection by default), on the
    first gradient step of each iteration only (`grad_steps % grad_steps_per_iteration`)."""
    config, spec = state.config, state.spec
    networks = make_networks(config, spec)
    policy_opt, q_opt, alpha_opt, cost_q_opt, lambda_opt = _optimizers(config)
    key_policy, key_critic, key_cost_critic, key_actor = jax.random.split(key, 4)
    batch = normalize.normalize_batch(state, batch)
    p = state.params

    # One sample of the current policy serves the temperature and the multiplier.
    action, log_prob = sac_losses.action_distribution(
        networks.sac, p.policy, batch.obs).sample_and_log_prob(key_policy)
    alpha_step = make_gradient_step(sac_losses.alpha_loss, alpha_opt)
    alpha_l, alpha_stats, log_alpha, alpha_opt_state = alpha_step(
        p.log_alpha, state.alpha_opt_state, log_prob, config.entropy_target(spec.action_size))
    alpha = jnp.exp(log_alpha)

    # J_c: what the policy incurs lately (default), or its pessimistic cost Q on replay states.
    cost_q_policy = losses.pessimistic_cost_q(networks, p.cost_q, batch.obs, action).mean()
    horizon = episode_length(config, spec)
    q_limit = config.q_limit(horizon)
    cost_rate = recent_cost_rate(state.buffer, config.constraint_window_steps)
    if config.constraint_estimate == "recent_cost":
        cost_estimate = cost_rate * config.discounted_horizon(horizon)
    else:
        cost_estimate = cost_q_policy
    lambda_param, lambda_opt_state = p.lambda_param, state.lambda_opt_state
    metrics = {}
    if config.learns_lambda:
        lambda_step = make_gradient_step(losses.lambda_loss, lambda_opt)
        lambda_l, lambda_stats, new_param, new_opt_state = lambda_step(
            p.lambda_param, state.lambda_opt_state, cost_estimate, q_limit,
            config.lambda_parameterization, config.lambda_max)
        # Warm-up: lambda holds its initial value until the cost critics have learned. One
        # step per iteration (the first of its G gradient steps): the recent-cost estimate
        # changes once per iteration, so lambda's rate per env step must not grow with G.
        learning = ((state.env_steps >= config.lambda_warmup_env_steps)
                    & (state.grad_steps % config.grad_steps_per_iteration == 0))
        lambda_param, lambda_opt_state = jax.tree.map(
            lambda new, old: jnp.where(learning, new, old),
            (new_param, new_opt_state), (p.lambda_param, state.lambda_opt_state))
        metrics.update({"train/lambda_loss": lambda_l,
                        "train/cost_violation": lambda_stats.violation})
    state = state.replace(params=p._replace(lambda_param=lambda_param))
    lam = current_lambda(state)

    critic_step = make_gradient_step(sac_losses.critic_loss, q_opt)
    critic_l, critic_stats, q_params, q_opt_state = critic_step(
        p.q, state.q_opt_state, p.policy, p.target_q, alpha, batch, key_critic, networks.sac,
        config.discount, config.reward_scale)

    cost_critic_step = make_gradient_step(losses.cost_critic_loss, cost_q_opt)
    cost_critic_l, cost_stats, cost_q_params, cost_q_opt_state = cost_critic_step(
        p.cost_q, state.cost_q_opt_state, p.policy, p.target_cost_q, batch, key_cost_critic,
        networks, config.cost_discount)

    actor_step = make_gradient_step(losses.actor_loss, policy_opt)
    actor_l, actor_stats, policy_params, policy_opt_state = actor_step(
        p.policy, state.policy_opt_state, q_params, cost_q_params, alpha, lam, batch,
        key_actor, networks)

    params = LagrangianParams(
        policy=policy_params, q=q_params, target_q=polyak(p.target_q, q_params, config.tau),
        log_alpha=log_alpha, cost_q=cost_q_params,
        target_cost_q=polyak(p.target_cost_q, cost_q_params, config.tau),
        lambda_param=lambda_param)
    state = state.replace(params=params, policy_opt_state=policy_opt_state,
                          q_opt_state=q_opt_state, alpha_opt_state=alpha_opt_state,
                          cost_q_opt_state=cost_q_opt_state, lambda_opt_state=lambda_opt_state,
                          grad_steps=state.grad_steps + 1)
    metrics.update({
        "train/critic_loss": critic_l, "train/actor_loss": actor_l, "train/alpha_loss": alpha_l,
        "train/alpha": alpha_stats.alpha, "train/entropy": actor_stats.entropy,
        "train/q": critic_stats.q_mean, "train/target_q": critic_stats.target_q_mean,
        "train/cost_critic_loss": cost_critic_l, "train/cost_q": cost_q_policy,
        "train/target_cost_q": cost_stats.target_cost_q_mean, "train/lambda": lam,
        "train/cost_q_limit": jnp.asarray(q_limit, jnp.float32),
        "train/cost_estimate": cost_estimate, "train/recent_cost_rate": cost_rate,
    })
    return state, metrics


def make_learner(config: Config, spec: EnvSpec) -> loop.Learner:
    return loop.Learner(init=lambda key: init(key, config, spec), policy_params=policy_params,
                        policy=make_policy(config, spec), update=update)


def make_program(env: Env, config: Config, mesh=None) -> Program:
    """SAC-Lagrangian on `env` as a `Program` for `driver.train` (`algorithms.off_policy`);
    the loop's evaluation reports `eval/cost` and `eval/cost_rate`."""
    return off_policy.make_program(env, make_learner(config, env.spec), config, mesh)
