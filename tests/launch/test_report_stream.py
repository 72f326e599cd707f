"""The final report's meal days are days no training reset drew.

Every reset of a tiny training run (its collection envs and its evaluations) reports the meal
plan it drew through `jax.debug.callback`; the report's days for `--eval_seed` (launch.train's
default, and the training seed itself) must share none of them. A negative control shows the
detector finds a day when one is shared.
"""

import jax
import numpy as np

import driver
import envs
from algorithms import sac
from envs.glucose import evaluation

TINY = sac.Config(total_env_steps=160, num_envs=4, batch_size=16, replay_capacity=256,
                  warmup_steps=32, learning_starts=32, eval_every_steps=80, num_eval_envs=2,
                  hidden_sizes=(8,), grad_steps_per_env_step=0.25, checkpoint_every_evals=0,
                  episode_length=20)


def _days(time_min, carbs_g) -> set[tuple]:
    """Meal plans as hashable rows: (minute, g) of every slot, one row per episode."""
    times = np.asarray(time_min).reshape(-1, np.shape(time_min)[-1])
    carbs = np.asarray(carbs_g).reshape(-1, np.shape(carbs_g)[-1])
    return {tuple(np.round(np.concatenate([t, c]), 3)) for t, c in zip(times, carbs)}


def _recording(env):
    """`env` whose every reset adds the meal plan it drew to the returned set."""
    drawn: set[tuple] = set()
    reset = env.reset

    def recording_reset(key, task=None, **kwargs):
        state = reset(key, task, **kwargs)
        meals = state.env_state.meals
        jax.debug.callback(lambda t, c: drawn.update(_days(t, c)), meals.time_min,
                           meals.carbs_g)
        return state

    env.reset = recording_reset  # the instance's reset: BatchAutoReset and the evaluations call it
    return env, drawn


def _report_days(env, seed: int, num_days: int) -> set[tuple]:
    keys, tasks = evaluation.day_keys_and_tasks(env, num_days, seed)
    state = jax.vmap(env.reset)(keys, tasks)
    return _days(state.env_state.meals.time_min, state.env_state.meals.carbs_g)


def test_report_days_are_not_training_days():
    env, drawn = _recording(envs.make("glucose/adult#001"))
    seed = 7
    driver.train(sac, env, TINY, seed=seed, progress=False)
    jax.effects_barrier()
    # 4 envs reset 3 times (160 steps of 20-step episodes) and 2 evaluations of 2 envs.
    assert len(drawn) >= 12, len(drawn)
    del env.reset  # the class's reset again: the report does not record
    for eval_seed in (1000, seed):  # launch.train's default; a training seed (refused there)
        report = _report_days(env, eval_seed, num_days=30)
        assert len(report) == 30
        assert not report & drawn, f"eval_seed {eval_seed}: {len(report & drawn)} shared days"


def test_the_detector_finds_a_shared_day():
    env, drawn = _recording(envs.make("glucose/adult#001"))
    keys, tasks = evaluation.day_keys_and_tasks(env, 30, 1000)
    jax.vmap(env.reset)(keys[3:5], tasks[3:5])  # a "training" reset on two report keys
    jax.effects_barrier()
    del env.reset
    assert len(_report_days(env, 1000, 30) & drawn) == 2
