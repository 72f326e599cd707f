"""Benchmark suite `sac_lagrangian_glucose`: see `launch.bench_sac_lagrangian` (what is compared,
budgets, where per-run results are saved).

    python -m launch.benchmark --suite=sac_lagrangian_glucose
"""

from __future__ import annotations

from launch.bench_sac_lagrangian import glucose_suite


def run_suite(quick: bool = False) -> list[dict]:
    return glucose_suite(quick)
