"""GrBAL on short contexts: the model error over an episode's first M steps.

At the start of every episode `mb.loop` adapts from the 0..M-1 transitions seen so far. This
study meta-trains GrBAL with and without `random_context_length` (contexts of 1..M vs always
M) and trains MB+DE (plain SGD at test time, no meta-training), then measures on the same
trajectories `dynamics.first_steps_errors`: each step t < M predicted by the model adapted
from the t transitions before it vs the unadapted model (MSE of normalised deltas).

    python -m benchmarks.grbal_short_context            # benchmarks/grbal_short_context.{md,json}
    python -m benchmarks.grbal_short_context --seeds=2  # a quicker look
    python -m benchmarks.grbal_short_context --report   # the .md again from the .json

Environment: the linear-gain family of `tests/algorithms/linear_gain_env.py` (imported, not
copied). Each run trains with the real loop (`algo.train`: random round, then MPC rounds).
Evaluation trajectories are the same for every variant of a seed, so every model sees exactly
the same short contexts: MPC on the true dynamics plus the loop's collection noise (states
near the target, as under a trained policy) on held-out ("test") and training gains, and
uniform random actions on test gains (states drift far outside the training data).
Compilations go to a persistent cache (`--cache`), so seeds after the first reuse them.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np

import benchmarks
from benchmarks.report import stamp, write_json

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "tests", "algorithms"))

# Small: one run (compile included) takes well under a minute on the 2-core CPU.
LOOP = dict(M=8, K=8, episode_length=40, hidden_sizes=(32, 32), horizon=5, candidates=64,
            batch_size=32, grad_steps_per_iteration=100, num_envs=8, num_eval_envs=8,
            total_env_steps=4 * 8 * 40, eval_every_steps=4 * 8 * 40, checkpoint_every_evals=0)
NUM_EVAL_EPISODES = 64

NOTES = """## Reading (of the shipped run)

* **One transition.** Meta-trained on full contexts only (the paper's loss), GrBAL's step
  from a single transition (t = 1) makes the prediction worse than not adapting: 1.43 vs
  0.586 unadapted on training gains, 2.01 ± 1.72 vs 1.63 on held-out ones. Meta-trained on
  random lengths 1..M the same step helps (0.321 vs 0.528; 1.03 vs 1.58). From t = 2 on the
  two settings are close; over the first M steps the random-length model is lower on
  training gains (0.311 vs 0.481) and about equal on held-out ones (1.07 vs 1.19).
* **Full context.** After a full window of M the fixed-length model is as good or slightly
  better (0.705 vs 0.776 held-out, 0.153 vs 0.163 training gains; within the seed spread):
  spreading the meta-training over shorter contexts costs little at M here.
* **States outside the data** (random actions on held-out gains drive |x| far beyond what
  training saw): the fixed-length model's adapted error explodes on some seeds (19.8 ± 24.7
  against 5.6 unadapted, up to 69), the random-length one stays at its unadapted error. No
  variant adapts usefully there.
* **MB+DE** (the same SGD step rule, a model not meta-trained) changes its error by 1-6% at
  any context length; its MPC returns on held-out gains diverge on some seeds, as in
  `model_based.md`. `eval/return` is each run's own final loop evaluation (8 held-out-gain
  episodes, no noise): the two GrBAL settings plan equally well on this toy.
* Not measured: `mjx/cheetah-disabled-joint` (the paper's task) is too slow for this 2-core
  CPU at any useful budget (see `model_based.md`); it is left for a GPU run of the same
  protocol (`first_steps_errors` on the loop's evaluation trajectories).
"""


def variants():
    from algorithms import grbal, mbde

    return {
        "GrBAL, random context length 1..M": (grbal, grbal.Config(
            inner_lr=1e-2, random_context_length=True, **LOOP)),
        "GrBAL, fixed context length M (paper)": (grbal, grbal.Config(
            inner_lr=1e-2, random_context_length=False, **LOOP)),
        "MB+DE (adapt_lr 1e-2)": (mbde, mbde.Config(adapt_lr=1e-2, **LOOP)),
    }


EVAL_SETS = {"test": "MPC on the true model, held-out gains (test split)",
             "train": "MPC on the true model, training gains (train split)",
             "test_random": "uniform random actions, held-out gains (test split)"}


def oracle_trajectories(env, key, num: int, split: str, noise_scale: float = 0.1):
    """`num` episodes `(num, T, ...)` of MPC (random shooting 200 x 5) on the true dynamics
    x' = a x + g u of each episode's task, plus Gaussian action noise (the loop's collection
    noise: `noise_scale` of half the action range)."""
    import jax
    import jax.numpy as jnp

    from algorithms import dynamics as dyn
    from algorithms import mpc

    step_fn = lambda gain, obs, action: env.decay * obs + gain * action[0]  # noqa: E731
    plan = mpc.make_planner(step_fn, env.reward_fn, env.spec.action_low, env.spec.action_high,
                            mpc.PlannerConfig(method="random_shooting", horizon=5,
                                              num_candidates=200, num_cem_iterations=1,
                                              num_elites=1, discount=1.0))
    key_tasks, key_reset, key_steps = jax.random.split(key, 3)
    tasks = env.sample_tasks(key_tasks, num, split=split)
    states = jax.vmap(env.reset)(jax.random.split(key_reset, num), tasks)

    def step(states, key_t):
        key_plan, key_noise = jax.random.split(key_t)
        actions = jax.vmap(lambda s, k: plan(s.task, s.obs, s.task, k)[0])(
            states, jax.random.split(key_plan, num))
        actions = jnp.clip(actions + noise_scale * jax.random.normal(key_noise, actions.shape),
                           -1.0, 1.0)
        next_states = jax.vmap(env.step)(states, actions)
        return next_states, dyn.Context(obs=states.obs, action=actions,
                                        next_obs=next_states.obs, mask=jnp.ones((num,)))

    _, traj = jax.lax.scan(step, states, jax.random.split(key_steps, env.spec.episode_length))
    return jax.tree.map(lambda x: jnp.swapaxes(x, 0, 1), traj)


def eval_sets(seed: int) -> dict:
    """The evaluation trajectories of a seed (the same for every variant)."""
    import jax
    from linear_gain_env import LinearGainFamily, random_trajectories

    env = LinearGainFamily(episode_length=LOOP["episode_length"])
    keys = jax.random.split(jax.random.key(10_000 + seed), 3)
    oracle = jax.jit(oracle_trajectories, static_argnums=(0, 2, 3))
    return {"test": oracle(env, keys[0], NUM_EVAL_EPISODES, "test"),
            "train": oracle(env, keys[1], NUM_EVAL_EPISODES, "train"),
            "test_random": random_trajectories(env, keys[2], NUM_EVAL_EPISODES, split="test")}


def run_one(name: str, algo, config, seed: int, trajectories: dict) -> dict:
    import jax
    from linear_gain_env import LinearGainFamily

    import driver
    from algorithms import dynamics as dyn

    env = LinearGainFamily(episode_length=config.episode_length)
    start = time.perf_counter()
    result = driver.train(algo, env, config, seed=seed, progress=False)
    model = algo.make_model(config, env.spec)
    params, norm = result.params.params, result.params.normalizer
    out = {"variant": name, "seed": seed}
    for split, traj in trajectories.items():
        table = jax.jit(dyn.first_steps_error_table, static_argnums=(0, 4))(
            model, params, norm, traj, config.M)
        adapted, unadapted, valid = (np.asarray(x) for x in table)
        per_step = lambda e, v=valid: (e * v).sum(0) / np.maximum(v.sum(0), 1)  # noqa: E731
        windows = dyn.trajectory_windows(traj, config.M + config.K, config.K)
        steady = jax.jit(dyn.prediction_errors, static_argnums=(0, 4))(
            model, params, norm, windows, config.M)
        out[split] = {
            "first_m_adapted": float((adapted * valid).sum() / valid.sum()),
            "first_m_unadapted": float((unadapted * valid).sum() / valid.sum()),
            "per_step_adapted": per_step(adapted).tolist(),
            "per_step_unadapted": per_step(unadapted).tolist(),
            "full_m_adapted": float(steady[0]), "full_m_unadapted": float(steady[1])}
    last = result.metrics[-1]
    out["eval_return"] = last["eval/return"]
    out["eval_model_error_adapted"] = last["eval/model_error_adapted"]
    out["eval_model_error_unadapted"] = last["eval/model_error_unadapted"]
    out["wall_s"] = time.perf_counter() - start
    return out


def _cell(values, fmt="{:.3g}") -> str:
    values = np.asarray(values, np.float64)
    return (fmt + " ± " + fmt + " [" + fmt + ", " + fmt + "]").format(
        values.mean(), values.std(), values.min(), values.max())


def report(runs: list[dict], seeds: int, command: str, wall_s: float, cache_warm: bool,
           meta: dict | None = None) -> str:
    meta = meta or stamp(command)
    cache = "from a warm cache; an empty one adds about 1 min" if cache_warm else (
        "from an empty cache")
    names = list(dict.fromkeys(r["variant"] for r in runs))
    lines = [
        "# GrBAL on short contexts: model error over an episode's first M steps", "",
        f"`{command}`", "",
        f"{meta['device']}, JAX {meta['jax']}, {meta['date']}; {len(runs)} runs in "
        f"{wall_s / 60:.1f} min (shared CPU, compilations {cache}).", "",
        "Linear-gain family (`tests/algorithms/linear_gain_env.py`): x' = 0.9 x + g u, "
        "training gains g ~ U[-1, 1]^2, held-out test gains |g_i| in [1, 1.5]. Each run: "
        f"`algo.train` with M = K = {LOOP['M']}, {LOOP['hidden_sizes'][0]}x"
        f"{LOOP['hidden_sizes'][1]} MLP, {LOOP['total_env_steps'] // (LOOP['num_envs'] * 40)} "
        f"rounds of {LOOP['num_envs']} episodes of 40 steps (the first random), "
        f"{LOOP['grad_steps_per_iteration']} gradient steps of batch {LOOP['batch_size']} per "
        f"round, random shooting {LOOP['candidates']} x {LOOP['horizon']}. Errors: MSE of "
        f"normalised one-step deltas (each run's own normaliser) on {NUM_EVAL_EPISODES} "
        "episodes per set, the same episodes for every variant of a seed: MPC on the true "
        "dynamics (random shooting 200 x 5) with the loop's collection noise (0.1), or "
        "uniform random actions.", "",
        "* **first M, adapted**: step t < M predicted by the model adapted from the t "
        "transitions before it (0..M-1, right-aligned as in `mb.loop`), mean over t and "
        "episodes (`dynamics.first_steps_errors`); **unadapted**: the same steps, empty context.",
        "* **t = 1**: the step after a single transition (one full-size inner step from one "
        "transition's loss).",
        "* **full M**: the loop's `eval/model_error_*` measure, K steps after a full window of "
        "M (`dynamics.prediction_errors`).",
        f"* Cells: mean ± std over {seeds} seeds [min, max].", ""]
    for split, title in EVAL_SETS.items():
        lines += [f"## {title[0].upper() + title[1:]}", "",
                  "| variant | first M, adapted | first M, unadapted | t = 1, adapted | "
                  "full M, adapted | full M, unadapted |" +
                  (" eval/return (MPC) |" if split == "test" else ""),
                  "|---|---|---|---|---|---|" + ("---|" if split == "test" else "")]
        for name in names:
            rs = [r for r in runs if r["variant"] == name]
            cells = [_cell([r[split]["first_m_adapted"] for r in rs]),
                     _cell([r[split]["first_m_unadapted"] for r in rs]),
                     _cell([r[split]["per_step_adapted"][1] for r in rs]),
                     _cell([r[split]["full_m_adapted"] for r in rs]),
                     _cell([r[split]["full_m_unadapted"] for r in rs])]
            if split == "test":
                cells.append(_cell([r["eval_return"] for r in rs], "{:.1f}"))
            lines.append(f"| {name} | " + " | ".join(cells) + " |")
        lines += ["", "Error by step t, adapted from the t transitions before it (and "
                  "unadapted), mean over seeds:",
                  "", "| variant | " + " | ".join(f"t={t}" for t in range(LOOP["M"])) + " |",
                  "|---|" + "---|" * LOOP["M"]]
        for name in names:
            rs = [r for r in runs if r["variant"] == name]
            for kind in ("adapted", "unadapted"):
                steps = np.mean([r[split][f"per_step_{kind}"] for r in rs], axis=0)
                label = name if kind == "adapted" else f"{name}: unadapted"
                lines.append(f"| {label} | " + " | ".join(f"{e:.3g}" for e in steps) + " |")
        lines.append("")
    return "\n".join(lines) + "\n" + NOTES


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--outdir", default=benchmarks.DIR)
    parser.add_argument("--report", action="store_true",
                        help="only rewrite the .md from the .json of a previous run")
    parser.add_argument("--cache", default="/tmp/jax_cache_grbal_short_context",
                        help="persistent compilation cache ('' for none)")
    args = parser.parse_args(argv)
    stem = os.path.join(args.outdir, "grbal_short_context")
    if args.report:
        with open(stem + ".json") as f:
            saved = json.load(f)
        with open(stem + ".md", "w") as f:
            seeds = len({r["seed"] for r in saved["runs"]})
            f.write(report(saved["runs"], seeds, saved["command"], saved["wall_s"],
                           saved["cache_warm"], meta=saved))
        return
    cache_warm = bool(args.cache) and os.path.isdir(args.cache) and bool(os.listdir(args.cache))
    if args.cache:
        import jax

        jax.config.update("jax_compilation_cache_dir", args.cache)
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.5)
    trajectories = {seed: eval_sets(seed) for seed in range(args.seeds)}
    command = "python -m benchmarks.grbal_short_context" + (
        f" --seeds={args.seeds}" if args.seeds != 5 else "")
    runs, start = [], time.perf_counter()
    for name, (algo, config) in variants().items():
        for seed in range(args.seeds):
            runs.append(run_one(name, algo, config, seed, trajectories[seed]))
            print(f"{name} seed {seed}: first-M test adapted "
                  f"{runs[-1]['test']['first_m_adapted']:.3g} unadapted "
                  f"{runs[-1]['test']['first_m_unadapted']:.3g} "
                  f"({runs[-1]['wall_s']:.0f} s)", flush=True)
    wall_s = time.perf_counter() - start
    write_json(stem + ".json", {**stamp(command), "loop": {k: list(v) if isinstance(v, tuple)
                                                           else v for k, v in LOOP.items()},
                                "wall_s": wall_s, "cache_warm": cache_warm, "runs": runs})
    with open(stem + ".md", "w") as f:
        f.write(report(runs, args.seeds, command, wall_s, cache_warm))
    print(stem + ".md")


if __name__ == "__main__":
    main()
