"""Throughput benchmarks: every env family and algorithm, written to `benchmarks/`.

    python -m launch.benchmark                       # every suite (tens of minutes on a CPU)
    python -m launch.benchmark --suite=sac,classic   # some suites
    python -m launch.benchmark --quick               # smoke run, small batches

A suite is a function returning rows (flat dicts with at least `suite`, `name`, `batch_size`,
`steps_per_s`, `compile_s`, `device`). `sac` and `classic` live here; each
`launch/bench_<name>.py` module with `run_suite(quick)` adds a suite of that name
(glucose, mjx, mpo, ...). Each suite is written to `benchmarks/<suite>.json` (rows plus a
stamp: device, JAX version, date, command) and `benchmarks/<suite>.md` (a markdown table).
"""

from __future__ import annotations

import datetime
import importlib
import json
import os
import pkgutil
import sys
import time
from collections.abc import Callable

import numpy as np
from absl import app, flags

FLAGS = flags.FLAGS


def _define_flags() -> None:
    """Defined at launch, not at import: `python -m launch.benchmark` runs this file as
    `__main__` while the suites import `launch.benchmark` again for its helpers."""
    flags.DEFINE_list("suite", ["all"], "Suites to run (comma separated), or 'all'.")
    flags.DEFINE_bool("quick", False, "Small batches and few steps: a smoke run, not a figure.")
    flags.DEFINE_string("outdir", "benchmarks", "Where the json/md files go.")

BENCH_PREFIX = "bench_"


def device_name() -> str:
    import jax

    device = jax.devices()[0]
    kind = getattr(device, "device_kind", "") or device.platform
    if device.platform == "cpu":
        kind = f"cpu ({os.cpu_count()} cores)"
    return f"{device.platform}: {kind} x{jax.device_count()}"


def _compiled_rollout(env, batch_size: int, num_steps: int, seed: int):
    """(call, compile seconds): one jitted `lax.scan` of `num_steps` training-stack steps with
    uniform random actions over `batch_size` envs; `call()` runs it to completion."""
    import jax

    from envs import wrappers

    batched = wrappers.wrap_for_training(env, env.spec.episode_length)
    low = jax.numpy.asarray(env.spec.action_low)
    high = jax.numpy.asarray(env.spec.action_high)

    def rollout(state, key):
        def body(state, key_step):
            action = jax.random.uniform(key_step, (batch_size, env.spec.action_size),
                                        minval=low, maxval=high)
            state = batched.step(state, action)
            return state, state.reward.mean()

        return jax.lax.scan(body, state, jax.random.split(key, num_steps))

    key_reset, key_run = jax.random.split(jax.random.key(seed))
    state = jax.jit(batched.reset)(jax.random.split(key_reset, batch_size))
    start = time.perf_counter()
    compiled = jax.jit(rollout).lower(state, key_run).compile()
    compile_s = time.perf_counter() - start
    jax.block_until_ready(compiled(state, key_run))  # warm-up (first call allocates)
    return (lambda: jax.block_until_ready(compiled(state, key_run))), compile_s


def measure_env(env, batch_size: int, num_steps: int, seed: int = 0) -> dict:
    """Env steps/s of `env` (unwrapped) vmapped over `batch_size`, with auto-reset, uniform
    random actions, `num_steps` steps in one jitted `lax.scan`; compile time separate."""
    call, compile_s = _compiled_rollout(env, batch_size, num_steps, seed)
    elapsed = _median_call_seconds(call)
    return {"batch_size": batch_size, "steps_per_s": batch_size * num_steps / elapsed,
            "compile_s": compile_s, "unit": "env steps/s"}


def measure_env_batches(env, batch_sizes, num_steps: int, seed: int = 0,
                        rounds: int = 5) -> list[dict]:
    """`measure_env` for several batch sizes, timed in interleaved rounds: each round times
    every batch size, and a row reports the median over rounds. A load drift on a shared
    machine then moves every batch size alike, so their ratio (`x_batch1`, when batch 1 is
    among them) is not at the mercy of when each was timed."""
    calls = {b: _compiled_rollout(env, b, num_steps, seed) for b in batch_sizes}
    times = {b: [] for b in batch_sizes}
    for _ in range(rounds):
        for b, (call, _) in calls.items():
            times[b].append(_median_call_seconds(call, min_total_s=0.2, max_calls=10))
    rows = [{"batch_size": b, "steps_per_s": b * num_steps / float(np.median(times[b])),
             "compile_s": calls[b][1], "unit": "env steps/s"} for b in batch_sizes]
    if 1 in batch_sizes:
        single = rows[list(batch_sizes).index(1)]["steps_per_s"]
        for row in rows:
            row["x_batch1"] = row["steps_per_s"] / single
    return rows


def _median_call_seconds(call, min_total_s: float = 1.0, max_calls: int = 20) -> float:
    """Median wall time of repeated calls, repeated until `min_total_s` has passed (a small
    batch's rollout takes milliseconds: one timing of it is mostly scheduler noise)."""
    times = []
    while not times or (sum(times) < min_total_s and len(times) < max_calls):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def classic_suite(quick: bool = False) -> list[dict]:
    import envs

    rows = []
    for name in [n for n in envs.names() if n.startswith("classic/")]:
        for batch in ((1, 256) if quick else (1, 1024, 16_384)):
            row = measure_env(envs.make(name), batch, 200 if quick else 1000)
            rows.append({"suite": "classic", "name": name, **row, "device": device_name()})
    return rows


def algorithm_throughput(algo_name: str, env_name: str, num_envs: int,
                         grad_steps_per_env_step: float, env_steps: int, **overrides) -> dict:
    """Training env steps/s and gradient steps/s of an off-policy algorithm: two chunks of
    `env_steps`, the second one's timing (compile excluded; `train/compile_s` reported)."""
    import algorithms
    import envs

    algo = algorithms.get(algo_name)
    config = algo.Config(total_env_steps=2 * env_steps, num_envs=num_envs,
                         grad_steps_per_env_step=grad_steps_per_env_step,
                         eval_every_steps=env_steps, num_eval_envs=2, warmup_steps=0,
                         learning_starts=overrides.pop("learning_starts", 256),
                         checkpoint_every_evals=0, **overrides)
    result = algo.train(envs.make(env_name), config, seed=0, progress=False)
    last = result.metrics[-1]
    return {"suite": algo_name, "name": f"{algo_name} on {env_name}", "batch_size": num_envs,
            "steps_per_s": last["train/env_steps_per_s"],
            "grad_steps_per_s": last["train/grad_steps_per_s"],
            "compile_s": last["train/compile_s"], "batch": config.batch_size,
            "grad_steps_per_iteration": config.grad_steps_per_iteration,
            "unit": "env steps/s", "device": device_name()}


def sac_suite(quick: bool = False) -> list[dict]:
    """SAC on pendulum at 1, 16 and 128 envs, one gradient step per env step (the paper's
    ratio), and at 128 envs with 8 gradient steps per iteration (brax's CheetahRun setting)."""
    settings = [(1, 1.0), (16, 1.0), (128, 1.0), (128, 8 / 128)]
    if quick:
        settings = [(1, 1.0), (16, 1.0)]
    rows = []
    for num_envs, ratio in settings:
        steps = max(num_envs * (20 if quick else 200), 512 if quick else 4096)
        rows.append(algorithm_throughput("sac", "classic/pendulum", num_envs, ratio, steps,
                                         hidden_sizes=(256, 256), batch_size=256))
    return rows


BUILTIN_SUITES: dict[str, Callable[[bool], list[dict]]] = {"classic": classic_suite,
                                                           "sac": sac_suite}


def suites() -> dict[str, Callable[[bool], list[dict]]]:
    """Every suite: the built-in ones and each `launch/bench_<name>.py`'s `run_suite`."""
    import launch

    found = dict(BUILTIN_SUITES)
    for info in pkgutil.iter_modules(launch.__path__):
        if info.name.startswith(BENCH_PREFIX):
            module = importlib.import_module(f"launch.{info.name}")
            if hasattr(module, "run_suite"):
                found[info.name[len(BENCH_PREFIX):]] = module.run_suite
    return found


def _format(value) -> str:
    if isinstance(value, float):
        return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.3g}"
    return str(value)


def markdown_table(rows: list[dict]) -> str:
    columns: list[str] = []
    for row in rows:
        columns += [k for k in row if k not in columns and k != "suite"]
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for row in rows:
        lines.append("| " + " | ".join(_format(row.get(c, "")) for c in columns) + " |")
    return "\n".join(lines)


def stamp(command: str) -> dict:
    import jax

    return {"device": device_name(), "jax": jax.__version__,
            "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
            "command": command}


def write_suite(name: str, rows: list[dict], outdir: str, command: str) -> tuple[str, str]:
    """Writes `<outdir>/<name>.json` and `.md`; returns both paths."""
    os.makedirs(outdir, exist_ok=True)
    meta = stamp(command)
    json_path = os.path.join(outdir, f"{name}.json")
    with open(json_path, "w") as f:
        json.dump({**meta, "rows": rows}, f, indent=2)
    md_path = os.path.join(outdir, f"{name}.md")
    with open(md_path, "w") as f:
        f.write(f"# Benchmark: {name}\n\n`{command}`\n\n{meta['device']}, JAX {meta['jax']}, "
                f"{meta['date']}.\n\n{markdown_table(rows)}\n")
    return json_path, md_path


def plot_throughput(rows_by_suite: dict[str, list[dict]], path: str) -> None:
    """Env steps/s against batch size, one line per env/algorithm name, log-log."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for rows in rows_by_suite.values():
        rows = [r for r in rows if isinstance(r, dict) and "name" in r and "batch_size" in r]
        names = sorted({r["name"] for r in rows})
        for name in names:
            points = sorted((r["batch_size"], r["steps_per_s"]) for r in rows
                            if r["name"] == name and r.get("steps_per_s"))
            if len(points) > 1:
                ax.plot(*zip(*points), marker="o", label=name)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("batch size (parallel envs)")
    ax.set_ylabel("steps / s")
    ax.set_title(f"Throughput on {device_name()}")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv):
    del argv
    from absl import logging

    logging.set_verbosity(logging.WARNING)
    available = suites()
    wanted = list(available) if FLAGS.suite == ["all"] else FLAGS.suite
    unknown = [s for s in wanted if s not in available]
    if unknown:
        print(f"error: unknown --suite {unknown}. Choices: {', '.join(available)}",
              file=sys.stderr)
        sys.exit(2)
    results = {}
    for name in wanted:
        command = f"python -m launch.benchmark --suite={name}" + (" --quick" if FLAGS.quick
                                                                  else "")
        start = time.perf_counter()
        rows = available[name](FLAGS.quick)
        json_path, md_path = write_suite(name, rows, FLAGS.outdir, command)
        results[name] = rows
        print(f"\n## {name} ({time.perf_counter() - start:.0f} s) -> {md_path}\n")
        print(markdown_table(rows))
    if results:  # the plot covers every suite on disk, not only the ones run now
        on_disk = {}
        for file in sorted(os.listdir(FLAGS.outdir)):
            if file.endswith(".json"):
                with open(os.path.join(FLAGS.outdir, file)) as f:
                    on_disk[file[:-5]] = json.load(f).get("rows", [])
        plot_throughput(on_disk, os.path.join(FLAGS.outdir, "throughput.png"))


def run():
    _define_flags()
    app.run(main)


if __name__ == "__main__":
    run()
