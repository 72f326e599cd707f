"""PEARL at the paper's budget on mjx/cheetah-vel and mjx/ant-goal: a GPU job in resumable
pieces of at most 10 minutes, and the CPU profile its time estimate comes from.

    # one piece (repeat until it prints "done"; each resumes the run from its last checkpoint)
    python -m benchmarks.pearl_paper --env=mjx/cheetah-vel --workdir=runs/pearl_paper/cheetah-vel
    python -m benchmarks.pearl_paper --env=mjx/ant-goal --workdir=runs/pearl_paper/ant-goal
    # every piece in turn, each in a fresh process (a job that may hold the GPU for hours)
    python -m benchmarks.pearl_paper --env=mjx/cheetah-vel --workdir=... --pieces=20
    # the CPU profile and the GPU estimate per piece: benchmarks/pearl_paper.json
    python -m benchmarks.pearl_paper --profile
    python -m benchmarks.pearl_paper --estimate  # again from the saved profile (new --piece_s)

The run is `driver.train(pearl, env, pearl.config_for_env(env), seed, workdir)`: the family
defaults of `algorithms/pearl/defaults.py`, which are oyster's configs (cheetah-vel: 100 / 30
tasks, 2.7M env steps, 1M gradient steps of 16 tasks x 256 transitions; ant-goal: 150 / 30
tasks, 2.8M env steps, 2M gradient steps of 10 x 256, KL weight 1). It is the same run as
`python -m launch.train --algo=pearl --env=<env> --seed=<s> --workdir=<dir>` (launch.train
applies the family defaults), and the pieces work the same way with
`timeout --signal=TERM 360 python -m launch.train ...` (rerun with the same flags to resume).

A piece stops itself: after `--piece_s` seconds (default 360) it sends itself SIGTERM; the
driver then finishes the chunk in progress, checkpoints at that boundary and stops (its
`TrainingInterrupted`), so at most one chunk (5 iterations, one meta-test) is in flight at
the deadline and none is lost. The next piece restores that checkpoint, compiles again and
continues; a finished run prints "done" and exits 0 at once.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import time

from benchmarks import DIR

PATH = os.path.join(DIR, "pearl_paper.json")
FAMILIES = ("mjx/cheetah-vel", "mjx/ant-goal")
# The alarm of a piece: a piece lasts up to PIECE_S plus the chunk in flight, which the
# pessimistic estimate puts at 145 s (cheetah-vel) and 228 s (ant-goal) on a GPU
# (benchmarks/pearl_paper.json), so 360 s keeps every piece within a 10-minute slot.
PIECE_S = 360

# GPU model for the estimate (see `estimate`): an XLA kernel of these small shapes costs
# launch + execution of KERNEL_US microseconds on an H100/H200-class GPU when run one after
# another inside a scan, and dense math runs at TFLOPS (f32 matmuls at batch 4096 x 300).
KERNEL_US = (3.0, 10.0)  # optimistic, pessimistic
TFLOPS = (40.0, 10.0)


def _finished(workdir: str, config) -> bool:
    path = os.path.join(workdir, "metrics.csv")
    if not os.path.exists(path):
        return False
    with open(path) as f:
        lines = [line for line in f.read().splitlines() if line.strip()]
    if len(lines) < 2:
        return False
    return int(float(lines[-1].split(",")[0])) >= config.planned_env_steps


def piece(env_name: str, workdir: str, seed: int = 0, piece_s: float = PIECE_S) -> int:
    """Trains (or resumes) until done or `piece_s` seconds; returns 0 when the run is done,
    3 when it stopped at a checkpoint with work left."""
    import driver
    import envs
    from algorithms import pearl
    from driver.training import TrainingInterrupted

    config = pearl.config_for_env(env_name)
    if _finished(workdir, config):
        print("done")
        return 0
    signal.signal(signal.SIGALRM, lambda *_: os.kill(os.getpid(), signal.SIGTERM))
    signal.alarm(int(piece_s))
    start = time.perf_counter()
    try:
        driver.train(pearl, envs.make(env_name), config, seed=seed, workdir=workdir,
                     progress=True)
    except TrainingInterrupted:  # the SIGTERM of the alarm, after a checkpoint
        print(f"piece stopped at a checkpoint after {time.perf_counter() - start:.0f} s; "
              "run again to continue")
        return 3
    finally:
        signal.alarm(0)
    print("done")
    return 0


def pieces(env_name: str, workdir: str, seed: int, piece_s: float, count: int) -> int:
    """Runs up to `count` pieces in turn, each a fresh process."""
    for i in range(count):
        code = subprocess.call([sys.executable, "-m", "benchmarks.pearl_paper",
                                f"--env={env_name}", f"--workdir={workdir}", f"--seed={seed}",
                                f"--piece_s={piece_s}"])
        print(f"piece {i + 1}: exit {code}")
        if code != 3:
            return code
    return 3


# ---------------------------------------------------------------------- CPU profile


_CALLED = re.compile(r"(?:calls|to_apply)=%([\w.\-]+)")
_HEAD = re.compile(r"^(?:ENTRY )?%([\w.\-]+) \(")
_OPCODE = re.compile(r"=\s.*?\b([a-z][a-z0-9\-]*)\(")
# Instructions that launch nothing: plumbing, and control flow whose bodies are counted.
_FREE = {"parameter", "constant", "get-tuple-element", "tuple", "bitcast", "while",
         "conditional", "call", "after-all", "opt-barrier"}


def _kernels(compiled) -> int:
    """Kernels per call of the optimised program, a proxy for a GPU's launches: instructions
    of the entry, loop and branch computations, each fusion counting once (the bodies of
    fusions and reductions, `calls=` / `to_apply=` targets, are inside one kernel) and
    plumbing not at all. A scan's body is counted once, so a scan of steps gives the kernels
    per step plus the few around the loop."""
    text = compiled.as_text()
    called = set(_CALLED.findall(text))
    count, counted = 0, False
    for line in text.splitlines():
        head = _HEAD.match(line)
        if head:
            counted = head.group(1) not in called
            continue
        if counted and " = " in line:
            opcode = _OPCODE.search(line)
            if opcode and opcode.group(1) not in _FREE:
                count += 1
    return count


def _flops(compiled) -> float:
    analysis = compiled.cost_analysis()
    if isinstance(analysis, list):
        analysis = analysis[0]
    return float(analysis.get("flops", float("nan")))


def _time(fn, *args, repeats: int = 2) -> tuple[float, float, object]:
    """(compile s, best run s after a warm-up call, compiled) of `jax.jit(fn)(*args)`."""
    from benchmarks.measure import compiled_call

    call, compile_s, compiled = compiled_call(fn, *args)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        best = min(best, time.perf_counter() - start)
    return compile_s, best, compiled


def profile(env_name: str, grad_steps: int = 8, collect_steps: int = 100) -> dict:
    """Measures on this machine, with the family defaults: `grad_steps` meta-gradient steps
    (scanned), one collection phase of `collect_steps` steps per sampled task (scanned), and
    one whole meta-test; their compile times, FLOPs (XLA's cost analysis) and kernel counts."""
    import jax

    import envs
    from algorithms import pearl
    from algorithms.pearl import rollout
    from benchmarks.suites.pearl import make_updates

    env = envs.make(env_name)
    config = pearl.config_for_env(env_name)
    key_init, key_tasks, key_collect, key_update, key_eval = jax.random.split(
        jax.random.key(0), 5)
    state = pearl.init(key_init, config, env.spec)
    params = pearl.policy_params(state)
    tasks = env.sample_tasks(key_tasks, config.num_tasks_sample)

    update_compile, update_s, update_exe = _time(make_updates(config, grad_steps), state,
                                                 key_update)

    collect = rollout.make_collect(env, config, pearl.make_policy(config, env.spec))
    prior = rollout.prior(config.num_tasks_sample, config.latent_size)
    collect_fn = lambda p, k: collect(p, tasks, prior, collect_steps, k)[0].reward.sum()
    collect_compile, collect_s, collect_exe = _time(collect_fn, params, key_collect)

    phases = (config.num_steps_prior, config.num_steps_posterior,
              config.num_extra_rl_steps_posterior)
    sequential = sum(config.steps_per_phase(n) for n in phases) // config.num_envs
    fns = pearl.make_meta_functions(env, config)
    test_tasks = env.sample_tasks(key_eval, config.num_test_tasks)
    test_compile, test_s, test_exe = _time(fns.meta_test, params, test_tasks, key_eval,
                                           repeats=1)
    return {
        "env": env_name, "device": jax.devices()[0].platform,
        "grad_step_s": update_s / grad_steps, "grad_step_flops": _flops(update_exe) / grad_steps,
        "grad_step_kernels": _kernels(update_exe), "grad_steps_compile_s": update_compile,
        "collect_step_s": collect_s / collect_steps,
        "collect_batch": config.num_tasks_sample * config.num_envs,
        "collect_step_kernels": _kernels(collect_exe), "collect_compile_s": collect_compile,
        "meta_test_s": test_s,
        "meta_test_steps": config.num_eval_episodes * env.spec.episode_length,
        "meta_test_compile_s": test_compile,
        "config": {"grad_steps_per_iteration": config.grad_steps_per_iteration,
                   "num_iterations": config.num_iterations,
                   "iterations_per_chunk": config.iterations_per_chunk,
                   "env_steps_per_iteration": config.env_steps_per_iteration,
                   "sequential_steps_per_iteration": sequential,
                   "initial_sequential_steps": config.steps_per_phase(config.num_initial_steps)
                   // config.num_envs,
                   "planned_env_steps": config.planned_env_steps,
                   "total_grad_steps": config.num_iterations * config.grad_steps_per_iteration,
                   "num_evals": config.num_evals},
    }


def estimate(prof: dict, piece_s: float = PIECE_S, slot_s: float = 600.0) -> dict:
    """GPU wall time from the CPU profile, as an (optimistic, pessimistic) range.

    A gradient step costs max(FLOPs / TFLOPS, kernels x KERNEL_US), kernels counted in the
    CPU program (`_kernels`; XLA fuses a GPU program at least as much). A collection step is
    latency bound at a batch of 5 envs: kernels x KERNEL_US. The meta-test is its sequential
    steps at the same cost per step. Compilation is taken as the CPU's; it repeats in every
    piece, inside its `piece_s`. A piece's alarm comes at `piece_s`, then the chunk in flight
    finishes and is checkpointed, so a piece lasts at most `piece_s` + one chunk: `fits_slot`
    says whether that is within `slot_s`, and `max_piece_s` is the alarm that would fit.
    """
    c = prof["config"]
    out = {}
    for label, kernel_us, tflops in zip(("optimistic", "pessimistic"), KERNEL_US, TFLOPS):
        grad_s = max(prof["grad_step_flops"] / (tflops * 1e12),
                     prof["grad_step_kernels"] * kernel_us * 1e-6)
        step_s = prof["collect_step_kernels"] * kernel_us * 1e-6
        iteration_s = (c["grad_steps_per_iteration"] * grad_s
                       + c["sequential_steps_per_iteration"] * step_s)
        eval_s = prof["meta_test_steps"] * step_s
        chunk_s = c["iterations_per_chunk"] * iteration_s + eval_s
        compile_s = (prof["grad_steps_compile_s"] + prof["collect_compile_s"]
                     + prof["meta_test_compile_s"])
        total_s = (c["num_iterations"] * iteration_s + c["num_evals"] * eval_s
                   + c["initial_sequential_steps"] * step_s)
        chunks_per_piece = max(1, int((piece_s - compile_s) // chunk_s) + 1)
        num_chunks = -(-c["num_iterations"] // c["iterations_per_chunk"])
        longest_piece_s = piece_s + chunk_s
        out[label] = {"grad_step_ms": 1e3 * grad_s, "env_step_ms": 1e3 * step_s,
                      "iteration_s": iteration_s, "chunk_s": chunk_s, "compile_s": compile_s,
                      "train_h": total_s / 3600,
                      "pieces": int(-(-num_chunks // chunks_per_piece)),
                      "chunks_per_piece": chunks_per_piece,
                      "longest_piece_s": longest_piece_s,
                      "fits_slot": longest_piece_s <= slot_s,
                      "max_piece_s": slot_s - chunk_s}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--env", default="mjx/cheetah-vel", choices=FAMILIES)
    parser.add_argument("--workdir", default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--piece_s", type=float, default=PIECE_S)
    parser.add_argument("--pieces", type=int, default=1,
                        help="pieces to run in turn, each in a fresh process")
    parser.add_argument("--profile", action="store_true",
                        help="measure the CPU profile of both families and estimate the GPU")
    parser.add_argument("--estimate", action="store_true",
                        help="the GPU estimate again from the saved profile, for --piece_s")
    args = parser.parse_args()
    if args.profile or args.estimate:
        from benchmarks.report import write_json

        if args.estimate:
            with open(PATH) as f:
                record = json.load(f)
        else:
            record = {name: {"profile": profile(name)} for name in FAMILIES}
        for name, entry in record.items():
            entry["gpu_estimate"] = estimate(entry["profile"], args.piece_s)
            entry["piece_s"] = args.piece_s
            print(name, json.dumps(entry, indent=1))
        write_json(PATH, record)
        return
    if args.workdir is None:
        parser.error("--workdir is required for a piece")
    if args.pieces > 1:
        sys.exit(pieces(args.env, args.workdir, args.seed, args.piece_s, args.pieces))
    sys.exit(piece(args.env, args.workdir, args.seed, args.piece_s))


if __name__ == "__main__":
    main()
