"""The shared off-policy actor/learner loop.

The envs it is given are already wrapped (`envs.wrappers.wrap_for_training` /
`wrap_for_eval`, done by `algorithms.off_policy`): rlcore sees only their reset/step contract.

One *iteration* steps every one of `num_envs` vmapped envs once, adds the transitions to
replay, and takes G gradient steps (`lax.scan`), all in one jitted function. Iterations are
scanned between evaluations, so Python only runs at evaluation / logging / checkpoint time.

An algorithm plugs in through `Learner`:
  * its training state is a pytree with fields `buffer` (`rlcore.replay.ReplayState`),
    `normalizer` (`rlcore.normalize.NormalizerState`) and `env_steps` (int32 scalar);
  * `policy_params(state)` -> what `policy` takes as params;
  * `policy(params, obs, key, deterministic)` -> actions `(B, A)` for observations `(B, D)`;
  * `update(state, batch, key)` -> (state, metrics): one gradient step on a sampled batch.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from rlcore import normalize, replay, sharding
from rlcore.config import OffPolicyConfig
from rlcore.program import Program
from rlcore.types import Transition


class Learner(NamedTuple):
    init: Callable[[jax.Array], Any]  # key -> training state
    policy_params: Callable[[Any], Any]
    policy: Callable[..., jax.Array]
    update: Callable[[Any, Transition, jax.Array], tuple[Any, dict]]


@struct.dataclass
class LoopState:
    """Everything a run needs to continue: checkpointed whole."""

    training_state: Any
    env_state: Any  # the batched training env's state
    key: jax.Array


def empty_transition(obs_size: int, action_size: int) -> Transition:
    """One unbatched transition of zeros (the replay buffer's item template)."""
    zero = jnp.zeros((), jnp.float32)
    return Transition(obs=jnp.zeros((obs_size,), jnp.float32),
                      action=jnp.zeros((action_size,), jnp.float32), reward=zero, cost=zero,
                      discount=zero, next_obs=jnp.zeros((obs_size,), jnp.float32))


def init_buffers(config: OffPolicyConfig, obs_size: int, action_size: int):
    """Replay buffer and observation normaliser for a fresh training state."""
    return (replay.init(empty_transition(obs_size, action_size), config.replay_capacity),
            normalize.init(obs_size))


def env_transition(state: Any, action: jax.Array, next_state: Any) -> Transition:
    """The transition of one batched step. Termination stops bootstrapping, truncation not."""
    truncation = next_state.info.get("truncation", jnp.zeros_like(next_state.done))
    terminal = next_state.done * (1.0 - truncation)
    return Transition(obs=state.obs, action=action, reward=next_state.reward,
                      cost=next_state.cost, discount=1.0 - terminal,
                      next_obs=next_state.info["terminal_obs"])


def make_iteration(env: Any, learner: Learner, config: OffPolicyConfig
                   ) -> tuple[Callable, Callable, int]:
    """Returns `(iteration, prefill, num_prefill_iterations)`.

    `iteration(loop_state) -> (loop_state, metrics)` collects one step of every env and takes
    G gradient steps; `prefill(loop_state) -> loop_state` collects (no updates) until the
    buffer holds `max(learning_starts, batch_size)` transitions, a static iteration count.
    Actions are uniform random while `env_steps < warmup_steps`. `env` is the batched
    training env (`envs.wrappers.wrap_for_training`).
    """
    low = jnp.asarray(env.spec.action_low, jnp.float32)
    high = jnp.asarray(env.spec.action_high, jnp.float32)
    num_updates = config.grad_steps_per_iteration
    num_prefill = config.prefill_iterations

    def collect(ts, env_state, key):
        key_random, key_policy = jax.random.split(key)
        shape = (config.num_envs, env.spec.action_size)
        random_action = jax.random.uniform(key_random, shape, minval=low, maxval=high)
        policy_action = learner.policy(learner.policy_params(ts), env_state.obs, key_policy,
                                       False)
        action = jnp.where(ts.env_steps < config.warmup_steps, random_action, policy_action)
        next_state = env.step(env_state, action)
        transition = env_transition(env_state, action, next_state)
        ts = ts.replace(
            buffer=replay.add(ts.buffer, transition),
            normalizer=(normalize.update(ts.normalizer, env_state.obs)
                        if config.normalize_observations else ts.normalizer),
            env_steps=ts.env_steps + config.num_envs)
        done = next_state.done
        episode = {
            "episode_count": done.sum(),
            "episode_return_sum": (next_state.info["episode_return"] * done).sum(),
            "episode_cost_sum": (next_state.info["episode_cost"] * done).sum(),
            "episode_length_sum": (next_state.info["episode_length"] * done).sum(),
        }
        return ts, next_state, episode

    def one_update(ts, key_step):
        key_sample, key_update = jax.random.split(key_step)
        batch = replay.sample(ts.buffer, key_sample, config.batch_size)
        return learner.update(ts, batch, key_update)

    def iteration(loop_state: LoopState, _=None):
        key, key_collect, key_update = jax.random.split(loop_state.key, 3)
        ts, env_state, episode = collect(loop_state.training_state, loop_state.env_state,
                                         key_collect)
        ts, metrics = jax.lax.scan(one_update, ts, jax.random.split(key_update, num_updates))
        metrics = dict(jax.tree.map(jnp.mean, metrics), **episode)
        return LoopState(training_state=ts, env_state=env_state, key=key), metrics

    def prefill(loop_state: LoopState) -> LoopState:
        def body(loop_state, _):
            key, key_collect = jax.random.split(loop_state.key)
            ts, env_state, _ = collect(loop_state.training_state, loop_state.env_state,
                                       key_collect)
            return LoopState(training_state=ts, env_state=env_state, key=key), None

        return jax.lax.scan(body, loop_state, None, length=num_prefill)[0]

    return iteration, prefill, num_prefill


def make_evaluate(eval_env: Any, learner: Learner, num_envs: int) -> Callable:
    """`evaluate(policy_params, key) -> metrics`: one deterministic episode per eval env.

    `eval_env` is batched, with a time limit and no auto-reset (`envs.wrappers.wrap_for_eval`).
    Steps after an env's first `done` are masked out; returns `eval/return`, `eval/cost`,
    `eval/cost_rate` (cost per step), `eval/length` averaged over episodes and
    `eval/return_std`. The same episodes (same reset keys) are also run with the stochastic
    policy, in the same batch: `eval/return_stochastic` is its mean return, so the gap
    between the policy that is trained and the one that is reported is in every row.
    An env family adds its own metrics of the deterministic episodes through the env's
    `evaluation_trace` / `evaluation_metrics` (`envs.base.EnvBase`; the glucose envs: time in
    range).
    """
    length = getattr(eval_env, "episode_length", eval_env.spec.episode_length)
    trace_fn = getattr(eval_env, "evaluation_trace", lambda state: {})
    metrics_fn = getattr(eval_env, "evaluation_metrics", lambda trace, alive: {})

    def evaluate(policy_params, key):
        key_reset, key_policy = jax.random.split(key)
        reset_keys = jax.random.split(key_reset, num_envs)
        # Rows [0, N) act deterministically, rows [N, 2N) sample: the same N episodes.
        state = eval_env.reset(jnp.concatenate([reset_keys, jax.random.clone(reset_keys)]))

        def step(carry, key_step):
            state, alive = carry
            deterministic = learner.policy(policy_params, state.obs[:num_envs], key_step, True)
            sampled = learner.policy(policy_params, state.obs[num_envs:], key_step, False)
            state = eval_env.step(state, jnp.concatenate([deterministic, sampled]))
            out = (state.reward * alive, state.cost * alive, alive, trace_fn(state))
            return (state, alive * (1.0 - state.done)), out

        alive = jnp.ones((2 * num_envs,), jnp.float32)
        _, (rewards, costs, alive, trace) = jax.lax.scan(step, (state, alive),
                                                         jax.random.split(key_policy, length))
        returns, total_cost, steps = rewards.sum(0), costs.sum(0), alive.sum(0)
        returns_stochastic = returns[num_envs:]
        returns, total_cost, steps = returns[:num_envs], total_cost[:num_envs], steps[:num_envs]
        metrics = {"eval/return": returns.mean(), "eval/return_std": returns.std(),
                   "eval/return_stochastic": returns_stochastic.mean(),
                   "eval/cost": total_cost.mean(), "eval/cost_rate": (total_cost / steps).mean(),
                   "eval/length": steps.mean()}
        metrics.update(metrics_fn(jax.tree.map(lambda x: x[:, :num_envs], trace),
                                  alive[:, :num_envs]))
        return metrics

    return evaluate


def _constrain_batches(learner: Learner, mesh) -> Learner:
    """`learner` whose update keeps each sampled batch split along the mesh's data axis."""
    def update(state, batch, key):
        return learner.update(state, sharding.constrain_batch(batch, mesh), key)

    return learner._replace(update=update)


def make_program(train_env: Any, eval_env: Any, learner: Learner, config: OffPolicyConfig,
                 mesh=None) -> Program:
    """The off-policy loop as a `rlcore.program.Program`.

    `train_env` is the batched auto-resetting env (`envs.wrappers.wrap_for_training`),
    `eval_env` the batched eval env (`wrap_for_eval`). Keys: `run_key` splits into (init,
    env, loop, eval); evaluation i uses `fold_in(eval, i)`. With a `mesh`, the env batch, the
    replay buffer and every sampled batch are split along its data axis (`rlcore.sharding`),
    parameters replicated.

    Raises:
      ValueError: with a mesh, num_envs, batch_size or replay_capacity not divisible by it.
    """
    if mesh is not None:
        sharding.check_loop_divisible(config, mesh)
        learner = _constrain_batches(learner, mesh)
    iteration, prefill, _ = make_iteration(train_env, learner, config)
    evaluate_policy = make_evaluate(eval_env, learner, config.num_eval_envs)

    def init(run_key):
        key_init, key_env, key_loop, _ = jax.random.split(run_key, 4)
        env_state = train_env.reset(jax.random.split(key_env, config.num_envs))
        return LoopState(training_state=learner.init(key_init), env_state=env_state,
                         key=key_loop)

    def chunk(state):
        return jax.lax.scan(iteration, state, None, length=config.iterations_per_eval)

    def evaluate(state, run_key, eval_index):
        key_eval = jax.random.split(run_key, 4)[3]
        return evaluate_policy(learner.policy_params(state.training_state),
                               jax.random.fold_in(key_eval, eval_index))

    return Program(
        init=init, start=prefill, chunk=chunk, summarize=summarize, evaluate=evaluate,
        policy_params=lambda state: learner.policy_params(state.training_state),
        env_steps=lambda state: state.training_state.env_steps, num_chunks=config.num_evals,
        env_steps_per_chunk=config.iterations_per_eval * config.num_envs,
        grad_steps_per_chunk=config.iterations_per_eval * config.grad_steps_per_iteration,
        policy=learner.policy,
        state_shardings=(None if mesh is None
                         else lambda state: sharding.loop_state_shardings(state, mesh)),
        select_best=config.select_best_eval)


def summarize(metrics: dict[str, np.ndarray]) -> dict[str, float]:
    """Reduces per-iteration metrics of one chunk (host side) to one row."""
    out = {}
    count = float(np.sum(metrics.pop("episode_count")))
    for name in ("return", "cost", "length"):
        total = float(np.sum(metrics.pop(f"episode_{name}_sum")))
        out[f"train/episode_{name}"] = total / count if count else float("nan")
    for name, values in metrics.items():
        out[name] = float(np.mean(values))
    return out


def timed_compile(fn: Callable, *args) -> tuple[Callable, float]:
    """AOT-compiles `jax.jit(fn)` for `args`; returns the executable and seconds taken."""
    start = time.perf_counter()
    compiled = fn.lower(*args).compile()
    return compiled, time.perf_counter() - start
