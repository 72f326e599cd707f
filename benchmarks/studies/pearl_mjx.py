"""PEARL meta-test return against meta-training env steps on mjx/cheetah-vel and mjx/ant-goal,
at a budget a shared 2-core CPU affords: `python -m launch.benchmark --suite=pearl_mjx`.

Each family trains once (seed 0) with `CPU_CONFIG` (smaller networks, tasks and batches than
oyster's, 0.25 gradient steps per env step) for `BUDGET[env]` meta-training env steps; every
evaluation's meta-test on the held-out tasks (3 episodes per task, the first 2 with z from
the prior as oyster's `num_exp_traj_eval = 2`, deterministic actions) is a row. A finished run
is cached in `benchmarks/pearl_mjx/<family>.json` and not repeated. Plot:
`benchmarks/pearl_mjx.png`.

The paper's budget, from oyster's configs (katerakelly/oyster `configs/default.py`,
`configs/cheetah-vel.json`, `configs/ant-goal.json`: 500 iterations of 5 tasks x (400 + 600)
steps after `num_initial_steps` = 2000 per train task; 2000 (cheetah-vel) or 4000 (ant-goal)
gradient steps per iteration), is in `PAPER_BUDGET`; each row also says how long that budget
would take at the rate measured here.
"""

from __future__ import annotations

import json
import os
import time

import driver
from benchmarks import DIR
from benchmarks.measure import device_name
from benchmarks.report import pyplot, save_figure, write_json

RUN_DIR = os.path.join(DIR, "pearl_mjx")
FAMILIES = ("mjx/cheetah-vel", "mjx/ant-goal")

# Sized for the CPU: 20 train / 10 held-out tasks (oyster: 100 / 30 and 150 / 30), 2 envs per
# task collecting whole 200-step episodes, 8 tasks x 128 transitions per gradient step.
CPU_CONFIG = dict(
    num_train_tasks=20, num_test_tasks=10, encoder_hidden_sizes=(64, 64),
    hidden_sizes=(128, 128), context_size=100, batch_size=128, meta_batch=8,
    num_initial_steps=400, num_tasks_sample=4, num_steps_prior=400,
    num_extra_rl_steps_posterior=400, num_envs=2, grad_steps_per_iteration=800,
    rl_buffer_capacity=20000, eval_every_steps=2 * 3200, checkpoint_every_evals=0,
    num_eval_episodes=3, num_exploration_episodes=2)
KL_WEIGHT = {"mjx/cheetah-vel": 0.1, "mjx/ant-goal": 1.0}  # the paper's
BUDGET = {"mjx/cheetah-vel": 60_000, "mjx/ant-goal": 60_000}
PAPER_BUDGET = {  # (env steps, gradient steps, meta_batch x batch) of oyster's configs
    "mjx/cheetah-vel": (100 * 2000 + 500 * 5 * 1000, 500 * 2000, "16x256"),
    "mjx/ant-goal": (150 * 2000 + 500 * 5 * 1000, 500 * 4000, "10x256"),
}


def config_for(env_name: str, total_env_steps: int):
    from algorithms import pearl

    return pearl.Config(total_env_steps=total_env_steps, kl_weight=KL_WEIGHT[env_name],
                        **CPU_CONFIG)


def run_family(env_name: str, total_env_steps: int, seed: int = 0) -> dict:
    """Trains (or reads the cached run of) one family; returns the cached record."""
    import envs
    from algorithms import pearl

    path = os.path.join(RUN_DIR, f"{env_name.split('/')[-1]}.json")
    if os.path.exists(path):
        with open(path) as f:
            record = json.load(f)
        if record["total_env_steps"] == total_env_steps and record["seed"] == seed:
            return record
    config = config_for(env_name, total_env_steps)
    start = time.perf_counter()
    result = driver.train(pearl, envs.make(env_name), config, seed=seed, progress=False)
    record = {"env": env_name, "seed": seed, "total_env_steps": total_env_steps,
              "wall_s": time.perf_counter() - start, "device": device_name(),
              "config": {k: list(v) if isinstance(v, tuple) else v
                         for k, v in {**CPU_CONFIG, "kl_weight": KL_WEIGHT[env_name]}.items()},
              "rows": result.metrics}
    write_json(path, record)
    return record


def plot(records: list[dict], path: str) -> str:
    plt = pyplot()
    fig, axes = plt.subplots(1, len(records), figsize=(5 * len(records), 3.8))
    for ax, record in zip(axes if len(records) > 1 else [axes], records):
        steps = [r["step"] for r in record["rows"]]
        for name, label in (("meta_test/return_episode_1", "episode 1 (z from the prior)"),
                            ("meta_test/return_posterior",
                             "episode 3 (posterior after 2 episodes)")):
            ax.plot(steps, [r[name] for r in record["rows"]], marker=".", label=label)
        ax.set_xlabel("meta-training env steps")
        ax.set_ylabel("return on held-out tasks")
        ax.set_title(f"PEARL on {record['env']}: {int(steps[-1]):,} steps "
                     f"({record['wall_s'] / 60:.0f} min); the paper trained "
                     f"{PAPER_BUDGET[record['env']][0]:,}", fontsize=8)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    return save_figure(fig, path)


def run_suite(quick: bool = False) -> list[dict]:
    rows, records = [], []
    for env_name in FAMILIES:
        budget = 4 * 400 + 2 * 2 * 3200 if quick else BUDGET[env_name]
        record = run_family(env_name, budget) if not quick else None
        if quick:  # a throwaway smoke run, not cached
            import envs
            from algorithms import pearl

            config = config_for(env_name, budget)
            result = driver.train(pearl, envs.make(env_name), config, seed=0, progress=False)
            record = {"env": env_name, "total_env_steps": budget, "wall_s": 0.0,
                      "rows": result.metrics}
        records.append(record)
        paper_env, paper_grad, paper_batch = PAPER_BUDGET[env_name]
        for r in record["rows"]:
            rows.append({"suite": "pearl_mjx", "name": f"pearl on {env_name}",
                         "batch_size": 4 * 2, "env_steps": int(r["step"]),
                         "return_prior": r["meta_test/return_episode_1"],
                         "return_posterior": r["meta_test/return_posterior"],
                         "steps_per_s": r["train/env_steps_per_s"],
                         "grad_steps_per_s": r["train/grad_steps_per_s"]})
        speed = record["rows"][-1]
        steps_per_s = sum(r["train/env_steps_per_s"] for r in record["rows"]) / len(
            record["rows"])
        grad_per_s = sum(r["train/grad_steps_per_s"] for r in record["rows"]) / len(
            record["rows"])
        rows.append({"suite": "pearl_mjx", "name": f"pearl on {env_name}: run",
                     "batch_size": 4 * 2, "env_steps": int(speed["step"]),
                     "steps_per_s": steps_per_s, "grad_steps_per_s": grad_per_s,
                     "compile_s": speed["train/compile_s"],
                     "wall_s": round(record["wall_s"]),
                     "paper_env_steps": paper_env, "paper_grad_steps": paper_grad,
                     "paper_meta_batch": paper_batch,
                     "paper_env_steps_h_at_this_rate": round(paper_env / steps_per_s / 3600, 1),
                     "device": record.get("device", "")})
    if not quick:
        plot(records, os.path.join(DIR, "pearl_mjx.png"))
    return rows
