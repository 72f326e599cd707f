"""Data collection and the meta-test protocol of PEARL, pure and jittable.

Shapes: K tasks collected at once, E envs per task (`config.num_envs`), S steps per env,
L latent size. Envs of one task are adjacent in the batch (task-major), so collected data
reshapes to `(K, E * S, ...)` per-task rows for the per-task buffers.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp

from algorithms.pearl import encoder as enc
from algorithms.pearl.config import Config
from envs import wrappers
from envs.base import Env
from rlcore import loop
from rlcore.types import Params, Transition

# act(params, obs (B, D), z (B, L), key, deterministic) -> action (B, A)
Act = Callable[..., jax.Array]


def prior(num_tasks: int, latent_size: int) -> enc.Gaussian:
    return enc.Gaussian(jnp.zeros((num_tasks, latent_size), jnp.float32),
                        jnp.ones((num_tasks, latent_size), jnp.float32))


def make_collect(env: Env, config: Config, act: Act) -> Callable:
    """Returns `collect(policy_params, tasks (K, P), q_z (K, L), num_steps, key)`.

    Runs `ceil(num_steps / E)` steps of K * E auto-resetting envs (time limit, same task after
    a reset, also for envs with `draw_task_per_episode`). Each env draws z ~ q_z of its task
    at the start and again whenever an episode ends (oyster's `resample_z_rate = 1`
    trajectory). Actions are sampled (exploration).
    Returns `(transitions with leaves (K, E * S, ...), stats)`; `stats` holds the sums of
    returns and the count of episodes that ended. With `config.critic_reward_key`, the
    transitions' `extras` hold that info entry of each step (the critic's reward; the
    `reward` stays the env's, for the context).
    """
    # Each env keeps its task through resets, even for a family that draws a task per episode
    # (a patient population): the data of a task must stay in that task's buffers.
    train_env = wrappers.wrap_for_training(env, config.episode_length, resample_tasks=False)
    key_critic = config.critic_reward_key
    if key_critic is not None:
        train_env = _keep_step_info(env, train_env, key_critic)
    num_envs = config.num_envs

    def collect(policy_params: Params, tasks: jax.Array, q_z: enc.Gaussian, num_steps: int,
                key: jax.Array) -> tuple[Transition, dict[str, jax.Array]]:
        num_tasks = tasks.shape[0]
        steps = -(-num_steps // num_envs)
        env_tasks = jnp.repeat(tasks, num_envs, axis=0)
        env_q = jax.tree.map(lambda x: jnp.repeat(x, num_envs, axis=0), q_z)
        batch = num_tasks * num_envs
        key_reset, key_z, key_run = jax.random.split(key, 3)
        state = train_env.reset(jax.random.split(key_reset, batch), task=env_tasks)
        z = enc.sample(env_q, jax.random.normal(key_z, env_q.mean.shape))

        def step(carry, key_step):
            state, z = carry
            key_act, key_resample = jax.random.split(key_step)
            action = act(policy_params, state.obs, z, key_act, False)
            next_state = train_env.step(state, action)
            transition = loop.env_transition(state, action, next_state)
            if key_critic is not None:
                transition = transition._replace(extras=next_state.info[key_critic])
            done = next_state.done
            fresh_z = enc.sample(env_q, jax.random.normal(key_resample, z.shape))
            z = jnp.where(done[:, None] > 0.5, fresh_z, z)
            info = next_state.info
            out = (transition, done, info["episode_return"] * done,
                   info["episode_cost"] * done, info["episode_length"] * done)
            return (next_state, z), out

        _, (transitions, done, returns, costs, lengths) = jax.lax.scan(
            step, (state, z), jax.random.split(key_run, steps))

        def per_task(x):  # (S, K*E, ...) -> (K, E*S, ...)
            x = jnp.swapaxes(x, 0, 1)
            return x.reshape(num_tasks, num_envs * steps, *x.shape[2:])

        stats = {"episode_count": done.sum(), "episode_return_sum": returns.sum(),
                 "episode_cost_sum": costs.sum(), "episode_length_sum": lengths.sum()}
        return jax.tree.map(per_task, transitions), stats

    return collect


def _keep_step_info(env: Env, train_env: wrappers.Wrapper, key: str) -> wrappers.Wrapper:
    """`train_env` (`wrappers.wrap_for_training(env)`'s stack) with the info entry `key` kept
    at the step that ends an episode, as `truncation` is, instead of taking its reset value:
    the entry describes the finished step (e.g. that step's dense reward).

    Raises:
      ValueError: `env` has no such info entry.
    """
    info = jax.eval_shape(env.reset, jax.random.key(0)).info
    if key not in info:
        raise ValueError(f"Invalid config field 'critic_reward_key': {env.spec.name} has no "
                         f"info entry {key!r}; its entries: {', '.join(sorted(info))}")
    auto_reset = train_env.env
    if not isinstance(auto_reset, wrappers.BatchAutoResetWrapper):
        raise TypeError(f"expected wrap_for_training's stack, got {type(auto_reset).__name__}")
    auto_reset.step_keys = (*auto_reset.step_keys, key)
    return train_env


def make_meta_test(env: Env, config: Config, act: Act, factors: Callable) -> Callable:
    """Returns `meta_test(policy_params, encoder_params, tasks (N, P), key) -> returns`.

    The protocol of the paper (section 6.1) / oyster's `collect_paths`: on each task,
    `num_eval_episodes` consecutive episodes with deterministic actions; the first
    `num_exploration_episodes` (E) use z ~ N(0, I), each a fresh draw; episode k > E uses
    z ~ q(z | every transition of episodes 1..k-1 of that task). The growing context is kept
    as running natural parameters of the product of Gaussians, so its length never changes a
    shape. Steps after an episode terminates are masked out of the return and of the context.

    `factors(encoder_params, transitions) -> Gaussian` gives each transition's factor.
    Returns a dict of per-episode arrays `(num_eval_episodes, N)`: `return`, `cost`, and
    where the env's info has a `success` entry (1 at a step that reaches the goal), `success`:
    1 where the episode reached it at some step.
    """
    eval_env = wrappers.wrap_for_eval(env, config.episode_length)
    length = eval_env.env.episode_length
    latent = config.latent_size

    def meta_test(policy_params: Params, encoder_params: Params, tasks: jax.Array,
                  key: jax.Array) -> tuple[jax.Array, jax.Array]:
        num_tasks = tasks.shape[0]

        def episode(sums, inputs):
            index, key_episode = inputs
            key_z, key_reset, key_steps = jax.random.split(key_episode, 3)
            q_z = jax.tree.map(lambda p, q: jnp.where(index < config.num_exploration_episodes,
                                                      p, q),
                               prior(num_tasks, latent), enc.posterior_from_sums(sums))
            z = enc.sample(q_z, jax.random.normal(key_z, q_z.mean.shape))
            state = eval_env.reset(jax.random.split(key_reset, num_tasks), task=tasks)
            alive = jnp.ones((num_tasks,), jnp.float32)

            def step(carry, key_step):
                state, alive, sums = carry
                action = act(policy_params, state.obs, z, key_step, True)
                next_state = eval_env.step(state, action)
                transition = Transition(obs=state.obs, action=action, reward=next_state.reward,
                                        cost=next_state.cost, discount=1.0 - next_state.done,
                                        next_obs=next_state.obs)
                sums = enc.accumulate(sums, factors(encoder_params, transition),
                                      config.variance_floor, alive)
                out = {"return": next_state.reward * alive, "cost": next_state.cost * alive}
                if "success" in next_state.info:  # static: the env's info keys
                    out["success"] = next_state.info["success"] * alive
                return (next_state, alive * (1.0 - next_state.done), sums), out

            (_, _, sums), out = jax.lax.scan(
                step, (state, alive, sums), jax.random.split(key_steps, length))
            per_episode = {"return": out["return"].sum(0), "cost": out["cost"].sum(0)}
            if "success" in out:
                per_episode["success"] = out["success"].max(0)
            return sums, per_episode

        sums = enc.empty_sums((num_tasks, latent))
        num = config.num_eval_episodes
        _, per_episode = jax.lax.scan(episode, sums,
                                      (jnp.arange(num), jax.random.split(key, num)))
        return per_episode

    return meta_test


def meta_test_metrics(returns: jax.Array, costs: jax.Array, num_exploration_episodes: int,
                      successes: jax.Array | None = None) -> dict[str, jax.Array]:
    """Named metrics from per-episode returns and costs `(num_episodes, N)`.

    `meta_test/return_prior`: episode 1 (z from the prior); `meta_test/return_posterior`:
    the first posterior episode, E + 1 (after E = `num_exploration_episodes` episodes of
    context); `meta_test/return_episode_k`: the adaptation curve; `eval/return`: the last
    episode (oyster's reported figure); `eval/return_prior` and `eval/return_posterior`
    repeat the two for the end-of-run table. With `successes` (1 where an episode reached
    the goal), the same for the success rate: `meta_test/success_episode_k`,
    `meta_test/success_prior`, `meta_test/success_posterior`, `eval/success`.
    """
    out = {f"meta_test/return_episode_{k + 1}": returns[k].mean()
           for k in range(returns.shape[0])}
    out["meta_test/return_prior"] = returns[0].mean()
    out["meta_test/return_posterior"] = returns[num_exploration_episodes].mean()
    out["meta_test/return_final"] = returns[-1].mean()
    out["eval/return"] = returns[-1].mean()
    out["eval/return_std"] = returns[-1].std()
    out["eval/return_prior"] = returns[0].mean()
    out["eval/return_posterior"] = returns[num_exploration_episodes].mean()
    out["eval/cost"] = costs[-1].mean()
    if successes is not None:
        for k in range(successes.shape[0]):
            out[f"meta_test/success_episode_{k + 1}"] = successes[k].mean()
        out["meta_test/success_prior"] = successes[0].mean()
        out["meta_test/success_posterior"] = successes[num_exploration_episodes].mean()
        out["eval/success"] = successes[-1].mean()
    return out
