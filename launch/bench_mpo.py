"""MPO throughput on classic/pendulum: training env steps/s and gradient steps/s.

    python -m launch.benchmark --suite=mpo

1, 16 and 128 envs at one gradient step per env step, and 128 envs with 8 gradient steps
per iteration (brax's CheetahRun ratio), acme's defaults otherwise (20 action samples per
state, (256, 256) networks, batch 256). Each row times the second of two chunks
(`launch.benchmark.algorithm_throughput`), compilation excluded.
"""

from __future__ import annotations

from launch.benchmark import algorithm_throughput

SETTINGS = [(1, 1.0), (16, 1.0), (128, 1.0), (128, 8 / 128)]


def run_suite(quick: bool = False) -> list[dict]:
    settings = SETTINGS[:2] if quick else SETTINGS
    rows = []
    for num_envs, ratio in settings:
        steps = max(num_envs * (4 if quick else 8), 256 if quick else 1024)
        rows.append(algorithm_throughput("mpo", "classic/pendulum", num_envs, ratio, steps,
                                         hidden_sizes=(256, 256), batch_size=256))
    return rows
