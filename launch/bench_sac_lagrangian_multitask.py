"""Benchmark suite `sac_lagrangian_multitask`: see `launch.bench_sac_lagrangian` (what is compared,
budgets, where per-run results are saved).

    python -m launch.benchmark --suite=sac_lagrangian_multitask
"""

from __future__ import annotations

from launch.bench_sac_lagrangian import multitask_suite


def run_suite(quick: bool = False) -> list[dict]:
    return multitask_suite(quick)
