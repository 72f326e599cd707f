"""The batch auto-reset gives the per-env auto-reset's states exactly, on both branches."""

from __future__ import annotations

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import envs
from envs import wrappers
from envs.base import EnvBase, EnvSpec, State


class RandomWalkEnv(EnvBase):
    """x' = x + a + noise; terminates when |x| > 1, so episodes end at scattered times.

    The task is an offset added to the reset state; `draw_task_per_episode` is set by the
    test to exercise both task paths.
    """

    def __init__(self, draw_task_per_episode: bool):
        self.spec = EnvSpec(name="test/random-walk", obs_size=2, action_size=1,
                            action_low=(-0.3,), action_high=(0.3,), dt=1.0,
                            episode_length=40, task_size=1)
        self.draw_task_per_episode = draw_task_per_episode

    def sample_tasks(self, key, num_tasks):
        return jax.random.uniform(key, (num_tasks, 1), minval=-0.5, maxval=0.5)

    def reset(self, key, task=None):
        key_task, key_x, key_noise = jax.random.split(key, 3)
        if task is None:
            task = self.sample_tasks(key_task, 1)[0]
        x = task[0] + jax.random.uniform(key_x, (), minval=-0.5, maxval=0.5)
        zero = jnp.zeros((), jnp.float32)
        return State(env_state={"x": x, "key": jax.random.key_data(key_noise)},
                     obs=jnp.stack([x, task[0]]), reward=zero, cost=zero, done=zero,
                     info={"x": x}, task=task)

    def step(self, state, action):
        action, _ = self.check_action(action)
        key = jax.random.wrap_key_data(state.env_state["key"])
        key, key_noise = jax.random.split(key)
        x = state.env_state["x"] + action[0] + 0.2 * jax.random.normal(key_noise)
        done = (jnp.abs(x) > 1.0).astype(jnp.float32)
        return state.replace(env_state={"x": x, "key": jax.random.key_data(key)},
                             obs=jnp.stack([x, state.task[0]]), reward=-jnp.abs(x),
                             cost=(x < 0).astype(jnp.float32), done=done,
                             info=dict(state.info, x=x))


def _per_env_stack(env, resample):
    # The stack before the batch auto-reset: everything inside the vmap.
    inner = wrappers.AutoResetWrapper(wrappers.EpisodeWrapper(env), resample_tasks=resample)
    return wrappers.VmapWrapper(wrappers.EpisodeStatsWrapper(inner))


@pytest.mark.full_opt  # bit equality of two compiled programs: holds at XLA's default level
@pytest.mark.parametrize("resample", [True, False])
def test_batch_auto_reset_matches_per_env_auto_reset(resample):
    env = RandomWalkEnv(draw_task_per_episode=resample)
    batch, steps = 64, 60
    new = wrappers.wrap_for_training(env)
    old = _per_env_stack(env, resample)
    actions = jax.random.uniform(jax.random.key(1), (steps, batch, 1), minval=-0.3,
                                 maxval=0.3)

    def run(stack):
        def body(state, action):
            state = stack.step(state, action)
            return state, state
        # The same reset keys for both stacks, made twice (a key is consumed once).
        keys = jax.random.split(jax.random.key(0), batch)
        return jax.jit(lambda k: jax.lax.scan(body, stack.reset(k), actions)[1])(keys)

    new_states, old_states = run(new), run(old)
    done_counts = np.asarray(old_states.done.sum(axis=1))
    small, large = new.env.capacities(batch)  # (1, 4): gathers of 1 and of 4 rows
    # Every tier was taken: none done, one (gather of 1), a few (gather of 4), many (full).
    assert np.any(done_counts == 0)
    assert np.any(done_counts == small)
    assert np.any((done_counts > small) & (done_counts <= large))
    assert np.any(done_counts > large)
    keys_data = lambda s: s.replace(info=dict(  # noqa: E731
        s.info, reset_key=jax.random.key_data(s.info["reset_key"])))
    chex.assert_trees_all_equal(keys_data(new_states), keys_data(old_states))


def test_batch_auto_reset_resets_for_real_on_glucose():
    env = envs.make("glucose/adults")
    stack = wrappers.wrap_for_training(env, episode_length=3)
    state = stack.reset(jax.random.split(jax.random.key(0), 8))
    first_patients = np.asarray(state.task)
    step = jax.jit(stack.step)
    for _ in range(3):
        state = step(state, jnp.ones((8, 1)))
    np.testing.assert_array_equal(state.done, np.ones(8))
    np.testing.assert_array_equal(state.info["steps"], np.zeros(8))
    # A patient population draws new patients at the reset.
    assert not np.array_equal(np.asarray(state.task), first_patients)


def test_partial_fractions_are_checked():
    with pytest.raises(ValueError, match="partial_fractions"):
        wrappers.BatchAutoResetWrapper(RandomWalkEnv(False), partial_fractions=(16, 0))
    with pytest.raises(ValueError, match="partial_fractions"):
        wrappers.BatchAutoResetWrapper(RandomWalkEnv(False), partial_fractions=())
