"""Benchmark suite `sac_lagrangian_quadruped`: see `launch.bench_sac_lagrangian` (what is compared,
budgets, where per-run results are saved).

    python -m launch.benchmark --suite=sac_lagrangian_quadruped
"""

from __future__ import annotations

from launch.bench_sac_lagrangian import quadruped_suite


def run_suite(quick: bool = False) -> list[dict]:
    return quadruped_suite(quick)
