"""SAC-Lagrangian against SAC and fixed cost penalties, after Ha et al. 2020: suites
`sac_lagrangian_glucose`, `sac_lagrangian_quadruped` and `sac_lagrangian_multitask` (the
throughput suite `sac_lagrangian` is in `benchmarks.suites.off_policy`).

    python -m launch.benchmark --suite=sac_lagrangian_glucose   # likewise _quadruped, _multitask
    python -m benchmarks.studies.sac_lagrangian_compare --group=glucose   # trains missing runs

Comparisons (`VARIANTS`, the same seeds, step budgets and networks in every row): SAC
(`algorithms.sac`), SAC with a fixed cost penalty lambda (`Config.fixed_lambda`, a small and
a large one) and SAC-Lagrangian (learned lambda, `constraint_estimate="recent_cost"`).

  * glucose: the `ap_lagrangian` preset (`launch/presets.py`: glucose/adults, no meal
    announcement, cost = 1 per step below 70 mg/dL, at most 1% of the steps). Each agent is
    evaluated with `envs.glucose.evaluation` (the machinery of `launch.evaluate`) on
    `GLUCOSE_EVAL_DAYS` held-out meal days per patient (seed 1000; training seeds from 0).
  * quadruped: `mjx/quadruped-walk` (cost = 1 per step with |pitch| > 15 deg or |roll| > 30
    deg), the default budget of 25 violations per 1000-step episode; deterministic
    evaluation episodes of the loop (return, violations per episode) and the violations per
    training episode.
  * multitask: SAC-Lagrangian on `mjx/quadruped-multitask` (four tasks, 3 m x 3 m workspace)
    with Ha et al.'s task scheduler and without it (a task drawn at random per episode); the
    task vector is appended to the observation (`envs.wrappers.TaskInObservation`).
    Workspace exits per 100 episodes of the final stochastic policy from random start poses
    (`count_workspace_exits`).
    The last rows re-choose the task every `MULTITASK_TASK_PERIOD` steps from the pose
    reached (scheduler) or at random (ablation), Ha et al.'s short episodes with the robot
    walking on.

Each run's result is saved under `benchmarks/sac_lagrangian_compare/<group>/<run>.json` with
its config; a suite trains only the runs without a saved result of the same config (so
groups can be trained in separate processes with `--group`), then reads them all.
"""

from __future__ import annotations

import itertools
import json
import os
import time

import driver
from benchmarks import DIR
from benchmarks.measure import device_name
from benchmarks.report import markdown_table, write_json

RESULT_DIR = os.path.join(DIR, "sac_lagrangian_compare")

# (name, algorithm, fixed lambda or None)
VARIANTS = (("sac", "sac", None), ("penalty_0.1", "sac_lagrangian", 0.1),
            ("penalty_10", "sac_lagrangian", 10.0), ("lagrangian", "sac_lagrangian", None))
SEEDS = (0,)
QUADRUPED_SEEDS = (0, 1, 2)
# Glucose only: Ha et al.'s replay cost-Q estimate (the known failure, for comparison), and
# second seeds of SAC and SAC-Lagrangian, as (variant, seed).
GLUCOSE_EXTRA_RUNS = (("lagrangian_cost_q", 0), ("lagrangian", 1), ("sac", 1))
GLUCOSE_EXTRA_VARIANTS = {"lagrangian_cost_q": ("sac_lagrangian", None,
                                                {"constraint_estimate": "cost_q"})}
GLUCOSE_STEPS = 200_000
GLUCOSE_EVAL_DAYS = 10
GLUCOSE_EVAL_SEED = 1000
QUADRUPED_STEPS = 100_000
# A longer budget, every variant: at 100k steps two of three Lagrangian seeds had walked at
# 55k and stopped by 100k while lambda still rose; does the walk come back?
QUADRUPED_LONG_STEPS = 300_000
# The multi-task ablation at three budgets (exits only mean something once the robot walks
# far enough to reach the workspace edge before it falls).
MULTITASK_STEPS = (100_000, 250_000, 1_000_000)
# The same at 1M steps with lambda capped by parameterisation (lambda = 1 * sigmoid(p)):
# unbounded, log-lambda reached 1.5e10 and the robot never learned to walk its tasks.
MULTITASK_BOUNDED = {"lambda_parameterization": "bounded", "lambda_max": 1.0}
MULTITASK_BOUNDED_STEPS = (1_000_000,)
# Ha et al.'s set-up proper: the task re-chosen every second from the pose reached (the robot
# walks on; with bounded lambda it crossed the 3 m workspace within one 20 s task), and the
# ablation re-drawing uniformly at the same period. Bounded lambda, 1M steps, two seeds.
MULTITASK_TASK_PERIOD = 50
MULTITASK_PERIODIC_SEEDS = (0, 1)
EXIT_EPISODES = 100
# Networks and loop of the quadruped runs (a CPU budget, far below Ha et al.'s).
QUADRUPED_CONFIG = dict(num_envs=16, batch_size=256, replay_capacity=200_000, warmup_steps=5_000,
                        learning_starts=5_000, grad_steps_per_env_step=0.25,
                        eval_every_steps=50_000, num_eval_envs=8, hidden_sizes=(128, 128),
                        checkpoint_every_evals=0)


# ------------------------------------------------------------------------- shared helpers


def _cached(group: str, run: str, key: dict, quick: bool, compute) -> dict:
    """The saved result of `run` if its `key` (config) matches, else `compute()` saved."""
    directory = os.path.join(RESULT_DIR, ("quick_" if quick else "") + group)
    path = os.path.join(directory, f"{run}.json")
    key = json.loads(json.dumps(key, default=str))
    if os.path.exists(path):
        with open(path) as f:
            saved = json.load(f)
        if saved.get("key") == key:
            return saved["result"]
    start = time.perf_counter()
    result = compute()
    result["wall_s"] = round(time.perf_counter() - start)
    write_json(path, {"key": key, "result": result})
    return result


def _config(algo_name: str, fixed_lambda: float | None, overrides: dict):
    import algorithms

    algo = algorithms.get(algo_name)
    if algo_name == "sac":
        overrides = {k: v for k, v in overrides.items() if hasattr(algo.Config(), k)}
    else:
        overrides = dict(overrides, fixed_lambda=fixed_lambda)
    return algo, algo.Config(**overrides)


def _final(metrics: list[dict], name: str, last: int = 2) -> float:
    import numpy as np

    values = [row[name] for row in metrics[-last:] if name in row]
    return float(np.mean(values)) if values else float("nan")


def _train_summary(metrics: list[dict]) -> dict:
    """Violations per training episode over the whole run and the last chunks, final lambda."""
    import numpy as np

    costs = [row["train/episode_cost"] for row in metrics
             if np.isfinite(row.get("train/episode_cost", np.nan))]
    return {"train_cost_per_episode": float(np.mean(costs)) if costs else float("nan"),
            "train_cost_per_episode_last": _final(metrics, "train/episode_cost"),
            "train_length_last": _final(metrics, "train/episode_length"),
            "lambda": _final(metrics, "train/lambda", 1),
            "curve": [{k: round(float(v), 4) for k, v in row.items()
                       if k in ("step", "eval/return", "eval/cost", "train/lambda",
                                "train/episode_cost", "train/episode_length",
                                "train/recent_cost_rate", "train/cost_estimate")}
                      for row in metrics]}


# ----------------------------------------------------------------------------- glucose


def glucose_overrides(quick: bool) -> tuple[str, dict, dict]:
    """(env name, env args, config overrides as values) of the `ap_lagrangian` preset."""
    import algorithms
    from launch import presets
    from rlcore.config import apply_overrides, to_dict

    preset = presets.get("ap_lagrangian")
    config = apply_overrides(algorithms.get(preset.algo).Config(), preset.config)
    overrides = {k: v for k, v in to_dict(config).items()
                 if k in preset.config or k in ("cost_limit_per_step",)}
    overrides["total_env_steps"] = 8_192 if quick else GLUCOSE_STEPS
    if quick:
        overrides.update(eval_every_steps=4_096, warmup_steps=1_000, learning_starts=1_000,
                         checkpoint_every_evals=0)
    overrides["checkpoint_every_evals"] = 0
    return preset.env, dict(preset.env_args), overrides


def glucose_run(variant: str, seed: int, quick: bool = False) -> dict:
    if variant in GLUCOSE_EXTRA_VARIANTS:
        name = variant
        algo_name, fixed_lambda, extra = GLUCOSE_EXTRA_VARIANTS[variant]
    else:
        name, algo_name, fixed_lambda = {v[0]: v for v in VARIANTS}[variant]
        extra = {}
    env_name, env_args, overrides = glucose_overrides(quick)
    overrides.update(extra)
    days = 1 if quick else GLUCOSE_EVAL_DAYS
    key = {"env": env_name, "env_args": env_args, "algo": algo_name, "config": overrides,
           "fixed_lambda": fixed_lambda, "seed": seed, "eval_days": days,
           "eval_seed": GLUCOSE_EVAL_SEED}

    def compute():
        import envs
        from envs.glucose import evaluation

        env = envs.make(env_name, **env_args)
        algo, config = _config(algo_name, fixed_lambda, overrides)
        result = driver.train(algo, env, config, seed=seed, progress=False)
        out, _ = evaluation.evaluate(
            env, {name: evaluation.policy_controller(result.policy, result.params)}, days,
            GLUCOSE_EVAL_SEED)
        group = next(iter(out["groups"].values()))[name]
        return {"eval": {k: float(v) for k, v in group.items()},
                "eval_return": _final(result.metrics, "eval/return"),
                "eval_cost_rate": _final(result.metrics, "eval/cost_rate"),
                **_train_summary(result.metrics)}

    return _cached("glucose", f"{variant}_seed{seed}", key, quick, compute)


def glucose_baselines(quick: bool = False) -> dict:
    """basal-bolus (meal announced) and PID on the same held-out days, for reference."""
    env_name, env_args, _ = glucose_overrides(quick)
    days = 1 if quick else GLUCOSE_EVAL_DAYS

    def compute():
        import envs
        from envs.glucose import controllers, evaluation

        env = envs.make(env_name, **env_args)
        out, _ = evaluation.evaluate(
            env, {n: controllers.make(n, env.dt_min) for n in ("basal_bolus", "pid")}, days,
            GLUCOSE_EVAL_SEED)
        return {"controllers": {n: {k: float(v) for k, v in s.items()}
                                for n, s in next(iter(out["groups"].values())).items()}}

    key = {"env": env_name, "env_args": env_args, "days": days, "seed": GLUCOSE_EVAL_SEED}
    return _cached("glucose", "baselines", key, quick, compute)


def glucose_suite(quick: bool = False) -> list[dict]:
    _, _, overrides = glucose_overrides(quick)
    days = 1 if quick else GLUCOSE_EVAL_DAYS
    rows = []
    fixed = {v[0]: v[2] for v in VARIANTS}
    runs = [(v[0], seed) for v in VARIANTS for seed in SEEDS]
    runs += [] if quick else list(GLUCOSE_EXTRA_RUNS)
    for variant, seed in runs:
        fixed_lambda = fixed.get(variant)
        r = glucose_run(variant, seed, quick)
        e = r["eval"]
        rows.append({
            "suite": "sac_lagrangian_glucose", "name": variant, "seed": seed,
            "env_steps": overrides["total_env_steps"], "tir": round(100 * e["tir"], 1),
            "tbr70": round(100 * e["tbr70"], 2), "tbr54": round(100 * e["tbr54"], 2),
            "tar180": round(100 * e["tar180"], 1), "mean_bg": round(e["mean"], 1),
            "train_cost_rate_last": round(r["train_cost_per_episode_last"]
                                          / r["train_length_last"], 4),
            "lambda": "learned: " + f"{r['lambda']:.3g}" if variant.startswith("lagrangian")
            else ("" if fixed_lambda is None else fixed_lambda),
            "eval_days": 10 * days, "train_wall_s": r["wall_s"], "device": device_name()})
    for name, e in glucose_baselines(quick)["controllers"].items():
        rows.append({"suite": "sac_lagrangian_glucose", "name": name, "seed": "",
                     "env_steps": "", "tir": round(100 * e["tir"], 1),
                     "tbr70": round(100 * e["tbr70"], 2), "tbr54": round(100 * e["tbr54"], 2),
                     "tar180": round(100 * e["tar180"], 1), "mean_bg": round(e["mean"], 1),
                     "eval_days": 10 * days, "device": device_name()})
    return rows


# --------------------------------------------------------------------------- quadruped


def quadruped_overrides(quick: bool, steps: int = QUADRUPED_STEPS) -> dict:
    overrides = dict(QUADRUPED_CONFIG, total_env_steps=8_192 if quick else steps)
    if quick:
        overrides.update(eval_every_steps=4_096, warmup_steps=1_000, learning_starts=1_000,
                         num_eval_envs=2)
    return overrides


def quadruped_run(variant: str, seed: int, quick: bool = False,
                  steps: int = QUADRUPED_STEPS) -> dict:
    name, algo_name, fixed_lambda = {v[0]: v for v in VARIANTS}[variant]
    overrides = quadruped_overrides(quick, steps)
    key = {"env": "mjx/quadruped-walk", "algo": algo_name, "config": overrides,
           "fixed_lambda": fixed_lambda, "seed": seed}

    def compute():
        import envs

        algo, config = _config(algo_name, fixed_lambda, overrides)
        result = driver.train(algo, envs.make("mjx/quadruped-walk"), config, seed=seed,
                              progress=False)
        return {"eval_return": _final(result.metrics, "eval/return"),
                "eval_cost": _final(result.metrics, "eval/cost"),
                "eval_length": _final(result.metrics, "eval/length"),
                **_train_summary(result.metrics)}

    suffix = "" if steps == QUADRUPED_STEPS else f"_{steps // 1000}k"
    return _cached("quadruped", f"{variant}_seed{seed}{suffix}", key, quick, compute)


def quadruped_suite(quick: bool = False) -> list[dict]:
    budgets = (QUADRUPED_STEPS,) if quick else (QUADRUPED_STEPS, QUADRUPED_LONG_STEPS)
    runs = itertools.product(budgets, VARIANTS, SEEDS if quick else QUADRUPED_SEEDS)
    rows = []
    for steps, (variant, _, fixed_lambda), seed in runs:
        r = quadruped_run(variant, seed, quick, steps)
        last = r["curve"][-1]  # the final evaluation and the last chunk's training episodes
        rows.append({
            "suite": "sac_lagrangian_quadruped", "name": variant, "seed": seed,
            "env_steps": quadruped_overrides(quick, steps)["total_env_steps"],
            "eval_return": round(last["eval/return"], 1),
            "eval_violations_per_episode": round(last["eval/cost"], 1),
            "train_violations_per_episode": round(r["train_cost_per_episode"], 1),
            "train_violations_per_episode_last": round(last["train/episode_cost"], 1),
            "train_episode_length_last": round(last["train/episode_length"]),
            "lambda": "learned: " + f"{r['lambda']:.3g}" if variant == "lagrangian"
            else ("" if fixed_lambda is None else fixed_lambda),
            "train_wall_s": r["wall_s"], "device": device_name()})
    return rows


# --------------------------------------------------------------------------- multitask


def make_multitask_env(scheduler: bool, task_period_steps: int | None = None):
    """`mjx/quadruped-multitask` with the task vector appended to the observation; without
    the scheduler, a task drawn uniformly at every episode start (TaskVectorWrapper's) and,
    with `task_period_steps`, again at every period (`RandomTaskWrapper`)."""
    from envs.mjx import legged_wrappers as lw
    from envs.wrappers import TaskInObservation

    env = lw.make_ha2020_env(scheduler=scheduler, task_period_steps=task_period_steps)
    own_draws = scheduler or task_period_steps is not None
    return TaskInObservation(env, draw_task_per_episode=None if own_draws else True)


def count_workspace_exits(env, policy, params, num_episodes: int, seed: int,
                          deterministic: bool = False) -> dict:
    """One episode from a random start per row of a batch of `num_episodes`: exits,
    falls (terminations inside the workspace) and violations per episode."""
    import jax
    import jax.numpy as jnp

    length = env.spec.episode_length
    key_reset, key_policy = jax.random.split(jax.random.key(seed))

    @jax.jit
    def rollout(keys, key_policy):
        state = jax.vmap(env.reset)(keys)

        def body(carry, key):
            state, alive = carry
            action = policy(params, state.obs, key, deterministic)
            state = jax.vmap(env.step)(state, action)
            exits = state.info["workspace_exit"] * alive
            ended = state.done * alive
            out = (exits, ended, state.cost * alive)
            return (state, alive * (1.0 - state.done)), out

        alive = jnp.ones((keys.shape[0],), jnp.float32)
        _, (exits, ended, costs) = jax.lax.scan(body, (state, alive),
                                                jax.random.split(key_policy, length))
        return exits.sum(0), ended.sum(0), costs.sum(0)

    exits, ended, costs = jax.device_get(
        rollout(jax.random.split(key_reset, num_episodes), key_policy))
    return {"exits_per_100": 100.0 * float(exits.sum()) / num_episodes,
            "falls_per_100": 100.0 * float((ended - exits).sum()) / num_episodes,
            "violations_per_episode": float(costs.mean())}


def multitask_run(scheduler: bool, seed: int, steps: int, quick: bool = False,
                  bounded: bool = False, task_period_steps: int | None = None) -> dict:
    overrides = quadruped_overrides(quick)
    if not quick:
        overrides["total_env_steps"] = steps
    if bounded:
        overrides.update(MULTITASK_BOUNDED)
    episodes = 8 if quick else EXIT_EPISODES
    env_name = "mjx/quadruped-multitask+task_obs+fall_cost"
    if task_period_steps is not None:
        env_name += f"+task_period{task_period_steps}"
    key = {"env": env_name, "scheduler": scheduler,
           "algo": "sac_lagrangian", "config": overrides, "seed": seed, "episodes": episodes}

    def compute():
        from algorithms import sac_lagrangian

        env = make_multitask_env(scheduler, task_period_steps)
        config = sac_lagrangian.Config(**overrides)
        result = driver.train(sac_lagrangian, env, config, seed=seed, progress=False)
        stochastic = count_workspace_exits(env, result.policy, result.params, episodes,
                                           seed=1000 + seed)
        deterministic = count_workspace_exits(env, result.policy, result.params, episodes,
                                              seed=1000 + seed, deterministic=True)
        return {"stochastic": stochastic, "deterministic": deterministic,
                "eval_return": _final(result.metrics, "eval/return"),
                **_train_summary(result.metrics)}

    name = f"{'scheduler' if scheduler else 'random_task'}_seed{seed}"
    if not quick:
        name = f"{name}_{steps // 1000}k" + ("_bounded" if bounded else "")
        if task_period_steps is not None:
            name += f"_period{task_period_steps}"
    return _cached("multitask", name, key, quick, compute)


def multitask_suite(quick: bool = False) -> list[dict]:
    rows = []
    # (steps, bounded lambda, task period, seeds)
    budgets = ([(MULTITASK_STEPS[0], False, None, SEEDS)] if quick else
               [(n, False, None, SEEDS) for n in MULTITASK_STEPS]
               + [(n, True, None, SEEDS) for n in MULTITASK_BOUNDED_STEPS]
               + [(MULTITASK_BOUNDED_STEPS[-1], True, MULTITASK_TASK_PERIOD,
                   MULTITASK_PERIODIC_SEEDS)])
    runs = [(steps, bounded, period, scheduler, seed)
            for steps, bounded, period, seeds in budgets
            for scheduler, seed in itertools.product((True, False), seeds)]
    for steps, bounded, period, scheduler, seed in runs:
        r = multitask_run(scheduler, seed, steps, quick, bounded, period)
        for mode in ("stochastic", "deterministic"):
            m = r[mode]
            rows.append({
                "suite": "sac_lagrangian_multitask",
                "name": "task scheduler" if scheduler else "random task",
                "seed": seed, "env_steps": 8_192 if quick else steps, "policy": mode,
                "episodes": 8 if quick else EXIT_EPISODES,
                "workspace_exits_per_100": round(m["exits_per_100"], 1),
                "falls_per_100": round(m["falls_per_100"], 1),
                "violations_per_episode": round(m["violations_per_episode"], 1),
                "eval_return": round(r["eval_return"], 1),
                "lambda": round(r["lambda"], 3),
                "lambda_parameterization": "bounded, max 1" if bounded else "log",
                "task_period_steps": period or "episode",
                "train_wall_s": r["wall_s"],
                "device": device_name()})
    return rows


GROUPS = {"glucose": glucose_suite, "quadruped": quadruped_suite, "multitask": multitask_suite}


def main() -> None:
    import argparse

    parser = argparse.ArgumentParser(description="Train (and cache) one comparison group.")
    parser.add_argument("--group", choices=sorted(GROUPS), required=True)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    print(markdown_table(GROUPS[args.group](args.quick)))


if __name__ == "__main__":
    main()
