"""SAC: training state, one update, the policy, and the driver.

    state = init(key, config, spec)
    state, metrics = update(state, batch, key)      # pure, jittable
    policy = make_policy(config, spec)              # policy(params, obs, key, deterministic)
    result = train(env, config, seed=0, workdir=None)
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax
from flax import struct

from algorithms import off_policy
from algorithms.sac import losses
from algorithms.sac.config import Config
from envs.base import Env, EnvSpec
from rlcore import loop, normalize
from rlcore.gradients import make_gradient_step
from rlcore.networks import make_policy_network, make_q_network
from rlcore.normalize import NormalizerState
from rlcore.program import Program
from rlcore.replay import ReplayState
from rlcore.targets import polyak
from rlcore.types import Params, PolicyParams, Transition


class SACParams(NamedTuple):
    policy: Params
    q: Params
    target_q: Params
    log_alpha: jax.Array


@struct.dataclass
class TrainingState:
    params: SACParams
    policy_opt_state: optax.OptState
    q_opt_state: optax.OptState
    alpha_opt_state: optax.OptState
    buffer: ReplayState
    normalizer: NormalizerState
    env_steps: jax.Array  # int32, env steps over all envs
    grad_steps: jax.Array  # int32
    config: Config = struct.field(pytree_node=False)
    spec: EnvSpec = struct.field(pytree_node=False)


def make_networks(config: Config, spec: EnvSpec) -> losses.Networks:
    return losses.Networks(
        policy=make_policy_network(spec.obs_size, 2 * spec.action_size, config.hidden_sizes),
        q=make_q_network(spec.obs_size, spec.action_size, config.hidden_sizes,
                         config.num_critics),
        action_low=spec.action_low, action_high=spec.action_high)


def _optimizers(config: Config):
    return (optax.adam(config.actor_lr), optax.adam(config.critic_lr),
            optax.adam(config.alpha_lr))


def init(key: jax.Array, config: Config, spec: EnvSpec) -> TrainingState:
    """Fresh networks (target critics = online critics), optimisers, empty replay."""
    networks = make_networks(config, spec)
    key_policy, key_q = jax.random.split(key)
    policy_params = networks.policy.init(key_policy)
    q_params = networks.q.init(key_q)
    log_alpha = jnp.asarray(jnp.log(config.init_alpha), jnp.float32)
    policy_opt, q_opt, alpha_opt = _optimizers(config)
    buffer, normalizer = loop.init_buffers(config, spec.obs_size, spec.action_size)
    return TrainingState(
        params=SACParams(policy=policy_params, q=q_params, target_q=q_params, log_alpha=log_alpha),
        policy_opt_state=policy_opt.init(policy_params), q_opt_state=q_opt.init(q_params),
        alpha_opt_state=alpha_opt.init(log_alpha), buffer=buffer, normalizer=normalizer,
        env_steps=jnp.zeros((), jnp.int32), grad_steps=jnp.zeros((), jnp.int32),
        config=config, spec=spec)


def update(state: TrainingState, batch: Transition, key: jax.Array
           ) -> tuple[TrainingState, dict[str, jax.Array]]:
    """One SAC gradient step: temperature, then critics, then actor, then target critics."""
    config, spec = state.config, state.spec
    networks = make_networks(config, spec)
    policy_opt, q_opt, alpha_opt = _optimizers(config)
    key_alpha, key_critic, key_actor = jax.random.split(key, 3)
    batch = normalize.normalize_batch(state, batch)
    p = state.params

    _, log_prob = losses.action_distribution(networks, p.policy,
                                             batch.obs).sample_and_log_prob(key_alpha)
    alpha_step = make_gradient_step(losses.alpha_loss, alpha_opt)
    alpha_l, alpha_stats, log_alpha, alpha_opt_state = alpha_step(
        p.log_alpha, state.alpha_opt_state, log_prob, config.entropy_target(spec.action_size))
    alpha = jnp.exp(log_alpha)

    critic_step = make_gradient_step(losses.critic_loss, q_opt)
    critic_l, critic_stats, q_params, q_opt_state = critic_step(
        p.q, state.q_opt_state, p.policy, p.target_q, alpha, batch, key_critic, networks,
        config.discount, config.reward_scale)

    actor_step = make_gradient_step(losses.actor_loss, policy_opt)
    actor_l, actor_stats, policy_params, policy_opt_state = actor_step(
        p.policy, state.policy_opt_state, q_params, alpha, batch, key_actor, networks)

    params = SACParams(policy=policy_params, q=q_params,
                       target_q=polyak(p.target_q, q_params, config.tau), log_alpha=log_alpha)
    state = state.replace(params=params, policy_opt_state=policy_opt_state,
                          q_opt_state=q_opt_state, alpha_opt_state=alpha_opt_state,
                          grad_steps=state.grad_steps + 1)
    metrics = {
        "train/critic_loss": critic_l, "train/actor_loss": actor_l, "train/alpha_loss": alpha_l,
        "train/alpha": alpha_stats.alpha, "train/entropy": actor_stats.entropy,
        "train/q": critic_stats.q_mean, "train/target_q": critic_stats.target_q_mean,
    }
    return state, metrics


def make_policy(config: Config, spec: EnvSpec):
    """`policy(params: PolicyParams, obs (..., D), key, deterministic) -> action (..., A)`."""
    networks = make_networks(config, spec)

    def policy(params: PolicyParams, obs: jax.Array, key: jax.Array,
               deterministic: bool = False) -> jax.Array:
        if config.normalize_observations:
            obs = normalize.normalize(params.normalizer, obs)
        dist = losses.action_distribution(networks, params.policy, obs)
        if deterministic:
            return dist.mode()
        return dist.sample_and_log_prob(key)[0]

    return policy


def policy_params(state: TrainingState) -> PolicyParams:
    return PolicyParams(normalizer=state.normalizer, policy=state.params.policy)


def make_learner(config: Config, spec: EnvSpec) -> loop.Learner:
    return loop.Learner(init=lambda key: init(key, config, spec), policy_params=policy_params,
                        policy=make_policy(config, spec), update=update)


def make_program(env: Env, config: Config, mesh=None) -> Program:
    """SAC on `env` as a `Program` for `driver.train` (see `algorithms.off_policy`)."""
    return off_policy.make_program(env, make_learner(config, env.spec), config, mesh)
