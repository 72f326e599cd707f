"""Model-based throughput (GrBAL, ReBAL, MB, MB+DE): `python -m launch.benchmark
--suite=model_based [--quick]`.

Rows:
  * `mpc <method>` at 1 and 16 envs: MPC steps/s, each step one adaptation from the last M
    transitions (GrBAL's inner step) and one plan over `candidates` sequences of `horizon`
    steps (a `lax.scan`, vmapped over envs); `model_evals_per_s` counts one-step model
    predictions (candidates x horizon x CEM iterations per step).
  * `<algo> loop`: one round of `algo.train` after the random first round: `steps_per_s`
    collecting with MPC, `grad_steps_per_s` of the model (meta-)loss, `compile_s` (a short
    round: 4 envs x 20 steps with --quick, 2 x 40 in full, as the paper-size planner costs
    about 3 GFLOP per env step on a CPU).

The env is classic/pendulum, whose pure `reward_fn` the planners call. Full runs use the
paper's model and planner sizes (512x3 MLP, 500 candidates, horizon 10, M = K = 16); `--quick` a
small model and planner.
"""

from __future__ import annotations

import dataclasses
import time

import driver
from benchmarks.measure import device_name, time_compiled

ALGOS = ("grbal", "rebal", "mb", "mbde")


def settings(quick: bool) -> dict:
    if quick:
        return dict(hidden_sizes=(64, 64), candidates=100, horizon=5, M=8, K=8, batch_size=32,
                    grad_steps_per_iteration=20)
    return dict(hidden_sizes=(512, 512, 512), candidates=500, horizon=10, M=16, K=16,
                batch_size=64, grad_steps_per_iteration=50)


def measure_planner(env, method: str, num_envs: int, quick: bool) -> dict:
    """MPC steps/s of GrBAL's policy (adapt + plan), vmapped over `num_envs`."""
    import jax
    import jax.numpy as jnp

    from algorithms import dynamics as dyn
    from algorithms import grbal
    from algorithms.mb import loop

    config = grbal.Config(planner=method, **settings(quick))
    spec = env.spec
    model = grbal.make_model(config, spec)
    key_init, key_ctx, key_plan = jax.random.split(jax.random.key(0), 3)
    params = loop.PolicyParams(model.init(key_init),
                               dyn.identity_normalizer(spec.obs_size, spec.action_size))
    policy = jax.vmap(loop.make_policy(model, env, config), in_axes=(None, 0, 0, 0, 0))
    k = jax.random.split(key_ctx, 3)
    context = dyn.Context(
        obs=jax.random.normal(k[0], (num_envs, config.M, spec.obs_size)),
        action=jax.random.normal(k[1], (num_envs, config.M, spec.action_size)),
        next_obs=jax.random.normal(k[2], (num_envs, config.M, spec.obs_size)),
        mask=jnp.ones((num_envs, config.M)))
    obs = context.next_obs[:, -1]
    tasks = jnp.zeros((num_envs, 0))
    reps = 3 if quick else 2

    def run(params, key):
        def body(total, key_step):
            actions = policy(params, context, obs, tasks, jax.random.split(key_step, num_envs))
            return total + actions.sum(), None

        return jax.lax.scan(body, jnp.zeros(()), jax.random.split(key, reps))[0]

    key_warm, key_timed = jax.random.split(key_plan)
    compile_s, elapsed = time_compiled(run, params, key_timed, warm_args=(params, key_warm))
    iterations = config.cem_iterations if method == "cem" else 1
    steps_per_s = num_envs * reps / elapsed
    return {"suite": "model_based", "name": f"mpc {method}", "batch_size": num_envs,
            "steps_per_s": steps_per_s,
            "model_evals_per_s": steps_per_s * config.candidates * config.horizon * iterations,
            "compile_s": compile_s, "candidates": config.candidates, "horizon": config.horizon,
            "hidden": "x".join(map(str, config.hidden_sizes)), "unit": "MPC steps/s",
            "device": device_name()}


def measure_loop(algo_name: str, quick: bool) -> dict:
    """One MPC round of `algo.train` (after the random first round) on pendulum."""
    import algorithms
    import envs

    length, num_envs = (20, 4) if quick else (40, 2)
    env = envs.make("classic/pendulum", episode_length=length)
    algo = algorithms.get(algo_name)
    config = algo.Config(total_env_steps=2 * num_envs * length, num_envs=num_envs,
                         num_eval_envs=num_envs, checkpoint_every_evals=0, **settings(quick))
    start = time.perf_counter()
    result = driver.train(algo, env, config, seed=0, progress=False)
    wall_s = time.perf_counter() - start
    last = result.metrics[-1]
    fields = dataclasses.asdict(config)
    return {"suite": "model_based", "name": f"{algo_name} loop", "batch_size": num_envs,
            "steps_per_s": last["train/env_steps_per_s"],
            "grad_steps_per_s": last["train/grad_steps_per_s"],
            "compile_s": last["train/compile_s"], "candidates": fields["candidates"],
            "horizon": fields["horizon"], "hidden": "x".join(map(str, fields["hidden_sizes"])),
            "batch": fields["batch_size"], "wall_s": wall_s,
            "unit": "env steps/s (MPC collection)", "device": device_name()}


def run_suite(quick: bool = False) -> list[dict]:
    import envs

    env = envs.make("classic/pendulum", episode_length=50)
    rows = [measure_planner(env, method, num_envs, quick)
            for method in ("random_shooting", "cem") for num_envs in (1, 16)]
    rows += [measure_loop(name, quick) for name in ALGOS]
    return rows
