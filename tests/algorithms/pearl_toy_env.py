"""A tiny pure-JAX task family for PEARL tests and benchmarks: 2-D point navigation.

Oyster's point robot (Rakelly et al. 2019, appendix): a point starts at the origin, an action
in [-1, 1]^2 moves it by `max_step * action` (0.1: oyster's [-0.1, 0.1] box, normalised to
[-1, 1] as oyster's `NormalizedBoxEnv` does, so SAC's entropy target -|A| is attainable),
and the task is a goal on the upper half of the unit circle, angle ~ U[0, pi]. Observation:
the position `(x, y)`.

Rewards (computed at the new position, d = distance to the goal):
  dense:  r = -d
  sparse: r = 1 - d inside the goal radius (0.2 by default) and 0 outside (oyster's
          `sparsify_rewards`: -d, set to -1 when d > radius, then +1).

The task vector `state.task` is the goal `(gx, gy)`; `sample_tasks` draws goals. Episodes never
terminate; `episode_length` (20, as in oyster) is applied by `envs.wrappers.EpisodeWrapper`.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from envs.base import EnvBase, EnvSpec, State


class PointGoal(EnvBase):
    def __init__(self, sparse: bool = False, goal_radius: float = 0.2,
                 max_step: float = 0.1, episode_length: int = 20):
        self.sparse, self.goal_radius, self.max_step = sparse, goal_radius, max_step
        name = "toy/point-goal-sparse" if sparse else "toy/point-goal"
        self.spec = EnvSpec(name=name, obs_size=2, action_size=2,
                            action_low=(-1.0,) * 2, action_high=(1.0,) * 2, dt=1.0,
                            episode_length=episode_length, task_size=2)

    def sample_tasks(self, key: jax.Array, num_tasks: int) -> jax.Array:
        """Goals `(num_tasks, 2)` on the upper unit half circle."""
        angle = jax.random.uniform(key, (num_tasks,), minval=0.0, maxval=jnp.pi)
        return jnp.stack([jnp.cos(angle), jnp.sin(angle)], axis=-1).astype(jnp.float32)

    def reward(self, position: jax.Array, goal: jax.Array) -> jax.Array:
        distance = jnp.linalg.norm(position - goal)
        if self.sparse:
            return jnp.where(distance <= self.goal_radius, 1.0 - distance, 0.0)
        return -distance

    def reset(self, key, task=None):
        if task is None:
            task = self.sample_tasks(key, 1)[0]
        zero = jnp.zeros((), jnp.float32)
        position = jnp.zeros((2,), jnp.float32)
        return State(env_state=position, obs=position, reward=zero, cost=zero, done=zero,
                     info={"nan_actions": zero}, task=jnp.asarray(task, jnp.float32))

    def step(self, state, action):
        action, had_nan = self.check_action(action)
        position = state.env_state + self.max_step * jnp.clip(action, -1.0, 1.0)
        info = dict(state.info, nan_actions=state.info["nan_actions"] + had_nan)
        return state.replace(env_state=position, obs=position,
                             reward=self.reward(position, state.task).astype(jnp.float32),
                             done=jnp.zeros((), jnp.float32), info=info)
