"""Timers and rollouts the suites share: env steps/s of a training stack, training speed of an
off-policy learner, compile and run time of one jitted function.

Every figure excludes compilation (reported apart as `compile_s`) and the first call (it
allocates); rollouts are one jitted `lax.scan` with uniform random actions.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable

import numpy as np

import driver


def device_name() -> str:
    """`platform: kind xN`, e.g. `cpu: cpu (2 cores) x1`, for the rows and the stamps."""
    import jax

    device = jax.devices()[0]
    kind = getattr(device, "device_kind", "") or device.platform
    if device.platform == "cpu":
        kind = f"cpu ({os.cpu_count()} cores)"
    return f"{device.platform}: {kind} x{jax.device_count()}"


def time_compiled(fn: Callable, *args, warm_args: tuple | None = None) -> tuple[float, float]:
    """(compile seconds, run seconds) of `jax.jit(fn)(*args)`: compiled ahead of time, called
    once to warm up (with `warm_args` where given, e.g. another key), then timed once."""
    import jax

    start = time.perf_counter()
    compiled = jax.jit(fn).lower(*args).compile()
    compile_s = time.perf_counter() - start
    jax.block_until_ready(compiled(*(args if warm_args is None else warm_args)))
    start = time.perf_counter()
    jax.block_until_ready(compiled(*args))
    return compile_s, time.perf_counter() - start


def compiled_call(fn: Callable, *args) -> tuple[Callable[[], object], float, object]:
    """`(call, compile seconds, compiled)`: `jax.jit(fn)` compiled ahead of time for `args`
    and called once to warm up (the first call allocates); `call()` runs it to completion."""
    import jax

    start = time.perf_counter()
    compiled = jax.jit(fn).lower(*args).compile()
    compile_s = time.perf_counter() - start
    jax.block_until_ready(compiled(*args))
    return (lambda: jax.block_until_ready(compiled(*args))), compile_s, compiled


def median_call_seconds(call: Callable[[], object], min_total_s: float = 1.0,
                        max_calls: int = 20) -> float:
    """Median wall time of repeated calls, repeated until `min_total_s` has passed (a small
    batch's rollout takes milliseconds: one timing of it is mostly scheduler noise)."""
    times = []
    while not times or (sum(times) < min_total_s and len(times) < max_calls):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def compiled_rollout(env, batch_size: int, num_steps: int, seed: int):
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
    call, compile_s, _ = compiled_call(rollout, state, key_run)
    return call, compile_s


def measure_env(env, batch_size: int, num_steps: int, seed: int = 0) -> dict:
    """Env steps/s of `env` (unwrapped) vmapped over `batch_size`, with auto-reset, uniform
    random actions, `num_steps` steps in one jitted `lax.scan`; compile time separate."""
    call, compile_s = compiled_rollout(env, batch_size, num_steps, seed)
    elapsed = median_call_seconds(call)
    return {"batch_size": batch_size, "steps_per_s": batch_size * num_steps / elapsed,
            "compile_s": compile_s, "unit": "env steps/s"}


def measure_env_batches(env, batch_sizes, num_steps: int, seed: int = 0,
                        rounds: int = 5) -> list[dict]:
    """`measure_env` for several batch sizes, timed in interleaved rounds: each round times
    every batch size, and a row reports the median over rounds. A load drift on a shared
    machine then moves every batch size alike, so their ratio (`x_batch1`, when batch 1 is
    among them) is not at the mercy of when each was timed."""
    calls = {b: compiled_rollout(env, b, num_steps, seed) for b in batch_sizes}
    times = {b: [] for b in batch_sizes}
    for _ in range(rounds):
        for b, (call, _) in calls.items():
            times[b].append(median_call_seconds(call, min_total_s=0.2, max_calls=10))
    rows = [{"batch_size": b, "steps_per_s": b * num_steps / float(np.median(times[b])),
             "compile_s": calls[b][1], "unit": "env steps/s"} for b in batch_sizes]
    if 1 in batch_sizes:
        single = rows[list(batch_sizes).index(1)]["steps_per_s"]
        for row in rows:
            row["x_batch1"] = row["steps_per_s"] / single
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
    result = driver.train(algo, envs.make(env_name), config, seed=0, progress=False)
    last = result.metrics[-1]
    return {"suite": algo_name, "name": f"{algo_name} on {env_name}", "batch_size": num_envs,
            "steps_per_s": last["train/env_steps_per_s"],
            "grad_steps_per_s": last["train/grad_steps_per_s"],
            "compile_s": last["train/compile_s"], "batch": config.batch_size,
            "grad_steps_per_iteration": config.grad_steps_per_iteration,
            "unit": "env steps/s", "device": device_name()}
