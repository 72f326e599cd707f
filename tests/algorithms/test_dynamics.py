"""Dynamics data plumbing: normaliser statistics, contexts, trajectory windows, the ring of
trajectories and segment sampling (windows never cross two episodes)."""

import chex
import jax
import jax.numpy as jnp
import numpy as np

from algorithms import dynamics as dyn


def _labelled_trajectories(num, length, offset=0):
    """obs = (trajectory id, time): a sampled window shows where it came from."""
    traj_id = jnp.arange(offset, offset + num, dtype=jnp.float32)[:, None] * jnp.ones((1, length))
    time = jnp.ones((num, 1)) * jnp.arange(length, dtype=jnp.float32)[None]
    obs = jnp.stack([traj_id, time], -1)
    return dyn.Context(obs=obs, action=time[..., None], next_obs=obs + jnp.array([0.0, 1.0]),
                       mask=jnp.ones((num, length)))


def test_fit_normalizer_uses_only_valid_rows():
    key_o, key_a, key_n = jax.random.split(jax.random.key(0), 3)
    obs = jax.random.normal(key_o, (50, 3)) * 2.0 + 1.0
    action = jax.random.normal(key_a, (50, 2))
    next_obs = obs + jax.random.normal(key_n, (50, 3)) * 0.1
    mask = (jnp.arange(50) < 30).astype(jnp.float32)
    obs = obs.at[30:].set(1e6)  # padding garbage must not count
    norm = dyn.fit_normalizer(obs, action, next_obs, mask)
    o, d = np.asarray(obs[:30]), np.asarray(next_obs[:30] - obs[:30])
    np.testing.assert_allclose(norm.obs_mean, o.mean(0), rtol=1e-5)
    np.testing.assert_allclose(norm.obs_std, o.std(0), rtol=1e-4)
    np.testing.assert_allclose(norm.action_std, np.asarray(action[:30]).std(0), rtol=1e-4)
    np.testing.assert_allclose(norm.delta_mean, d.mean(0), rtol=1e-4, atol=1e-6)
    x = jnp.array([0.3, -0.1, 2.0])
    y = x + jnp.array([0.05, 0.0, -0.02])
    np.testing.assert_allclose(x + dyn.denormalize_delta(norm, dyn.normalize_delta(norm, x, y)),
                               y, rtol=1e-5)


def test_push_context_drops_the_oldest_transition():
    ctx = dyn.empty_context(3, 2, 1)
    for t in range(4):
        ctx = dyn.push_context(ctx, jnp.full((2,), t), jnp.full((1,), t), jnp.full((2,), t + 1),
                               jnp.asarray(t % 2 == 0))
    np.testing.assert_array_equal(ctx.obs[:, 0], [1.0, 2.0, 3.0])
    np.testing.assert_array_equal(ctx.mask, [0.0, 1.0, 0.0])


def test_trajectory_windows_are_consecutive_slices():
    traj = _labelled_trajectories(2, 10)
    windows = dyn.trajectory_windows(traj, 4, 3)  # starts 0, 3, 6 in each trajectory
    chex.assert_shape(windows.obs, (6, 4, 2))
    np.testing.assert_array_equal(windows.obs[:, 0, 1], [0, 3, 6, 0, 3, 6])
    np.testing.assert_array_equal(windows.obs[:, :, 0], np.repeat([[0.0], [1.0]], 3, 0)
                                  * np.ones((1, 4)))


def test_buffer_ring_overwrites_oldest_and_segments_stay_in_one_episode():
    buffer = dyn.buffer_init(3, 12, 2, 1)
    buffer = dyn.buffer_add(buffer, _labelled_trajectories(2, 12, offset=0))
    buffer = dyn.buffer_add(buffer, _labelled_trajectories(2, 12, offset=2))  # wraps around
    np.testing.assert_array_equal(buffer.data.obs[:, 0, 0], [3.0, 1.0, 2.0])
    np.testing.assert_array_equal(dyn.buffer_filled(buffer), [1.0, 1.0, 1.0])
    seg = dyn.sample_segments(buffer, jax.random.key(1), 64, 5)
    chex.assert_shape(seg.obs, (64, 5, 2))
    ids, times = np.asarray(seg.obs[..., 0]), np.asarray(seg.obs[..., 1])
    assert np.all(ids == ids[:, :1]) and set(np.unique(ids)) <= {1.0, 2.0, 3.0}
    assert np.all(np.diff(times, axis=1) == 1.0)
    assert times.min() == 0.0 and times.max() == 11.0  # every start position is reachable


def test_partially_filled_buffer_samples_only_written_trajectories():
    buffer = dyn.buffer_add(dyn.buffer_init(8, 6, 2, 1), _labelled_trajectories(2, 6, 5))
    seg = dyn.sample_segments(buffer, jax.random.key(2), 64, 3)
    assert set(np.unique(np.asarray(seg.obs[..., 0]))) == {5.0, 6.0}
    norm = dyn.buffer_normalizer(buffer)  # statistics of the two written trajectories only
    np.testing.assert_allclose(norm.obs_mean, [5.5, 2.5], rtol=1e-5)
