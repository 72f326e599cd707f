"""Is the MPO policy's pre-squash mean saturated on cheetah-run when its return falls?

    python -m benchmarks.studies.mpo_saturation_check   # about 5 min on the idle 2-core CPU

Trains MPO (the mpo_vs_sac cheetah setting, seed 1, 32k env steps), printing each
evaluation, then the distribution of |mean| of the pre-squash Gaussian over replay states.
"""

import importlib

import numpy as np

import driver
import envs
from algorithms import mpo
from algorithms.mpo import losses
from rlcore import normalize

mpo_train = importlib.import_module("algorithms.mpo.train")  # `mpo.train` is the function


def main():
    env = envs.make("mjx/cheetah-run")
    config = mpo.Config(
        total_env_steps=32_000, num_envs=32, batch_size=256, replay_capacity=100_000,
        warmup_steps=5_000, learning_starts=5_000, grad_steps_per_env_step=0.125,
        eval_every_steps=8_000, num_eval_envs=8, hidden_sizes=(256, 256),
        checkpoint_every_evals=0, policy_lr=3e-4, critic_lr=3e-4)

    def on_eval(step, row):
        print(f"{step} eval/return {row['eval/return']:.1f} train/q {row['train/q']:.3f} "
              f"std {row['train/policy_std']:.3f}", flush=True)

    result = driver.train(mpo, env, config, seed=1, progress=False, on_eval=on_eval)
    buffer = result.state.training_state.buffer
    obs = buffer.data.obs[:20_000]
    params = result.params
    if config.normalize_observations:
        obs = normalize.normalize(params.normalizer, obs)
    networks = mpo_train.make_networks(config, env.spec)
    dist = losses.policy_gaussian(networks, params.policy, obs)
    mean = np.abs(np.asarray(dist.mean))
    print(f"|mean u| median {np.median(mean):.2f}, p90 {np.percentile(mean, 90):.2f}, "
          f"fraction beyond 2: {(mean > 2).mean():.3f}, std {float(np.mean(dist.std)):.2f}")


if __name__ == "__main__":
    main()
