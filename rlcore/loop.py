"""The shared off-policy actor/learner loop.

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

from envs import wrappers
from envs.base import Env, State
from rlcore import normalize, replay
from rlcore.config import OffPolicyConfig
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
    env_state: State
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


def env_transition(state: State, action: jax.Array, next_state: State) -> Transition:
    """The transition of one batched step. Termination stops bootstrapping, truncation not."""
    truncation = next_state.info.get("truncation", jnp.zeros_like(next_state.done))
    terminal = next_state.done * (1.0 - truncation)
    return Transition(obs=state.obs, action=action, reward=next_state.reward,
                      cost=next_state.cost, discount=1.0 - terminal,
                      next_obs=next_state.info["terminal_obs"])


def make_iteration(env: Env, learner: Learner, config: OffPolicyConfig
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


def make_evaluate(env: Env, learner: Learner, num_envs: int,
                  episode_length: int | None = None) -> Callable:
    """`evaluate(policy_params, key) -> metrics`: one deterministic episode per eval env.

    Steps after an env's first `done` are masked out; returns `eval/return`, `eval/cost`,
    `eval/cost_rate` (cost per step), `eval/length` averaged over episodes and
    `eval/return_std`. The same episodes (same reset keys) are also run with the stochastic
    policy, in the same batch: `eval/return_stochastic` is its mean return, so the gap
    between the policy that is trained and the one that is reported is in every row.
    Envs that report blood glucose (`info["bg"]`, mg/dL: the glucose envs) add the clinical
    fractions of the deterministic episodes' steps, averaged over episodes: `eval/tir`
    (70-180 mg/dL), `eval/tbr70` (< 70) and `eval/tbr54` (< 54).
    """
    eval_env = wrappers.wrap_for_eval(env, episode_length)
    length = eval_env.env.episode_length

    def evaluate(policy_params, key):
        key_reset, key_policy = jax.random.split(key)
        reset_keys = jax.random.split(key_reset, num_envs)
        # Rows [0, N) act deterministically, rows [N, 2N) sample: the same N episodes.
        state = eval_env.reset(jnp.concatenate([reset_keys, jax.random.clone(reset_keys)]))

        has_bg = "bg" in state.info

        def step(carry, key_step):
            state, alive = carry
            deterministic = learner.policy(policy_params, state.obs[:num_envs], key_step, True)
            sampled = learner.policy(policy_params, state.obs[num_envs:], key_step, False)
            state = eval_env.step(state, jnp.concatenate([deterministic, sampled]))
            bg = state.info["bg"] if has_bg else jnp.zeros_like(state.reward)
            out = (state.reward * alive, state.cost * alive, alive, bg)
            return (state, alive * (1.0 - state.done)), out

        alive = jnp.ones((2 * num_envs,), jnp.float32)
        _, (rewards, costs, alive, bg) = jax.lax.scan(step, (state, alive),
                                                      jax.random.split(key_policy, length))
        returns, total_cost, steps = rewards.sum(0), costs.sum(0), alive.sum(0)
        returns_stochastic = returns[num_envs:]
        returns, total_cost, steps = returns[:num_envs], total_cost[:num_envs], steps[:num_envs]
        alive, bg = alive[:, :num_envs], bg[:, :num_envs]
        metrics = {"eval/return": returns.mean(), "eval/return_std": returns.std(),
                   "eval/return_stochastic": returns_stochastic.mean(),
                   "eval/cost": total_cost.mean(), "eval/cost_rate": (total_cost / steps).mean(),
                   "eval/length": steps.mean()}
        if has_bg:
            def fraction(inside):  # of each episode's steps, then the mean over episodes
                return ((inside * alive).sum(0) / steps).mean()

            metrics.update({"eval/tir": fraction((bg >= 70.0) & (bg <= 180.0)),
                            "eval/tbr70": fraction(bg < 70.0), "eval/tbr54": fraction(bg < 54.0)})
        return metrics

    return evaluate


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
