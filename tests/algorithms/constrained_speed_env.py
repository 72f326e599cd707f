"""A tiny pure-JAX constrained env for the SAC-Lagrangian learning test: pick a speed.

One dimension: the action is a speed a in [-1, 1]. The reward is the progress r = a, so the
unconstrained optimum drives at full speed; the cost is the wear c = a^2, so full speed costs
1 per step. The observation is the position x in [-1, 1], moved by x' = clip(x + 0.1 a) and
reset to U[-1, 1] (it varies the critics' inputs; reward and cost ignore it).

Under a per-step cost limit k < 1 the constrained optimum is a = sqrt(k) (the deterministic
policy's cost equals the limit, its return sqrt(k) per step): with k = 0.36, a = 0.6 keeps
60% of the unconstrained return at 36% of its cost. Episodes never terminate; the time
limit truncates them (`episode_length`).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from envs.base import EnvBase, EnvSpec, State


class ConstrainedSpeed(EnvBase):
    def __init__(self, episode_length: int = 25):
        self.spec = EnvSpec(name="toy/constrained-speed", obs_size=1, action_size=1,
                            action_low=(-1.0,), action_high=(1.0,), dt=1.0,
                            episode_length=episode_length)

    def reset(self, key, task=None):
        del task
        x = jax.random.uniform(key, (1,), minval=-1.0, maxval=1.0)
        zero = jnp.zeros((), jnp.float32)
        return State(env_state=x, obs=x, reward=zero, cost=zero, done=zero,
                     info={"nan_actions": zero})

    def step(self, state, action):
        action, had_nan = self.check_action(action)
        speed = jnp.clip(action[0], -1.0, 1.0)
        x = jnp.clip(state.env_state + 0.1 * speed, -1.0, 1.0)
        info = dict(state.info, nan_actions=state.info["nan_actions"] + had_nan)
        return state.replace(env_state=x, obs=x, reward=speed.astype(jnp.float32),
                             cost=(speed**2).astype(jnp.float32),
                             done=jnp.zeros((), jnp.float32), info=info)
