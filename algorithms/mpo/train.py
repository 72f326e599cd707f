"""MPO: training state, one update, the policy, and the driver (same surface as SAC).

    state = init(key, config, spec)
    state, metrics = update(state, batch, key)      # pure, jittable
    policy = make_policy(config, spec)              # policy(params, obs, key, deterministic)
    result = train(env, config, seed=0, workdir=None)

One update: critic step on the expected-SARSA target, then the policy and dual step (E-step
weights from the target critic on N samples of the target policy, M-step fit, dual descent),
then every `target_update_period` gradient steps the online policy and critic are copied
into the targets (acme's periodic update).
"""

from __future__ import annotations

from typing import NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp
import optax
from flax import struct

from algorithms import off_policy
from algorithms.mpo import losses
from algorithms.mpo.config import Config
from envs.base import Env, EnvSpec
from rlcore import loop, normalize
from rlcore.gradients import make_gradient_step
from rlcore.networks import MLP, FeedForwardNetwork, make_q_network
from rlcore.normalize import NormalizerState
from rlcore.program import Program
from rlcore.replay import ReplayState
from rlcore.types import Params, PolicyParams, Transition


class MPOParams(NamedTuple):
    policy: Params
    q: Params
    target_policy: Params
    target_q: Params
    dual: losses.DualParams


@struct.dataclass
class TrainingState:
    params: MPOParams
    policy_opt_state: optax.OptState
    q_opt_state: optax.OptState
    dual_opt_state: optax.OptState
    buffer: ReplayState
    normalizer: NormalizerState
    env_steps: jax.Array  # int32, env steps over all envs
    grad_steps: jax.Array  # int32
    config: Config = struct.field(pytree_node=False)
    spec: EnvSpec = struct.field(pytree_node=False)


def make_policy_network(config: Config, spec: EnvSpec) -> FeedForwardNetwork:
    """Policy MLP `(..., D) -> (..., 2A)` (mean, raw scale) with a near-zero last layer
    (acme's `VarianceScaling(1e-4)`), so that every state starts at mean 0 and std
    `init_std`: the KL-bounded M-step only moves the policy slowly away from where it starts.
    """
    module = MLP(layer_sizes=(*config.hidden_sizes, 2 * spec.action_size),
                 final_kernel_init=nn.initializers.variance_scaling(1e-4, "fan_in", "uniform"))
    return FeedForwardNetwork(init=lambda key: module.init(key, jnp.zeros((1, spec.obs_size))),
                              apply=module.apply)


def make_networks(config: Config, spec: EnvSpec) -> losses.Networks:
    return losses.Networks(
        policy=make_policy_network(config, spec),
        q=make_q_network(spec.obs_size, spec.action_size, config.hidden_sizes,
                         config.num_critics),
        action_low=spec.action_low, action_high=spec.action_high,
        init_std=config.init_std, min_std=config.min_std)


def _optimizers(config: Config):
    clipped = lambda lr: optax.chain(optax.clip_by_global_norm(config.grad_norm_clip),  # noqa: E731
                                     optax.adam(lr))
    return clipped(config.policy_lr), clipped(config.critic_lr), optax.adam(config.dual_lr)


def init_duals(config: Config, action_size: int) -> losses.DualParams:
    return losses.DualParams(
        log_temperature=jnp.asarray(config.init_log_temperature, jnp.float32),
        log_alpha_mean=jnp.full((action_size,), config.init_log_alpha_mean, jnp.float32),
        log_alpha_stddev=jnp.full((action_size,), config.init_log_alpha_stddev, jnp.float32))


def init(key: jax.Array, config: Config, spec: EnvSpec) -> TrainingState:
    """Fresh networks (targets = online), duals at their initial values, empty replay."""
    networks = make_networks(config, spec)
    key_policy, key_q = jax.random.split(key)
    policy_params = networks.policy.init(key_policy)
    q_params = networks.q.init(key_q)
    dual = init_duals(config, spec.action_size)
    policy_opt, q_opt, dual_opt = _optimizers(config)
    buffer, normalizer = loop.init_buffers(config, spec.obs_size, spec.action_size)
    return TrainingState(
        params=MPOParams(policy=policy_params, q=q_params, target_policy=policy_params,
                         target_q=q_params, dual=dual),
        policy_opt_state=policy_opt.init(policy_params), q_opt_state=q_opt.init(q_params),
        dual_opt_state=dual_opt.init(dual), buffer=buffer, normalizer=normalizer,
        env_steps=jnp.zeros((), jnp.int32), grad_steps=jnp.zeros((), jnp.int32),
        config=config, spec=spec)


def update(state: TrainingState, batch: Transition, key: jax.Array
           ) -> tuple[TrainingState, dict[str, jax.Array]]:
    """One MPO gradient step: critic, then policy and duals, then (periodically) targets."""
    config = state.config
    networks = make_networks(config, state.spec)
    policy_opt, q_opt, dual_opt = _optimizers(config)
    key_critic, key_e_step = jax.random.split(key)
    batch = normalize.normalize_batch(state, batch)
    p = state.params

    critic_step = make_gradient_step(losses.critic_loss, q_opt)
    critic_l, critic_stats, q_params, q_opt_state = critic_step(
        p.q, state.q_opt_state, p.target_policy, p.target_q, batch, key_critic, networks,
        config.discount, config.num_samples, config.reward_scale)

    # E-step inputs: N samples of the target policy, valued by the target critic (acme).
    target_pi = losses.policy_gaussian(networks, p.target_policy, batch.obs)
    samples = losses.sample(target_pi, key_e_step, config.num_samples)  # (N, B, A)
    obs_n = jnp.broadcast_to(batch.obs, (config.num_samples, *batch.obs.shape))
    q_values = networks.q.apply(p.target_q, obs_n, losses.squash(networks, samples)).min(-1)

    grad_fn = jax.value_and_grad(losses.policy_loss, argnums=(0, 1), has_aux=True)
    (policy_l, stats), (policy_grads, dual_grads) = grad_fn(
        p.policy, p.dual, batch.obs, target_pi, samples, q_values, networks, config.epsilon,
        config.epsilon_mean, config.epsilon_stddev)
    updates, policy_opt_state = policy_opt.update(policy_grads, state.policy_opt_state,
                                                  p.policy)
    policy_params = optax.apply_updates(p.policy, updates)
    updates, dual_opt_state = dual_opt.update(dual_grads, state.dual_opt_state, p.dual)
    dual = losses.clip_duals(optax.apply_updates(p.dual, updates))

    grad_steps = state.grad_steps + 1
    period = config.target_update_period
    params = MPOParams(
        policy=policy_params, q=q_params, dual=dual,
        target_policy=optax.periodic_update(policy_params, p.target_policy, grad_steps, period),
        target_q=optax.periodic_update(q_params, p.target_q, grad_steps, period))
    state = state.replace(params=params, policy_opt_state=policy_opt_state,
                          q_opt_state=q_opt_state, dual_opt_state=dual_opt_state,
                          grad_steps=grad_steps)
    # train/policy_std: the online policy's pre-squash std, mean over the batch and action
    # dimensions (it should fall as the critic sharpens; see Config.epsilon_stddev).
    metrics = {
        "train/critic_loss": critic_l, "train/policy_loss": policy_l,
        "train/q": critic_stats.q_mean, "train/target_q": critic_stats.target_q_mean,
        "train/temperature": stats.temperature, "train/alpha_mean": stats.alpha_mean,
        "train/alpha_stddev": stats.alpha_stddev, "train/policy_std": stats.std,
        "train/kl_nonparametric": stats.e_step.kl_nonparametric,
        "train/kl_mean": stats.m_step.kl_mean.mean(),
        "train/kl_stddev": stats.m_step.kl_stddev.mean(),
    }
    return state, metrics


def make_policy(config: Config, spec: EnvSpec):
    """`policy(params: PolicyParams, obs (..., D), key, deterministic) -> action (..., A)`.

    Deterministic actions squash the mean; stochastic ones squash a Gaussian sample.
    """
    networks = make_networks(config, spec)

    def policy(params: PolicyParams, obs: jax.Array, key: jax.Array,
               deterministic: bool = False) -> jax.Array:
        if config.normalize_observations:
            obs = normalize.normalize(params.normalizer, obs)
        dist = losses.policy_gaussian(networks, params.policy, obs)
        if deterministic:
            return losses.squash(networks, dist.mean)
        return losses.squash(networks, losses.sample(dist, key, 1)[0])

    return policy


def policy_params(state: TrainingState) -> PolicyParams:
    return PolicyParams(normalizer=state.normalizer, policy=state.params.policy)


def make_learner(config: Config, spec: EnvSpec) -> loop.Learner:
    return loop.Learner(init=lambda key: init(key, config, spec), policy_params=policy_params,
                        policy=make_policy(config, spec), update=update)


def make_program(env: Env, config: Config, mesh=None) -> Program:
    """MPO on `env` as a `Program` for `driver.train` (see `algorithms.off_policy`)."""
    return off_policy.make_program(env, make_learner(config, env.spec), config, mesh)
