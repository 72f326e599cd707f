"""The iterative model-based loop (MB, MB+DE, GrBAL, ReBAL): a tiny run logs the evaluation
metrics every evaluation and resumes from its checkpoint; MPC on MB's learned model of one
linear system beats uniform random actions; launch.train runs the algorithms."""

import os
import subprocess
import sys

import jax
import numpy as np
import pytest
from linear_gain_env import LinearGainFamily, random_trajectories

import algorithms
import driver
from rlcore.report import print_eval_table

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TINY = dict(M=4, K=4, horizon=3, candidates=32, hidden_sizes=(16,), batch_size=16,
            grad_steps_per_iteration=20, num_envs=2, num_eval_envs=2)
EVAL_METRICS = ("eval/return", "eval/model_error_adapted", "eval/model_error_unadapted")


@pytest.mark.parametrize("name", ["mbde", "grbal", "rebal"])
def test_tiny_run_logs_eval_metrics_every_evaluation(name):
    algo = algorithms.get(name)
    extra = {"gru_size": 8} if name == "rebal" else {}
    config = algo.Config(total_env_steps=3 * 2 * 20, eval_every_steps=2 * 2 * 20, **TINY, **extra)
    result = driver.train(algo, LinearGainFamily(episode_length=20), config, seed=0)
    # Three rounds of 2 episodes x 20 steps; evaluations after rounds 2 and 3 (the last).
    assert [row["step"] for row in result.metrics] == [80.0, 120.0]
    for row in result.metrics:
        for metric in EVAL_METRICS:
            assert np.isfinite(row[metric]), (metric, row)
    # An adaptive model: adapting from the last M transitions changes the prediction error.
    assert result.metrics[-1][EVAL_METRICS[1]] != result.metrics[-1][EVAL_METRICS[2]]
    assert "eval/model_error_adapted" in print_eval_table(result.metrics)


def test_mb_plans_better_than_random_actions_and_resumes(tmp_path):
    env = LinearGainFamily(episode_length=30, fixed_gain=(1.0, -1.0))  # one linear system
    config = algorithms.get("mb").Config(
        M=4, K=4, horizon=4, candidates=128, hidden_sizes=(32, 32), batch_size=32,
        grad_steps_per_iteration=150, model_lr=3e-3, total_env_steps=3 * 4 * 30,
        num_envs=4, num_eval_envs=4, exploration_noise=0.0)
    workdir = str(tmp_path / "mb")
    result = driver.train("mb", env, config, seed=0, workdir=workdir)
    assert [row["step"] for row in result.metrics] == [120.0, 240.0, 360.0]
    last = result.metrics[-1]
    assert last[EVAL_METRICS[1]] == last[EVAL_METRICS[2]]  # MB never adapts
    random_traj = random_trajectories(env, jax.random.key(1), 64)
    random_return = float(np.mean(np.sum(np.asarray(jax.vmap(jax.vmap(env.reward_fn))(
        random_traj.obs, random_traj.action, random_traj.next_obs, random_traj.obs)), axis=1)))
    # Random actions score about -80 here; MPC on the learned model stays near the target.
    assert last["eval/return"] > 0.5 * random_return, (last["eval/return"], random_return)
    # The same call on the same directory restores the final checkpoint and trains no more.
    resumed = driver.train("mb", env, config, seed=0, workdir=workdir)
    assert resumed.metrics == result.metrics
    assert int(resumed.state.training_state.env_steps) == 360


def test_launch_train_runs_grbal_on_the_linear_family():
    args = ["--algo=grbal", "--env=toy/linear-gains", "--steps=120", "--num_envs=2",
            "--progress=false", "--config.M=4", "--config.K=4", "--config.horizon=3",
            "--config.candidates=16", "--config.hidden_sizes=8", "--config.batch_size=8",
            "--config.grad_steps_per_iteration=5", "--config.num_eval_envs=2",
            "--config.episode_length=20"]
    out = subprocess.run([sys.executable, "tests/algorithms/linear_gain_env.py", *args],
                         cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "eval/model_error_adapted" in out.stdout and "eval/return" in out.stdout


def test_eval_env_is_the_test_split_of_a_family_built_with_a_split(monkeypatch):
    from algorithms.mb import loop

    class SplitFamily(LinearGainFamily):  # an MJX-style family: the split is a constructor arg
        split = "train"

        def sample_tasks(self, key, num_tasks):
            return super().sample_tasks(key, num_tasks, split=self.split)

    calls = []
    monkeypatch.setattr("envs.base.make", lambda name, **kw: calls.append((name, kw)) or "test")
    assert loop.make_eval_env(SplitFamily(episode_length=30)) == "test"
    assert calls == [("toy/linear-gains", {"split": "test", "episode_length": 30})]
    plain = LinearGainFamily()  # sample_tasks takes the split itself: evaluated as is
    assert loop.make_eval_env(plain) is plain
