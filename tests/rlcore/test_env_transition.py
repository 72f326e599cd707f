"""`loop.env_transition`: termination stops bootstrapping (discount 0), a time limit does not
(discount 1), and the stored next observation is the episode's last, not the reset's."""

import jax
import jax.numpy as jnp
import numpy as np

import envs
from envs import wrappers
from envs.base import State
from rlcore import loop


def _state(obs, done, truncation, terminal_obs):
    n = obs.shape[0]
    return State(env_state=jnp.zeros((n,)), obs=obs, reward=jnp.arange(n, dtype=jnp.float32),
                 cost=jnp.full((n,), 0.5), done=done,
                 info={"truncation": truncation, "terminal_obs": terminal_obs})


def test_discount_by_hand_running_terminated_truncated():
    obs = jnp.array([[0.0], [1.0], [2.0]])
    before = _state(obs, jnp.zeros(3), jnp.zeros(3), obs)
    # Row 0 runs on, row 1 terminates, row 2 hits the time limit (done and truncation).
    after = _state(obs + 10.0, jnp.array([0.0, 1.0, 1.0]), jnp.array([0.0, 0.0, 1.0]),
                   jnp.array([[20.0], [21.0], [22.0]]))
    action = jnp.array([[0.1], [0.2], [0.3]])
    t = loop.env_transition(before, action, after)
    np.testing.assert_array_equal(t.discount, [1.0, 0.0, 1.0])
    np.testing.assert_array_equal(t.next_obs, [[20.0], [21.0], [22.0]])
    np.testing.assert_array_equal(t.obs, obs)
    np.testing.assert_array_equal(t.action, action)
    np.testing.assert_array_equal(t.reward, [0.0, 1.0, 2.0])
    np.testing.assert_array_equal(t.cost, [0.5, 0.5, 0.5])


def test_time_limit_of_the_training_wrapper_bootstraps():
    """The pendulum never terminates: at its time limit the wrapper resets, and the
    transition keeps discount 1 with next_obs from before the reset."""
    env = wrappers.wrap_for_training(envs.make("classic/pendulum"), episode_length=3)
    state = env.reset(jax.random.split(jax.random.key(0), 2))
    action = jnp.ones((2, 1))
    discounts, dones = [], []
    for _ in range(3):
        next_state = env.step(state, action)
        t = loop.env_transition(state, action, next_state)
        discounts.append(np.asarray(t.discount))
        dones.append(np.asarray(next_state.done))
        last_next_obs, last_reset_obs = np.asarray(t.next_obs), np.asarray(next_state.obs)
        state = next_state
    np.testing.assert_array_equal(dones[-1], [1.0, 1.0])
    np.testing.assert_array_equal(np.stack(discounts), np.ones((3, 2)))
    assert not np.allclose(last_next_obs, last_reset_obs)  # the reset replaced obs
