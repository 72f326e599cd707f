"""PEARL out of the box: a run takes the env steps it was asked for (within one iteration),
the per-family defaults apply by env name, the critic can learn from a dense info entry
while the context holds the sparse reward (oyster's sparse point robot), and the meta-test
reports the success rate per episode where the env says when the goal is reached.

One tiny meta-training run on a sparse toy family (tests/algorithms/pearl_toy_env.py with
`success` and `dense_reward` in its info) is shared; everything else is config arithmetic or a
single collection.
"""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import driver
import envs
from algorithms import pearl
from algorithms.pearl import defaults, rollout
from tests.algorithms.pearl_toy_env import PointGoal


class SparseToy(PointGoal):
    """The toy family, sparse, with `success` (within the goal radius) and `dense_reward`
    (-distance) in its info, as mjx/point-goal-sparse has."""

    def __init__(self, episode_length: int = 10):
        super().__init__(sparse=True, episode_length=episode_length)

    def _info(self, position, goal):
        distance = jnp.linalg.norm(position - goal)
        return {"success": (distance <= self.goal_radius).astype(jnp.float32),
                "dense_reward": -distance}

    def reset(self, key, task=None):
        state = super().reset(key, task)
        return state.replace(info={**state.info, **self._info(state.obs, state.task)})

    def step(self, state, action):
        state = super().step(state, action)
        return state.replace(info={**state.info, **self._info(state.obs, state.task)})


TINY = dict(num_train_tasks=3, num_test_tasks=4, hidden_sizes=(8,), encoder_hidden_sizes=(8,),
            context_size=4, batch_size=8, meta_batch=2, num_initial_steps=20,
            num_tasks_sample=2, num_steps_prior=10, num_steps_posterior=10,
            num_extra_rl_steps_posterior=10, grad_steps_per_iteration=3, rl_buffer_capacity=64,
            num_eval_episodes=3, checkpoint_every_evals=0)
# 60 initial steps, 60 per iteration (2 tasks x 30), 3 iterations per chunk.
ASKED = 60 + 7 * 60 + 20  # 7.33 iterations: the run takes 7, over 3 chunks (3 + 3 + 1)


@pytest.mark.parametrize("total", [100, 119, 120, 150, 151, 1_000, 12_345, 2_700_000])
def test_iterations_round_to_the_nearest_and_stop_within_half_an_iteration(total):
    config = pearl.Config(**{**TINY, "total_env_steps": total, "eval_every_steps": 180})
    assert config.initial_env_steps == 60 and config.env_steps_per_iteration == 60
    assert abs(config.planned_env_steps - total) <= 30 or (
        total < 60 + 30 and config.num_iterations == 1)
    assert config.num_evals == -(-config.num_iterations // config.iterations_per_chunk)
    oyster = defaults.config_for_env("mjx/cheetah-vel")
    assert oyster.planned_env_steps == 2_700_000 and oyster.num_iterations == 500


@pytest.fixture(scope="module")
def sparse_run():
    config = pearl.Config(**TINY, total_env_steps=ASKED, eval_every_steps=180,
                          critic_reward_key="dense_reward")
    return config, driver.train(pearl, SparseToy(), config, seed=0, progress=False)


def test_a_run_takes_the_steps_asked_within_one_iteration(sparse_run):
    config, result = sparse_run
    assert config.num_iterations == 7 and config.iterations_per_chunk == 3
    steps = [row["step"] for row in result.metrics]
    assert steps == [60 + 180, 60 + 360, 60 + 420]  # the last chunk stops after 1 iteration
    assert abs(steps[-1] - ASKED) <= config.env_steps_per_iteration
    ts = result.state.training_state
    assert int(ts.env_steps) == steps[-1] == config.planned_env_steps
    assert int(ts.grad_steps) == 7 * config.grad_steps_per_iteration
    # The last row's training metrics are those of the iteration that ran, not zeros.
    assert result.metrics[-1]["train/critic_loss"] > 0
    assert result.metrics[-1]["train/alpha"] > 0


def test_the_critic_learns_from_the_dense_entry_and_the_context_keeps_the_sparse_reward(
        sparse_run):
    _, result = sparse_run
    ts = result.state.training_state
    train_tasks = np.asarray(result.state.train_tasks)

    def distance(buffer):
        next_obs = np.asarray(buffer.data.next_obs)  # (T, capacity, 2)
        return np.linalg.norm(next_obs - train_tasks[:, None], axis=-1), np.asarray(
            buffer.data.reward)

    d_rl, r_rl = distance(ts.rl_buffer)
    d_enc, r_enc = distance(ts.encoder_buffer)
    filled_rl = np.arange(d_rl.shape[1])[None] < np.asarray(ts.rl_buffer.size)[:, None]
    filled_enc = np.arange(d_enc.shape[1])[None] < np.asarray(ts.encoder_buffer.size)[:, None]
    # Every RL transition, the last step of each episode included, has the dense reward of
    # the step it took (not the reset value of the next episode's first state).
    np.testing.assert_allclose(r_rl[filled_rl], -d_rl[filled_rl], rtol=1e-5, atol=1e-6)
    sparse = np.where(d_enc <= 0.2, 1.0 - d_enc, 0.0)
    np.testing.assert_allclose(r_enc[filled_enc], sparse[filled_enc], rtol=1e-5, atol=1e-6)


def test_meta_test_reports_the_success_rate_per_episode(sparse_run):
    config, result = sparse_run
    row = result.metrics[-1]
    for k in range(1, config.num_eval_episodes + 1):
        assert 0.0 <= row[f"meta_test/success_episode_{k}"] <= 1.0
    assert row["meta_test/success_prior"] == row["meta_test/success_episode_1"]
    assert row["meta_test/success_posterior"] == row["meta_test/success_episode_2"]
    assert row["eval/success"] == row["meta_test/success_episode_3"]


def test_meta_test_success_is_reaching_the_goal_at_some_step():
    """A policy that walks straight to the goal and on past it: success although the last
    step is far from the goal; a policy that walks away: no success."""
    env = SparseToy(episode_length=20)
    config = pearl.Config(**{**TINY, "num_eval_episodes": 2})
    goals = jnp.array([[1.0, 0.0], [0.0, 1.0]])
    toward = lambda params, obs, z, key, det: jnp.broadcast_to(params, obs.shape)
    factors = lambda params, transition: pearl.Gaussian(
        jnp.zeros(transition.reward.shape + (config.latent_size,)),
        jnp.ones(transition.reward.shape + (config.latent_size,)))
    meta_test = jax.jit(rollout.make_meta_test(env, config, toward, factors))
    out = meta_test(jnp.array([1.0, 0.0]), None, goals, jax.random.key(0))  # +x at full speed
    np.testing.assert_array_equal(out["success"], [[1.0, 0.0], [1.0, 0.0]])
    assert out["return"].shape == (2, 2)
    metrics = rollout.meta_test_metrics(out["return"], out["cost"], 1, out["success"])
    assert float(metrics["meta_test/success_prior"]) == 0.5


def test_a_missing_critic_reward_entry_is_a_clear_error():
    config = pearl.Config(**TINY, critic_reward_key="no_such_entry")
    act = pearl.make_policy(config, PointGoal().spec)
    with pytest.raises(ValueError, match="critic_reward_key.*no_such_entry"):
        rollout.make_collect(PointGoal(), config, act)


def test_family_defaults_are_valid_configs_of_registered_families():
    assert set(defaults.FAMILY_DEFAULTS) <= set(envs.names())
    for name in defaults.FAMILY_DEFAULTS:
        config = defaults.config_for_env(name)
        assert config.num_eval_episodes > config.num_exploration_episodes, name
        assert abs(config.planned_env_steps - config.total_env_steps) <= (
            config.env_steps_per_iteration // 2), name
    assert defaults.defaults_for_env("glucose/adults") == {}
    overrides = defaults.defaults_for_env("mjx/point-goal")
    overrides["total_env_steps"] = "1"  # a fresh dict: the table is not changed
    assert defaults.FAMILY_DEFAULTS["mjx/point-goal"]["total_env_steps"] != "1"
    sparse = defaults.config_for_env("mjx/point-goal-sparse", total_env_steps=12_000)
    assert sparse.critic_reward_key == "dense_reward" and sparse.total_env_steps == 12_000
    assert dataclasses.replace(sparse, critic_reward_key=None).critic_reward_key is None
