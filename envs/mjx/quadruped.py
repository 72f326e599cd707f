"""`mjx/quadruped-walk`: a Minitaur-like quadruped (assets/quadruped.xml) on MJX.

Eight position-controlled leg motors (hip swing and knee extension per leg); the action is
the eight joint targets in rad, offsets from the standing pose, in the actuators' ctrlrange
[-0.8, 0.8]. A NaN or infinite entry becomes 0 (hold the standing pose), a finite one outside
the range is clipped; `info["nan_actions"]` counts both since reset (`EnvBase.check_action`).

Observation (27,), float32, indices fixed (`OBS_*` below):
  0      torso height z (m)
  1, 2   body roll, pitch (rad; ZYX Euler angles of the torso quaternion)
  3, 4   cos(yaw), sin(yaw)
  5..7   torso linear velocity, world frame (m/s)
  8..10  torso angular velocity, world frame (rad/s)
  11..18 joint angles (rad), 19..26 joint velocities (rad/s)

Reward, in the customary Gym form (as for Ant and HalfCheetah):
  r = v_x - ctrl_cost_weight * |a|^2 + healthy_reward
with v_x the torso's forward (world x) velocity. Safety cost (Ha et al. 2020, "Learning to
walk in the real world with minimal human effort", Sec. 4): `cost = 1` when
|pitch| > pitch_limit (pi/12) or |roll| > roll_limit (pi/6), else 0. The episode terminates
when the robot has fallen (torso tilted past 60 degrees or below 8 cm), since the model keeps
only foot/floor contacts (an upturned torso would sink through the floor). With
`fall_cost_remaining_steps` the fall's step costs one violation for itself and for every
step left in the episode, so that ending the episode never saves cost.
`info` carries roll, pitch, yaw (rad) and the torso's x, y (m) for the wrappers in
`envs.mjx.legged_wrappers` (workspace and task scheduler).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from envs.base import register
from envs.mjx.base import MjxEnv

OBS_SIZE = 27
OBS_HEIGHT, OBS_ROLL, OBS_PITCH, OBS_COS_YAW, OBS_SIN_YAW = 0, 1, 2, 3, 4
OBS_LIN_VEL = slice(5, 8)
OBS_ANG_VEL = slice(8, 11)
OBS_JOINT_POS = slice(11, 19)
OBS_JOINT_VEL = slice(19, 27)

PITCH_LIMIT_RAD = jnp.pi / 12  # Ha et al. 2020
ROLL_LIMIT_RAD = jnp.pi / 6


def quat_to_rpy(quat: jax.Array) -> jax.Array:
    """(w, x, y, z) unit quaternion -> (roll, pitch, yaw) in rad, ZYX (yaw-pitch-roll) order."""
    w, x, y, z = quat[..., 0], quat[..., 1], quat[..., 2], quat[..., 3]
    roll = jnp.arctan2(2.0 * (w * x + y * z), 1.0 - 2.0 * (x * x + y * y))
    pitch = jnp.arcsin(jnp.clip(2.0 * (w * y - z * x), -1.0, 1.0))
    yaw = jnp.arctan2(2.0 * (w * z + x * y), 1.0 - 2.0 * (y * y + z * z))
    return jnp.stack([roll, pitch, yaw], axis=-1)


def quat_rotate(quat: jax.Array, vec: jax.Array) -> jax.Array:
    """Rotates `vec` (3,) by the unit quaternion (w, x, y, z): body frame -> world frame."""
    w, u = quat[0], quat[1:4]
    t = 2.0 * jnp.cross(u, vec)
    return vec + w * t + jnp.cross(u, t)


def rpy_to_quat(roll: float, pitch: float, yaw: float) -> jax.Array:
    """Inverse of `quat_to_rpy` (ZYX): q = q_z(yaw) q_y(pitch) q_x(roll), (w, x, y, z)."""
    cr, sr = jnp.cos(roll / 2), jnp.sin(roll / 2)
    cp, sp = jnp.cos(pitch / 2), jnp.sin(pitch / 2)
    cy, sy = jnp.cos(yaw / 2), jnp.sin(yaw / 2)
    return jnp.stack([cr * cp * cy + sr * sp * sy, sr * cp * cy - cr * sp * sy,
                      cr * sp * cy + sr * cp * sy, cr * cp * sy - sr * sp * cy])


def heading_velocity(obs: jax.Array) -> jax.Array:
    """(v_forward, v_left, yaw_rate) of the torso in its heading frame, from an observation.

    The world-frame planar velocity rotated by -yaw (m/s), and the world z angular velocity
    (rad/s). Used by the task-weighted reward of `envs.mjx.legged_wrappers`.
    """
    c, s = obs[..., OBS_COS_YAW], obs[..., OBS_SIN_YAW]
    vx, vy = obs[..., OBS_LIN_VEL.start], obs[..., OBS_LIN_VEL.start + 1]
    return jnp.stack([c * vx + s * vy, -s * vx + c * vy, obs[..., OBS_ANG_VEL.start + 2]],
                     axis=-1)


class QuadrupedWalk(MjxEnv):
    """Walk forward (+x) as fast as possible; cost on pitch/roll bound violations.

    Args:
      n_frames: physics steps (4 ms) per control step; default 5, a 50 Hz controller.
      ctrl_cost_weight: weight of |a|^2 (a in rad).
      healthy_reward: reward per step while not fallen (0 by default).
      pitch_limit_rad, roll_limit_rad: the safety bounds (Ha et al. 2020: pi/12, pi/6).
      terminate_when_fallen: end the episode when tilted past 60 degrees or below 8 cm.
      init_xy_half_range_m: initial torso x, y uniform in [-r, r] (0: at the origin).
      random_initial_yaw: initial heading uniform in [-pi, pi) (else facing +x).
      episode_length: control steps per episode.
      fall_cost_remaining_steps: a fall costs one violation for this step and every step left
        in the episode (as if the robot lay tilted until the time limit), instead of this
        step's 1. A fall ends the episode, and with it the cost sum: without this, a
        constrained learner can escape its violations by falling early (seen on
        `mjx/quadruped-multitask`, where episodes shrank to 40 steps while lambda grew).
        Off by default here (Ha et al.'s per-step count; at 100k steps it made every
        SAC-Lagrangian seed stop walking, `benchmarks/sac_lagrangian_compare.md`), on for
        `mjx/quadruped-multitask`. Ignored when falls do not end the episode.
    """

    def __init__(self, n_frames: int = 5, ctrl_cost_weight: float = 0.05,
                 healthy_reward: float = 0.0, pitch_limit_rad: float = float(PITCH_LIMIT_RAD),
                 roll_limit_rad: float = float(ROLL_LIMIT_RAD),
                 terminate_when_fallen: bool = True, init_xy_half_range_m: float = 0.0,
                 random_initial_yaw: bool = False, episode_length: int = 1000,
                 fall_cost_remaining_steps: bool = False, name: str = "mjx/quadruped-walk"):
        for field, value in (("pitch_limit_rad", pitch_limit_rad),
                             ("roll_limit_rad", roll_limit_rad)):
            if not 0.0 < value <= jnp.pi / 2:
                raise ValueError(f"{field} must be in (0, pi/2], got {value}.")
        if ctrl_cost_weight < 0:
            raise ValueError(f"ctrl_cost_weight must be >= 0, got {ctrl_cost_weight}.")
        if init_xy_half_range_m < 0:
            raise ValueError(f"init_xy_half_range_m must be >= 0, got {init_xy_half_range_m}.")
        super().__init__(name=name, xml_file="quadruped.xml", obs_size=OBS_SIZE,
                         n_frames=n_frames, episode_length=episode_length)
        self.ctrl_cost_weight = float(ctrl_cost_weight)
        self.healthy_reward = float(healthy_reward)
        self.pitch_limit_rad = float(pitch_limit_rad)
        self.roll_limit_rad = float(roll_limit_rad)
        self.terminate_when_fallen = bool(terminate_when_fallen)
        self.init_xy_half_range_m = float(init_xy_half_range_m)
        self.random_initial_yaw = bool(random_initial_yaw)
        # Only a fall that ends the episode truncates the cost sum.
        self.fall_cost_remaining_steps = bool(fall_cost_remaining_steps) and (
            self.terminate_when_fallen)

    def step(self, state, action):
        next_state = super().step(state, action)
        if not self.fall_cost_remaining_steps:
            return next_state
        # Steps taken so far, this one included, from the simulated time (0 at reset).
        steps = jnp.round(next_state.env_state.time / self.spec.dt)
        remaining = jnp.maximum(self.spec.episode_length - steps, 0.0)
        fell = has_fallen(next_state.obs)
        cost = jnp.where(fell, 1.0 + remaining, next_state.cost).astype(jnp.float32)
        return next_state.replace(cost=cost)

    # Leg joints are qpos[7:15] / qvel[6:14]; the torso's free joint comes first.
    def init_qpos_qvel(self, key, task):
        del task
        key_xy, key_yaw, key_joint, key_vel = jax.random.split(key, 4)
        qpos0 = self.mjx_model.qpos0
        xy = qpos0[:2] + jax.random.uniform(key_xy, (2,), minval=-1.0, maxval=1.0) * (
            self.init_xy_half_range_m)
        yaw = jnp.where(self.random_initial_yaw,
                        jax.random.uniform(key_yaw, (), minval=-jnp.pi, maxval=jnp.pi), 0.0)
        quat = rpy_to_quat(0.0, 0.0, yaw)
        # Small joint noise around the standing pose (no noise on the torso orientation: an
        # unnormalised quaternion would be a different rotation).
        joints = qpos0[7:] + jax.random.uniform(key_joint, (8,), minval=-0.05, maxval=0.05)
        qpos = jnp.concatenate([xy, qpos0[2:3], quat, joints])
        qvel = jnp.concatenate([jnp.zeros(6), 0.05 * jax.random.normal(key_vel, (8,))])
        return qpos, qvel

    def observe(self, data, task):
        del task
        quat = data.qpos[3:7]
        rpy = quat_to_rpy(quat)
        # Free-joint qvel: linear velocity in the world frame, angular in the body frame.
        # From the quaternion, not data.xmat: reset states carry no forward pass (see
        # MjxEnv.pipeline_init), so only qpos/qvel are valid there.
        ang_vel_world = quat_rotate(quat, data.qvel[3:6])
        return jnp.concatenate([
            data.qpos[2:3], rpy[:2], jnp.cos(rpy[2:3]), jnp.sin(rpy[2:3]), data.qvel[0:3],
            ang_vel_world, data.qpos[7:15], data.qvel[6:14]])

    def reward_fn(self, obs, action, next_obs, task):
        del obs, task
        forward_velocity = next_obs[..., OBS_LIN_VEL.start]
        ctrl_cost = self.ctrl_cost_weight * jnp.sum(jnp.square(action), axis=-1)
        return forward_velocity - ctrl_cost + self.healthy_reward

    def cost_fn(self, obs, action, next_obs, task):
        del obs, action, task
        return safety_cost(next_obs, self.pitch_limit_rad, self.roll_limit_rad)

    def done_fn(self, next_obs, task):
        del task
        if not self.terminate_when_fallen:
            return jnp.zeros((), jnp.float32)
        return has_fallen(next_obs).astype(jnp.float32)

    def step_info(self, data, task):
        del task
        rpy = quat_to_rpy(data.qpos[3:7])
        return {"roll": rpy[0], "pitch": rpy[1], "yaw": rpy[2],
                "x": data.qpos[0], "y": data.qpos[1]}


def safety_cost(obs: jax.Array, pitch_limit_rad: float = float(PITCH_LIMIT_RAD),
                roll_limit_rad: float = float(ROLL_LIMIT_RAD)) -> jax.Array:
    """1.0 where |pitch| > pitch_limit or |roll| > roll_limit (strict), else 0.0."""
    violated = (jnp.abs(obs[..., OBS_PITCH]) > pitch_limit_rad) | (
        jnp.abs(obs[..., OBS_ROLL]) > roll_limit_rad)
    return violated.astype(jnp.float32)


def has_fallen(obs: jax.Array) -> jax.Array:
    """Torso tilted more than 60 degrees (body z axis . world z < 0.5) or below 8 cm."""
    up_z = jnp.cos(obs[..., OBS_ROLL]) * jnp.cos(obs[..., OBS_PITCH])
    return (up_z < 0.5) | (obs[..., OBS_HEIGHT] < 0.08)


register("mjx/quadruped-walk", lambda **kw: QuadrupedWalk(**kw))
