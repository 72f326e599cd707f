"""The dosing environment, pump, meals and baselines."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import envs
from envs import wrappers
from envs.glucose import controllers, evaluation, meals, pump


@pytest.fixture(scope="module")
def adult():
    env = envs.make("glucose/adult#001", sensor_noise=False)
    return env, jax.jit(env.reset), jax.jit(env.step)


def test_registry_names_groups_and_bad_patient():
    names = envs.names()
    for name in ("glucose/adult#001", "glucose/child#010", "glucose/adults", "glucose/all"):
        assert name in names
    assert envs.make("glucose/adolescents").num_patients == 10
    with pytest.raises(ValueError, match="glucose/adult#001"):
        envs.make("glucose/adult#011")
    with pytest.raises(ValueError, match="nobody.*valid names"):
        envs.make("glucose/adults", patients=("adult#001", "nobody"))


def test_observation_hides_meals_unless_announced():
    plain = envs.make("glucose/adult#002")
    announced = envs.make("glucose/adult#002", announce_meals=True)
    assert announced.spec.obs_size == plain.spec.obs_size + 1
    assert plain.spec.dt == 5.0 and plain.spec.episode_length == 288
    assert envs.make("glucose/adult#002", sensor="Dexcom").spec.dt == 3.0


def test_basal_holds_and_no_meal_info_leaks(adult):
    env, reset, step = adult
    state = reset(jax.random.key(3))
    basal = state.env_state.therapy[2]
    for _ in range(12):  # one hour before any meal (episodes start at midnight)
        state = step(state, jnp.array([basal]))
    assert abs(float(state.info["bg"]) - float(state.env_state.params.x0.gp
                                               / state.env_state.params.Vg)) < 0.5
    assert float(state.reward) <= 0.0 and float(state.cost) == 0.0


def test_nan_and_negative_actions_deliver_nothing_and_are_counted(adult):
    env, reset, step = adult
    state = reset(jax.random.key(1))
    zero = step(state, jnp.zeros((1,)))
    for bad in (jnp.nan, -2.0, jnp.inf):
        out = step(state, jnp.array([bad]))
        assert float(out.info["nan_actions"]) == 1.0
        assert float(out.info["insulin_u_per_h"]) == 0.0
        np.testing.assert_array_equal(np.asarray(out.info["bg"]), np.asarray(zero.info["bg"]))
    assert float(zero.info["nan_actions"]) == 0.0
    with pytest.raises(ValueError, match=r"expected \(1,\)"):
        step(state, jnp.zeros((2,)))


def test_hypoglycaemia_costs_and_terminates_with_penalty(adult):
    env, reset, step = adult
    state = reset(jax.random.key(2))
    costs, dones = [], []
    for _ in range(60):  # 5 h at 25 U/h: severe hypoglycaemia
        state = step(state, jnp.array([25.0]))
        costs.append(float(state.cost))
        dones.append(float(state.done))
        bg = float(state.info["bg"])
        assert float(state.cost) == float(bg < 70.0)
        if dones[-1]:
            break
    assert dones[-1] == 1.0 and bg < 40.0
    assert float(state.reward) < -env.config.termination_penalty + 1e-3


def test_pump_delivers_in_increments_and_tracks_the_requested_total():
    params = pump.pump("Insulet")
    residual, total = jnp.zeros(()), 0.0
    for _ in range(100):
        delivered, residual = pump.deliver(params, jnp.float32(0.87), residual, 5.0)
        units = float(delivered) / 0.05
        assert abs(units - round(units)) < 1e-3
        total += float(delivered)
    assert abs(total - 0.87 * 500 / 60) <= 0.05 + 1e-4
    # The per-step limit: max basal over the step plus one max bolus.
    big, _ = pump.deliver(params, jnp.float32(1e4), jnp.zeros(()), 5.0)
    assert abs(float(big) - (30.0 * 5 / 60 + 30.0)) < 0.051
    with pytest.raises(ValueError, match="Insulet"):
        pump.pump("Medtronic")


def test_random_meals_follow_simglucose_distribution():
    m = jax.vmap(lambda k: meals.random_day_meals(k, 1))(
        jax.random.split(jax.random.key(0), 4000))
    time, carbs = np.asarray(m.time_min), np.asarray(m.carbs_g)
    eaten = carbs > 0
    np.testing.assert_allclose(eaten.mean(0), meals.PROBABILITY, atol=0.03)
    for i, (lo, hi) in enumerate(meals.WINDOW_H):
        t = time[eaten[:, i], i]
        assert t.min() >= lo * 60 and t.max() <= hi * 60
    lunch = carbs[eaten[:, 2], 2]
    assert abs(lunch.mean() - 70.0) < 1.0 and abs(lunch.std() - 10.0) < 1.0


def test_fixed_meals_reject_bad_scenarios():
    ok = meals.fixed_meals([(420, 50.0), (720, 70.0)], 1440)
    assert float(meals.carbs_between(ok, 415.0, 425.0)) == 50.0
    with pytest.raises(ValueError, match="carbs"):
        meals.fixed_meals([(420, -5.0)], 1440)
    with pytest.raises(ValueError, match="outside the episode"):
        meals.fixed_meals([(1500, 30.0)], 1440)


def test_population_env_draws_a_new_patient_per_episode():
    env = envs.make("glucose/children", episode_days=0.05)  # 14 steps per episode
    batched = wrappers.wrap_for_training(env)
    state = batched.reset(jax.random.split(jax.random.key(0), 8))
    step = jax.jit(batched.step)
    seen = {tuple(np.asarray(state.task[:, 0]))}
    for _ in range(3 * env.spec.episode_length):
        state = step(state, jnp.ones((8, 1)) * 0.5)
        seen.add(tuple(np.asarray(state.task[:, 0])))
    assert len(seen) >= 3
    with pytest.raises(ValueError, match="patient index"):
        env.reset(jax.random.key(0), task=np.array([10.0]))


def test_basal_bolus_reproduces_simglucose_per_cohort():
    """simglucose 0.2.11 basal-bolus, Dexcom + Insulet, seed 1, 3 random days: TIR adults
    94.9%, adolescents 83.3%, children 66.6%. Our days are drawn differently, so the match is
    within the spread of meal draws; children run ~9 points above simglucose's figure (see the
    closing note of the glucose issue), so their bound is looser."""
    env = envs.make("glucose/all", sensor="Dexcom")
    result, _ = evaluation.evaluate(env, {"bb": controllers.basal_bolus(env.dt_min)}, 3, seed=1)
    tir = {g: result["groups"][g]["bb"]["tir"] for g in ("adults", "adolescents", "children")}
    assert abs(tir["adults"] - 0.949) < 0.04, tir
    assert abs(tir["adolescents"] - 0.833) < 0.05, tir
    assert abs(tir["children"] - 0.666) < 0.12, tir
    # Announcement matters: basal only leaves adults far above range.
    basal, _ = evaluation.evaluate(envs.make("glucose/adults", sensor="Dexcom"),
                                   {"basal": controllers.basal_only()}, 1, seed=1)
    assert basal["groups"]["adults"]["basal"]["tir"] < tir["adults"] - 0.3


def test_meals_cover_the_episode_and_a_longer_time_limit_is_refused():
    env = envs.make("glucose/adult#001")  # one day from midnight: one day of meals
    state = env.reset(jax.random.key(0))
    assert state.env_state.meals.time_min.shape == (meals.MEALS_PER_DAY,)
    assert env.max_episode_steps == env.spec.episode_length == 288
    wrappers.wrap_for_training(env, episode_length=288)
    with pytest.raises(ValueError, match="episode_days"):
        wrappers.wrap_for_training(env, episode_length=289)
    # From noon, a day's episode spans two calendar days: both are drawn.
    noon = envs.make("glucose/adult#001", start_hour=12.0)
    assert noon.reset(jax.random.key(0)).env_state.meals.time_min.shape == (12,)
    assert noon.max_episode_steps == (2 * 1440 - 720) // 5
