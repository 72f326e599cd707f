"""Replay ring buffer and running normaliser."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rlcore import normalize, replay


def test_add_wraps_around():
    state = replay.init({"x": jnp.zeros((2,))}, capacity=5)
    state = replay.add(state, {"x": jnp.arange(6.0).reshape(3, 2)})  # rows 0..2
    assert int(state.size) == 3 and int(state.insert_position) == 3
    state = replay.add(state, {"x": 10 + jnp.arange(8.0).reshape(4, 2)})  # rows 3, 4, 0, 1
    assert int(state.size) == 5 and int(state.insert_position) == 2
    expected = np.array([[14, 15], [16, 17], [4, 5], [10, 11], [12, 13]], np.float32)
    np.testing.assert_array_equal(state.data["x"], expected)


def test_sample_only_filled_slots():
    state = replay.init(jnp.zeros(()), capacity=100)
    state = replay.add(state, jnp.arange(1.0, 4.0))
    batch = jax.jit(replay.sample, static_argnums=2)(state, jax.random.key(0), 500)
    assert set(np.unique(batch).tolist()) == {1.0, 2.0, 3.0}


def test_add_larger_than_capacity_rejected():
    state = replay.init(jnp.zeros(()), capacity=2)
    with pytest.raises(ValueError, match="capacity"):
        replay.add(state, jnp.zeros((3,)))


def test_normalizer_matches_numpy():
    data = np.random.default_rng(0).normal(3.0, 2.0, size=(1000, 4)).astype(np.float32)
    state = normalize.init(4)
    for chunk in np.split(data, 10):
        state = normalize.update(state, jnp.asarray(chunk))
    np.testing.assert_allclose(state.mean, data.mean(0), rtol=1e-4)
    np.testing.assert_allclose(normalize.std(state), data.std(0), rtol=1e-4)
    np.testing.assert_allclose(normalize.normalize(normalize.init(4), data[:2]), data[:2])
