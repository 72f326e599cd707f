"""Planar walker (assets/walker.xml) on MJX and PEARL's walker with random parameters.

Observation (17): qpos[1:] (torso height z in m, torso angle, 6 joint angles; rad) then qvel
(9) clipped to [-10, 10] (Gym's Walker2d; entry 8 is the forward speed in m/s). Action (6):
motor commands in [-1, 1] times the gear (100 N m): right thigh, leg, foot, then left.
Control period 0.008 s (4 substeps of 0.002 s).

Envs:
  mjx/walker-run     v_x + 1 - 1e-3 |a|^2 (Gym Walker2d's weights); terminates when the
                     torso leaves 0.8 < z < 2.0 m or |angle| >= 1 rad.
  mjx/walker-params  PEARL's walker-rand-params: every body mass, body inertia entry, dof
                     damping and geom friction entry is scaled by 1.5^u, with one
                     u ~ U[-3, 3] per entry. Task (65,): u for body_mass (8), body_inertia
                     (8 x 3), dof_damping (9), geom_friction (8 x 3), flattened in that order.
                     Reward and termination as walker-run. As in PEARL (mujoco-py, no
                     mj_setConst), derived constants such as body_invweight0 stay nominal.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from envs.base import register
from envs.mjx.base import MjxEnv, load_mj_model

_LOG_SCALE_LIMIT = 3.0
_SCALE_BASE = 1.5


class WalkerRun(MjxEnv):
    """Walk forward (+x): reward = v_x + 1 - 1e-3 |a|^2."""

    ctrl_cost_weight = 1e-3
    healthy_reward = 1.0
    healthy_z_range = (0.8, 2.0)
    healthy_angle = 1.0

    def __init__(self, name: str = "mjx/walker-run", episode_length: int = 1000,
                 task_size: int = 0):
        super().__init__(name=name, xml_file="walker.xml", obs_size=17, n_frames=4,
                         episode_length=episode_length, task_size=task_size)

    def init_qpos_qvel(self, key, task):
        """Gym Walker2d's initial noise: qpos0 + U(-5e-3, 5e-3), qvel U(-5e-3, 5e-3)."""
        del task
        key_pos, key_vel = jax.random.split(key)
        qpos = self.mjx_model.qpos0 + jax.random.uniform(
            key_pos, (self.mj_model.nq,), minval=-5e-3, maxval=5e-3)
        qvel = jax.random.uniform(key_vel, (self.mj_model.nv,), minval=-5e-3, maxval=5e-3)
        return qpos, qvel

    def observe(self, data, task):
        del task
        return jnp.concatenate([data.qpos[1:], jnp.clip(data.qvel, -10.0, 10.0)])

    def reward_fn(self, obs, action, next_obs, task):
        del obs, task
        return (next_obs[8] + self.healthy_reward
                - self.ctrl_cost_weight * jnp.sum(jnp.square(action)))

    def done_fn(self, next_obs, task):
        del task
        z, angle = next_obs[0], next_obs[1]
        low, high = self.healthy_z_range
        healthy = (z > low) & (z < high) & (jnp.abs(angle) < self.healthy_angle)
        return 1.0 - healthy.astype(jnp.float32)

    def step_info(self, data, task):
        del task
        return {"x_position": data.qpos[0], "x_velocity": data.qvel[0]}


class WalkerParams(WalkerRun):
    """Walker whose masses, inertias, damping and friction are scaled by 1.5^u (PEARL)."""

    FIELDS = ("body_mass", "body_inertia", "dof_damping", "geom_friction")

    def __init__(self, episode_length: int = 200):
        mj_model = load_mj_model("walker.xml")
        task_size = sum(int(getattr(mj_model, name).size) for name in self.FIELDS)
        super().__init__("mjx/walker-params", episode_length, task_size=task_size)
        self._fields = {name: getattr(self.mjx_model, name) for name in self.FIELDS}

    def sample_task(self, key):
        return jax.random.uniform(key, (self.spec.task_size,), minval=-_LOG_SCALE_LIMIT,
                                  maxval=_LOG_SCALE_LIMIT)

    def task_in_range(self, task):
        return jnp.all(jnp.abs(task) <= _LOG_SCALE_LIMIT + 1e-6)

    def task_range_doc(self):
        return f"every log-1.5 scale u in [-{_LOG_SCALE_LIMIT}, {_LOG_SCALE_LIMIT}]"

    def split_task(self, task: jax.Array) -> dict[str, jax.Array]:
        """The task vector as {field name: u with the field's shape}."""
        out, start = {}, 0
        for name in self.FIELDS:
            nominal = self._fields[name]
            out[name] = task[start:start + nominal.size].reshape(nominal.shape)
            start += nominal.size
        return out

    def task_model(self, task, time_s):
        del time_s
        scaled = {name: self._fields[name] * (_SCALE_BASE ** u).astype(self._fields[name].dtype)
                  for name, u in self.split_task(task).items()}
        return self.mjx_model.replace(**scaled)


register("mjx/walker-run", WalkerRun)
register("mjx/walker-params", WalkerParams)
