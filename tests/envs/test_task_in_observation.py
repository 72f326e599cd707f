"""envs.wrappers.TaskInObservation: the task vector rides at the end of the observation and
the wrapped env never sees it."""

import jax
import jax.numpy as jnp
import numpy as np

from envs import wrappers
from tests.algorithms.pearl_toy_env import PointGoal


def test_task_appended_to_observation_and_stripped_before_step():
    env = PointGoal()
    wrapped = wrappers.TaskInObservation(env)
    assert wrapped.spec.obs_size == env.spec.obs_size + env.spec.task_size == 4
    task = jnp.array([0.0, 1.0])
    state = wrapped.reset(jax.random.key(0), task=task)
    inner = env.reset(jax.random.key(0), task=task)
    np.testing.assert_array_equal(state.obs, jnp.concatenate([inner.obs, task]))
    action = jnp.array([0.5, -0.5])
    state = wrapped.step(state, action)
    inner = env.step(inner, action)
    np.testing.assert_array_equal(state.obs, jnp.concatenate([inner.obs, task]))
    np.testing.assert_array_equal(state.reward, inner.reward)


def test_draw_task_per_episode_overrides_only_when_given():
    env = PointGoal()
    assert not hasattr(wrappers.TaskInObservation(env), "draw_task_per_episode")
    assert wrappers.TaskInObservation(env, draw_task_per_episode=True).draw_task_per_episode
