"""Planar half-cheetah on MJX and its task families.

Observation (17): qpos[1:] (root z, root pitch, 6 joint angles; rad, m) then qvel (9; the
first entry is the forward speed in m/s). Action (6): motor commands in [-1, 1], times the
gears (120, 90, 60, 120, 60, 30 N m). Control period 0.05 s (5 substeps of 0.01 s).
Rewards use the forward speed of the *next* observation, so `reward_fn` is exact.

Envs:
  mjx/cheetah-run             v - 0.1 |a|^2 (Gym HalfCheetah's weights).
  mjx/cheetah-vel             task (v*,), v* ~ U[0, 3] m/s: -|v - v*| - 0.05 |a|^2 (PEARL).
  mjx/cheetah-dir             task (d,), d in {-1, +1}: d v - 0.05 |a|^2 (PEARL).
  mjx/cheetah-disabled-joint  task (joint_before, joint_after, switch_time_s): the actuator
                              `joint_before` (index 0..5) has zero gain until `switch_time_s`,
                              then `joint_after`. Train split: joints 0..4, no switch; test
                              split: joint 5, unseen in training (Nagabandi et al. 2019).
                              `switch_mid_episode=True` draws joint_before from the training
                              joints and switches to a joint of the split mid-episode.
  mjx/cheetah-slope           task (slope_rad,): gravity tilted by the slope (positive =
                              uphill for forward running). Train |slope| <= 0.1 rad; test
                              0.15 <= |slope| <= 0.3 rad (steeper than any training slope).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from envs.base import register
from envs.mjx.base import MjxEnv, check_split, gains_without

_GRAVITY_M_S2 = 9.81
_NUM_ACTUATORS = 6
_NO_SWITCH_S = 1.0e9  # switch time meaning "never"


class CheetahRun(MjxEnv):
    """Forward running: reward = v - ctrl_cost_weight |a|^2."""

    ctrl_cost_weight = 0.1

    def __init__(self, name: str = "mjx/cheetah-run", episode_length: int = 1000,
                 task_size: int = 0):
        super().__init__(name=name, xml_file="cheetah.xml", obs_size=17, n_frames=5,
                         episode_length=episode_length, task_size=task_size)

    def observe(self, data, task):
        del task
        return jnp.concatenate([data.qpos[1:], data.qvel])

    @staticmethod
    def forward_speed(obs: jax.Array) -> jax.Array:
        """Root x velocity (m/s) from an observation."""
        return obs[8]

    def ctrl_cost(self, action: jax.Array) -> jax.Array:
        return self.ctrl_cost_weight * jnp.sum(jnp.square(action))

    def reward_fn(self, obs, action, next_obs, task):
        del obs, task
        return self.forward_speed(next_obs) - self.ctrl_cost(action)

    def step_info(self, data, task):
        del task
        return {"x_position": data.qpos[0], "x_velocity": data.qvel[0]}


class CheetahVel(CheetahRun):
    """PEARL's cheetah-vel: track a target speed v* ~ U[0, max_speed]."""

    ctrl_cost_weight = 0.05

    def __init__(self, episode_length: int = 200, max_speed: float = 3.0):
        if max_speed <= 0:
            raise ValueError(f"max_speed must be > 0 m/s, got {max_speed}.")
        self.max_speed = float(max_speed)
        super().__init__("mjx/cheetah-vel", episode_length, task_size=1)

    def sample_task(self, key):
        return jax.random.uniform(key, (1,), minval=0.0, maxval=self.max_speed)

    def task_in_range(self, task):
        return (task[0] >= 0.0) & (task[0] <= self.max_speed)

    def task_range_doc(self):
        return f"target speed in [0, {self.max_speed}] m/s"

    def reward_fn(self, obs, action, next_obs, task):
        del obs
        return -jnp.abs(self.forward_speed(next_obs) - task[0]) - self.ctrl_cost(action)


class CheetahDir(CheetahRun):
    """PEARL's cheetah-dir: run forward (d = +1) or backward (d = -1)."""

    ctrl_cost_weight = 0.05

    def __init__(self, episode_length: int = 200):
        super().__init__("mjx/cheetah-dir", episode_length, task_size=1)

    def sample_task(self, key):
        return jnp.where(jax.random.bernoulli(key), 1.0, -1.0)[None]

    def task_in_range(self, task):
        return jnp.abs(task[0]) == 1.0

    def task_range_doc(self):
        return "direction in {-1, +1}"

    def reward_fn(self, obs, action, next_obs, task):
        del obs
        return task[0] * self.forward_speed(next_obs) - self.ctrl_cost(action)


class CheetahDisabledJoint(CheetahRun):
    """One actuator produces no force (its gain is 0 in the task's model)."""

    TRAIN_JOINTS = (0, 1, 2, 3, 4)
    TEST_JOINTS = (5,)

    def __init__(self, split: str = "train", switch_mid_episode: bool = False,
                 episode_length: int = 1000):
        self.split = check_split(split)
        self.switch_mid_episode = bool(switch_mid_episode)
        self.joints = self.TRAIN_JOINTS if split == "train" else self.TEST_JOINTS
        super().__init__("mjx/cheetah-disabled-joint", episode_length, task_size=3)
        self._gain0 = self.mjx_model.actuator_gainprm

    def sample_task(self, key):
        key_before, key_after, key_time = jax.random.split(key, 3)
        after = jax.random.choice(key_after, jnp.asarray(self.joints, jnp.float32))
        if not self.switch_mid_episode:
            return jnp.stack([after, after, jnp.float32(_NO_SWITCH_S)])
        before = jax.random.choice(key_before, jnp.asarray(self.TRAIN_JOINTS, jnp.float32))
        duration_s = self.spec.episode_length * self.spec.dt
        switch_s = jax.random.uniform(key_time, (), minval=0.25 * duration_s,
                                      maxval=0.75 * duration_s)
        return jnp.stack([before, after, switch_s])

    def task_in_range(self, task):
        def member(x, allowed):
            return jnp.any(x == jnp.asarray(allowed, jnp.float32))

        allowed_before = tuple(sorted(set(self.TRAIN_JOINTS) | set(self.joints)))
        return member(task[0], allowed_before) & member(task[1], self.joints) & (task[2] >= 0)

    def task_range_doc(self):
        return (f"(joint_before in {sorted(set(self.TRAIN_JOINTS) | set(self.joints))}, "
                f"joint_after in {list(self.joints)}, switch_time_s >= 0) for split "
                f"{self.split!r}")

    def disabled_joint(self, task, time_s):
        """Index (float) of the actuator without force at simulation time `time_s`."""
        return jnp.where(time_s < task[2], task[0], task[1])

    def task_model(self, task, time_s):
        idx = self.disabled_joint(task, time_s)
        return gains_without(self.mjx_model, jnp.arange(_NUM_ACTUATORS) == idx, self._gain0)


class CheetahSlope(CheetahRun):
    """Running on a slope, simulated by tilting gravity in the x-z plane."""

    TRAIN_MAX_RAD = 0.1
    TEST_RANGE_RAD = (0.15, 0.3)

    def __init__(self, split: str = "train", episode_length: int = 1000):
        self.split = check_split(split)
        super().__init__("mjx/cheetah-slope", episode_length, task_size=1)

    def sample_task(self, key):
        if self.split == "train":
            return jax.random.uniform(key, (1,), minval=-self.TRAIN_MAX_RAD,
                                      maxval=self.TRAIN_MAX_RAD)
        key_sign, key_mag = jax.random.split(key)
        mag = jax.random.uniform(key_mag, (1,), minval=self.TEST_RANGE_RAD[0],
                                 maxval=self.TEST_RANGE_RAD[1])
        return jnp.where(jax.random.bernoulli(key_sign), mag, -mag)

    def task_in_range(self, task):
        mag = jnp.abs(task[0])
        if self.split == "train":
            return mag <= self.TRAIN_MAX_RAD + 1e-6
        return (mag >= self.TEST_RANGE_RAD[0] - 1e-6) & (mag <= self.TEST_RANGE_RAD[1] + 1e-6)

    def task_range_doc(self):
        if self.split == "train":
            return f"|slope| <= {self.TRAIN_MAX_RAD} rad (train split)"
        return f"{self.TEST_RANGE_RAD[0]} <= |slope| <= {self.TEST_RANGE_RAD[1]} rad (test split)"

    def task_model(self, task, time_s):
        del time_s
        slope = task[0]
        # Uphill for +x running: gravity gains a -x component g sin(slope).
        gravity = _GRAVITY_M_S2 * jnp.stack([-jnp.sin(slope), 0.0 * slope, -jnp.cos(slope)])
        model = self.mjx_model
        return model.replace(opt=model.opt.replace(gravity=gravity.astype(np.float32)))


register("mjx/cheetah-run", CheetahRun)
register("mjx/cheetah-vel", CheetahVel)
register("mjx/cheetah-dir", CheetahDir)
register("mjx/cheetah-disabled-joint", CheetahDisabledJoint)
register("mjx/cheetah-slope", CheetahSlope)
