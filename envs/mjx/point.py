"""2-D point robot (assets/point.xml) on MJX: PEARL's point navigation, dense and sparse.

A 1 kg puck on x, y slide joints with viscous damping, no contacts. Observation (4):
(x, y) position in m, then (v_x, v_y) in m/s. Action (2): force commands in [-1, 1] times
the gear (5 N). Control period 0.1 s (5 substeps of 0.02 s). Episodes start at the origin at
rest and last 30 steps by default. The goal is the task, so `reward_fn` needs only the next
observation and the task.

Envs:
  mjx/point-goal         task (g_x, g_y) ~ U[-1, 1]^2 m: reward -|p - g| (PEARL's PointEnv).
  mjx/point-goal-sparse  goals on the upper half of the unit circle (angle ~ U[0, pi]);
                         reward 1 - |p - g| within `goal_radius_m` (0.2) of the goal, else 0
                         (PEARL's SparsePointEnv).

Info of every step: `distance` (m) to the goal, `success` (1 while the point is within
`goal_radius_m` of the goal, default 0.2 m, else 0) and `dense_reward` (-distance: the sparse
family's dense twin, which oyster's critic learns from while the context sees the sparse
reward; see `algorithms.pearl.Config.critic_reward_key`).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from envs.base import register
from envs.mjx.base import MjxEnv


class PointGoal(MjxEnv):
    """Reach a goal in the square [-1, 1]^2: reward = -distance (m)."""

    def __init__(self, name: str = "mjx/point-goal", episode_length: int = 30,
                 goal_radius_m: float = 0.2):
        if goal_radius_m <= 0:
            raise ValueError(f"goal_radius_m must be > 0, got {goal_radius_m}.")
        self.goal_radius_m = float(goal_radius_m)
        super().__init__(name=name, xml_file="point.xml", obs_size=4, n_frames=5,
                         episode_length=episode_length, task_size=2)

    def init_qpos_qvel(self, key, task):
        del key, task
        return jnp.zeros((2,)), jnp.zeros((2,))

    def observe(self, data, task):
        del task
        return jnp.concatenate([data.qpos, data.qvel])

    def distance(self, obs: jax.Array, task: jax.Array) -> jax.Array:
        """Euclidean distance (m) from the point to the goal."""
        return jnp.sqrt(jnp.sum(jnp.square(obs[0:2] - task)))

    def sample_task(self, key):
        return jax.random.uniform(key, (2,), minval=-1.0, maxval=1.0)

    def task_in_range(self, task):
        return jnp.all(jnp.abs(task) <= 1.0)

    def task_range_doc(self):
        return "goal (x, y) in [-1, 1]^2 m"

    def reward_fn(self, obs, action, next_obs, task):
        del obs, action
        return -self.distance(next_obs, task)

    def step_info(self, data, task):
        """`distance` (m), `success` (1 within `goal_radius_m`) and `dense_reward` (-distance)."""
        distance = jnp.sqrt(jnp.sum(jnp.square(data.qpos - task)))
        return {"distance": distance,
                "success": (distance <= self.goal_radius_m).astype(jnp.float32),
                "dense_reward": -distance}


class PointGoalSparse(PointGoal):
    """Goals on the upper unit half circle; reward 1 - distance only within the goal radius."""

    def __init__(self, episode_length: int = 30, goal_radius_m: float = 0.2):
        super().__init__("mjx/point-goal-sparse", episode_length, goal_radius_m)

    def sample_task(self, key):
        angle = jax.random.uniform(key, (), minval=0.0, maxval=jnp.pi)
        return jnp.stack([jnp.cos(angle), jnp.sin(angle)])

    def task_in_range(self, task):
        on_circle = jnp.abs(jnp.sqrt(jnp.sum(jnp.square(task))) - 1.0) <= 1e-4
        return on_circle & (task[1] >= -1e-6)

    def task_range_doc(self):
        return "goal on the upper half of the unit circle (|g| = 1 m, g_y >= 0)"

    def reward_fn(self, obs, action, next_obs, task):
        del obs, action
        distance = self.distance(next_obs, task)
        return jnp.where(distance <= self.goal_radius_m, 1.0 - distance, 0.0)


register("mjx/point-goal", PointGoal)
register("mjx/point-goal-sparse", PointGoalSparse)
