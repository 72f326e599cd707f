"""Ant (assets/ant.xml) on MJX and its task families.

Observation (27): qpos[2:] (torso z in m, torso quaternion, 8 joint angles in rad) then qvel
(14; entries 13, 14 are the torso's world-frame x, y velocity in m/s). `mjx/ant-goal` also
observes the torso's x, y position: (29) = qpos (15) then qvel (14). Action (8): motor
commands in [-1, 1] times the gear (150), ordered hip, ankle for legs 0..3 (front left,
front right, back left, back right). Control period 0.05 s (5 substeps of 0.01 s).
Rewards read velocities and positions from the *next* observation, so `reward_fn` is exact
(Gym measures the velocity as a finite difference of positions instead).

Envs:
  mjx/ant-run           v_x + 1 - 0.5 |a|^2 (Gym Ant-v4's weights, no contact cost);
                        terminates when the torso leaves 0.2 <= z <= 1.0 m.
  mjx/ant-dir           task (theta,), theta ~ U[0, 2 pi) rad: (v_x, v_y) . (cos, sin) + 1
                        - 0.5 |a|^2 (PEARL's ant-dir with any direction); same termination.
  mjx/ant-goal          task (g_x, g_y), uniform in the disc of radius 3 m: -|xy - g|_1
                        - 0.1 |a|^2 (PEARL's ant-goal); never terminates.
  mjx/ant-crippled-leg  task (leg,): the leg's two motors give no force (Nagabandi et al.
                        2019). Train split: legs 0, 1, 2; test split: leg 3, never crippled in
                        training (`envs.make("mjx/ant-crippled-leg", split="test")`).
                        Reward and termination as ant-run.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from envs.base import register
from envs.mjx.base import MjxEnv, check_split, gains_without

_NUM_LEGS = 4


class AntRun(MjxEnv):
    """Run forward (+x): reward = v_x + healthy_reward - ctrl_cost_weight |a|^2."""

    ctrl_cost_weight = 0.5
    healthy_reward = 1.0
    healthy_z_range = (0.2, 1.0)
    terminate_when_unhealthy = True
    include_xy = False

    def __init__(self, name: str = "mjx/ant-run", episode_length: int = 1000,
                 task_size: int = 0):
        super().__init__(name=name, xml_file="ant.xml", obs_size=29 if self.include_xy else 27,
                         n_frames=5, episode_length=episode_length, task_size=task_size)
        self._offset = 2 if self.include_xy else 0

    def init_qpos_qvel(self, key, task):
        """The "home" keyframe + U(-0.1, 0.1) on positions and joint angles (not on the
        quaternion: an unnormalised one is another rotation), qvel 0.1 N(0, 1)."""
        del task
        key_pos, key_vel = jax.random.split(key)
        noise = jax.random.uniform(key_pos, (self.mj_model.nq,), minval=-0.1, maxval=0.1)
        noise = noise.at[3:7].set(0.0)
        qvel = 0.1 * jax.random.normal(key_vel, (self.mj_model.nv,))
        return self.qpos_home + noise, qvel

    def observe(self, data, task):
        del task
        return jnp.concatenate([data.qpos[0 if self.include_xy else 2:], data.qvel])

    def height(self, obs: jax.Array) -> jax.Array:
        """Torso z (m)."""
        return obs[self._offset]

    def xy_velocity(self, obs: jax.Array) -> jax.Array:
        """Torso (v_x, v_y) in the world frame (m/s)."""
        start = 13 + self._offset
        return obs[start:start + 2]

    def ctrl_cost(self, action: jax.Array) -> jax.Array:
        return self.ctrl_cost_weight * jnp.sum(jnp.square(action))

    def reward_fn(self, obs, action, next_obs, task):
        del obs, task
        return self.xy_velocity(next_obs)[0] + self.healthy_reward - self.ctrl_cost(action)

    def done_fn(self, next_obs, task):
        del task
        if not self.terminate_when_unhealthy:
            return jnp.zeros((), jnp.float32)
        z = self.height(next_obs)
        low, high = self.healthy_z_range
        return ((z < low) | (z > high)).astype(jnp.float32)

    def step_info(self, data, task):
        del task
        return {"x_position": data.qpos[0], "y_position": data.qpos[1],
                "x_velocity": data.qvel[0]}


class AntDir(AntRun):
    """PEARL's ant-dir: run in the direction theta (rad), reward = v . (cos, sin) + 1 - ctrl."""

    def __init__(self, episode_length: int = 200):
        super().__init__("mjx/ant-dir", episode_length, task_size=1)

    def sample_task(self, key):
        return jax.random.uniform(key, (1,), minval=0.0, maxval=2.0 * jnp.pi)

    def task_in_range(self, task):
        return (task[0] >= 0.0) & (task[0] < 2.0 * jnp.pi)

    def task_range_doc(self):
        return "direction angle in [0, 2 pi) rad"

    def reward_fn(self, obs, action, next_obs, task):
        del obs
        direction = jnp.stack([jnp.cos(task[0]), jnp.sin(task[0])])
        return (jnp.dot(self.xy_velocity(next_obs), direction) + self.healthy_reward
                - self.ctrl_cost(action))


class AntGoal(AntRun):
    """PEARL's ant-goal: reach the goal g (m), reward = -|xy - g|_1 - 0.1 |a|^2."""

    ctrl_cost_weight = 0.1
    healthy_reward = 0.0
    terminate_when_unhealthy = False
    include_xy = True

    def __init__(self, episode_length: int = 200, radius_m: float = 3.0):
        if radius_m <= 0:
            raise ValueError(f"radius_m must be > 0, got {radius_m}.")
        self.radius_m = float(radius_m)
        super().__init__("mjx/ant-goal", episode_length, task_size=2)

    def sample_task(self, key):
        key_angle, key_radius = jax.random.split(key)
        angle = jax.random.uniform(key_angle, (), minval=0.0, maxval=2.0 * jnp.pi)
        # sqrt of a uniform: uniform in area, as PEARL's `3 * random() ** 0.5`.
        radius = self.radius_m * jnp.sqrt(jax.random.uniform(key_radius, ()))
        return radius * jnp.stack([jnp.cos(angle), jnp.sin(angle)])

    def task_in_range(self, task):
        return jnp.sum(jnp.square(task)) <= (self.radius_m + 1e-5) ** 2

    def task_range_doc(self):
        return f"goal (x, y) in the disc of radius {self.radius_m} m"

    def reward_fn(self, obs, action, next_obs, task):
        del obs
        return -jnp.sum(jnp.abs(next_obs[0:2] - task)) - self.ctrl_cost(action)


class AntCrippledLeg(AntRun):
    """One leg's two motors give no force (GrBAL/ReBAL's crippled leg)."""

    TRAIN_LEGS = (0, 1, 2)
    TEST_LEGS = (3,)

    def __init__(self, split: str = "train", episode_length: int = 1000):
        self.split = check_split(split)
        self.legs = self.TRAIN_LEGS if split == "train" else self.TEST_LEGS
        super().__init__("mjx/ant-crippled-leg", episode_length, task_size=1)
        self._gain0 = self.mjx_model.actuator_gainprm

    def sample_task(self, key):
        return jax.random.choice(key, jnp.asarray(self.legs, jnp.float32))[None]

    def task_in_range(self, task):
        return jnp.any(task[0] == jnp.asarray(self.legs, jnp.float32))

    def task_range_doc(self):
        return f"crippled leg in {list(self.legs)} for split {self.split!r}"

    def task_model(self, task, time_s):
        del time_s
        leg_of_actuator = jnp.arange(2 * _NUM_LEGS) // 2
        return gains_without(self.mjx_model, leg_of_actuator == task[0], self._gain0)


register("mjx/ant-run", AntRun)
register("mjx/ant-dir", AntDir)
register("mjx/ant-goal", AntGoal)
register("mjx/ant-crippled-leg", AntCrippledLeg)
