"""docs/driver.md's walkthrough: a new off-policy algorithm (`ddpg_example.py`) gets the whole
driver (evaluation rows, checkpoints and resume, many seeds) from its `make_program` alone."""

import sys
import types

import numpy as np
import pytest

import driver
import envs

sys.path.insert(0, __file__.rsplit("/", 1)[0])
import ddpg_example  # noqa: E402

CONFIG = ddpg_example.Config(total_env_steps=192, num_envs=2, batch_size=16,
                             replay_capacity=256, warmup_steps=32, learning_starts=32,
                             eval_every_steps=64, num_eval_envs=2, hidden_sizes=(16,),
                             episode_length=20)


def test_a_new_algorithm_trains_checkpoints_and_resumes(tmp_path):
    env = envs.make("classic/pendulum")
    algo = types.SimpleNamespace(__name__="ddpg", make_program=ddpg_example.make_program)
    result = driver.train(algo, env, CONFIG, seed=0, workdir=str(tmp_path), progress=False)
    assert len(result.metrics) == CONFIG.num_evals == 3
    row = result.metrics[-1]
    assert np.isfinite(row["train/critic_loss"]) and np.isfinite(row["eval/return"])
    assert "eval/return_stochastic" in row and (tmp_path / "metrics.csv").exists()
    # The run directory resumes: a finished run trains nothing more and gives the same rows.
    again = driver.train(algo, env, CONFIG, seed=0, workdir=str(tmp_path), progress=False)
    assert [r["eval/return"] for r in again.metrics] == [r["eval/return"]
                                                         for r in result.metrics]
    with pytest.raises(ValueError, match="critic_lr"):
        driver.train(algo, env, ddpg_example.Config(**{**CONFIG.__dict__,
                                                       "critic_lr": 1e-2}),
                     workdir=str(tmp_path), progress=False)


def test_a_new_algorithm_runs_many_seeds_in_one_program():
    env = envs.make("classic/pendulum")
    algo = types.SimpleNamespace(__name__="ddpg", make_program=ddpg_example.make_program)
    result = driver.train(algo, env, CONFIG, seeds=(0, 1), progress=False)
    assert set(result.per_seed) == {0, 1} and "eval/return_iqm" in result.metrics[-1]
    first = [r["eval/return"] for r in result.per_seed[0]]
    assert first != [r["eval/return"] for r in result.per_seed[1]]
