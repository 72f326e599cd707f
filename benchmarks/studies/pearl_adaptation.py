"""PEARL's adaptation curve: meta-test return with z from the prior and from the posterior
against meta-training env steps, on held-out tasks (small networks, sized for a CPU).

    python -m benchmarks.studies.pearl_adaptation    # benchmarks/pearl.point-goal.{png,json}

The shipped figure is `mjx/point-goal`, 160k meta-training env steps, seed 0 (about 5 min on
the 2-core CPU); `--env` and `--steps` choose others.
"""

from __future__ import annotations

import argparse
import os
import time

import benchmarks
import driver
from benchmarks.measure import device_name
from benchmarks.report import pyplot, save_figure, write_json

# Small networks, few tasks and short phases: sized for a CPU.
ADAPTATION_CONFIG = dict(
    num_train_tasks=20, num_test_tasks=20, encoder_hidden_sizes=(64, 64),
    hidden_sizes=(64, 64), context_size=32, batch_size=64, meta_batch=8,
    num_initial_steps=120, num_tasks_sample=4, num_steps_prior=60,
    num_extra_rl_steps_posterior=60, num_envs=2, discount=0.9, reward_scale=10.0,
    grad_steps_per_iteration=200, rl_buffer_capacity=4000, actor_lr=1e-3,
    critic_lr=1e-3, encoder_lr=1e-3, alpha_lr=1e-3, eval_every_steps=5 * 480,
    checkpoint_every_evals=0)


def adaptation_curve(env_name: str = "mjx/point-goal", total_env_steps: int = 40_000,
                     outdir: str = benchmarks.DIR, seed: int = 0) -> str:
    """Trains PEARL on `env_name` and plots `meta_test/return_prior` and
    `meta_test/return_posterior` (held-out tasks) against meta-training env steps into
    `<outdir>/pearl.<env>.png` (+ `.json` with the rows). Returns the png path."""
    import envs
    from algorithms import pearl

    plt = pyplot()
    config = pearl.Config(total_env_steps=total_env_steps, **ADAPTATION_CONFIG)
    start = time.perf_counter()
    result = driver.train(pearl, envs.make(env_name), config, seed=seed, progress=False)
    wall_s = time.perf_counter() - start
    rows = result.metrics
    stem = os.path.join(outdir, f"pearl.{env_name.split('/')[-1]}")
    write_json(stem + ".json", {
        "env": env_name, "seed": seed, "wall_s": wall_s, "device": device_name(),
        "config": {k: v if not isinstance(v, tuple) else list(v)
                   for k, v in ADAPTATION_CONFIG.items()}, "rows": rows})
    fig, ax = plt.subplots(figsize=(6, 4))
    steps = [r["step"] for r in rows]
    for name, label in (("meta_test/return_prior", "z from the prior (episode 1)"),
                        ("meta_test/return_posterior", "posterior after 1 episode")):
        ax.plot(steps, [r[name] for r in rows], marker=".", label=label)
    ax.set_xlabel("meta-training env steps")
    ax.set_ylabel(f"return on {config.num_test_tasks} held-out tasks")
    ax.set_title(f"PEARL on {env_name} (seed {seed}, {wall_s / 60:.0f} min on {device_name()})",
                 fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend()
    return save_figure(fig, stem + ".png")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--env", default="mjx/point-goal")
    parser.add_argument("--steps", type=int, default=160_000, help="meta-training env steps")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    print(adaptation_curve(args.env, args.steps, seed=args.seed))


if __name__ == "__main__":
    main()
