"""Plain SAC on the multi-task quadruped (the ablation's env, with and without the scheduler):
does the unconstrained learner walk its tasks, and does it fall?

    python -m benchmarks.studies.sac_multitask_check   # ~7 min, idle 2-core CPU

250k env steps, seed 0, the quadruped loop of `benchmarks.studies.sac_lagrangian_compare`;
prints the evaluation returns, training episode lengths and exits / falls per 100 episodes.
"""

import driver
from algorithms import sac
from benchmarks.studies import sac_lagrangian_compare as bench


def main():
    overrides = dict(bench.quadruped_overrides(False), total_env_steps=250_000)
    overrides = {k: v for k, v in overrides.items() if hasattr(sac.Config(), k)}
    for scheduler in (True, False):
        env = bench.make_multitask_env(scheduler)
        result = driver.train(sac, env, sac.Config(**overrides), seed=0, progress=False)
        exits = bench.count_workspace_exits(env, result.policy, result.params, 100, seed=1000)
        rows = [m for m in result.metrics if "eval/return" in m]
        print(f"scheduler={scheduler}: eval/return {[round(m['eval/return'], 1) for m in rows]}, "
              f"train episode length {[round(m['train/episode_length']) for m in rows]}, "
              f"{exits}", flush=True)


if __name__ == "__main__":
    main()
