"""The point navigation envs' info: `distance`, `success` within the goal radius and the
dense reward beside the sparse one (what oyster's critic learns from on the sparse family)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import envs


def test_sparse_point_info_has_the_dense_reward_and_success():
    env = envs.make("mjx/point-goal-sparse")
    goal = jnp.array([0.0, 1.0])
    step = jax.jit(env.step)
    state = env.reset(jax.random.key(0), task=goal)
    np.testing.assert_allclose(state.info["dense_reward"], -1.0, rtol=1e-6)
    assert float(state.info["success"]) == 0.0
    distances, successes, rewards, dense = [], [], [], []
    for _ in range(10):  # full force toward the goal: about 0.1 m per step at top speed
        state = step(state, jnp.array([0.0, 1.0]))
        distances.append(float(state.info["distance"]))
        successes.append(float(state.info["success"]))
        rewards.append(float(state.reward))
        dense.append(float(state.info["dense_reward"]))
    distances, successes = np.array(distances), np.array(successes)
    np.testing.assert_allclose(dense, -distances, rtol=1e-6)
    np.testing.assert_array_equal(successes, (distances <= 0.2).astype(np.float32))
    assert successes[-1] == 1.0 and successes[0] == 0.0
    np.testing.assert_allclose(rewards, np.where(distances <= 0.2, 1 - distances, 0.0),
                               rtol=1e-5, atol=1e-6)


def test_dense_point_success_radius_is_configurable():
    env = envs.make("mjx/point-goal", goal_radius_m=0.5)
    state = env.reset(jax.random.key(0), task=jnp.array([0.3, 0.3]))
    assert float(state.info["success"]) == 1.0  # 0.42 m from the goal
    np.testing.assert_allclose(state.info["dense_reward"], -np.sqrt(0.18), rtol=1e-6)
    with pytest.raises(ValueError, match="goal_radius_m"):
        envs.make("mjx/point-goal", goal_radius_m=0.0)
