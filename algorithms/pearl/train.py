"""PEARL: training state, one meta-update, the policy, the meta-training iteration.

    state = init(key, config, spec)
    batch = sample_meta_batch(state, task_ids, key)   # contexts + RL data of M train tasks
    state, metrics = update(state, batch, key)        # pure, jittable
    policy = make_policy(config, spec)        # policy(params, obs, z, key, deterministic)
    result = driver.train("pearl", env, config, seed=0)  # see algorithms/pearl/program.py

The iteration (paper algorithm 1, oyster's `meta_train`) samples `num_tasks_sample` train
tasks, clears their encoder buffers, collects with z from the prior (both buffers), with z from
the posterior (both buffers) and with z from the posterior again (RL buffer only), then takes
`grad_steps_per_iteration` gradient steps, each on `meta_batch` tasks. All tasks of a
phase are collected in one vmapped batch; steps and gradient steps are `lax.scan`s.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax
from flax import struct

from algorithms.pearl import buffers, losses, rollout
from algorithms.pearl import encoder as enc
from algorithms.pearl.config import Config
from algorithms.sac import losses as sac_losses
from envs.base import Env, EnvSpec
from rlcore import loop
from rlcore.networks import make_policy_network, make_q_network
from rlcore.replay import ReplayState
from rlcore.targets import polyak
from rlcore.types import Params, Transition


class PearlParams(NamedTuple):
    encoder: Params
    policy: Params  # pi(a | s, z)
    q: Params  # Q(s, a, z), an ensemble
    target_q: Params
    log_alpha: jax.Array


class PolicyParams(NamedTuple):
    """What acting needs: the encoder (to infer z from context) and the policy network."""

    encoder: Params
    policy: Params


@struct.dataclass
class TrainingState:
    params: PearlParams
    encoder_opt_state: optax.OptState
    policy_opt_state: optax.OptState
    q_opt_state: optax.OptState
    alpha_opt_state: optax.OptState
    rl_buffer: ReplayState  # leaves (T, rl_buffer_capacity, ...)
    encoder_buffer: ReplayState  # leaves (T, encoder_buffer_size, ...)
    env_steps: jax.Array  # int32, over all tasks and envs
    grad_steps: jax.Array  # int32
    config: Config = struct.field(pytree_node=False)
    spec: EnvSpec = struct.field(pytree_node=False)


@struct.dataclass
class MetaState:
    """Everything a meta-training run carries between iterations (checkpointed whole)."""

    training_state: TrainingState
    train_tasks: jax.Array  # (T, task_size)
    test_tasks: jax.Array  # (N, task_size)
    key: jax.Array


def make_networks(config: Config, spec: EnvSpec) -> losses.Networks:
    conditioned = spec.obs_size + config.latent_size  # networks see (s, z)
    features = enc.feature_size(spec.obs_size, spec.action_size, config.use_next_obs_in_context)
    return losses.Networks(
        encoder=enc.make_encoder_network(features, config.encoder_hidden_sizes,
                                         config.latent_size),
        sac=sac_losses.Networks(
            policy=make_policy_network(conditioned, 2 * spec.action_size, config.hidden_sizes),
            q=make_q_network(conditioned, spec.action_size, config.hidden_sizes,
                             config.num_critics),
            action_low=spec.action_low, action_high=spec.action_high))


def _optimizers(config: Config):
    return (optax.adam(config.encoder_lr), optax.adam(config.actor_lr),
            optax.adam(config.critic_lr), optax.adam(config.alpha_lr))


def init(key: jax.Array, config: Config, spec: EnvSpec) -> TrainingState:
    """Fresh networks (target critics = online critics), optimisers, empty per-task buffers."""
    if spec.task_size <= 0:
        raise ValueError(f"PEARL needs a task family; {spec.name} has task_size 0.")
    networks = make_networks(config, spec)
    key_encoder, key_policy, key_q = jax.random.split(key, 3)
    params = PearlParams(encoder=networks.encoder.init(key_encoder),
                         policy=networks.sac.policy.init(key_policy),
                         q=networks.sac.q.init(key_q), target_q=None,
                         log_alpha=jnp.asarray(jnp.log(config.init_alpha), jnp.float32))
    params = params._replace(target_q=params.q)
    encoder_opt, policy_opt, q_opt, alpha_opt = _optimizers(config)
    example = loop.empty_transition(spec.obs_size, spec.action_size)
    return TrainingState(
        params=params, encoder_opt_state=encoder_opt.init(params.encoder),
        policy_opt_state=policy_opt.init(params.policy), q_opt_state=q_opt.init(params.q),
        alpha_opt_state=alpha_opt.init(params.log_alpha),
        rl_buffer=buffers.init(example, config.num_train_tasks, config.rl_buffer_capacity),
        encoder_buffer=buffers.init(example, config.num_train_tasks,
                                    config.encoder_buffer_size),
        env_steps=jnp.zeros((), jnp.int32), grad_steps=jnp.zeros((), jnp.int32),
        config=config, spec=spec)


def sample_meta_batch(state: TrainingState, task_ids: jax.Array, key: jax.Array
                      ) -> losses.MetaBatch:
    """Contexts from the encoder buffers and RL data from the RL buffers of `task_ids` (M,)."""
    key_context, key_rl = jax.random.split(key)
    config = state.config
    return losses.MetaBatch(
        context=buffers.sample(state.encoder_buffer, task_ids, key_context, config.context_size),
        rl=buffers.sample(state.rl_buffer, task_ids, key_rl, config.batch_size))


def update(state: TrainingState, batch: losses.MetaBatch, key: jax.Array
           ) -> tuple[TrainingState, dict[str, jax.Array]]:
    """One meta-gradient step: temperature, critics + encoder, actor, target critics."""
    config, spec = state.config, state.spec
    networks = make_networks(config, spec)
    encoder_opt, policy_opt, q_opt, alpha_opt = _optimizers(config)
    key_latent, key_alpha, key_critic, key_actor = jax.random.split(key, 4)
    p = state.params
    m = batch.rl.reward.shape[0]
    latent_noise = jax.random.normal(key_latent, (m, config.latent_size))

    # Critics and encoder: one loss, gradients for both parameter sets.
    grad_fn = jax.value_and_grad(losses.critic_encoder_loss, has_aux=True)
    (critic_l, critic_stats), (q_grads, encoder_grads) = grad_fn(
        (p.q, p.encoder), p.policy, p.target_q, jnp.exp(p.log_alpha), batch, latent_noise,
        key_critic, networks, config.discount, config.reward_scale, config.kl_weight,
        config.use_next_obs_in_context, config.variance_floor)
    z = critic_stats.z

    # Temperature (SAC v2, Haarnoja et al. 2018 eq. 18) on the current policy at (s, sg(z)).
    flat = losses.with_latent(batch.rl, z)
    _, log_prob = sac_losses.action_distribution(networks.sac, p.policy,
                                                 flat.obs).sample_and_log_prob(key_alpha)
    alpha_l, alpha_grad = jax.value_and_grad(
        lambda la: losses.alpha_loss(la, log_prob, config.entropy_target(spec.action_size))[0]
    )(p.log_alpha)
    alpha_updates, alpha_opt_state = alpha_opt.update(alpha_grad, state.alpha_opt_state)
    log_alpha = optax.apply_updates(p.log_alpha, alpha_updates)

    q_updates, q_opt_state = q_opt.update(q_grads, state.q_opt_state)
    q_params = optax.apply_updates(p.q, q_updates)
    encoder_updates, encoder_opt_state = encoder_opt.update(encoder_grads,
                                                            state.encoder_opt_state)
    encoder_params = optax.apply_updates(p.encoder, encoder_updates)

    (actor_l, actor_stats), policy_grads = jax.value_and_grad(losses.actor_loss, has_aux=True)(
        p.policy, q_params, jnp.exp(log_alpha), batch.rl, z, key_actor, networks)
    policy_updates, policy_opt_state = policy_opt.update(policy_grads, state.policy_opt_state)
    policy_params = optax.apply_updates(p.policy, policy_updates)

    params = PearlParams(encoder=encoder_params, policy=policy_params, q=q_params,
                         target_q=polyak(p.target_q, q_params, config.tau), log_alpha=log_alpha)
    state = state.replace(params=params, encoder_opt_state=encoder_opt_state,
                          policy_opt_state=policy_opt_state, q_opt_state=q_opt_state,
                          alpha_opt_state=alpha_opt_state, grad_steps=state.grad_steps + 1)
    metrics = {
        "train/critic_loss": critic_stats.critic_loss, "train/actor_loss": actor_l,
        "train/alpha_loss": alpha_l, "train/alpha": jnp.exp(log_alpha),
        "train/entropy": actor_stats.entropy, "train/q": critic_stats.q_mean,
        "train/target_q": critic_stats.target_q_mean,
        "train/kl": critic_stats.kl / m, "train/posterior_variance":
            critic_stats.posterior_variance,
    }
    return state, metrics


def make_policy(config: Config, spec: EnvSpec):
    """`policy(params: PolicyParams, obs (..., D), z (..., L), key, deterministic) -> action`.

    z comes from the prior or from `make_posterior(config, spec)(params, context)`.
    """
    networks = make_networks(config, spec)

    def policy(params: PolicyParams, obs: jax.Array, z: jax.Array, key: jax.Array,
               deterministic: bool = False) -> jax.Array:
        dist = sac_losses.action_distribution(networks.sac, params.policy,
                                              jnp.concatenate([obs, z], axis=-1))
        if deterministic:
            return dist.mode()
        return dist.sample_and_log_prob(key)[0]

    return policy


def make_posterior(config: Config, spec: EnvSpec):
    """`posterior(params: PolicyParams, context: Transition (..., N, ...)) -> Gaussian (..., L)`."""
    networks = make_networks(config, spec)

    def posterior(params: PolicyParams, context: Transition) -> enc.Gaussian:
        return losses.posterior(networks, params.encoder, context,
                                config.use_next_obs_in_context, config.variance_floor)

    return posterior


def policy_params(state: TrainingState) -> PolicyParams:
    return PolicyParams(encoder=state.params.encoder, policy=state.params.policy)


class MetaFunctions(NamedTuple):
    initial_collection: callable  # MetaState -> MetaState
    iteration: callable  # (MetaState, _) -> (MetaState, metrics)
    meta_test: callable  # (PolicyParams, tasks, key) -> metrics


def make_meta_functions(env: Env, config: Config) -> MetaFunctions:
    """The jittable pieces of meta-training on `env` (an unwrapped task-family env)."""
    spec = env.spec
    networks = make_networks(config, spec)
    policy = make_policy(config, spec)
    act = lambda params, obs, z, key, det: policy(params, obs, z, key, det)
    collect = rollout.make_collect(env, config, act)

    def factors(encoder_params, transition):
        features = enc.context_features(transition, config.use_next_obs_in_context)
        return enc.factors(networks.encoder, encoder_params, features)

    meta_test_fn = rollout.make_meta_test(env, config, act, factors)

    def add(ts: TrainingState, ids, data, to_encoder: bool) -> TrainingState:
        """Writes collected data: the RL buffer gets the critic's reward (the info entry
        `critic_reward_key`, collected into `extras`, or the reward), the encoder buffer the
        env's reward (what a context holds at meta-test)."""
        context_data = data._replace(extras=())
        rl_data = (context_data if config.critic_reward_key is None
                   else context_data._replace(reward=data.extras))
        ts = ts.replace(rl_buffer=buffers.add(ts.rl_buffer, ids, rl_data),
                        env_steps=ts.env_steps + data.reward.size)
        if to_encoder:
            ts = ts.replace(encoder_buffer=buffers.add(ts.encoder_buffer, ids, context_data))
        return ts

    def initial_collection(ms: MetaState) -> MetaState:
        key, key_collect = jax.random.split(ms.key)
        ids = jnp.arange(config.num_train_tasks)
        data, _ = collect(policy_params(ms.training_state), ms.train_tasks,
                          rollout.prior(config.num_train_tasks, config.latent_size),
                          config.num_initial_steps, key_collect)
        return ms.replace(training_state=add(ms.training_state, ids, data, True), key=key)

    def iteration(ms: MetaState, _=None):
        keys = jax.random.split(ms.key, 8)
        key, key_ids, key_updates, phase_keys = keys[0], keys[1], keys[2], keys[3:]
        ts = ms.training_state
        ids = jax.random.choice(key_ids, config.num_train_tasks, (config.num_tasks_sample,),
                                replace=False)
        tasks = ms.train_tasks[ids]
        ts = ts.replace(encoder_buffer=buffers.clear(ts.encoder_buffer, ids))
        phases = ((config.num_steps_prior, False, True),
                  (config.num_steps_posterior, True, True),
                  (config.num_extra_rl_steps_posterior, True, False))
        stats = []
        for (steps, use_posterior, to_encoder), key_phase in zip(phases, phase_keys):
            if steps == 0:  # static: a phase of zero steps is left out of the graph
                continue
            key_context, key_collect = jax.random.split(key_phase)
            q_z = rollout.prior(config.num_tasks_sample, config.latent_size)
            if use_posterior:  # context from the (just refilled) encoder buffers
                context = buffers.sample(ts.encoder_buffer, ids, key_context,
                                         config.context_size)
                empty = (ts.encoder_buffer.size[ids] == 0)[:, None]  # no prior phase ran
                q_z = enc.Gaussian(*(jnp.where(empty, p, q) for p, q in zip(
                    q_z, make_posterior(config, spec)(policy_params(ts), context))))
            data, phase_stats = collect(policy_params(ts), tasks, q_z, steps, key_collect)
            ts = add(ts, ids, data, to_encoder)
            stats.append(phase_stats)

        def one_update(ts, key_step):
            key_tasks, key_batch, key_update = jax.random.split(key_step, 3)
            task_ids = jax.random.randint(key_tasks, (config.meta_batch,), 0,
                                          config.num_train_tasks)  # with replacement (oyster)
            return update(ts, sample_meta_batch(ts, task_ids, key_batch), key_update)

        ts, metrics = jax.lax.scan(
            one_update, ts, jax.random.split(key_updates, config.grad_steps_per_iteration))
        metrics = jax.tree.map(jnp.mean, metrics)
        for name in stats[0]:
            metrics[name] = sum(s[name] for s in stats)
        return ms.replace(training_state=ts, key=key), metrics

    def meta_test(params: PolicyParams, tasks: jax.Array, key: jax.Array):
        per_episode = meta_test_fn(params, params.encoder, tasks, key)
        return rollout.meta_test_metrics(per_episode["return"], per_episode["cost"],
                                         config.num_exploration_episodes,
                                         per_episode.get("success"))

    return MetaFunctions(initial_collection, iteration, meta_test)
