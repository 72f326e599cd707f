"""Many seeds in one jit: the wall time of 8 seeds in one program against one seed.

    python -m benchmarks.seeds_wall            # prints the row of benchmarks/seeds.md

A wall-time ratio belongs in a benchmark, not a test (a loaded CI machine makes it flaky):
this was `tests/driver/test_seeds.py::test_eight_seeds_in_one_jit_take_less_than_three_times_
one_seed` until 2026-12-03, with the same config. The criterion of benchmarks/seeds.md is a
whole-run wall ratio under 3 (compile included); the steady-state ratio (compile excluded) is
printed beside it.
"""

from __future__ import annotations

import time

import driver
import envs
from algorithms import sac

CONFIG = sac.Config(total_env_steps=10_000, num_envs=16, batch_size=32, replay_capacity=4096,
                    warmup_steps=64, learning_starts=64, eval_every_steps=16 * 200,
                    hidden_sizes=(32, 32), grad_steps_per_env_step=1 / 16,
                    checkpoint_every_evals=0, num_eval_envs=4, episode_length=200)


def measure(num_seeds: int = 8) -> dict[str, float]:
    """Wall seconds of a one-seed and a `num_seeds`-seed run, their compile seconds, and the
    wall and steady-state (compile excluded, per seed) ratios."""
    env = envs.make("classic/pendulum")
    start = time.perf_counter()
    one = driver.train(sac, env, CONFIG, seed=0, progress=False)
    wall_one = time.perf_counter() - start
    start = time.perf_counter()
    many = driver.train(sac, env, CONFIG, seeds=range(num_seeds), progress=False)
    wall_many = time.perf_counter() - start

    def steps_per_s(rows):  # one seed's env steps per second, compile excluded
        return max(r["train/env_steps_per_s"] for r in rows)

    return {"wall_one_s": wall_one, "compile_one_s": one.metrics[0]["train/compile_s"],
            "wall_many_s": wall_many, "compile_many_s": many.metrics[0]["train/compile_s"],
            "wall_ratio": wall_many / wall_one,
            "steady_ratio": num_seeds * steps_per_s(one.metrics) / steps_per_s(many.metrics)}


def main() -> None:
    m = measure()
    print("| run | wall s (whole run) | compile s (chunk) | wall ratio | steady-state time ratio |")
    print(f"| 1 seed | {m['wall_one_s']:.1f} | {m['compile_one_s']:.1f} | 1 | 1 |")
    print(f"| 8 seeds in one jit | {m['wall_many_s']:.1f} | {m['compile_many_s']:.1f} | "
          f"{m['wall_ratio']:.2f} | {m['steady_ratio']:.2f} |")


if __name__ == "__main__":
    main()
