"""MPO learns Pendulum-v1: the issue's bar is a mean deterministic return >= -250 within 30k
env steps, in under 5 minutes on the 2-core CI machine."""

import time

import pytest

import driver
import envs
from algorithms import mpo

# A learning test: .ci/run runs these in its second step, the long ones on one xdist worker.
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("long_learning")]

# The default MPO settings (acme's: epsilon 0.1, per-dimension mean KL 2.5e-3, dual lr 1e-2,
# 20 samples, targets every 100 steps; but covariance KL 1e-3 and duals 10 / 10 / 10 where
# acme has 1e-6 and 10 / 10 / 1000, see mpo.Config) with pendulum-sized
# networks and learning rates 3e-4 instead of acme's 1e-4 (which needs about 20k steps here
# rather than about 11k). 4 envs, one gradient step per two env steps, as SAC's test.
CONFIG = mpo.Config(total_env_steps=20_000, num_envs=4, batch_size=256, replay_capacity=30_000,
                    warmup_steps=1_000, learning_starts=1_000, grad_steps_per_env_step=0.5,
                    eval_every_steps=4_000, num_eval_envs=10, checkpoint_every_evals=0,
                    hidden_sizes=(128, 128), policy_lr=3e-4, critic_lr=3e-4)


def test_mpo_solves_pendulum_within_30k_steps():
    start, start_cpu = time.perf_counter(), time.process_time()
    result = driver.train(mpo, envs.make("classic/pendulum"), CONFIG, seed=0, progress=False)
    # The budget is the run's own cost: wall time, or this process's CPU time when another
    # xdist worker shares the cores (.ci/run's second step), whichever is smaller.
    minutes = min(time.perf_counter() - start, time.process_time() - start_cpu) / 60
    returns = [round(row["eval/return"]) for row in result.metrics]
    assert result.metrics[-1]["step"] <= 30_000
    # A random policy scores about -1,200; the swing-up solved scores about -150.
    assert returns[-1] >= -250, f"eval returns over training: {returns}"
    # The decoupled KL constraints hold on average (the mean one is active on pendulum).
    assert result.metrics[-1]["train/kl_mean"] <= 1.5 * CONFIG.epsilon_mean
    assert minutes < 5, f"took {minutes:.1f} min"
    stds = [round(float(row["train/policy_std"]), 3) for row in result.metrics]
    print(f"\nMPO pendulum eval returns {returns}, policy std {stds}, {minutes * 60:.0f} s")
