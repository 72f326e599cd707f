"""A pure-JAX changing-dynamics family for GrBAL/ReBAL/MB/MB+DE tests and benchmarks.

A linear system whose input gains are the task: x_{t+1} = a * x_t + g * u_t, with the
state x in R^2, the action u in [-1, 1], a = 0.9 and the task g in R^2. Training tasks draw
each gain uniformly from [-1, 1] (so the average model ignores the action); the "test"
split draws |g| from [1, 1.5], outside the training range. Reward: track the point (0.5, -0.5),
r = -||x_{t+1} - x*||^2 - 0.01 u^2, computed by the pure `reward_fn`. `fixed_gain` makes
every task (both splits) that one gain: a single linear system.

Helpers for the tests: `random_trajectories` (uniform random actions, one task per episode)
and `fit_model` (Adam on an `AdaptiveDynamics` loss over M + K segments, one jitted scan).
Run as a script it registers the family as "toy/linear-gains" and calls `launch.train`:

    python tests/algorithms/linear_gain_env.py --algo=grbal --env=toy/linear-gains ...
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import optax

from algorithms import dynamics as dyn
from envs.base import EnvBase, EnvSpec, State

TARGET = (0.5, -0.5)


class LinearGainFamily(EnvBase):
    def __init__(self, decay: float = 0.9, episode_length: int = 50,
                 fixed_gain: tuple[float, float] | None = None):
        self.decay = decay
        self.fixed_gain = fixed_gain
        self.spec = EnvSpec(name="toy/linear-gains", obs_size=2, action_size=1,
                            action_low=(-1.0,), action_high=(1.0,), dt=1.0,
                            episode_length=episode_length, task_size=2)

    def sample_tasks(self, key, num_tasks, split="train"):
        if self.fixed_gain is not None:
            return jnp.broadcast_to(jnp.asarray(self.fixed_gain, jnp.float32), (num_tasks, 2))
        key_mag, key_sign = jax.random.split(key)
        if split == "train":
            return jax.random.uniform(key_mag, (num_tasks, 2), minval=-1.0, maxval=1.0)
        if split != "test":
            raise ValueError(f"split must be 'train' or 'test', got {split!r}")
        magnitude = jax.random.uniform(key_mag, (num_tasks, 2), minval=1.0, maxval=1.5)
        sign = jnp.where(jax.random.bernoulli(key_sign, 0.5, (num_tasks, 2)), 1.0, -1.0)
        return magnitude * sign

    def reward_fn(self, obs, action, next_obs, task):
        del obs, task
        return (-jnp.sum((next_obs - jnp.asarray(TARGET)) ** 2, axis=-1)
                - 0.01 * jnp.sum(action**2, axis=-1))

    def reset(self, key, task=None):
        key_x, key_task = jax.random.split(key)
        if task is None:
            task = self.sample_tasks(key_task, 1)[0]
        x = jax.random.uniform(key_x, (2,), minval=-1.0, maxval=1.0)
        zero = jnp.zeros((), jnp.float32)
        return State(env_state=x, obs=x, reward=zero, cost=zero, done=zero,
                     info={"nan_actions": zero}, task=jnp.asarray(task, jnp.float32))

    def step(self, state, action):
        action, had_nan = self.check_action(action)
        u = jnp.clip(action, -1.0, 1.0)
        x = self.decay * state.env_state + state.task * u[0]
        reward = self.reward_fn(state.obs, u, x, state.task)
        info = dict(state.info, nan_actions=state.info["nan_actions"] + had_nan)
        return state.replace(env_state=x, obs=x, reward=reward.astype(jnp.float32), info=info)


def random_trajectories(env: LinearGainFamily, key: jax.Array, num: int, split: str = "train"
                        ) -> dyn.Context:
    """`num` episodes `(num, T, ...)` of uniform random actions, each on a task of `split`."""
    key_tasks, key_reset, key_steps = jax.random.split(key, 3)
    tasks = env.sample_tasks(key_tasks, num, split=split)
    states = jax.vmap(env.reset)(jax.random.split(key_reset, num), tasks)

    def step(states, key_t):
        actions = jax.random.uniform(key_t, (num, 1), minval=-1.0, maxval=1.0)
        next_states = jax.vmap(env.step)(states, actions)
        out = dyn.Context(obs=states.obs, action=actions, next_obs=next_states.obs,
                          mask=jnp.ones((num,)))
        return next_states, out

    _, traj = jax.lax.scan(step, states, jax.random.split(key_steps, env.spec.episode_length))
    return jax.tree.map(lambda x: jnp.swapaxes(x, 0, 1), traj)


def fit_model(model: dyn.AdaptiveDynamics, traj: dyn.Context, key: jax.Array, num_steps: int,
              segment_length: int, batch_size: int = 32, learning_rate: float = 3e-3):
    """Adam on `model.loss` over random segments of `traj`; returns (params, normaliser)."""
    buffer = dyn.buffer_add(dyn.buffer_init(traj.mask.shape[0], traj.mask.shape[1],
                                            traj.obs.shape[-1], traj.action.shape[-1]), traj)
    norm = dyn.buffer_normalizer(buffer)
    optimizer = optax.adam(learning_rate)
    key_init, key_steps = jax.random.split(key)

    @jax.jit
    def run(key_init, key_steps):
        params = model.init(key_init)

        def step(carry, key_step):
            params, opt_state = carry
            key_sample, key_loss = jax.random.split(key_step)
            batch = dyn.sample_segments(buffer, key_sample, batch_size, segment_length)
            grads, _ = jax.grad(model.loss, has_aux=True)(params, norm, batch, key_loss)
            updates, opt_state = optimizer.update(grads, opt_state, params)
            return (optax.apply_updates(params, updates), opt_state), None

        (params, _), _ = jax.lax.scan(step, (params, optimizer.init(params)),
                                      jax.random.split(key_steps, num_steps))
        return params

    return run(key_init, key_steps), norm


if __name__ == "__main__":
    import envs
    from launch import train as launch_train

    envs.register("toy/linear-gains", LinearGainFamily)
    launch_train.run()
