"""MPO learns Pendulum-v1 (`classic/pendulum`) in 13k env steps, 1k of them random warm-up: a tiny
config (64 x 64 networks, learning rates 1e-3, about 2 min on one core), so a wrong update fails
here within CI's budget. The issue's 5-seed bar (every seed >= -300 within 30k steps, final
policies on held-out starts) is the benchmark `python -m benchmarks.studies.pendulum_seeds`, not
a test."""

import time

import pytest

import driver
import envs
from algorithms import mpo

# A learning test: .ci/run runs these in its second step, the long ones on one xdist worker.
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("long_learning")]

# The default MPO settings (acme's: epsilon 0.1, per-dimension mean KL 2.5e-3, dual lr 1e-2,
# 20 samples, targets every 100 steps; but covariance KL 1e-3 and duals 10 / 10 / 10 where
# acme has 1e-6 and 10 / 10 / 1000, see mpo.Config) with small networks and learning rates 1e-3
# (at 3e-4 these networks stay near -900 at 16k steps). 4 envs, one gradient step per two env
# steps, as SAC's test. Measured 2026-12-03 (final evaluation at 13k): -168 / -162 / -112 on
# seeds 0 / 1 / 2.
CONFIG = mpo.Config(total_env_steps=12_000, num_envs=4, batch_size=256, replay_capacity=30_000,
                    warmup_steps=1_000, learning_starts=1_000, grad_steps_per_env_step=0.5,
                    eval_every_steps=2_000, num_eval_envs=10, checkpoint_every_evals=0,
                    hidden_sizes=(64, 64), policy_lr=1e-3, critic_lr=1e-3)


def test_mpo_swings_up_the_pendulum_within_13k_env_steps():
    start, start_cpu = time.perf_counter(), time.process_time()
    result = driver.train(mpo, envs.make("classic/pendulum"), CONFIG, seed=0, progress=False)
    # The budget is the run's own cost: wall time, or this process's CPU time when another
    # xdist worker shares the cores (.ci/run's second step), whichever is smaller.
    minutes = min(time.perf_counter() - start, time.process_time() - start_cpu) / 60
    returns = [round(row["eval/return"]) for row in result.metrics]
    assert result.metrics[-1]["step"] <= 13_000  # 1k random warm-up steps + 12k
    # A random policy scores about -1,200; the swing-up solved scores about -150.
    assert returns[-1] >= -250, f"eval returns over training: {returns}"
    # The decoupled KL constraints hold on average (the mean one is active on pendulum).
    assert result.metrics[-1]["train/kl_mean"] <= 1.5 * CONFIG.epsilon_mean
    assert minutes < 4, f"took {minutes:.1f} min"
    stds = [round(float(row["train/policy_std"]), 3) for row in result.metrics]
    print(f"\nMPO pendulum eval returns {returns}, policy std {stds}, {minutes * 60:.0f} s")
