"""PEARL on a patient population: collection keeps each env's patient, and the held-out report
(`benchmarks.studies.pearl_patients`) computes its metrics from the traces it ran, on the same days
as the baselines, with z from the prior on day 1 and from the context afterwards."""

import chex
import jax
import numpy as np
import pytest

import envs
from algorithms import pearl
from algorithms.pearl import rollout
from benchmarks.studies import pearl_patients as glucose_eval
from envs.glucose import metrics
from tests.algorithms.pearl_toy_env import PointGoal

TINY = pearl.Config(
    num_train_tasks=2, num_test_tasks=2, hidden_sizes=(8,), encoder_hidden_sizes=(8,),
    context_size=4, batch_size=4, meta_batch=2, num_initial_steps=8, num_tasks_sample=1,
    num_steps_prior=8, num_extra_rl_steps_posterior=8, rl_buffer_capacity=16,
    num_eval_episodes=3, episode_length=48, total_env_steps=100)  # 4 h days


class ResamplingPointGoal(PointGoal):
    """The toy family, marked as drawing a new task at every reset (as a patient population
    is): the training stack would resample goals unless PEARL's collection asks it not to."""

    draw_task_per_episode = True


def test_collection_keeps_each_envs_task_through_resets():
    env = ResamplingPointGoal(episode_length=5)
    config = pearl.Config(num_train_tasks=3, num_test_tasks=1, num_envs=2, num_tasks_sample=3,
                          hidden_sizes=(8,), encoder_hidden_sizes=(8,), context_size=4,
                          batch_size=4, meta_batch=2, num_initial_steps=8, num_steps_prior=8,
                          num_extra_rl_steps_posterior=8, rl_buffer_capacity=32)
    state = pearl.init(jax.random.key(0), config, env.spec)
    collect = rollout.make_collect(env, config, pearl.make_policy(config, env.spec))
    goals = env.sample_tasks(jax.random.key(1), 3)
    data, stats = collect(pearl.policy_params(state), goals, rollout.prior(3, config.latent_size),
                          24, jax.random.key(2))
    assert int(stats["episode_count"]) == 3 * 2 * 2  # 12 steps per env: two resets each
    # Every reward of task k is the distance to goal k, before and after the resets.
    distance = np.linalg.norm(np.asarray(data.next_obs) - np.asarray(goals)[:, None], axis=-1)
    np.testing.assert_allclose(np.asarray(data.reward), -distance, rtol=1e-5, atol=1e-6)


@pytest.fixture(scope="module")
def evaluated():
    # Days from 05:00 to 09:00: breakfast's window (5-9 h) lies inside.
    env = envs.make("glucose/adults", max_action_u_per_h=6.0, start_hour=5.0)
    params = pearl.policy_params(pearl.init(jax.random.key(0), TINY, env.spec))
    report, traces = glucose_eval.evaluate_held_out(
        env, TINY, params, np.array([[2.0], [7.0]]), num_chains=2, seed=5, return_traces=True)
    return env, report, traces


def test_report_structure(evaluated):
    _, report, traces = evaluated
    columns = ["basal_only", "basal_bolus", "pearl_prior", "pearl_posterior_1d",
               "pearl_posterior_2d"]
    assert report["columns"] == columns
    assert list(report["patients"]) == ["adult#003", "adult#008"]
    assert report["settings"]["days_per_chain"] == 3 and report["settings"]["num_chains"] == 2
    for column in columns:
        for patient in report["patients"].values():
            assert set(patient[column]) == set(metrics.METRIC_NAMES)
        assert set(report["mean"][column]) == set(metrics.METRIC_NAMES)
    assert traces["pearl_prior"]["bg"].shape == (2, 2, 48)  # patients, chains, steps
    assert traces["basal_bolus"]["bg"].shape == (2, 2 * 3, 48)  # patients, chains x days
    table = glucose_eval.format_report(report)
    assert table.count("\n") == 1 + 3 * len(columns)  # header rule + 2 patients and the mean


def test_metrics_are_those_of_the_traces(evaluated):
    """TIR / TBR of every column and patient are the consensus ranges of its blood glucose
    readings (counted here directly), and the mean is the mean over patients."""
    _, report, traces = evaluated
    for column in report["columns"]:
        for i, name in enumerate(report["patients"]):
            bg = traces[column]["bg"][i].ravel()
            s = report["patients"][name][column]
            assert s["tir"] == pytest.approx(np.mean((bg >= 70) & (bg <= 180)), abs=1e-6)
            assert s["tbr70"] == pytest.approx(np.mean(bg < 70), abs=1e-6)
            assert s["tbr54"] == pytest.approx(np.mean(bg < 54), abs=1e-6)
            assert s["mean"] == pytest.approx(float(metrics.summary(bg)["mean"]), rel=1e-5)
        assert report["mean"][column]["tir"] == pytest.approx(
            np.mean([p[column]["tir"] for p in report["patients"].values()]))


def test_baselines_run_the_same_days(evaluated):
    """Meals depend only on a day's reset key: the carbs of PEARL's day k of chain r equal the
    baselines' on their day (r, k), and differ between days."""
    _, _, traces = evaluated
    meals_pearl = np.stack([traces[c]["meal_g"] for c in ("pearl_prior", "pearl_posterior_1d",
                                                          "pearl_posterior_2d")], axis=2)
    for name in ("basal_only", "basal_bolus"):
        np.testing.assert_array_equal(traces[name]["meal_g"].reshape(2, 2, 3, 48), meals_pearl)
    assert not np.array_equal(meals_pearl[:, 0, 0], meals_pearl[:, 0, 1])


def test_prior_on_day_one_then_the_context(evaluated):
    """Day 1's z comes from N(0, I); later days' from a posterior narrowed by the context."""
    env, report, _ = evaluated
    std = report["posterior_std"]
    assert std[0] == pytest.approx(1.0)
    assert std[1] < 1.0 and std[2] < std[1]  # more context, more precision


def test_a_run_directory_gives_its_policy_and_held_out_patients(tmp_path):
    """`load_run` reads back what `launch.train` saved (flags, policy) and finds the held-out
    patients that `driver.train("pearl", ...)` drew for the run's seed."""
    from rlcore import checkpoint
    from rlcore import config as config_lib

    seed = 3
    overrides = {k: ",".join(map(str, v)) if isinstance(v, list) else str(v)
                 for k, v in config_lib.to_dict(TINY).items()}
    checkpoint.save_json(str(tmp_path / "flags.json"), {
        "algo": "pearl", "env": "glucose/adults", "seed": seed,
        "config_overrides": overrides, "env_args": {"max_action_u_per_h": 6.0}})
    env = envs.make("glucose/adults", max_action_u_per_h=6.0)
    params = pearl.policy_params(pearl.init(jax.random.key(7), TINY, env.spec))
    checkpoint.save_policy(str(tmp_path), params)

    loaded_env, config, loaded, test_tasks = glucose_eval.load_run(str(tmp_path))
    assert config == TINY and loaded_env.config == env.config
    chex.assert_trees_all_close(loaded, params)
    _, expected = pearl.sample_train_test_tasks(env, TINY, jax.random.split(
        jax.random.key(seed), 4)[1])
    np.testing.assert_array_equal(np.asarray(test_tasks), np.asarray(expected))
