"""The one training driver: every algorithm's `Program`, one seed or many, one device or many.

    result = driver.train("sac", envs.make("classic/pendulum"), sac.Config(), seed=0)
    result = driver.train(sac, env, config, num_seeds=5, workdir="runs/x", devices=2)

Python runs only between evaluations: each chunk is one compiled call. A run directory holds
`config.json` (the config, algorithm, env and seeds), `metrics.csv`, TensorBoard events and
orbax checkpoints of the whole state; calling `train` again on it resumes from the newest
readable checkpoint (a different config, algorithm, env or seed is refused, naming the fields
that differ; a killed run loses at most one checkpoint interval). `check_run` raises what
`train` would refuse, before anything is compiled or written.

Checkpoints are numbered by env steps (seed 0's with several seeds) and record the
evaluation index they follow. SIGTERM or SIGINT (Ctrl-C) during `train` ends the current
chunk, saves a checkpoint at that boundary and raises `TrainingInterrupted`; a second signal
acts at once as it did before `train` was called.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable, Sequence
from types import ModuleType
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

import algorithms
from driver import runs
from rlcore import checkpoint as ckpt
from rlcore import logging as rl_logging
from rlcore import loop, sharding
from rlcore.program import Program


class TrainResult(NamedTuple):
    params: Any  # policy params: final, or the best evaluation's; leading axis S with seeds
    policy: Callable | None  # Program.policy (None where the policy needs more than obs)
    metrics: list[dict[str, float]]  # one row per evaluation (the summary row with seeds)
    state: Any  # the final state (leading axis S with several seeds)
    selected_env_steps: int | None = None  # env steps of `params` when the best was selected
    per_seed: dict[int, list[dict[str, float]]] | None = None  # several seeds: seed -> rows


class TrainingInterrupted(Exception):
    """`train` stopped by SIGTERM or SIGINT at a chunk boundary, after saving a checkpoint
    there (when the run has a workdir and checkpoints). `exit_code` is the shell's
    convention for the signal: 143 for SIGTERM, 130 for SIGINT."""

    def __init__(self, signum: int, eval_index: int, num_evals: int, env_steps: int,
                 checkpoint_step: int | None, workdir: str | None):
        self.signum, self.exit_code = signum, 128 + signum
        self.eval_index, self.env_steps, self.checkpoint_step = eval_index, env_steps, \
            checkpoint_step
        if checkpoint_step is not None:
            saved = (f"the checkpoint at {checkpoint_step} env steps holds it: train again "
                     f"with workdir={workdir!r} to resume")
        else:
            saved = ("no checkpoint was saved (no workdir, or checkpoint_every_evals=0): "
                     "nothing to resume")
        super().__init__(f"Training stopped by {signal.Signals(signum).name} after "
                         f"evaluation {eval_index} of {num_evals} ({env_steps} env steps); "
                         + saved + ".")


class _StopOnSignals:
    """Within the block, SIGTERM and SIGINT record a stop request (`signum`) instead of ending
    the process; `train` honours it at the next chunk boundary. A second signal calls the
    handler that was there before (Ctrl-C twice: KeyboardInterrupt at once). Handlers are
    only installed in the main thread (Python delivers signals there), not for a signal
    ignored before (a background job's SIGINT), and are put back on exit."""

    SIGNALS = (signal.SIGTERM, signal.SIGINT)

    def __enter__(self):
        self.signum, self._previous = None, {}
        if threading.current_thread() is threading.main_thread():
            for signum in self.SIGNALS:
                if signal.getsignal(signum) is not signal.SIG_IGN:
                    self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def _handle(self, signum, frame):
        if self.signum is not None:  # the second signal: what it did before train
            previous = self._previous.get(signum)
            self._restore()
            if callable(previous):
                previous(signum, frame)
            elif previous != signal.SIG_IGN:
                os.kill(os.getpid(), signum)
            return
        self.signum = signum
        # os.write: a signal handler may run while the main thread is inside print().
        os.write(2, f"\n{signal.Signals(signum).name} received: finishing the current chunk, "
                 "then saving a checkpoint and stopping (send it again to stop at once)."
                 "\n".encode())

    def _restore(self):
        for signum, previous in self._previous.items():
            signal.signal(signum, signal.SIG_DFL if previous is None else previous)
        self._previous = {}

    def __exit__(self, *exc):
        self._restore()
        return False


def _compile(program: Program, state: Any, batched: bool, mesh) -> tuple:
    """Places `state` and jits start / chunk / evaluate (vmapped over seeds when batched)."""
    start, chunk, evaluate = program.start, program.chunk, program.evaluate
    if batched:
        start, chunk = jax.vmap(start), jax.vmap(chunk)
        evaluate = jax.vmap(evaluate, in_axes=(0, 0, None))
    place, in_out = (lambda tree: tree), {}
    if mesh is not None:
        state_shardings = (sharding.batch_shardings(state, mesh) if batched
                           else program.state_shardings(state))
        metrics_sharding = sharding.batch_sharded(mesh) if batched else sharding.replicated(mesh)
        place = lambda tree: jax.device_put(tree, state_shardings)  # noqa: E731
        in_out = dict(in_shardings=(state_shardings,), out_shardings=state_shardings)
    start = jax.jit(start, donate_argnums=0, **in_out)
    if mesh is not None:
        in_out["out_shardings"] = (state_shardings, metrics_sharding)
    chunk, evaluate = jax.jit(chunk, donate_argnums=0, **in_out), jax.jit(evaluate)
    if batched:
        start, chunk, evaluate = runs.Unchecked(start), runs.Unchecked(chunk), runs.Unchecked(
            evaluate)
    return place, start, chunk, evaluate


def _initial_state(program: Program, seeds: tuple[int, ...]) -> tuple[jax.Array, Any]:
    """The run key(s) and the fresh state; with several seeds both carry a leading seed axis."""
    if len(seeds) > 1:
        run_key = jax.vmap(jax.random.key)(jnp.asarray(seeds, jnp.int32))
        each = [program.init(jax.random.key(s)) for s in seeds]
        state = jax.tree.map(lambda *leaves: jnp.stack(leaves), *each)
    else:
        run_key = jax.random.key(seeds[0])
        state = program.init(jax.random.clone(run_key))
    # Leaves may share buffers (target = online params at init); donation needs distinct ones.
    return run_key, jax.tree.map(lambda x: x.copy(), state)


def _rows(program: Program, seeds: tuple[int, ...], chunk_metrics: dict, evals: dict,
          elapsed: float, compile_s: float) -> list[dict[str, float]]:
    """One metrics row per seed: the chunk's training metrics, speed and the evaluation."""
    batched, rows = len(seeds) > 1, []
    for i in range(len(seeds)):
        pick = (lambda x, i=i: x[i]) if batched else (lambda x: x)
        row = program.summarize({k: pick(v) for k, v in chunk_metrics.items()})
        row["train/env_steps_per_s"] = len(seeds) * program.env_steps_per_chunk / elapsed
        row["train/grad_steps_per_s"] = len(seeds) * program.grad_steps_per_chunk / elapsed
        row["train/compile_s"] = compile_s
        row.update({k: float(pick(v)) for k, v in evals.items()})
        rows.append(row)
    return rows


def _prepare(algo, env, config, seed, seeds, num_seeds, devices, program_args) -> tuple:
    """(algorithm module, seeds, mesh, program, `config.json` record): everything `train`
    checks before it compiles, with nothing written."""
    module = algorithms.get(algo) if isinstance(algo, str) else algo
    seeds = tuple(int(s) for s in (seeds if seeds is not None else
                                   range(seed, seed + num_seeds)))
    if not seeds or len(set(seeds)) != len(seeds):
        raise ValueError(f"seeds must be distinct, and at least one; got {seeds}.")
    batched = len(seeds) > 1
    mesh = sharding.make_mesh(devices) if devices not in (None, 1) else None
    if mesh is not None and batched:
        sharding.check_divisible("num_seeds", len(seeds), mesh)
    program = module.make_program(env, config, mesh=None if batched else mesh, **program_args)
    config_dict = runs.run_record(config, module.__name__.rsplit(".", 1)[-1], env.spec.name,
                                  seeds)
    return module, seeds, mesh, program, config_dict


def _run(program: Program, config: Any, seeds: tuple[int, ...], mesh, workdir: str | None,
         resuming: bool, progress: bool | None, on_eval: Callable | None,
         stop: _StopOnSignals) -> tuple[Any, dict, runs.BestEval | None]:
    """`train`'s loop: compile, start or resume, the chunks with their rows and checkpoints.
    Returns (final state, loggers, best evaluation); raises `TrainingInterrupted` at the
    chunk boundary after a stop request, its checkpoint saved."""
    batched = len(seeds) > 1
    run_key, state = _initial_state(program, seeds)
    place, start, chunk, evaluate = _compile(program, state, batched, mesh)
    state = place(state)
    checkpointer = (ckpt.Checkpointer(workdir) if workdir and config.checkpoint_every_evals
                    else None)
    start_eval, saved_eval = 0, None
    if resuming and checkpointer is not None and checkpointer.steps():
        state, step = checkpointer.restore(state)
        state = place(state)
        # A checkpoint from before they were numbered by env steps: numbered by evaluation.
        start_eval = saved_eval = int(checkpointer.info(step).get("eval_index", step))
    else:
        state = start(state)
    env_steps_now = int(np.ravel(jax.device_get(program.env_steps(state)))[0])
    if saved_eval is not None:
        print(f"Resuming from the checkpoint at {env_steps_now} env steps (evaluation "
              f"{start_eval} of {program.num_chunks}).", flush=True)
    loggers = runs.make_loggers(workdir, seeds if batched else (), start_eval, env_steps_now)
    best = (runs.BestEval(workdir, program.policy_params(state), env_steps_now)
            if program.select_best and not batched else None)

    compiled_chunk, compile_s = loop.timed_compile(chunk, state)
    per_chunk = program.env_steps_per_chunk
    bar = rl_logging.make_progress(program.num_chunks * per_chunk, initial=start_eval * per_chunk,
                                   enabled=progress if progress is not None else bool(workdir))
    done = start_eval
    try:
        for eval_index in range(start_eval, program.num_chunks):
            if stop.signum is not None:  # asked to stop before this chunk (while compiling)
                break
            started = time.perf_counter()
            state, chunk_metrics = compiled_chunk(state)
            chunk_metrics = jax.device_get(chunk_metrics)
            elapsed = time.perf_counter() - started
            # The program derives its evaluation keys from the run key again: a copy for the
            # key-reuse checker, the same bits.
            evals = jax.device_get(evaluate(state, jax.random.clone(run_key), eval_index))
            env_steps = [int(x) for x in np.ravel(jax.device_get(program.env_steps(state)))]
            rows = _rows(program, seeds, chunk_metrics, evals, elapsed, compile_s)
            if batched:
                for s, row, steps in zip(seeds, rows, env_steps):
                    loggers[s].write(steps, row)
            row = runs.summary_row(rows) if batched else rows[0]
            loggers[None].write(env_steps[0], row)
            if best is not None:
                best.offer(env_steps[0], row["eval/return"], program.policy_params(state))
            bar.update(per_chunk)
            bar.set_postfix({k: f"{row.get(k + '_iqm', row.get(k, float('nan'))):.1f}"
                             for k in program.progress_metrics})
            if on_eval is not None:
                on_eval(env_steps[0], row)
            done, env_steps_now = eval_index + 1, env_steps[0]
            if checkpointer is not None and (done % config.checkpoint_every_evals == 0
                                             or done == program.num_chunks):
                checkpointer.save(env_steps_now, state, info={"eval_index": done})
                saved_eval = done
        if stop.signum is not None:
            if checkpointer is not None and saved_eval != done:
                checkpointer.save(env_steps_now, state, info={"eval_index": done})
                saved_eval = done
            raise TrainingInterrupted(stop.signum, done, program.num_chunks, env_steps_now,
                                      env_steps_now if checkpointer is not None else None,
                                      workdir)
    finally:
        bar.close()
        for logger in loggers.values():
            logger.close()
        if checkpointer is not None:
            checkpointer.close()
    return state, loggers, best


def check_run(algo: str | ModuleType, env: Any, config: Any, seed: int = 0,
              seeds: Sequence[int] | None = None, num_seeds: int = 1,
              workdir: str | None = None, devices: int | None = None,
              **program_args) -> None:
    """Raises the ValueError `train` would raise with these arguments before compiling
    anything (seeds, devices, the algorithm's program, another run in `workdir`), writing
    nothing: a command checks its whole input before it writes its flags."""
    _, _, _, _, config_dict = _prepare(algo, env, config, seed, seeds, num_seeds, devices,
                                       program_args)
    if workdir is not None:
        runs.check_workdir_config(workdir, config, config_dict, write=False)


def train(algo: str | ModuleType, env: Any, config: Any, seed: int = 0,
          seeds: Sequence[int] | None = None, num_seeds: int = 1, workdir: str | None = None,
          progress: bool | None = None, on_eval: Callable[[int, dict], None] | None = None,
          devices: int | None = None, **program_args) -> TrainResult:
    """Trains `algo` (a name of `algorithms.available()` or its package) on `env` (unwrapped).

    Args:
      seed, num_seeds, seeds: the runs: `seeds`, else `range(seed, seed + num_seeds)`. Several
        seeds run as one program under `jax.vmap` (seed s computes what a single run with
        seed s computes, up to float summation order); each evaluation then writes one row
        per seed under `<workdir>/seed_<s>/` and a summary row (`runs.summary_row`).
      workdir: run directory (None: nothing is written and nothing resumes).
      progress: show a progress bar (default: when a workdir is set).
      on_eval: called as `on_eval(env_steps, row)` after each evaluation.
      devices: with several seeds, split the seeds across this many devices; with one, split
        the run's batch across them where the program supports it (the off-policy loop).
      program_args: passed to the algorithm's `make_program` (e.g. `eval_env=`).

    Raises:
      ValueError: unknown algorithm, no or repeated seeds, another run in `workdir` (its
        config, algorithm, env or seeds differ), or devices that do not divide the work.
      rlcore.checkpoint.CheckpointMismatchError: the checkpoint to resume holds other
        leaves than the program's state (the code changed since it was written).
      TrainingInterrupted: SIGTERM or SIGINT arrived; the run stopped at the end of the
        chunk it was in, with a checkpoint saved there (`exit_code`: 143 or 130).
    """
    module, seeds, mesh, program, config_dict = _prepare(algo, env, config, seed, seeds,
                                                         num_seeds, devices, program_args)
    batched = len(seeds) > 1
    resuming = workdir is not None and runs.check_workdir_config(workdir, config, config_dict)
    with _StopOnSignals() as stop:
        state, loggers, best = _run(program, config, seeds, mesh, workdir, resuming, progress,
                                    on_eval, stop)
    params = (jax.vmap(program.policy_params) if batched else program.policy_params)(state)
    selected = None
    if best is not None and best.params is not None:
        params, selected = best.params, best.env_steps
    return TrainResult(params=params, policy=program.policy, metrics=loggers[None].history,
                       state=state, selected_env_steps=selected,
                       per_seed={s: loggers[s].history for s in seeds} if batched else None)
