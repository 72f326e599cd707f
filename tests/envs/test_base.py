"""The env contract: registry, pendulum against Gymnasium and gymnax, wrappers."""

import chex
import gymnasium
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import envs
from envs import wrappers


def test_unknown_name_lists_known():
    with pytest.raises(ValueError, match="classic/pendulum"):
        envs.make("classic/does-not-exist")


def test_pendulum_matches_gymnasium_step_by_step():
    env = envs.make("classic/pendulum")
    oracle = gymnasium.make("Pendulum-v1").unwrapped
    oracle.reset(seed=0)
    state = env.reset(jax.random.key(3))
    oracle.state = np.array([float(state.env_state.theta), float(state.env_state.theta_dot)])
    step = jax.jit(env.step)
    rng = np.random.default_rng(0)
    for _ in range(200):
        u = rng.uniform(-3, 3, size=(1,)).astype(np.float32)  # beyond bounds: both clip
        obs, reward, *_ = oracle.step(u)
        state = step(state, jnp.asarray(u))
        np.testing.assert_allclose(state.obs, obs, atol=1e-4)
        np.testing.assert_allclose(state.reward, reward, atol=1e-4)


def test_pendulum_matches_gymnax():
    import gymnax

    env = envs.make("classic/pendulum")
    oracle, params = gymnax.make("Pendulum-v1")
    state = env.reset(jax.random.key(1))
    o_state = oracle.reset_env(jax.random.key(2), params)[1].replace(
        theta=state.env_state.theta, theta_dot=state.env_state.theta_dot)
    key = jax.random.key(5)
    for u in np.linspace(-2, 2, 20):
        key, key_step = jax.random.split(key)
        obs, o_state, reward, _, _ = oracle.step_env(key_step, o_state, jnp.array([u]), params)
        state = env.step(state, jnp.array([u], jnp.float32))
        np.testing.assert_allclose(state.obs, obs, atol=1e-5)
        np.testing.assert_allclose(state.reward, reward, atol=1e-5)


def test_wrong_action_shape_fails_at_trace_time():
    env = envs.make("classic/pendulum")
    state = env.reset(jax.random.key(0))
    with pytest.raises(ValueError, match=r"expected \(1,\)"):
        jax.jit(env.step)(state, jnp.zeros((2,)))
    batched = wrappers.wrap_for_training(env)
    states = batched.reset(jax.random.split(jax.random.key(1), 3))
    with pytest.raises(ValueError, match=r"expected \(3, 1\)"):
        batched.step(states, jnp.zeros((3,)))


def test_nan_action_is_zero_torque_and_counted():
    env = envs.make("classic/pendulum")
    state = env.reset(jax.random.key(0))
    nan_state = env.step(state, jnp.array([jnp.nan]))
    zero_state = env.step(state, jnp.array([0.0]))
    np.testing.assert_array_equal(nan_state.obs, zero_state.obs)
    assert float(nan_state.info["nan_actions"]) == 1.0
    assert float(zero_state.info["nan_actions"]) == 0.0
    assert np.all(np.isfinite(nan_state.obs))


def test_time_limit_truncates_and_auto_reset_resets_for_real():
    env = wrappers.wrap_for_training(envs.make("classic/pendulum"), episode_length=5)
    state = env.reset(jax.random.split(jax.random.key(0), 4))
    first_obs = state.obs
    step = jax.jit(env.step)
    for _ in range(4):
        state = step(state, jnp.zeros((4, 1)))
        chex.assert_trees_all_equal(state.done, jnp.zeros(4))
    before = state.obs
    state = step(state, jnp.zeros((4, 1)))
    np.testing.assert_array_equal(state.done, np.ones(4))
    np.testing.assert_array_equal(state.info["truncation"], np.ones(4))
    np.testing.assert_array_equal(state.info["steps"], np.zeros(4))
    np.testing.assert_array_equal(state.info["episode_length"], np.full(4, 5.0))
    # The terminal observation is kept; the new episode starts from a fresh random state,
    # not from a replay of the first one.
    assert not np.allclose(state.info["terminal_obs"], before)
    assert not np.allclose(state.obs, first_obs)
    assert not np.allclose(state.obs, state.info["terminal_obs"])
    # Episode return = sum of the five rewards.
    fresh = env.reset(jax.random.split(jax.random.key(0), 4))
    total = np.zeros(4)
    for _ in range(5):
        fresh = step(fresh, jnp.zeros((4, 1)))
        total += np.asarray(fresh.reward)
    np.testing.assert_allclose(fresh.info["episode_return"], total, rtol=1e-5)


def test_env_spec_validates():
    with pytest.raises(ValueError, match="action bounds"):
        envs.EnvSpec(name="x", obs_size=1, action_size=2, action_low=(0.0,), action_high=(1.0,),
                     dt=1.0, episode_length=10)
