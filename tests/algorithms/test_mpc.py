"""MPC planner: finds the optimum of a 1-D quadratic reward under a known model, per env when
vmapped, with elites chosen by value; the horizon's returns match a hand-written sum."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from algorithms import mpc


def integrator(model_state, obs, action):
    """Known model: s' = s + a (1-D); `model_state` unused."""
    del model_state
    return obs + action


def quadratic_reward(obs, action, next_obs, task):
    """-(s' - target)^2, the target being the task: best first action = target - s."""
    del obs, action
    return -jnp.sum((next_obs - task) ** 2)


def plan_one(method, obs, target, key, **kw):
    config = mpc.PlannerConfig(method=method, **kw)
    plan = mpc.make_planner(integrator, quadratic_reward, (-1.0,), (1.0,), config)
    return jax.jit(plan)(None, jnp.array([obs]), jnp.array([target]), key)


def test_random_shooting_finds_quadratic_optimum():
    action, value = plan_one("random_shooting", 0.2, 0.5, jax.random.key(0), horizon=1,
                             num_candidates=500)
    np.testing.assert_allclose(action, [0.3], atol=0.02)
    assert -0.02**2 <= float(value) <= 0.0


@pytest.mark.parametrize("target", [0.5, -0.85, 0.95])
def test_cem_finds_quadratic_optimum_over_a_horizon(target):
    # H = 4: the best sequence reaches the target with its first action and then stays.
    # With elites taken by index instead of by value the mean would stay near 0.
    action, value = plan_one("cem", 0.0, target, jax.random.key(1), horizon=4,
                             num_candidates=200, num_elites=20, num_cem_iterations=6)
    np.testing.assert_allclose(action, [target], atol=0.03)
    assert float(value) > -0.05


def test_cem_beats_random_shooting_at_equal_candidates():
    errors = {}
    for method, key in (("random_shooting", jax.random.key(2)), ("cem", jax.random.key(3))):
        config = mpc.PlannerConfig(method=method, horizon=3, num_candidates=100,
                                   num_elites=10, num_cem_iterations=5)
        plan = mpc.make_planner(integrator, quadratic_reward, (-1.0,), (1.0,), config)
        actions, _ = jax.jit(jax.vmap(plan, in_axes=(None, None, None, 0)))(
            None, jnp.zeros((1,)), jnp.array([0.6]), jax.random.split(key, 16))
        errors[method] = float(np.mean(np.abs(np.asarray(actions) - 0.6)))
    assert errors["cem"] < errors["random_shooting"], errors


@pytest.mark.parametrize("method", ["random_shooting", "cem"])
def test_vmapped_planner_solves_each_env_and_compiles_once(method):
    config = mpc.PlannerConfig(method=method, horizon=2, num_candidates=300, num_elites=30)
    plan = mpc.make_planner(integrator, quadratic_reward, (-1.0,), (1.0,), config)
    counted = chex.assert_max_traces(plan, n=1)
    batched = jax.jit(jax.vmap(counted, in_axes=(None, 0, 0, 0)))
    obs = jnp.array([[0.0], [0.3], [-0.4], [0.1]])
    targets = jnp.array([[0.5], [-0.3], [-0.2], [0.8]])
    for seed in (3, 4):  # a second call reuses the compiled planner
        keys = jax.random.split(jax.random.key(seed), 4)
        actions, _ = batched(None, obs, targets, keys)
        chex.assert_shape(actions, (4, 1))
        np.testing.assert_allclose(actions, targets - obs, atol=0.1)


def test_non_finite_predictions_never_win():
    # The reward prefers large s'; the model diverges (NaN) for actions above 0.5.
    def broken_model(model_state, obs, action):
        del model_state
        return jnp.where(action > 0.5, jnp.nan, obs + action)

    config = mpc.PlannerConfig(method="random_shooting", horizon=1, num_candidates=500)
    plan = mpc.make_planner(broken_model, lambda o, a, n, t: jnp.sum(n), (-1.0,), (1.0,),
                            config)
    action, value = plan(None, jnp.zeros((1,)), jnp.zeros((0,)), jax.random.key(5))
    assert 0.45 < float(action[0]) <= 0.5
    assert np.isfinite(float(value))


def test_rollout_returns_match_hand_written_discounted_sum():
    discount = 0.9
    returns_fn = mpc.make_rollout_returns(integrator, quadratic_reward, discount)
    actions = jax.random.uniform(jax.random.key(6), (5, 4, 1), minval=-1.0, maxval=1.0)
    obs, target = np.array([0.25]), np.array([0.7])
    expected = []
    for seq in np.asarray(actions):
        s, total = obs.copy(), 0.0
        for t, a in enumerate(seq):
            s = s + a
            total += discount**t * -np.sum((s - target) ** 2)
        expected.append(total)
    got = returns_fn(None, jnp.asarray(obs), jnp.asarray(target), actions)
    np.testing.assert_allclose(got, expected, rtol=1e-5)


@pytest.mark.parametrize("field, kw", [
    ("method", dict(method="mppi_typo")), ("horizon", dict(horizon=0)),
    ("num_candidates", dict(num_candidates=0)),
    ("num_elites", dict(num_candidates=10, num_elites=20)),
    ("cem_alpha", dict(cem_alpha=1.0))])
def test_bad_planner_config_names_the_field(field, kw):
    with pytest.raises(ValueError, match=field):
        mpc.PlannerConfig(**kw)
