"""MPO and SAC on Pendulum-v1 (`classic/pendulum`) over 5 seeds: the final policies.

    python -m benchmarks.studies.pendulum_seeds [--steps=30000] [--num_seeds=5]

Each algorithm trains seeds 0..N-1 as one vmapped program (`driver.train(..., seeds=...)`)
with the settings its learning test had until 2026-12-03 (SAC 256 x 256 networks; MPO
128 x 128, learning rates 3e-4; the tests now run smaller, faster configs) for `--steps` env
steps; every seed's **final** policy then runs 20 episodes from start states
drawn from a stream no training evaluation used (key 1000). Reports each seed's mean return,
the interquartile mean over seeds with its 95% bootstrap interval (`rlcore.stats`), and the
training evaluations' deterministic return per seed (to see whether it falls during training).
Writes `benchmarks/pendulum_seeds.{json,md}`.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import time

import jax
import numpy as np

from benchmarks import DIR

HELD_OUT_KEY = 1000
EPISODES = 20


def configs(steps: int) -> dict:
    from algorithms import mpo, sac

    common = dict(total_env_steps=steps, num_envs=4, batch_size=256, replay_capacity=30_000,
                  warmup_steps=1_000, learning_starts=1_000, grad_steps_per_env_step=0.5,
                  eval_every_steps=4_000, num_eval_envs=10, checkpoint_every_evals=0)
    return {"sac": (sac, sac.Config(hidden_sizes=(256, 256), **common)),
            "mpo": (mpo, mpo.Config(hidden_sizes=(128, 128), policy_lr=3e-4, critic_lr=3e-4,
                                    **common))}


def held_out_returns(env, result, num_seeds: int) -> list[float]:
    from envs import wrappers
    from rlcore import loop

    learner = loop.Learner(init=None, policy_params=None, policy=result.policy, update=None)
    evaluate = jax.jit(loop.make_evaluate(wrappers.wrap_for_eval(env), learner, EPISODES))
    return [float(evaluate(jax.tree.map(lambda x, i=i: x[i], result.params),
                           jax.random.key(HELD_OUT_KEY))["eval/return"])
            for i in range(num_seeds)]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=30_000)
    parser.add_argument("--num_seeds", type=int, default=5)
    parser.add_argument("--algos", default="sac,mpo")
    args = parser.parse_args()
    import driver
    import envs
    from rlcore import stats

    env = envs.make("classic/pendulum")
    out = {"steps": args.steps, "seeds": list(range(args.num_seeds)), "episodes": EPISODES,
           "held_out_key": HELD_OUT_KEY, "device": jax.devices()[0].device_kind,
           "date": time.strftime("%Y-%m-%d"), "algos": {}}
    for name in args.algos.split(","):
        algo, config = configs(args.steps)[name]
        start = time.perf_counter()
        result = driver.train(algo, env, config, seeds=range(args.num_seeds), progress=False)
        wall = time.perf_counter() - start
        final = held_out_returns(env, result, args.num_seeds)
        curves = {s: [round(r["eval/return"], 1) for r in rows]
                  for s, rows in result.per_seed.items()}
        out["algos"][name] = {"config": dataclasses.asdict(config), "final": final,
                              "summary": stats.summarize(np.asarray(final)),
                              "training_eval_return": curves, "train_wall_s": wall}
        print(name, [round(x) for x in final], curves, f"{wall:.0f} s", flush=True)
        with open(os.path.join(DIR, "pendulum_seeds.json"), "w") as f:  # after each algorithm
            json.dump(out, f, indent=1)
    print(markdown(out))


def markdown(out: dict) -> str:
    lines = [f"| algorithm | IQM final return [95% CI] | per seed (held-out) | every seed >= -300 |"
             f" train wall (s, {len(out['seeds'])} seeds) |", "|---|---|---|---|---|"]
    for name, r in out["algos"].items():
        s = r["summary"]
        lines.append(f"| {name} | {s['iqm']:.0f} [{s['iqm_ci_low']:.0f}, {s['iqm_ci_high']:.0f}]"
                     f" | {' / '.join(f'{x:.0f}' for x in r['final'])} | "
                     f"{'yes' if min(r['final']) >= -300 else 'no'} | {r['train_wall_s']:.0f} |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
