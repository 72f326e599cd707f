"""PEARL meta-training on the toy point-goal family (tests/algorithms/pearl_toy_env.py).

One tiny run (about a minute on two CPU cores) is shared by the tests: the per-task buffers
after it follow the collection protocol; on held-out goals the return with the posterior after
one episode of context is clearly above the return with z from the prior; and the trained
encoder's posterior concentrates on the true goal as the context grows.
"""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import driver
from algorithms import pearl
from algorithms.pearl import encoder as enc
from rlcore.types import Transition
from tests.algorithms.pearl_toy_env import PointGoal

# A learning test (.ci/run's second step). One xdist group: the module's trained fixture is
# built once, not once on each worker (about 2.5 min each).
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("pearl_learning")]

ENV = PointGoal()
CONFIG = pearl.Config(
    num_train_tasks=20, num_test_tasks=20, encoder_hidden_sizes=(64, 64),
    hidden_sizes=(64, 64), context_size=32, batch_size=64, meta_batch=8,
    num_initial_steps=100, num_tasks_sample=4, num_steps_prior=40,
    num_extra_rl_steps_posterior=40, num_envs=2, discount=0.9, reward_scale=10.0,
    grad_steps_per_iteration=200, rl_buffer_capacity=2000, actor_lr=1e-3, critic_lr=1e-3,
    encoder_lr=1e-3, alpha_lr=1e-3, total_env_steps=2000 + 10 * 1600, eval_every_steps=5 * 320,
    checkpoint_every_evals=0)


@pytest.fixture(scope="module")
def run():
    return driver.train(pearl, ENV, CONFIG, seed=0, progress=False)


def test_metrics_rows_and_names(run):
    assert len(run.metrics) == CONFIG.num_evals == 10
    row = run.metrics[-1]
    assert row["step"] == CONFIG.initial_env_steps + 10 * 5 * CONFIG.env_steps_per_iteration
    for name in ("meta_test/return_prior", "meta_test/return_posterior", "eval/return",
                 "meta_test/return_episode_3", "train/env_steps_per_s", "train/grad_steps_per_s",
                 "train/compile_s", "train/kl", "train/alpha", "train/episode_return"):
        assert np.isfinite(row[name]), name
    assert int(run.state.training_state.grad_steps) == 10 * 5 * 200


def test_buffers_follow_the_collection_protocol(run):
    """Initial collection fills both buffers of every train task; a task sampled for
    collection has its encoder buffer cleared and refilled by the prior phase only, while its
    RL buffer also receives the posterior-only phase."""
    ts = run.state.training_state
    enc_size, rl_size = np.asarray(ts.encoder_buffer.size), np.asarray(ts.rl_buffer.size)
    initial, prior, extra = 100, 40, 40
    sampled = rl_size > initial  # (here every task was sampled at least once)
    assert sampled.any()
    np.testing.assert_array_equal(enc_size[~sampled], initial)
    np.testing.assert_array_equal(enc_size[sampled], prior)
    assert np.all((rl_size - initial) % (prior + extra) == 0)
    assert int(ts.env_steps) == initial * 20 + (rl_size - initial).sum()
    # The encoder buffer holds exactly the RL buffer's latest prior-phase transitions.
    for task in np.flatnonzero(sampled)[:3]:
        start = rl_size[task] - prior - extra
        rl_prior = jax.tree.map(lambda x, t=task, s=start: x[t, s:s + prior],
                                ts.rl_buffer.data)
        encoder = jax.tree.map(lambda x, t=task: x[t, :prior], ts.encoder_buffer.data)
        chex.assert_trees_all_equal(rl_prior, encoder)


def test_posterior_return_after_one_episode_beats_the_prior(run):
    last = run.metrics[-3:]  # 3 evaluations x 20 held-out goals
    prior = np.mean([r["meta_test/return_prior"] for r in last])
    posterior = np.mean([r["meta_test/return_posterior"] for r in last])
    # Returns are -sum of distances over 20 steps: about -5 for a policy that heads straight
    # to the goal, about -17 for one that heads to an average goal.
    assert posterior > prior + 3.0, (prior, posterior)


def _disk_transitions(key, goal, n):
    """n transitions around the origin (positions uniform in the unit disk, random actions)
    with the toy env's own reward for `goal`."""
    key_r, key_angle, key_action = jax.random.split(key, 3)
    radius = jnp.sqrt(jax.random.uniform(key_r, (n,)))
    angle = jax.random.uniform(key_angle, (n,), maxval=2 * jnp.pi)
    obs = jnp.stack([radius * jnp.cos(angle), radius * jnp.sin(angle)], -1)
    action = jax.random.uniform(key_action, (n, 2), minval=-1.0, maxval=1.0)
    next_obs = obs + ENV.max_step * action
    reward = jax.vmap(ENV.reward, (0, None))(next_obs, goal)
    return Transition(obs=obs, action=action, reward=reward, cost=jnp.zeros(n),
                      discount=jnp.ones(n), next_obs=next_obs)


def test_posterior_concentrates_on_the_true_task_as_context_grows(run):
    """Six goals 30 degrees apart. The reference code of a goal is the posterior mean from 512
    transitions; from fresh contexts of n transitions, the posterior's expected squared
    distance to the true goal's reference, E_q |z - z*|^2 = |mean - z*|^2 + tr(var), shrinks
    with n, and its mean identifies the goal (nearest reference) more often."""
    networks = pearl.make_networks(CONFIG, ENV.spec)
    sizes = (1, 4, 16, 64, 512)

    @jax.jit
    def posteriors(params, key, goals):  # (G, 2) -> leaves (len(sizes), G, L)
        """q(z | the first n of 512 transitions) of each goal, for each n in `sizes`."""
        keys = jax.random.split(key, goals.shape[0])
        context = jax.vmap(_disk_transitions, (0, 0, None))(keys, goals, sizes[-1])
        features = enc.context_features(context, CONFIG.use_next_obs_in_context)
        masks = (jnp.arange(sizes[-1]) < jnp.array(sizes)[:, None]).astype(jnp.float32)
        return jax.vmap(lambda mask: pearl.infer_posterior(
            networks.encoder, params.encoder, features, CONFIG.variance_floor,
            jnp.broadcast_to(mask, features.shape[:-1])))(masks)

    angles = jnp.deg2rad(jnp.arange(15.0, 180.0, 30.0))
    goals = jnp.stack([jnp.cos(angles), jnp.sin(angles)], -1)
    key_ref, key_ctx = jax.random.split(jax.random.key(7))
    repeats = 20
    reference = posteriors(run.params, key_ref, jnp.repeat(goals, repeats, 0)).mean[-1]
    reference = reference[::repeats]  # (6, L): one 512-transition posterior mean per goal
    q_all = posteriors(run.params, key_ctx, jnp.repeat(goals, repeats, 0))
    truth = jnp.repeat(reference, repeats, 0)
    spread, accuracy = [], []
    for i in range(len(sizes) - 1):
        q = jax.tree.map(lambda x, i=i: x[i], q_all)
        spread.append(float(jnp.mean(jnp.sum((q.mean - truth) ** 2 + q.variance, -1))))
        distance = jnp.sum((q.mean[:, None] - reference[None]) ** 2, -1)  # (6R, 6)
        accuracy.append(float(jnp.mean(jnp.argmin(distance, -1)
                                       == jnp.repeat(jnp.arange(6), repeats))))
    assert all(a > b for a, b in zip(spread, spread[1:])), (spread, accuracy)
    assert spread[-1] < 0.25 * spread[0], spread
    assert accuracy[-1] >= 0.8 and accuracy[-1] > accuracy[0] + 0.2, accuracy
