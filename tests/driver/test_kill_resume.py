"""Real kills, real resumes: `python -m launch.train` processes stopped at a random moment and
resumed with `--resume` reproduce the uninterrupted run bit for bit (issue 28).

Each case trains a tiny config twice in fresh run directories: once to the end (the
reference), once interrupted and resumed until it finishes. Interruptions:
* SIGTERM once a random checkpoint exists: the run ends its chunk, saves a checkpoint there
  and exits 143, having lost nothing (its newest checkpoint is its last metrics row);
* SIGKILL once a random checkpoint exists (a few milliseconds later, at random);
* SIGKILL while a checkpoint is being written (orbax's `<step>.orbax-checkpoint-tmp`
  directory exists): the run resumes from the checkpoint before.
After a SIGKILL at most one checkpoint interval (one evaluation here) of rows lies past the
newest checkpoint, and the resumed process says it resumes from that checkpoint. The finished
run's metrics rows (every metrics.csv, per seed too; timing columns left out) and its final
policy parameters equal the reference's exactly.

Matrix: SAC on classic/pendulum (SIGTERM, then SIGKILL of the resumed process), Lagrangian SAC
with two seeds, MPO with four seeds on four host devices, PEARL on the toy point-goal family
(killed mid-checkpoint) and GrBAL on the toy linear-gain family. Every process compiles at the
lowered XLA level (tests/xla_flags.py), the reference and the interrupted run alike; the cases
run two at a time (two processes at once at most). The moments are drawn from
JAXRL_KILL_SEED (default: a fresh seed, printed in every failure message).
"""

from __future__ import annotations

import csv
import glob
import os
import random
import re
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from typing import NamedTuple

import numpy as np
import pytest

from tests.xla_flags import with_lowered_opt

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TIMING = ("train/env_steps_per_s", "train/grad_steps_per_s", "train/compile_s")
TMP_SUFFIX = ".orbax-checkpoint-tmp"
TIMEOUT_S = 300
SEED = int(os.environ.get("JAXRL_KILL_SEED", random.SystemRandom().randrange(2**31)))

# 32 prefill steps, then 8 chunks of 32 env steps: 8 evaluations, a checkpoint after each.
OFF_POLICY = ["--env=classic/pendulum", "--steps=288", "--num_envs=2",
              "--config.batch_size=16", "--config.replay_capacity=256",
              "--config.warmup_steps=32", "--config.learning_starts=32",
              "--config.eval_every_steps=32", "--config.num_eval_envs=2",
              "--config.hidden_sizes=8", "--config.grad_steps_per_env_step=0.5",
              "--config.episode_length=20"]
# make_pins.py's PEARL with one iteration (2 tasks x 30 steps) per evaluation: 6 evaluations.
PEARL = ["--algo=pearl", "--env=toy/point-goal", "--steps=420",
         "--config.num_train_tasks=3", "--config.num_test_tasks=2", "--config.hidden_sizes=8",
         "--config.encoder_hidden_sizes=8", "--config.context_size=4",
         "--config.batch_size=8", "--config.meta_batch=2", "--config.num_initial_steps=20",
         "--config.num_tasks_sample=2", "--config.num_steps_prior=10",
         "--config.num_steps_posterior=10", "--config.num_extra_rl_steps_posterior=10",
         "--config.grad_steps_per_iteration=4", "--config.rl_buffer_capacity=64",
         "--config.num_eval_episodes=2", "--config.eval_every_steps=60"]
# make_pins.py's GrBAL, a round of 2 envs x 20 steps per evaluation: 6 evaluations.
GRBAL = ["--algo=grbal", "--env=toy/linear-gains", "--steps=280", "--num_envs=2",
         "--config.M=4", "--config.K=4", "--config.horizon=3", "--config.candidates=16",
         "--config.hidden_sizes=8", "--config.batch_size=8",
         "--config.grad_steps_per_iteration=5", "--config.num_eval_envs=2",
         "--config.episode_length=20", "--config.eval_every_steps=40"]
# launch.train with the toy PEARL family registered (tests/algorithms/linear_gain_env.py
# does the same for GrBAL's family when run as a script).
PEARL_MAIN = ("import sys; sys.path.insert(0, 'tests/algorithms'); import envs; "
              "from pearl_toy_env import PointGoal; envs.register('toy/point-goal', PointGoal); "
              "from launch import train; train.run()")


class Case(NamedTuple):
    args: list[str]
    interruptions: tuple[str, ...]  # "term", "kill" or "kill_mid_checkpoint", in order
    command: tuple[str, ...] = ("-m", "launch.train")
    host_devices: int | None = None


# The longest first (four processes; four devices): the two slots finish together.
CASES = {
    "sac": Case(["--algo=sac", *OFF_POLICY], ("term", "kill")),
    "mpo": Case(["--algo=mpo", "--num_seeds=4", "--devices=4", "--config.num_samples=4",
                 *OFF_POLICY], ("kill",), host_devices=4),
    "sac_lagrangian": Case(["--algo=sac_lagrangian", "--num_seeds=2", *OFF_POLICY],
                           ("kill",)),
    "pearl": Case(PEARL, ("kill_mid_checkpoint",), command=("-c", PEARL_MAIN)),
    "grbal": Case(GRBAL, ("kill",), command=("tests/algorithms/linear_gain_env.py",)),
}


def _environ(case: Case) -> dict:
    flags = os.environ.get("XLA_FLAGS", "")
    if case.host_devices:
        flags = f"{flags} --xla_force_host_platform_device_count={case.host_devices}"
    # Every compiled program cached, however short its compile: the reference run compiles,
    # the interrupted and resumed processes load the same executables.
    return dict(os.environ, XLA_FLAGS=with_lowered_opt(flags.strip()), JAX_PLATFORMS="cpu",
                PYTHONPATH=ROOT, JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS="0")


def _start(case: Case, workdir: str, resume: bool, log: str) -> tuple[subprocess.Popen, str]:
    args = ([f"--workdir={workdir}", "--resume"] if resume
            else [*case.args, f"--workdir={workdir}"])
    out = open(log, "w")  # noqa: SIM115 - closed by _finish
    proc = subprocess.Popen([sys.executable, *case.command, *args, "--progress=false"],
                            cwd=ROOT, env=_environ(case), stdout=out, stderr=subprocess.STDOUT)
    proc.log_file = out
    return proc, log


def _finish(proc: subprocess.Popen, log: str, timeout: float = TIMEOUT_S) -> tuple[int, str]:
    try:
        rc = proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        rc = proc.wait()
    proc.log_file.close()
    with open(log) as f:
        return rc, f.read()


def _complete_steps(workdir: str) -> set[int]:
    directory = os.path.join(workdir, "checkpoints")
    try:
        return {int(n) for n in os.listdir(directory) if n.isdigit()}
    except FileNotFoundError:
        return set()


def _writing(workdir: str) -> bool:
    try:
        return any(n.endswith(TMP_SUFFIX) for n in os.listdir(os.path.join(workdir, "checkpoints")))
    except FileNotFoundError:
        return False


def _rows(path: str) -> list[dict[str, str]]:
    with open(path, newline="") as f:
        return [{k: v for k, v in row.items() if k not in TIMING} for row in csv.DictReader(f)]


def _all_rows(workdir: str) -> dict[str, list[dict[str, str]]]:
    """Every metrics.csv of the run (per seed too), as written: exact decimal strings."""
    return {os.path.relpath(p, workdir): _rows(p)
            for p in sorted(glob.glob(os.path.join(workdir, "**", "metrics.csv"),
                                      recursive=True))}


def _policy(workdir: str) -> dict[str, np.ndarray]:
    """The saved final policy's arrays by name, read as NumPy arrays on the saved shapes (no
    template; the run may have saved them sharded over host devices this process lacks)."""
    import orbax.checkpoint as ocp

    manager = ocp.CheckpointManager(os.path.join(workdir, "policy"),
                                    item_handlers=ocp.StandardCheckpointHandler())
    try:
        step = manager.latest_step()
        target = {k: np.zeros(m.shape, m.dtype) for k, m in manager.item_metadata(step).items()}
        restored = manager.restore(step, args=ocp.args.StandardRestore(target))
        return {k: np.asarray(v) for k, v in restored.items()}
    finally:
        manager.close()


def _interrupt(case: Case, workdir: str, how: str, resume: bool, rng: random.Random,
               log: str) -> dict:
    """Starts the run (or resumes it), interrupts it as `how` says once a random number of
    new checkpoints exist, and returns what the run directory then holds."""
    before = _complete_steps(workdir)
    proc, log = _start(case, workdir, resume, log)
    wait_for = rng.randint(1, 3)  # new complete checkpoints before the interruption
    delay = rng.uniform(0.0, 0.03) if how == "kill" else 0.0
    deadline = time.monotonic() + TIMEOUT_S
    while len(_complete_steps(workdir) - before) < wait_for:
        if proc.poll() is not None or time.monotonic() > deadline:
            rc, out = _finish(proc, log, timeout=1)
            raise AssertionError(f"{how}: the run ended (rc {rc}) before {wait_for} new "
                                 f"checkpoints:\n{out[-3000:]}")
        time.sleep(0.002)
    if how == "kill_mid_checkpoint":
        while not _writing(workdir):
            if proc.poll() is not None or time.monotonic() > deadline:
                rc, out = _finish(proc, log, timeout=1)
                raise AssertionError(f"no checkpoint was seen being written (rc {rc}):\n"
                                     f"{out[-3000:]}")
            time.sleep(0.001)
    time.sleep(delay)
    was_writing = _writing(workdir)
    proc.send_signal(signal.SIGTERM if how == "term" else signal.SIGKILL)
    rc, out = _finish(proc, log, timeout=120)
    expected_rc = 143 if how == "term" else -signal.SIGKILL
    assert rc == expected_rc, (how, rc, out[-3000:])
    steps = sorted(_complete_steps(workdir))
    rows = _rows(os.path.join(workdir, "metrics.csv"))
    logged = [int(float(r["step"])) for r in rows]
    assert steps and logged, (how, steps, logged)
    past = [s for s in logged if s > steps[-1]]
    if how == "term":
        assert "Stopped: Training stopped by SIGTERM" in out and "--resume" in out, out[-3000:]
        assert past == [], (steps, logged)  # saved at the chunk boundary: nothing lost
    else:
        assert len(past) <= 1, (steps, logged)  # at most one checkpoint interval
    if how == "kill_mid_checkpoint":
        assert was_writing and past, (steps, logged)
    return {"how": how, "newest": steps[-1], "wait_for": wait_for, "delay": delay,
            "was_writing": was_writing, "resumed_from": _resumed_from(out)}


def _resumed_from(out: str) -> list[int]:
    return [int(s) for s in re.findall(r"Resuming from the checkpoint at (\d+) env steps", out)]


def _run_case(name: str, base: str) -> dict:
    case = CASES[name]
    rng = random.Random(f"{SEED}-{name}")
    reference, run = os.path.join(base, "reference"), os.path.join(base, "run")
    started = time.monotonic()
    rc, out = _finish(*_start(case, reference, False, os.path.join(base, "reference.log")))
    assert rc == 0, out[-3000:]
    events = []
    for i, how in enumerate(case.interruptions):
        events.append(_interrupt(case, run, how, i > 0, rng, os.path.join(base, f"{i}.log")))
    rc, out = _finish(*_start(case, run, True, os.path.join(base, "resumed.log")))
    assert rc == 0, out[-3000:]
    # What each resumed process said it resumed from, in order (the first run resumes none).
    resumed_from = [s for e in events for s in e["resumed_from"]] + _resumed_from(out)
    return {"events": events, "resumed_from": resumed_from,
            "rows": (_all_rows(reference), _all_rows(run)),
            "policy": (_policy(reference), _policy(run)),
            "wall_s": time.monotonic() - started}


@pytest.fixture(scope="module")
def results(request, tmp_path_factory):
    """The selected cases, two at a time: name -> future of `_run_case`'s record."""
    names = [item.callspec.params["name"] for item in request.session.items
             if item.module is request.module and hasattr(item, "callspec")]
    pool = ThreadPoolExecutor(max_workers=2)
    futures = {name: pool.submit(_run_case, name, str(tmp_path_factory.mktemp(name)))
               for name in CASES if name in names}
    yield futures
    pool.shutdown(wait=True, cancel_futures=True)


@pytest.mark.slow
@pytest.mark.xdist_group("kill_resume")  # one module fixture: the cases share its two slots
@pytest.mark.parametrize("name", list(CASES))
def test_interrupted_run_resumes_to_the_uninterrupted_one(results, name):
    record = results[name].result(timeout=4 * TIMEOUT_S)
    context = (f"JAXRL_KILL_SEED={SEED}", record["events"], record["resumed_from"])
    # Each resumed process started from the newest checkpoint the interruption left.
    assert record["resumed_from"] == [e["newest"] for e in record["events"]], context
    reference_rows, rows = record["rows"]
    assert reference_rows.keys() == rows.keys() and reference_rows, context
    for path in reference_rows:
        assert len(rows[path]) == len(reference_rows[path]) > 0, (path, context)
        for i, (row, pinned) in enumerate(zip(rows[path], reference_rows[path])):
            assert row == pinned, (path, i, {k: (row.get(k), v) for k, v in pinned.items()
                                             if row.get(k) != v}, context)
    reference_policy, policy = record["policy"]
    assert policy.keys() == reference_policy.keys(), context
    for leaf, x in reference_policy.items():
        y = policy[leaf]
        assert (x.dtype, x.shape) == (y.dtype, y.shape) and x.tobytes() == y.tobytes(), (
            leaf, context)
