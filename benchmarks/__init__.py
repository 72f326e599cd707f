"""Benchmarks: suites that measure speed, studies that compare algorithms, and their results.

    python -m launch.benchmark --suite=glucose,mjx [--quick]   # any name of `SUITES`
    python -m benchmarks.studies.mpo_vs_sac                   # a study with its own notes

Code:
  measure.py  timers and rollouts every suite shares (`measure_env_batches`,
              `algorithm_throughput`, `time_compiled`, `device_name`)
  report.py   the json/markdown writers and the throughput plot
  suites/     throughput: env families (classic, glucose, mjx) and learners' training speed
              (off_policy: sac, mpo, sac_lagrangian; model_based; pearl)
  studies/    learning comparisons and shipped agents (artificial pancreas, MPO vs SAC,
              SAC-Lagrangian vs penalties, PEARL on patients and robots) and the one-off
              scripts behind the notes of some tables (glucose_breakdown, ...)
  accelerator.py  the prepared run for a lent GPU (one command, under 8 minutes, every table
              stamped with the device); pearl_paper.py the paper-budget PEARL runs in
              resumable 10-minute pieces; xla_flags_compile.py what the tests' XLA flags
              save in MJX compile time

Results live next to the code: `<suite>.json` and `<suite>.md` (rows plus a stamp: device,
JAX version, date, command), the plots, and the cache directories of the studies (one json per
trained run). The shipped agents are the small `policy/` checkpoints under
`artificial_pancreas/<preset>/` and `pearl_glucose/seed_<s>/`; run artefacts (full training
checkpoints, TensorBoard logs) are not kept (`.gitignore`).

A suite is a function `(quick: bool) -> list[dict]`, each row a flat dict with at least
`suite`, `name` and, for throughput, `batch_size`, `steps_per_s`, `compile_s`, `device`.
`SUITES` names them explicitly (module and function, imported only when run), in the order
`--suite=all` runs them.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable

DIR = os.path.dirname(os.path.abspath(__file__))  # results are written here
ROOT = os.path.dirname(DIR)  # the repository (studies run `python -m launch.train` from it)

SUITES: dict[str, str] = {
    "classic": "benchmarks.suites.classic:run_suite",
    "sac": "benchmarks.suites.off_policy:sac_suite",
    "artificial_pancreas": "benchmarks.studies.artificial_pancreas:run_suite",
    "glucose": "benchmarks.suites.glucose:run_suite",
    "limits": "benchmarks.suites.limits:run_suite",
    "mjx": "benchmarks.suites.mjx:run_suite",
    "model_based": "benchmarks.suites.model_based:run_suite",
    "mpo": "benchmarks.suites.off_policy:mpo_suite",
    "mpo_vs_sac": "benchmarks.studies.mpo_vs_sac:run_suite",
    "pearl": "benchmarks.suites.pearl:run_suite",
    "pearl_glucose": "benchmarks.studies.pearl_glucose:run_suite",
    "pearl_mjx": "benchmarks.studies.pearl_mjx:run_suite",
    "sac_lagrangian": "benchmarks.suites.off_policy:sac_lagrangian_suite",
    "sac_lagrangian_glucose": "benchmarks.studies.sac_lagrangian_compare:glucose_suite",
    "sac_lagrangian_multitask": "benchmarks.studies.sac_lagrangian_compare:multitask_suite",
    "sac_lagrangian_quadruped": "benchmarks.studies.sac_lagrangian_compare:quadruped_suite",
}


def get(name: str) -> Callable[[bool], list[dict]]:
    """The suite function registered as `name` (its module imported now)."""
    if name not in SUITES:
        raise KeyError(f"Unknown suite {name!r}. Choices: {', '.join(SUITES)}")
    module, function = SUITES[name].split(":")
    return getattr(importlib.import_module(module), function)
