"""One name per idea across the configs, and the migration of the names an earlier release
used (flags, presets and saved run directories written before the rename)."""

import dataclasses

import pytest

import algorithms
from algorithms import mb, pearl
from rlcore.config import RunConfig, apply_overrides, migrate_saved, to_dict

PEARL_SMALL = dict(num_tasks_sample=2, num_steps_prior=10, num_steps_posterior=10,
                   num_extra_rl_steps_posterior=10, num_initial_steps=20, num_train_tasks=3,
                   context_size=4, batch_size=8, rl_buffer_capacity=64)


def test_every_config_uses_one_name_per_idea():
    # Learning rates end in _lr; evaluation cadence is eval_every_steps (env steps); the
    # gradient steps after one round of collection are grad_steps_per_iteration.
    old = {"learning_rate", "eval_every_iterations", "num_train_steps_per_iteration"}
    for name in algorithms.available():
        config_cls = algorithms.get(name).Config
        fields = {f.name for f in dataclasses.fields(config_cls)}
        assert issubclass(config_cls, RunConfig), name
        assert "eval_every_steps" in fields, name
        assert not fields & old, (name, fields & old)
        rates = {f for f in fields if "lr" in f.split("_") or "rate" in f}
        assert all(f.endswith("_lr") for f in rates), (name, rates)


def test_old_flag_names_migrate_to_the_same_config():
    base = pearl.Config(**PEARL_SMALL)
    steps_per_iteration = 2 * (10 + 10 + 10)  # tasks x (prior + posterior + extra), 1 env
    old = apply_overrides(base, {"num_train_steps_per_iteration": "7",
                                 "eval_every_iterations": "3"})
    new = apply_overrides(base, {"grad_steps_per_iteration": "7",
                                 "eval_every_steps": str(3 * steps_per_iteration)})
    assert old == new
    assert new.iterations_per_chunk == 3
    # The round length is the one the other overrides give (num_envs applied first).
    bigger = apply_overrides(base, {"eval_every_iterations": "3", "num_steps_prior": "20"})
    assert bigger.iterations_per_chunk == 3

    model_based = apply_overrides(mb.Config(episode_length=40, num_envs=2),
                                  {"learning_rate": "0.01", "eval_every_iterations": "2"})
    assert model_based.model_lr == 0.01 and model_based.eval_every_steps == 2 * 2 * 40


def test_migration_errors_say_what_to_set():
    with pytest.raises(ValueError, match="eval_every_steps"):  # round length unknown
        apply_overrides(mb.Config(), {"eval_every_iterations": "2"})
    with pytest.raises(ValueError, match="give only 'model_lr'"):
        apply_overrides(mb.Config(), {"learning_rate": "0.1", "model_lr": "0.2"})
    with pytest.raises(ValueError, match="give only eval_every_steps"):
        apply_overrides(pearl.Config(**PEARL_SMALL),
                        {"eval_every_iterations": "2", "eval_every_steps": "60"})
    with pytest.raises(ValueError, match="no field 'eval_every_iterations'"):
        apply_overrides(algorithms.get("sac").Config(), {"eval_every_iterations": "2"})
    with pytest.raises(ValueError, match="Unknown config field 'learning_rat'"):
        apply_overrides(mb.Config(), {"learning_rat": "0.1"})


def test_a_saved_run_of_the_old_names_matches_its_config():
    config = pearl.Config(**PEARL_SMALL, grad_steps_per_iteration=5,
                          eval_every_steps=2 * 60)
    saved = to_dict(config)
    saved["num_train_steps_per_iteration"] = saved.pop("grad_steps_per_iteration")
    del saved["eval_every_steps"]
    saved["eval_every_iterations"] = 2
    assert migrate_saved(config, saved) == to_dict(config)
