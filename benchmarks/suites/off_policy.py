"""Suites `sac`, `mpo` and `sac_lagrangian`: training env steps/s and gradient steps/s of the
off-policy learners on classic/pendulum.

    python -m launch.benchmark --suite=sac,mpo,sac_lagrangian

Each at 1, 16 and 128 envs with one gradient step per env step (the papers' ratio) and at 128
envs with 8 gradient steps per iteration (brax's CheetahRun setting); `--quick` keeps the
first two. The same (256, 256) networks and batch 256 in every suite, so they compare: MPO
with acme's defaults otherwise (20 action samples per state), SAC-Lagrangian with its twin
cost critics and the multiplier (default budget; pendulum has no cost, the work is the same).
Each row times the second of two chunks (`benchmarks.measure.algorithm_throughput`),
compilation excluded.
"""

from __future__ import annotations

from benchmarks.measure import algorithm_throughput

SETTINGS = [(1, 1.0), (16, 1.0), (128, 1.0), (128, 8 / 128)]  # (num_envs, grad steps/env step)


def throughput_rows(algo_name: str, quick: bool, steps_per_env: tuple[int, int],
                    min_steps: tuple[int, int]) -> list[dict]:
    """One `algorithm_throughput` row per setting; each chunk is `num_envs * steps_per_env`
    env steps, at least `min_steps` (both pairs: (quick, full))."""
    settings = SETTINGS[:2] if quick else SETTINGS
    rows = []
    for num_envs, ratio in settings:
        steps = max(num_envs * steps_per_env[not quick], min_steps[not quick])
        rows.append(algorithm_throughput(algo_name, "classic/pendulum", num_envs, ratio, steps,
                                         hidden_sizes=(256, 256), batch_size=256))
    return rows


def sac_suite(quick: bool = False) -> list[dict]:
    return throughput_rows("sac", quick, steps_per_env=(20, 200), min_steps=(512, 4096))


def mpo_suite(quick: bool = False) -> list[dict]:
    return throughput_rows("mpo", quick, steps_per_env=(4, 8), min_steps=(256, 1024))


def sac_lagrangian_suite(quick: bool = False) -> list[dict]:
    return throughput_rows("sac_lagrangian", quick, steps_per_env=(4, 8), min_steps=(256, 1024))
