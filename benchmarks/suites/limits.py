"""Suite `limits`: how close each off-policy learner's training loop runs to its own limit.

    python -m launch.benchmark --suite=limits [--quick]

For SAC, Lagrangian SAC and MPO, on classic/pendulum, glucose/adult#001 and mjx/cheetah-run,
at two settings (16 envs with one gradient step per env step; 128 envs with 8 gradient steps
per iteration, brax's ratio), the same networks (256, 256) and batch 256 everywhere:

* **bare update**: a jitted `lax.scan` of the learner's gradient step (sample a batch from
  the replay buffer, `update`) on a buffer the loop pre-filled: the limit of the learner on
  this device;
* **loop**: a jitted chunk of the training loop (`rlcore.loop`: collect one step of every
  env, then the iteration's gradient steps), the same state: gradient steps/s and env
  steps/s;
* **env alone**: the training env stack (`wrap_for_training`) with uniform random actions at
  the same batch, one jitted `lax.scan`.

The three are compiled first, then timed in interleaved rounds (each round times each once);
a row is the median over the rounds, so a load drift moves all three alike. `loop_vs_bare`
is the loop's gradient steps/s over the bare scan's (1.0: the loop costs nothing beyond its
updates); `loop_vs_env` its env steps/s over the env alone's; `loop_vs_parts` the time of the
bare updates plus the env alone over the loop's (1.0: the loop is exactly its two parts, the
rest, acting and writing the buffer, costs nothing). The driver around the chunk
(evaluation, checkpoints, host metrics) is not in these figures; `--suite=sac` and friends
time the driver's chunks.
"""

from __future__ import annotations

import time

import jax
import numpy as np

from benchmarks.measure import compiled_call, compiled_rollout, device_name

ALGOS = ("sac", "sac_lagrangian", "mpo")
ENVS = ("classic/pendulum", "glucose/adult#001", "mjx/cheetah-run")
SETTINGS = ((16, 1.0), (128, 8 / 128))  # (num_envs, gradient steps per env step)


def _programs(algo_name: str, env_name: str, num_envs: int, ratio: float, iterations: int):
    """(bare call, loop call, env call, compile seconds of each, gradient steps per call of the
    bare scan and of the loop, env steps per loop call)."""
    import algorithms
    import envs
    from envs import wrappers
    from rlcore import loop, replay

    algo = algorithms.get(algo_name)
    env = envs.make(env_name)
    config = algo.Config(total_env_steps=num_envs * iterations * 4, num_envs=num_envs,
                         grad_steps_per_env_step=ratio, eval_every_steps=num_envs * iterations,
                         hidden_sizes=(256, 256), batch_size=256, replay_capacity=100_000,
                         warmup_steps=0, learning_starts=4096, checkpoint_every_evals=0)
    learner = algo.make_learner(config, env.spec)
    train_env = wrappers.wrap_for_training(env, config.episode_length)
    iteration, prefill, _ = loop.make_iteration(train_env, learner, config)
    key_init, key_env, key_loop, key_bare = jax.random.split(jax.random.key(0), 4)
    state = loop.LoopState(training_state=learner.init(key_init),
                           env_state=train_env.reset(jax.random.split(key_env, num_envs)),
                           key=key_loop)
    state = jax.block_until_ready(jax.jit(prefill)(state))  # a buffer of >= 4,096 transitions
    grad_steps = iterations * config.grad_steps_per_iteration

    def bare(ts, key):
        def one_update(ts, key_step):
            key_sample, key_update = jax.random.split(key_step)
            return learner.update(ts, replay.sample(ts.buffer, key_sample, config.batch_size),
                                  key_update)

        return jax.lax.scan(one_update, ts, jax.random.split(key, grad_steps))[1]

    def chunk(loop_state):
        return jax.lax.scan(iteration, loop_state, None, length=iterations)[1]

    bare_call, bare_compile, _ = compiled_call(bare, state.training_state, key_bare)
    loop_call, loop_compile, _ = compiled_call(chunk, state)
    env_call, env_compile = compiled_rollout(env, num_envs, iterations, seed=0)
    return ((bare_call, loop_call, env_call), (bare_compile, loop_compile, env_compile),
            grad_steps, num_envs * iterations)


def limit_row(algo_name: str, env_name: str, num_envs: int, ratio: float, iterations: int,
              rounds: int) -> dict:
    calls, compiles, grad_steps, env_steps = _programs(algo_name, env_name, num_envs, ratio,
                                                       iterations)
    times = [[], [], []]
    for _ in range(rounds):
        for i, call in enumerate(calls):
            start = time.perf_counter()
            call()
            times[i].append(time.perf_counter() - start)
    bare_s, loop_s, env_s = (float(np.median(t)) for t in times)
    spread = lambda t: f"{min(t) / np.median(t):.2f}-{max(t) / np.median(t):.2f}"  # noqa: E731
    return {"suite": "limits", "name": f"{algo_name} on {env_name}", "batch_size": num_envs,
            "grad_steps_per_iteration": grad_steps // iterations,
            "bare_grad_steps_per_s": grad_steps / bare_s,
            "loop_grad_steps_per_s": grad_steps / loop_s,
            "loop_vs_bare": bare_s / loop_s,
            "env_steps_per_s": env_steps / env_s, "steps_per_s": env_steps / loop_s,
            "loop_vs_env": env_s / loop_s, "loop_vs_parts": (bare_s + env_s) / loop_s,
            "compile_s": sum(compiles), "rounds": rounds,
            "spread": f"bare {spread(times[0])}, loop {spread(times[1])}, env {spread(times[2])}",
            "unit": "loop env steps/s", "device": device_name()}


def run_suite(quick: bool = False) -> list[dict]:
    """Every algorithm x env x setting (`--quick`: SAC and MPO on the pendulum at 16 envs,
    fewer iterations and rounds)."""
    algos, env_names, settings = ((("sac", "mpo"), ENVS[:1], SETTINGS[:1]) if quick
                                  else (ALGOS, ENVS, SETTINGS))
    rows = []
    for algo_name in algos:  # a row takes 0.5-3 min on a 2-core CPU
        for env_name in env_names:
            for num_envs, ratio in settings:
                rows.append(limit_row(algo_name, env_name, num_envs, ratio,
                                      iterations=8 if quick else 16,
                                      rounds=3 if quick else 5))
                print(f"limits: {rows[-1]['name']} x{num_envs}: loop/bare "
                      f"{rows[-1]['loop_vs_bare']:.2f}", flush=True)
    return rows
