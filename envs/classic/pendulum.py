"""Gymnasium's Pendulum-v1 as a pure JAX environment.

Same dynamics, reward, bounds and 200-step episodes as `gymnasium.envs.classic_control.
PendulumEnv`: th'' = 3g/(2l) sin(th) + 3/(m l^2) u, semi-implicit Euler at dt = 0.05 s,
angular speed clipped to +-8 rad/s, torque u in [-2, 2] N m, reward
-(normalise(th)^2 + 0.1 th'^2 + 0.001 u^2). Observation (cos th, sin th, th').
Hostile actions (`EnvBase.check_action`): a NaN or infinite torque is applied as 0, a finite one
outside [-2, 2] is clipped; `info["nan_actions"]` counts such entries since reset.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import struct

from envs.base import EnvBase, EnvSpec, State


@struct.dataclass
class PendulumState:
    theta: jax.Array  # rad, 0 = upright
    theta_dot: jax.Array  # rad/s


def angle_normalize(x: jax.Array) -> jax.Array:
    """Wraps an angle to [-pi, pi)."""
    return ((x + jnp.pi) % (2 * jnp.pi)) - jnp.pi


class Pendulum(EnvBase):
    def __init__(self, max_speed: float = 8.0, max_torque: float = 2.0, dt: float = 0.05,
                 g: float = 10.0, m: float = 1.0, length: float = 1.0,
                 episode_length: int = 200):
        self.max_speed, self.max_torque = max_speed, max_torque
        self.dt, self.g, self.m, self.length = dt, g, m, length
        self.spec = EnvSpec(name="classic/pendulum", obs_size=3, action_size=1,
                            action_low=(-max_torque,), action_high=(max_torque,), dt=dt,
                            episode_length=episode_length)

    def _obs(self, s: PendulumState) -> jax.Array:
        return jnp.stack([jnp.cos(s.theta), jnp.sin(s.theta), s.theta_dot]).astype(jnp.float32)

    def reset(self, key, task=None):
        del task  # no task family
        key_theta, key_speed = jax.random.split(key)
        s = PendulumState(theta=jax.random.uniform(key_theta, (), minval=-jnp.pi, maxval=jnp.pi),
                          theta_dot=jax.random.uniform(key_speed, (), minval=-1.0, maxval=1.0))
        zero = jnp.zeros((), jnp.float32)
        return State(env_state=s, obs=self._obs(s), reward=zero, cost=zero, done=zero,
                     info={"nan_actions": zero})

    def reward_fn(self, obs: jax.Array, action: jax.Array, next_obs, task) -> jax.Array:
        """Gymnasium's reward from the observation before the step (pure: model-based planners
        call it on predicted observations); `next_obs` and `task` are unused."""
        del next_obs, task
        theta = jnp.arctan2(obs[..., 1], obs[..., 0])
        u = jnp.clip(action[..., 0], -self.max_torque, self.max_torque)
        return -(theta**2 + 0.1 * obs[..., 2] ** 2 + 0.001 * u**2)

    def step(self, state, action):
        action, num_bad = self.check_action(action)  # finite, inside [-max_torque, max_torque]
        s = state.env_state
        u = action[0]
        reward = self.reward_fn(state.obs, action, None, state.task)
        theta_dot = s.theta_dot + (3 * self.g / (2 * self.length) * jnp.sin(s.theta)
                                   + 3.0 / (self.m * self.length**2) * u) * self.dt
        theta_dot = jnp.clip(theta_dot, -self.max_speed, self.max_speed)
        theta = s.theta + theta_dot * self.dt
        s = PendulumState(theta=theta, theta_dot=theta_dot)
        info = dict(state.info, nan_actions=state.info["nan_actions"] + num_bad)
        return state.replace(env_state=s, obs=self._obs(s), reward=reward.astype(jnp.float32),
                             cost=jnp.zeros((), jnp.float32), done=jnp.zeros((), jnp.float32),
                             info=info)
