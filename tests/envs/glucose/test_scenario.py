"""Meal scenarios: the CSV format, the env replaying them, and an evaluation's meals replaying
that evaluation (the same meals, the same glucose up to float rounding)."""

import os

import jax
import numpy as np
import pytest

import envs
from envs.glucose import controllers, evaluation, exports, scenario

SIMGLUCOSE_EXAMPLE = os.path.join(os.path.dirname(__file__), "data",
                                  "simglucose_custom_scenario.csv")


def test_simglucose_example_parses_to_its_meals():
    s = scenario.read_csv(SIMGLUCOSE_EXAMPLE)
    # (hour, g) pairs of simglucose's example, by hand: 7 h = minute 420, ...
    assert s.rows == (("", 0, 420.0, 45.0), ("", 0, 720.0, 70.0), ("", 0, 960.0, 15.0),
                      ("", 0, 1080.0, 80.0), ("", 0, 1380.0, 10.0))
    assert s.num_days == 1


def test_csv_columns_days_patients_and_round_trip():
    text = ("# days: 3\npatient,day,minute,carbs_g\nadult#001,0,420,45\n*,1,30,20\n"
            "adult#002,0,1500,60\n")  # minute 1500 of day 0 = day 1, 01:00
    s = scenario.parse_csv(text)
    assert s.num_days == 3
    assert s.meals_of("adult#001") == [(0, 420.0, 45.0), (1, 30.0, 20.0)]
    assert s.meals_of("adult#002") == [(1, 30.0, 20.0), (1, 60.0, 60.0)]
    assert scenario.parse_csv(scenario.to_csv(s), source=s.source) == s
    minute, carbs = s.dense(("adult#001", "adult#002"))
    assert minute.shape == (2, 3, 2) and carbs[1, 1].tolist() == [20.0, 60.0]


@pytest.mark.parametrize("text, message", [
    ("minute,carbs_g\n420,-5\n", "carbs"),
    ("minute,carbs_g\n420,nan\n", "carbs"),
    ("minute,carbs_g\nbreakfast,45\n", "line 2"),
    ("time,carbs_g\n420,45\n", "time column"),
    ("", "header"),
])
def test_bad_scenarios_are_refused_with_a_reason(text, message):
    with pytest.raises(ValueError, match=message):
        scenario.parse_csv(text)


def test_env_refuses_a_scenario_without_its_patients_or_a_missing_file(tmp_path):
    named = scenario.parse_csv("patient,minute,carbs_g\nadult#001,420,45\n")
    with pytest.raises(ValueError, match="no meals for adult#002"):
        envs.make("glucose/adults", scenario=named)
    with pytest.raises(ValueError, match="does not exist"):
        envs.make("glucose/adult#001", scenario=str(tmp_path / "nope.csv"))
    with pytest.raises(ValueError, match="meal_skip_prob"):
        envs.make("glucose/adult#001", scenario=named, meal_skip_prob=0.5)


def test_env_eats_the_scenario_meals_at_their_minutes():
    env = envs.make("glucose/adult#001", scenario=SIMGLUCOSE_EXAMPLE, sensor_noise=False)
    keys, tasks = evaluation.day_keys_and_tasks(env, 1, seed=3)
    trace = jax.jit(evaluation.make_rollout(env, controllers.basal_only(),
                                            env.spec.episode_length))(keys, tasks)
    meal_steps = np.flatnonzero(np.asarray(trace["meal_g"][0]) > 0)
    # The step of minute m covers minutes [5k, 5k + 5): meal minute // 5.
    assert meal_steps.tolist() == [420 // 5, 720 // 5, 960 // 5, 1080 // 5, 1380 // 5]
    assert np.asarray(trace["meal_g"][0])[meal_steps].tolist() == [45, 70, 15, 80, 10]


def test_start_hour_drops_earlier_meals_and_takes_the_next_day():
    s = scenario.parse_csv("day,minute,carbs_g\n0,420,45\n0,1200,80\n1,420,50\n")
    env = envs.make("glucose/adult#001", scenario=s, start_hour=18.0)  # 18:00 to 18:00
    meals = env.reset(jax.random.key(0), scenario_day=0).env_state.meals
    eaten = sorted((float(t), float(c)) for t, c in zip(meals.time_min, meals.carbs_g) if c > 0)
    assert eaten == [(120.0, 80.0), (1440.0 + 420.0 - 1080.0, 50.0)]


def test_an_evaluation_replays_from_its_own_meals_csv(tmp_path):
    """Random days -> meals.csv -> the same days again, across two patients, two days and a
    start at 06:00 (meals of both calendar days)."""
    env = envs.make("glucose/adults", patients=("adult#002", "adult#007"), start_hour=6.0)
    pid = {"pid": controllers.pid(env.dt_min)}
    first, traces = evaluation.evaluate(env, pid, 2, seed=11)
    path = exports.write_meals(str(tmp_path), evaluation.used_scenario(env, traces["pid"], 2))
    replay_env = envs.make("glucose/adults", patients=("adult#002", "adult#007"),
                           start_hour=6.0, scenario=path)
    second, replayed = evaluation.evaluate(replay_env, pid, 2, seed=11)
    # The same meals, exactly; the physiology up to float rounding: the random-day env and
    # the scenario env are two programs that XLA may fuse differently (6e-5 mg/dL apart at
    # the tests' lowered optimisation, bit-identical at the default one).
    np.testing.assert_array_equal(traces["pid"]["meal_g"], replayed["pid"]["meal_g"])
    for key in ("bg", "cgm", "insulin_u_per_h"):
        np.testing.assert_allclose(traces["pid"][key], replayed["pid"][key], rtol=1e-5,
                                   atol=1e-4)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-4),
                 first["patients"], second["patients"])
