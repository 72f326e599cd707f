"""Wrappers over the `Env` protocol: time limit, auto-reset, episode statistics, batching.

The usual stack for training, innermost first (see `wrap_for_training`):

    EpisodeWrapper (time limit, info["truncation"])
    -> VmapWrapper (a leading batch axis; never a Python loop)
    -> BatchAutoResetWrapper (a real reset with a fresh key on done, computed only for the
       envs that are done)
    -> EpisodeStatsWrapper (return, cost and length of finished episodes)

`AutoResetWrapper` is the per-env form of the auto-reset (for a stack vmapped by hand); it
computes a reset for every env at every step and selects it where done, which costs a
glucose batch of 16,384 more than half its throughput. The batch form gives the same states
bit for bit. `TaskInObservation` shows a task family's task vector to the policy.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any

import jax
import jax.numpy as jnp

from envs.base import Env, EnvSpec, State


class Wrapper:
    """Forwards everything to the wrapped env; subclasses override reset/step."""

    def __init__(self, env: Env):
        self.env = env

    @property
    def spec(self) -> EnvSpec:
        return self.env.spec

    @property
    def unwrapped(self) -> Env:
        return getattr(self.env, "unwrapped", self.env)

    def reset(self, key: jax.Array, task: Any = None) -> State:
        return self.env.reset(key, task=task)

    def step(self, state: State, action: jax.Array) -> State:
        return self.env.step(state, action)

    def __getattr__(self, name: str) -> Any:
        # Only reached for attributes not found on the wrapper itself (sample_tasks, mj_model,
        # reward_fn, ...).
        if name == "env":
            raise AttributeError(name)
        return getattr(self.env, name)


class TaskInObservation(Wrapper):
    """Appends `State.task` (`spec.task_size`,) to the observation, so that one policy serves
    every task of a family (Ha et al. 2020 feed the task vector to the policy).

    `draw_task_per_episode` (read by `wrap_for_training`), when given, overrides the wrapped
    env's: True has auto-reset draw a task per episode for an env that does not choose its own.
    """

    def __init__(self, env: Env, draw_task_per_episode: bool | None = None):
        super().__init__(env)
        self._spec = dataclasses.replace(env.spec,
                                         obs_size=env.spec.obs_size + env.spec.task_size)
        if draw_task_per_episode is not None:
            self.draw_task_per_episode = draw_task_per_episode

    @property
    def spec(self) -> EnvSpec:
        return self._spec

    def _with_task(self, state: State) -> State:
        return state.replace(obs=jnp.concatenate([state.obs, state.task], axis=-1))

    def reset(self, key, task=None):
        return self._with_task(self.env.reset(key, task=task))

    def step(self, state, action):
        inner = state.replace(obs=state.obs[..., :self.env.spec.obs_size])
        return self._with_task(self.env.step(inner, action))


def _where(cond: jax.Array, x: Any, y: Any) -> Any:
    """Selects pytree `x` where `cond` (a scalar per env) is true, else `y`."""

    def select(a, b):
        c = jnp.reshape(cond, cond.shape + (1,) * (a.ndim - cond.ndim))
        return jnp.where(c, a, b)

    return jax.tree.map(select, x, y)


class EpisodeWrapper(Wrapper):
    """Ends episodes after `episode_length` steps, marking them as truncated.

    Sets `done = 1` and `info["truncation"] = 1` at the time limit when the env itself did
    not terminate; `info["steps"]` counts steps since reset.
    """

    def __init__(self, env: Env, episode_length: int | None = None):
        super().__init__(env)
        length = env.spec.episode_length if episode_length is None else episode_length
        if length <= 0:
            raise ValueError(f"episode_length must be > 0, got {length}.")
        longest = getattr(env, "max_episode_steps", None)
        if longest is not None and length > longest:
            raise ValueError(f"{env.spec.name}: episode_length {length} is longer than the "
                             f"{longest} steps this env is defined for (e.g. the days a glucose "
                             "env draws meals for: raise its episode_days).")
        self.episode_length = int(length)

    def reset(self, key, task=None):
        state = self.env.reset(key, task=task)
        info = dict(state.info, steps=jnp.zeros((), jnp.int32),
                    truncation=jnp.zeros((), jnp.float32))
        return state.replace(info=info)

    def step(self, state, action):
        state = self.env.step(state, action)
        steps = state.info["steps"] + 1
        at_limit = (steps >= self.episode_length).astype(jnp.float32)
        truncation = at_limit * (1.0 - state.done)
        done = jnp.maximum(state.done, at_limit)
        info = dict(state.info, steps=steps, truncation=truncation)
        return state.replace(done=done, info=info)


class AutoResetWrapper(Wrapper):
    """Resets an env for real when it is done: a new key, a new initial state.

    Reward, cost and done of the last step are kept; `obs` becomes the first observation of
    the next episode and `info["terminal_obs"]` keeps the last observation of the finished
    one (learners bootstrap from it through truncation). With `resample_tasks`, a task family
    draws a new task at each reset; otherwise the env keeps its task (per-task data stays
    per-task, as meta-RL collection needs). `info` entries take their reset values, except
    those in `step_keys` that describe the finished step itself (e.g. `truncation`) or must
    not be lost at a reset: `nan_actions`, the count of sanitised action entries, runs on
    across episodes (its reset value would hide the finished episode's count, the last
    step's included), so under auto-reset it counts since the env's first reset.
    """

    step_keys = ("truncation", "nan_actions")

    def __init__(self, env: Env, resample_tasks: bool = False):
        super().__init__(env)
        self.resample_tasks = resample_tasks

    def reset(self, key, task=None):
        key_reset, key_next = jax.random.split(key)
        state = self.env.reset(key_reset, task=task)
        info = dict(state.info, reset_key=key_next, terminal_obs=state.obs)
        return state.replace(info=info)

    def step(self, state, action):
        key_next, key_reset = jax.random.split(state.info["reset_key"])
        # The previous step's `done` belongs to the finished episode: an env whose step does
        # not set `done` itself must not see it again.
        stepped = self.env.step(state.replace(done=jnp.zeros_like(state.done)), action)
        fresh = self.env.reset(key_reset, task=None if self.resample_tasks else stepped.task)
        done = stepped.done > 0.5
        # Keys only the stepped state has (added by outer wrappers) are carried over as they are.
        info = {
            k: (_where(done, fresh.info[k], v) if k in fresh.info and k not in self.step_keys
                else v)
            for k, v in stepped.info.items()
        }
        info["reset_key"] = key_next
        info["terminal_obs"] = stepped.obs
        return stepped.replace(
            env_state=_where(done, fresh.env_state, stepped.env_state),
            obs=_where(done, fresh.obs, stepped.obs),
            task=_where(done, fresh.task, stepped.task),
            info=info,
        )


def _split_reset_keys(reset_key: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Per env: (key kept for later resets, key of a reset now), as `AutoResetWrapper`."""
    keys = jax.vmap(jax.random.split)(reset_key)
    return keys[:, 0], keys[:, 1]


class BatchAutoResetWrapper(Wrapper):
    """`AutoResetWrapper` over a batched env (a `VmapWrapper`), resetting only done envs.

    Same contract and the same random streams as `AutoResetWrapper` (each env keeps its own
    `info["reset_key"]`), so the states are identical; it differs in cost, which follows the
    number of done envs n:
      * n = 0: no reset is computed (most steps of most runs);
      * n <= B // f for the smallest fraction f of `partial_fractions` that fits: the done
        rows are gathered (`jnp.nonzero` with that static size) and reset inside a
        `lax.switch`, which returns them padded to the largest partial size; they are then
        scattered into the batch outside the switch;
      * more (time limits that end together): every env is reset and selected where done,
        as the per-env wrapper does.
    The scatter stays outside the switch because XLA copies every state array a branch
    updates in place: inside it, the glucose stack at 16,384 envs paid more for those copies
    than for the resets. Every branch is compiled once. Under an outer `vmap` (seeds, tasks)
    the switch becomes a select and every branch runs: correct, only slower.
    """

    step_keys = AutoResetWrapper.step_keys

    def __init__(self, env: Env, resample_tasks: bool = False,
                 partial_fractions: tuple[int, ...] = (128, 16)):
        super().__init__(env)
        if not partial_fractions or any(int(f) < 1 for f in partial_fractions):
            raise ValueError(f"partial_fractions must be integers >= 1, got {partial_fractions}.")
        self.resample_tasks = resample_tasks
        self.partial_fractions = tuple(int(f) for f in partial_fractions)

    def capacities(self, batch: int) -> tuple[int, ...]:
        """The gather sizes of the partial tiers for a batch of `batch` envs, ascending."""
        return tuple(sorted({max(1, batch // f) for f in self.partial_fractions}))

    def reset(self, key, task=None):
        keys = jax.vmap(jax.random.split)(key)
        state = self.env.reset(keys[:, 0], task=task)
        info = dict(state.info, reset_key=keys[:, 1], terminal_obs=state.obs)
        return state.replace(info=info)

    def _reset_rows(self, reset_keys: jax.Array, stepped: State, rows: jax.Array | None) -> State:
        """Fresh states for `rows` of the batch (all rows when None)."""
        keys = reset_keys if rows is None else reset_keys[rows]
        if self.resample_tasks:
            return self.env.reset(keys)
        tasks = stepped.task if rows is None else stepped.task[rows]
        return self.env.reset(keys, task=tasks)

    def _merge(self, stepped: State, fresh: State, put) -> State:
        info = {
            k: (put(fresh.info[k], v) if k in fresh.info and k not in self.step_keys else v)
            for k, v in stepped.info.items()
        }
        return stepped.replace(env_state=jax.tree.map(put, fresh.env_state, stepped.env_state),
                               obs=put(fresh.obs, stepped.obs), task=put(fresh.task, stepped.task),
                               info=info)

    def step(self, state, action):
        key_next, key_reset = _split_reset_keys(state.info["reset_key"])
        stepped = self.env.step(state.replace(done=jnp.zeros_like(state.done)), action)
        done = stepped.done > 0.5
        batch = done.shape[0]
        capacities = self.capacities(batch)
        largest = capacities[-1]
        num_done = done.sum()
        fresh_shape = jax.eval_shape(
            lambda: self._reset_rows(key_reset, stepped, jnp.zeros((largest,), jnp.int32)))

        def pad(x, fill=0):  # to `largest` rows
            return jnp.concatenate([x, jnp.full((largest - x.shape[0],) + x.shape[1:], fill,
                                                x.dtype)])

        def no_rows():
            # Row index `batch` is out of range: the scatter drops it.
            return (jnp.full((largest,), batch, jnp.int32),
                    jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), fresh_shape))

        def done_rows(capacity):
            rows = jnp.nonzero(done, size=capacity, fill_value=batch)[0]
            fresh = self._reset_rows(key_reset, stepped, jnp.minimum(rows, batch - 1))
            if capacity == largest:
                return rows, fresh
            return pad(rows, fill=batch), jax.tree.map(pad, fresh)

        tier = jnp.where((num_done == 0) | (num_done > largest), 0,
                         1 + sum((num_done > c).astype(jnp.int32) for c in capacities[:-1]))
        rows, fresh = jax.lax.switch(
            tier, [no_rows] + [functools.partial(done_rows, c) for c in capacities])
        state = self._merge(stepped, fresh, lambda f, s: s.at[rows].set(f, mode="drop"))

        # The switch took no rows when this runs: the keys are not used twice (the key-reuse
        # checker cannot see that the two branches exclude each other).
        key_reset_all = jax.random.clone(key_reset)

        def reset_all(state):
            fresh = self._reset_rows(key_reset_all, stepped, None)
            return self._merge(state, fresh, lambda f, s: _where(done, f, s))

        state = jax.lax.cond(num_done > largest, reset_all, lambda state: state, state)
        info = dict(state.info, reset_key=key_next, terminal_obs=stepped.obs)
        return state.replace(info=info)


class EpisodeStatsWrapper(Wrapper):
    """Tracks return, cost and length of the running episode.

    `info["episode_return"]`, `info["episode_cost"]` and `info["episode_length"]` hold the
    totals of the episode that ended at this step (valid where `done`); the running sums live
    in `info["running_*"]`. Put it outside the auto-reset; it works per env or on a batch.
    """

    def reset(self, key, task=None):
        state = self.env.reset(key, task=task)
        zero = jnp.zeros_like(state.reward, jnp.float32)
        info = dict(state.info, running_return=zero, running_cost=zero, running_length=zero,
                    episode_return=zero, episode_cost=zero, episode_length=zero)
        return state.replace(info=info)

    def step(self, state, action):
        state = self.env.step(state, action)
        info = state.info
        ret = info["running_return"] + state.reward
        cost = info["running_cost"] + state.cost
        length = info["running_length"] + 1.0
        done = state.done > 0.5
        keep = 1.0 - state.done
        info = dict(
            info,
            running_return=ret * keep, running_cost=cost * keep, running_length=length * keep,
            episode_return=jnp.where(done, ret, info["episode_return"]),
            episode_cost=jnp.where(done, cost, info["episode_cost"]),
            episode_length=jnp.where(done, length, info["episode_length"]),
        )
        return state.replace(info=info)


class VmapWrapper(Wrapper):
    """A batch of independent envs: `reset(keys[B])`, `step(states, actions[B, A])`."""

    def reset(self, key, task=None):
        if key.ndim != 1:
            raise ValueError(
                f"VmapWrapper.reset takes a (num_envs,) batch of keys, got {key.shape}.")
        if task is None:
            return jax.vmap(lambda k: self.env.reset(k))(key)
        return jax.vmap(lambda k, t: self.env.reset(k, task=t))(key, task)

    def step(self, state, action):
        batch = state.reward.shape[0]
        expected = (batch, self.spec.action_size)
        if tuple(jnp.shape(action)) != expected:
            raise ValueError(
                f"{self.spec.name}: batched action has shape {tuple(jnp.shape(action))}, "
                f"expected {expected}."
            )
        return jax.vmap(self.env.step)(state, action)


def wrap_for_training(env: Env, episode_length: int | None = None,
                      resample_tasks: bool | None = None) -> Wrapper:
    """The standard stack: time limit, batch, auto-reset, episode statistics.

    The result takes `reset(keys[B])` and `step(states, actions[B, A])` like a `VmapWrapper`.
    `resample_tasks=None` follows the env's `draw_task_per_episode` attribute (e.g. a patient
    population draws a new patient at every reset); False keeps each env's task.
    """
    if resample_tasks is None:
        resample_tasks = bool(getattr(env, "draw_task_per_episode", False))
    env = VmapWrapper(EpisodeWrapper(env, episode_length))
    env = BatchAutoResetWrapper(env, resample_tasks=resample_tasks)
    return EpisodeStatsWrapper(env)


def wrap_for_eval(env: Env, episode_length: int | None = None) -> VmapWrapper:
    """Time limit and batching, no auto-reset: evaluation runs one episode per env and masks
    the steps after the first `done` itself (see `rlcore.loop.evaluate`)."""
    return VmapWrapper(EpisodeWrapper(env, episode_length))
