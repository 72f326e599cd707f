"""The prepared run for a lent accelerator: one command, under 8 minutes on a GPU, every table
stamped with the device.

    python -m benchmarks.accelerator                    # benchmarks/accelerator/<device>.{json,md}
    python -m benchmarks.accelerator --quick --outdir=/tmp/acc   # CPU dry run (a test runs it)

Three parts, in order, each with its share of `--budget_s` (default 480 s):

* **envs** (40%): every env family (classic pendulum, the glucose population, the MJX cheetah,
  ant, walker and quadruped) with uniform random actions at batch 1, 4,096 and 65,536;
* **patient ODE** (15%): the UVA/Padova model alone at 16,384 up to 1,048,576 patients, one
  simulated day, beside simglucose's Python patient on the host;
* **training** (45%): SAC and MPO training throughput at accelerator-sized batches (1,024
  pendulums, 256 x 256 networks, batch 1,024; SAC on 4,096 MJX cheetahs) and PEARL with
  oyster's sizes (`benchmarks.suites.pearl`).

Between measurements each part checks its budget and skips what is left once it is spent (a
row per skipped item says so), so a slow device still ends in time with what it measured.
The tables are rewritten after every row: a run cut short keeps them. Long paper-budget runs
are separate commands that each fit 10 minutes (`benchmarks/pearl_paper.py`).
"""

from __future__ import annotations

import argparse
import os
import re
import time
from collections.abc import Callable

from benchmarks import DIR

ENV_NAMES = ("classic/pendulum", "glucose/all", "mjx/cheetah-run", "mjx/ant-run",
             "mjx/walker-run", "mjx/quadruped-walk")
SHARES = {"envs": 0.40, "patient ODE": 0.15, "training": 0.45}


class Budget:
    """Seconds left to a part; `spent()` once they are gone."""

    def __init__(self, seconds: float):
        self.deadline = time.perf_counter() + seconds

    def spent(self) -> bool:
        return time.perf_counter() >= self.deadline


def env_rows(budget: Budget, quick: bool, emit) -> None:
    import envs
    from benchmarks.measure import device_name, measure_env

    # Batch 1 (latency), 4,096 and 65,536: three compilations per family, which on a GPU are
    # most of the part's time.
    batches = (1, 16) if quick else (1, 4096, 65_536)
    steps = 5 if quick else 100
    for name in ENV_NAMES:
        env = envs.make(name)
        for batch in batches:
            if budget.spent():
                emit({"part": "envs", "name": name, "batch_size": batch, "skipped": "budget"})
                continue
            emit({"part": "envs", "name": name, **measure_env(env, batch, steps),
                  "device": device_name()})


def patient_ode_rows(budget: Budget, quick: bool, emit) -> None:
    from benchmarks.measure import device_name
    from benchmarks.suites import glucose

    minutes = 30 if quick else 1440
    try:  # the test oracle; an accelerator machine may not have it
        reference = glucose.simglucose_row(minutes, "host cpu (one Python process)")
        emit({"part": "patient ODE", **reference})
    except ImportError:
        reference = None
    for batch in ((1, 256) if quick else (16_384, 262_144, 1_048_576)):
        if budget.spent():
            emit({"part": "patient ODE", "name": "patient ODE (SoA)", "batch_size": batch,
                  "skipped": "budget"})
            continue
        for row in glucose.patient_rows((batch,), minutes, device_name()):
            if reference is not None:
                row["x_simglucose"] = row["steps_per_s"] / reference["steps_per_s"]
            emit({"part": "patient ODE", **row})


def training_items(quick: bool) -> list[tuple[str, Callable[[], list[dict]]]]:
    """(name, thunk returning rows) of the training part."""
    from benchmarks.measure import algorithm_throughput
    from benchmarks.suites import pearl

    if quick:
        small = dict(hidden_sizes=(16, 16), batch_size=16, learning_starts=16, episode_length=20)
        settings = [("sac", "classic/pendulum", 8, 1.0, 32),
                    ("mpo", "classic/pendulum", 8, 1.0, 32), ("sac", "mjx/cheetah-run", 4, 1.0, 16)]
        sizes = small
    else:
        settings = [("sac", "classic/pendulum", 1024, 32 / 1024, 1024 * 100),
                    ("mpo", "classic/pendulum", 1024, 32 / 1024, 1024 * 50),
                    ("sac", "mjx/cheetah-run", 4096, 32 / 4096, 4096 * 50)]
        sizes = dict(hidden_sizes=(256, 256), batch_size=1024, learning_starts=4096)
    items = [(f"{algo} on {env} x{num_envs}",
              lambda a=algo, e=env, n=num_envs, r=ratio, s=steps: [
                  algorithm_throughput(a, e, n, r, s, **dict(sizes))])
             for algo, env, num_envs, ratio, steps in settings]
    items.append(("pearl (oyster sizes)", lambda: pearl.run_suite(quick)))
    return items


def training_rows(budget: Budget, quick: bool, emit) -> None:
    for name, thunk in training_items(quick):
        if budget.spent():
            emit({"part": "training", "name": name, "skipped": "budget"})
            continue
        for row in thunk():
            emit({"part": "training", **row})


def device_slug() -> str:
    from benchmarks.measure import device_name

    return re.sub(r"[^a-z0-9]+", "-", device_name().lower()).strip("-")


def run(outdir: str, budget_s: float, quick: bool) -> str:
    """Runs the three parts; returns the markdown path."""
    from benchmarks import report

    command = "python -m benchmarks.accelerator" + (" --quick" if quick else "")
    name = f"accelerator-{device_slug()}"
    rows: list[dict] = []
    paths = report.write_suite(name, rows, outdir, command)

    def emit(row: dict) -> None:
        nonlocal paths
        rows.append(row)
        print({k: (f"{v:,.1f}" if isinstance(v, float) else v) for k, v in row.items()},
              flush=True)
        paths = report.write_suite(name, rows, outdir, command)

    start = time.perf_counter()
    for part, fn in (("envs", env_rows), ("patient ODE", patient_ode_rows),
                     ("training", training_rows)):
        fn(Budget(SHARES[part] * budget_s), quick, emit)
    print(f"{len(rows)} rows in {time.perf_counter() - start:.0f} s: {paths[1]}")
    return paths[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--outdir", default=os.path.join(DIR, "accelerator"))
    parser.add_argument("--budget_s", type=float, default=480.0)
    parser.add_argument("--quick", action="store_true",
                        help="tiny batches and budgets: a dry run that exercises every part")
    args = parser.parse_args()
    run(args.outdir, args.budget_s, args.quick)


if __name__ == "__main__":
    main()
